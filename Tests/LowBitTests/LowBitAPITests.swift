// The LowBit library's public API, used as a package user would (no @testable): load, sessions, bits,
// tensors, image files, top-k.
import Foundation
import LowBit
import QConvert
import _QTestSupport
import XCTest

final class LowBitAPITests: XCTestCase {
    private let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../models/fashion-mnist/samples").standardizedFileURL

    func testClassifiesBundledSamples() throws {
        let model = try Model.bundledDefault()
        XCTAssertEqual(model.inputShape, [28, 28, 1])
        XCTAssertEqual(model.outputCount, 10)
        XCTAssertEqual(model.labels.count, 10)
        XCTAssertEqual(model.bits, 4)
        XCTAssertEqual(model.availableBits, [4])
        let session = model.makeSession(threads: 2)
        XCTAssertEqual(session.threads, 2)
        let files = try FileManager.default.contentsOfDirectory(at: samples, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "pgm" }.sorted { $0.lastPathComponent < $1.lastPathComponent }.prefix(8)
        XCTAssertEqual(files.count, 8)
        var correct = 0
        for url in files {
            let top = try session.classify(contentsOf: url, top: 3)
            XCTAssertEqual(top.count, 3)
            XCTAssertGreaterThanOrEqual(top[0].probability, top[1].probability)
            // File names are NNNN-label.pgm, label words joined by '-'.
            let expected = url.deletingPathExtension().lastPathComponent.split(separator: "-").dropFirst().joined(separator: " ")
            if top[0].label.lowercased().replacingOccurrences(of: "/", with: " ").hasPrefix(expected.split(separator: " ")[0]) {
                correct += 1
            }
            // The image path and the decoded-image path agree.
            XCTAssertEqual(try session.classify(Image(contentsOf: url), top: 3), top)
        }
        XCTAssertGreaterThanOrEqual(correct, 6, "the bundled model classifies most bundled samples correctly")
    }

    func testTensorsAndErrors() throws {
        let model = try Model.bundledDefault()
        let session = Session(model: model)
        let logits = try session.run([Float](repeating: 0, count: 28 * 28))
        XCTAssertEqual(logits.count, 10)
        XCTAssertEqual(session.top(10, logits: logits).map(\.index).sorted(), Array(0..<10))
        XCTAssertThrowsError(try session.run([Float](repeating: 0, count: 10))) {
            XCTAssertTrue("\($0)".contains("the tensor has 10 values; the model needs [28, 28, 1] = 784"), "\($0)")
        }
        let url = samples.appendingPathComponent("../fmnist-cnn-w4.lbm").standardizedFileURL
        XCTAssertNoThrow(try Model(contentsOf: url, bits: 4))
        XCTAssertThrowsError(try Model(contentsOf: url, bits: 2)) {
            XCTAssertTrue("\($0)".contains("runs with 4-bit weights, not 2"), "\($0)")
        }
        XCTAssertThrowsError(try model.referenceLogits(Image(width: 28, height: 28, channels: 1,
                                                              pixels: [Float](repeating: 0, count: 784)))) {
            XCTAssertTrue("\($0)".contains("float64 reference runs models with float activations"), "\($0)")
        }
        XCTAssertThrowsError(try session.classify(contentsOf: samples.appendingPathComponent("missing.png"))) {
            XCTAssertTrue($0 is ImageError, "\($0)")
        }
    }

    /// An Any-Precision file: `bits:` picks the width new sessions run at; `setBits` switches a session.
    func testRunTimeBitWidths() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("rq.lbm")
        _ = try Converter.convert(checkpoint: TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/anyprec/resnet20q.pth.tar"),
                                  to: url, options: ConversionOptions())
        let two = try Model(contentsOf: url, bits: 2)
        XCTAssertEqual(two.availableBits, [1, 2, 4, 8, 32])
        let input = [Float](repeating: 0.3, count: two.inputShape.reduce(1, *))
        let atTwo = try two.makeSession().run(input)
        let session = try Model(contentsOf: url).makeSession()
        let atDefault = try session.run(input)
        try session.setBits(2)
        XCTAssertEqual(try session.run(input), atTwo)
        XCTAssertNotEqual(atTwo, atDefault)
        XCTAssertThrowsError(try session.setBits(3))
        XCTAssertThrowsError(try Model(contentsOf: url, bits: 5))

        // the float64 reference at the selected width, against the engine at that width
        let image = Image(width: 32, height: 32, channels: 3, pixels: (0..<3072).map { Float($0 * 7 % 256) })
        let reference = try two.referenceLogits(image), engine = try two.makeSession().run(image)
        XCTAssertEqual(reference.count, engine.count)
        let range = engine.map(abs).max()!
        for (r, e) in zip(reference, engine) { XCTAssertEqual(Float(r), e, accuracy: 1e-5 * range) }
        XCTAssertNotEqual(try Model(contentsOf: url).referenceLogits(image).map(Float.init), engine)
    }
}
