// A Model built from an in-memory graph and tensors (no .lbm bytes) against the same graph written to an
// .lbm file and loaded: the same plan (kernels, arena) and bit-identical outputs on every conv kernel path,
// every reported value, every run-time bit width, and the float64 reference; and the file reader's
// refusals of a bad graph or tensor.
import Foundation
import QGraph
import QKernels
@testable import QRuntime
import _QTestSupport
import XCTest

final class InMemoryModelTests: XCTestCase {
    private var rng = SeededGenerator(seed: 0)
    private var tensors = TensorStore()

    override func setUp() {
        rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["QK_TEST_SEED"] ?? "") ?? 15)
        tensors = TensorStore()
    }

    /// Stores random floats in `range` as F32 tensor `name` of `shape` and returns the name.
    private func floats(_ name: String, _ shape: [Int], _ range: ClosedRange<Float>) -> String {
        let values = (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &rng) }
        tensors.set(name, StoredTensor(floats: values, shape: shape))
        return name
    }

    /// A conv `name` on `input` with random weights: f32 (`table` nil, `bits` 32), or packed `bits`-bit
    /// codes over `table` with per-channel scales (each conv group's rows packed as their own matrix).
    private func conv(_ name: String, _ input: String, _ graph: inout Graph, cin: Int, cout: Int, kernel: Int,
                      groups: Int = 1, bits: Int = 32, table: [Int]? = nil, residual: String? = nil,
                      quant: ActivationQuant = .float32) throws {
        let k = kernel * kernel * cin / groups
        var weight = WeightDescriptor.float32(floats("\(name).w", [cout, k], -0.5...0.5))
        if bits != 32 {
            let perGroup = cout / groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(bits))
            var packed = [UInt8](repeating: 0, count: groups * groupBytes)
            for g in 0..<groups {
                let codes = (0..<(perGroup * k)).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &rng) }
                packed.withUnsafeMutableBufferPointer { qk_pack_codes(codes, perGroup, k, Int32(bits), $0.baseAddress! + g * groupBytes) }
            }
            tensors.set("\(name).codes", StoredTensor(dtype: .u8, shape: [WeightDescriptor.packedRows(rows: cout, groups: groups),
                                                                         WeightDescriptor.packedRowBytes(k: k, bits: bits)],
                                                      bytes: packed))
            weight = WeightDescriptor(scheme: .uniform, bits: bits, codes: "\(name).codes", lut: table,
                                      scale: floats("\(name).scale", [cout], 0.002...0.02))
        }
        let c = Conv2D(inChannels: cin, outChannels: cout, kernel: [kernel, kernel],
                       padding: Array(repeating: kernel / 2, count: 4), groups: groups, weight: weight,
                       bias: floats("\(name).bias", [cout], -0.3...0.3), activation: .relu, residual: residual != nil)
        try graph.append(name, .conv2d(c), inputs: [input] + (residual.map { [$0] } ?? []), quant: quant)
    }

    /// A graph on a [8, 10, 3] input whose convs take every kernel path: f32 GEMM and f32 depthwise, a
    /// weights-only 4-bit conv (decoded to f32), binary convs from a packed sign image and from f32 signs
    /// (two readers with different images); with `u8`, also static u8 GEMM and depthwise (u8 residual),
    /// and a dynamically quantized GEMM.
    private func everyPathGraph(u8: Bool) throws -> Graph {
        var g = Graph(input: Value(name: "x", shape: [8, 10, 3]))
        try conv("c1", "x", &g, cin: 3, cout: 16, kernel: 3)
        try conv("dw", "c1", &g, cin: 16, cout: 16, kernel: 3, groups: 16)
        try conv("wq", "dw", &g, cin: 16, cout: 16, kernel: 1, bits: 4, table: [-8, -5, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11])
        try g.append("s1", .sign, inputs: ["wq"])
        try conv("b1", "s1", &g, cin: 16, cout: 16, kernel: 3, bits: 1, table: [-1, 1])
        try g.append("s2", .sign, inputs: ["b1"])
        try conv("b2", "s2", &g, cin: 16, cout: 16, kernel: 3, bits: 2, table: [-1, 0, 1, 1])
        try conv("b3", "s2", &g, cin: 16, cout: 16, kernel: 1, bits: 1, table: [-1, 1])
        try g.append("sum", .add(.none), inputs: ["b2", "b3"])
        var last = "sum"
        if u8 {
            try g.append("q", .quantize, inputs: ["sum"], quant: .uint8(scale: 0.1, zeroPoint: 90))
            try conv("qc", "q", &g, cin: 16, cout: 16, kernel: 3, bits: 4, table: (0..<16).map { $0 * 9 - 70 },
                     quant: .uint8(scale: 0.05, zeroPoint: 0))
            try conv("qdw", "qc", &g, cin: 16, cout: 16, kernel: 3, groups: 16, bits: 8, residual: "qc",
                     quant: .uint8(scale: 0.08, zeroPoint: 0))
            try g.append("deq", .dequantize, inputs: ["qdw"])
            try g.append("qd", .quantize, inputs: ["deq"], quant: .dynamicUInt8)
            try conv("qc2", "qd", &g, cin: 16, cout: 16, kernel: 1, bits: 2, table: [-2, -1, 1, 2])
            last = "qc2"
        }
        try g.append("gap", .globalAvgPool, inputs: [last])
        try g.append("fc", .linear(Linear(inFeatures: 16, outFeatures: 10, weight: .float32(floats("fc.w", [10, 16], -1...1)),
                                          bias: floats("fc.b", [10], -0.1...0.1))), inputs: ["gap"])
        return g
    }

    private let info = ModelInfo(name: "every-path", arch: "", recipe: "", precision: "", labels: [],
                                 preprocessing: Preprocessing(inputSize: [8, 10], channels: 3, mean: [0, 0, 0], std: [1, 1, 1]))

    /// The kernel path of every conv step of `plan`.
    private func paths(_ plan: Plan) -> Set<String> {
        Set(plan.steps.compactMap { step -> String? in
            guard case .conv(let c) = step else { return nil }
            switch c.kernel {
            case .floatGemm: return "floatGemm"
            case .floatDepthwise: return "floatDepthwise"
            case .quantizedGemm: return "quantizedGemm"
            case .quantizedDepthwise: return "quantizedDepthwise"
            case .binary: return "binary"
            case .binaryPacked: return "binaryPacked"
            }
        })
    }

    /// Every value a session reports for `input`, in order, with the logits last.
    private func run(_ model: Model, bits: Int?, _ input: [Float]) throws -> [(name: String, values: [Float])] {
        let session = Session(model: model)
        if let bits { try session.setBits(bits) }
        var values: [(name: String, values: [Float])] = []
        try session.run(input: input) { name, v in values.append((name, Array(v))) }
        return values + [("logits", session.run(input))]
    }

    /// Asserts two runs reported the same values, bit for bit, naming the first that differs.
    private func assertIdentical(_ a: [(name: String, values: [Float])], _ b: [(name: String, values: [Float])],
                                 _ what: String, line: UInt = #line) {
        XCTAssertEqual(a.map(\.name), b.map(\.name), what, line: line)
        let first = zip(a, b).first { $0.values.map(\.bitPattern) != $1.values.map(\.bitPattern) }
        XCTAssertNil(first?.0.name, "\(what): the first value that differs", line: line)
    }

    func testInMemoryModelRunsBitIdenticallyToItsFile() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let graph = try everyPathGraph(u8: true)
        let url = dir.appendingPathComponent("every-path.lbm")
        try ModelArchive.write(graph: graph, info: info, tensors: tensors, to: url)
        XCTAssertEqual(try ModelArchive.read(contentsOf: url).graph, graph)
        let store = tensors
        tensors = TensorStore()   // the model keeps its own copy
        for depthwise in DepthwisePath.allCases {
            let memory = try Model(graph: graph, tensors: store, info: info, depthwise: depthwise)
            let file = try Model(contentsOf: url, depthwise: depthwise)
            XCTAssertEqual(paths(memory.plan), depthwise == .direct
                           ? ["floatGemm", "floatDepthwise", "quantizedGemm", "quantizedDepthwise", "binary", "binaryPacked"]
                           : ["floatGemm", "quantizedGemm", "binary", "binaryPacked"])
            XCTAssertEqual(memory.layers, file.layers)
            XCTAssertEqual(memory.layerKernels.map { "\($0)" }, file.layerKernels.map { "\($0)" })
            XCTAssertEqual(memory.arenaBytes, file.arenaBytes)
            XCTAssertEqual(memory.fileSize, 0)
            for _ in 0..<3 {
                let input = (0..<memory.inputElementCount).map { _ in Float.random(in: -2...2, using: &rng) }
                let reported = try run(memory, bits: nil, input)
                assertIdentical(reported, try run(file, bits: nil, input), "\(depthwise)")
                XCTAssertEqual(reported.count, graph.values.filter { !$0.quant.isUInt8 }.count, "every f32 value but the input, and the logits")
            }
        }
    }

    func testBitWidthsAndTheFloat64ReferenceMatchTheFile() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let four = try everyPathGraph(u8: false)
        let two = try everyPathGraph(u8: false).renamingTensors { "bits2.\($0)" }
        var rest = tensors
        tensors = TensorStore()
        _ = try everyPathGraph(u8: false)   // new random tensors for the 2-bit graph
        for name in tensors.names { rest.set("bits2.\(name)", tensors[name]!) }
        let widths = BitWidthGraphs(defaultBits: 4, graphs: [4: four, 2: two])
        let url = dir.appendingPathComponent("widths.lbm")
        try ModelArchive.write(graph: four, info: info, tensors: rest, bitWidths: widths, to: url)
        let memory = try Model(graph: four, tensors: rest, info: info, bitWidths: widths)
        let file = try Model(contentsOf: url)
        XCTAssertEqual(memory.availableBits, [2, 4])
        let input = (0..<memory.inputElementCount).map { _ in Float.random(in: -2...2, using: &rng) }
        for bits in [2, 4] {
            XCTAssertEqual(try memory.layers(bits: bits), try file.layers(bits: bits))
            assertIdentical(try run(memory, bits: bits, input), try run(file, bits: bits, input), "\(bits) bits")
            XCTAssertEqual(try memory.referenceRun(input, bits: bits), try file.referenceRun(input, bits: bits), "\(bits) bits")
        }
        XCTAssertNotEqual(try run(memory, bits: 2, input).last!.values, try run(memory, bits: 4, input).last!.values)
    }

    func testBadGraphsAndTensorsAreRefusedAsTheFileReaderRefusesThem() throws {
        let graph = try everyPathGraph(u8: false)
        func refusal(_ graph: Graph, _ store: TensorStore) -> String {
            do {
                _ = try Model(graph: graph, tensors: store, info: info)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        // a missing tensor and a wrong shape: the graph validator's message, naming the model
        var missing = tensors
        missing.remove("b1.bias")
        XCTAssertTrue(refusal(graph, missing).hasPrefix("every-path: node 'b1': bias tensor 'b1.bias' is not in the file"),
                      refusal(graph, missing))
        var reshaped = tensors
        reshaped.set("fc.b", StoredTensor(floats: [Float](repeating: 0, count: 10), shape: [2, 5]))
        XCTAssertTrue(refusal(graph, reshaped).contains("bias tensor 'fc.b' is F32[2, 5], expected F32[10]"), refusal(graph, reshaped))
        // bytes that do not match the dtype and shape (what the .lbm writer refuses to write)
        var short = tensors
        short.set("fc.b", StoredTensor(dtype: .f32, shape: [10], bytes: [UInt8](repeating: 0, count: 36)))
        XCTAssertTrue(refusal(graph, short).contains("tensor 'fc.b': F32[10] does not hold its 36 bytes"), refusal(graph, short))
        // a graph the reader would refuse (an edited stored shape): the reader's validator's message
        var edited = graph
        edited.values[edited.values.firstIndex { $0.name == "gap" }!].shape = [15]
        XCTAssertThrowsError(try edited.validate(tensors: tensors)) {
            XCTAssertEqual(refusal(edited, tensors), "every-path: \($0)")
        }
        var badInfo = info
        badInfo.preprocessing.std = [1, 0, 1]
        XCTAssertThrowsError(try Model(graph: graph, tensors: tensors, info: badInfo)) {
            XCTAssertTrue("\($0)".contains("std > 0"), "\($0)")
        }
    }
}
