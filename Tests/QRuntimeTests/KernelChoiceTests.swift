// The kernel choice (qinfer/qbench --kernel): a shift-coded model runs on the shift-add members and
// on the table-lookup members with identical outputs (both integer paths are exact), auto never picks
// shift-add, and asking for shift-add without shift-coded layers is refused.
import Foundation
import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class KernelChoiceTests: XCTestCase {
    private let root = TestPaths.repositoryRoot.appendingPathComponent("models/fashion-mnist")

    private func convert(scheme: String, dir: URL) throws -> URL {
        var options = ConversionOptions()
        options.plain.bits = 4
        options.plain.scheme = WeightScheme(rawValue: scheme)!
        options.calibration = root.appendingPathComponent("samples/labels.csv")
        let out = dir.appendingPathComponent("fmnist-\(scheme).lbm")
        _ = try Converter.convert(checkpoint: root.appendingPathComponent("fmnist-cnn.pt"), to: out, options: options)
        return out
    }

    func testShiftAndTableLookupAgreeExactly() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try convert(scheme: "shift", dir: dir)
        let byShift = try Model(contentsOf: url, kernel: .shift)
        let byTable = try Model(contentsOf: url, kernel: .lut)
        let byAuto = try Model(contentsOf: url)
        XCTAssertTrue(byShift.layerKernels.contains { $0.kernel.hasPrefix("qk_sgemm_w4") }, "\(byShift.layerKernels)")
        XCTAssertFalse(byTable.layerKernels.contains { $0.kernel.hasPrefix("qk_sgemm_") })
        // auto never takes shift-add: each layer runs table lookup, or the int8 member on expanded weights
        // where that measured faster on this CPU (Int8Expansion.swift)
        XCTAssertEqual(byAuto.layerKernels.count, byTable.layerKernels.count)
        for (auto, table) in zip(byAuto.layerKernels, byTable.layerKernels) {
            XCTAssertTrue(auto.kernel == table.kernel || auto.kernel.hasPrefix("qk_qgemm_w8_"), "\(auto) vs \(table)")
        }
        // first and last layers stay 8-bit table lookup under --kernel shift
        XCTAssertTrue(byShift.layerKernels.first!.kernel.contains("_w8_"))
        let samples = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("samples").path)
            .filter { $0.hasSuffix(".pgm") }.sorted()
        XCTAssertGreaterThanOrEqual(samples.count, 10)
        let (a, b, c) = (Session(model: byShift), Session(model: byTable), Session(model: byAuto))
        for name in samples {
            let image = try ImageReader.read(contentsOf: root.appendingPathComponent("samples/\(name)"))
            XCTAssertEqual(try a.classify(image), try b.classify(image), name)
            XCTAssertEqual(try c.classify(image), try b.classify(image), name)
        }
    }

    func testShiftRefusedWithoutShiftLayers() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try convert(scheme: "uniform", dir: dir)
        XCTAssertThrowsError(try Model(contentsOf: url, kernel: .shift)) { error in
            XCTAssertTrue("\(error)".contains("no shift-coded layers"), "\(error)")
        }
        XCTAssertNoThrow(try Model(contentsOf: url, kernel: .lut))
    }
}
