// Run-time bit-width graphs (lowbit.graphs): validation, tensor renaming, and the file round trip.
import Foundation
import QFormat
import QGraph
import _QTestSupport
import XCTest

final class BitWidthGraphsTests: XCTestCase {
    /// input [4,4,2] -> conv (weights `w`, bias `b`) -> bn (`g`,`be`,`m`,`v`) -> DoReFa(bits) -> global pool.
    private func graph(bits: Int, prefix: String = "") throws -> Graph {
        var g = Graph(input: Value(name: "input", shape: [4, 4, 2]))
        try g.append("conv", .conv2d(Conv2D(inChannels: 2, outChannels: 3, kernel: [1, 1], weight: .float32(prefix + "w"),
                                            bias: prefix + "b")), inputs: ["input"])
        try g.append("bn", .batchNorm(BatchNorm(channels: 3, gamma: prefix + "g", beta: prefix + "be", mean: prefix + "m",
                                                variance: prefix + "v")), inputs: ["conv"])
        try g.append("act", .doReFa(bits: bits), inputs: ["bn"])
        try g.append("gap", .globalAvgPool, inputs: ["act"])
        return g
    }

    private func tensors(_ prefix: String) -> TensorStore {
        var store = TensorStore()
        store.set(prefix + "w", StoredTensor(floats: [Float](repeating: 0.5, count: 6), shape: [3, 2]))
        for name in ["b", "g", "be", "m", "v"] { store.set(prefix + name, StoredTensor(floats: [1, 1, 1], shape: [3])) }
        return store
    }

    func testRenamingReachesEveryTensorReference() throws {
        let renamed = try graph(bits: 2).renamingTensors { "x." + $0 }
        XCTAssertEqual(renamed, try graph(bits: 2, prefix: "x."))
    }

    func testValidationAndFileRoundTrip() throws {
        var store = tensors("bits2."), fourBit = tensors("bits4.")
        for name in fourBit.names { store.set(name, fourBit[name]!) }
        let two = try graph(bits: 2, prefix: "bits2."), four = try graph(bits: 4, prefix: "bits4.")
        let widths = BitWidthGraphs(defaultBits: 4, graphs: [2: two, 4: four])
        XCTAssertEqual(widths.bits, [2, 4])
        XCTAssertNoThrow(try widths.validate(main: four, tensors: store))
        // the main graph must be the default width's
        XCTAssertThrowsError(try widths.validate(main: two, tensors: store)) { XCTAssertTrue("\($0)".contains("default bit width 4"), "\($0)") }
        // every width's graph is validated against the shared tensors
        var missing = store
        missing.remove("bits2.w")
        XCTAssertThrowsError(try widths.validate(main: four, tensors: missing)) { XCTAssertTrue("\($0)".contains("2-bit graph"), "\($0)") }
        // widths are decimal 1...32
        var bad = widths
        bad.graphs["02"] = two
        XCTAssertThrowsError(try bad.validate(main: four, tensors: store)) { XCTAssertTrue("\($0)".contains("widths 1...32"), "\($0)") }
        // the same input and output shapes everywhere
        var other = Graph(input: Value(name: "input", shape: [8, 8, 2]))
        for node in two.nodes { try other.append(node.output, node.op, inputs: node.inputs) }
        XCTAssertThrowsError(try BitWidthGraphs(defaultBits: 4, graphs: [2: other, 4: four]).validate(main: four, tensors: store)) {
            XCTAssertTrue("\($0)".contains("shape differs"), "\($0)")
        }

        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("widths.lbm")
        let info = ModelInfo(name: "t", arch: "t", recipe: "any-precision", precision: "", labels: ["a", "b", "c"],
                             preprocessing: Preprocessing(inputSize: [4, 4], channels: 1, mean: [0], std: [1]))
        try ModelArchive.write(graph: four, info: info, tensors: store, bitWidths: widths, to: url)
        let loaded = try ModelArchive.read(contentsOf: url)
        XCTAssertEqual(loaded.graph, four)
        XCTAssertEqual(loaded.bitWidths, widths)
        XCTAssertThrowsError(try ModelArchive.write(graph: two, info: info, tensors: store, bitWidths: widths,
                                                    to: dir.appendingPathComponent("bad.lbm")))
    }

    func testDoReFaBitsAreChecked() throws {
        XCTAssertThrowsError(try graph(bits: 0).validate(tensors: tensors(""))) { XCTAssertTrue("\($0)".contains("DoReFa bits"), "\($0)") }
        XCTAssertNoThrow(try graph(bits: 1).validate(tensors: tensors("")))
    }
}
