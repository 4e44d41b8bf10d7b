// The float64 reference executor against the f32 engine on a hand-built graph holding every op of an
// f32-activation graph: node by node (each reference op on the engine's own inputs, so no difference
// cascades) and end to end; and its refusals (u8 activations, widths a model lacks).
import Foundation
import QGraph
import QKernels
@testable import QRuntime
import _QTestSupport
import XCTest

final class ReferenceExecutorTests: XCTestCase {
    private var tmp: URL!
    private var rng = SeededGenerator(seed: 0)
    private var tensors = TensorStore()

    override func setUpWithError() throws {
        tmp = try TestPaths.makeTemporaryDirectory()
        rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["QK_TEST_SEED"] ?? "") ?? 6)
        tensors = TensorStore()
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    private func random(_ count: Int, _ range: ClosedRange<Float>) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &rng) }
    }

    /// Stores `count` random floats in `range` as tensor `name` ([count]) and returns the name.
    private func floats(_ name: String, _ count: Int, _ range: ClosedRange<Float>, shape: [Int]? = nil) -> String {
        tensors.set(name, StoredTensor(floats: random(count, range), shape: shape ?? [count]))
        return name
    }

    /// Random weights of `rows` x `k` (per conv group `groups`) in `scheme`: f32 rows, or random packed
    /// codes with `table` or a random int8 table (bits < 8) and, when `levels`, exact levels near the table.
    private func weights(_ name: String, rows: Int, k: Int, groups: Int = 1, scheme: WeightScheme, bits: Int,
                         table: [Int]? = nil, levels: Bool = false) -> WeightDescriptor {
        if scheme == .float32 { return .float32(floats("\(name).w", rows * k, -0.5...0.5, shape: [rows, k])) }
        let perGroup = rows / groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(bits))
        var bytes = [UInt8](repeating: 0, count: groups * groupBytes)
        for g in 0..<groups {
            let codes = (0..<(perGroup * k)).map { _ in UInt8(Int.random(in: 0...((1 << bits) - 1), using: &rng)) }
            bytes.withUnsafeMutableBufferPointer { qk_pack_codes(codes, perGroup, k, Int32(bits), $0.baseAddress! + g * groupBytes) }
        }
        tensors.set("\(name).codes", StoredTensor(dtype: .u8, shape: [WeightDescriptor.packedRows(rows: rows, groups: groups),
                                                                     WeightDescriptor.packedRowBytes(k: k, bits: bits)], bytes: bytes))
        let lut: [Int]? = bits == 8 ? nil : table ?? (0..<(1 << bits)).map { _ in Int.random(in: -127...127, using: &rng) }
        let exact = levels ? (0..<(1 << bits)).map { Float(lut?[$0] ?? $0 - 128) + Float.random(in: -0.5...0.5, using: &rng) } : nil
        return WeightDescriptor(scheme: scheme, bits: bits, codes: "\(name).codes", lut: lut,
                                scale: floats("\(name).scale", rows, 0.002...0.01), levels: exact)
    }

    private func conv(_ name: String, _ input: String, _ graph: inout Graph, cin: Int, cout: Int, kernel: Int,
                      stride: Int = 1, padding: [Int], dilation: Int = 1, groups: Int = 1, scheme: WeightScheme,
                      bits: Int = 32, table: [Int]? = nil, levels: Bool = false, activation: Activation = .none,
                      residual: String? = nil) throws {
        let w = weights(name, rows: cout, k: kernel * kernel * cin / groups, groups: groups, scheme: scheme, bits: bits,
                        table: table, levels: levels)
        let c = Conv2D(inChannels: cin, outChannels: cout, kernel: [kernel, kernel], stride: [stride, stride], padding: padding,
                       dilation: [dilation, dilation], groups: groups, weight: w, bias: floats("\(name).bias", cout, -0.3...0.3),
                       activation: activation, residual: residual != nil)
        try graph.append(name, .conv2d(c), inputs: [input] + (residual.map { [$0] } ?? []))
    }

    private func batchNorm(_ name: String, _ input: String, _ graph: inout Graph, channels: Int) throws {
        let b = BatchNorm(channels: channels, gamma: floats("\(name).g", channels, 0.5...1.5), beta: floats("\(name).b", channels, -0.5...0.5),
                          mean: floats("\(name).m", channels, -0.5...0.5), variance: floats("\(name).v", channels, 0.2...2))
        try graph.append(name, .batchNorm(b), inputs: [input])
    }

    /// Every op of an f32-activation graph, on a [9, 10, 3] input; convs cover f32, uniform (table),
    /// codebook (exact levels) and 8-bit weights, groups, dilation, stride, asymmetric padding, a
    /// residual, a binary conv on sign(x), a depthwise conv; linears on flatten and global pooling.
    private func everyOpModel() throws -> URL {
        var g = Graph(input: Value(name: "x", shape: [9, 10, 3]))
        try g.append("fixed", .roundToFixed(integerBits: 4, fractionBits: 6), inputs: ["x"])
        try conv("c1", "fixed", &g, cin: 3, cout: 8, kernel: 3, padding: [1, 1, 1, 1], scheme: .float32, activation: .relu)
        try batchNorm("bn", "c1", &g, channels: 8)
        try g.append("prelu", .prelu(slopes: floats("prelu.slopes", 8, -0.3...0.6)), inputs: ["bn"])
        try conv("c2", "prelu", &g, cin: 8, cout: 8, kernel: 3, padding: [2, 1, 2, 3], dilation: 2, groups: 2,
                 scheme: .uniform, bits: 4, activation: .hardtanh(min: -1, max: 2))
        try g.append("add", .add(.relu), inputs: ["c2", "prelu"])
        try g.append("maxpool", .maxPool(Pool(kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1])), inputs: ["add"])
        try g.append("sign", .sign, inputs: ["maxpool"])
        try g.append("shortcut", .shortcutA(padChannels: 4), inputs: ["maxpool"])
        try conv("c3", "sign", &g, cin: 8, cout: 16, kernel: 3, stride: 2, padding: [1, 1, 1, 1], scheme: .codebook, bits: 1,
                 table: [-1, 1], residual: "shortcut")
        try g.append("prelu1", .prelu(slopes: floats("prelu1.slope", 1, 0.1...0.2)), inputs: ["c3"])
        try g.append("dorefa", .doReFa(bits: 4), inputs: ["prelu1"])
        try g.append("avgpool", .avgPool(Pool(kernel: [2, 2], stride: [1, 1], padding: [1, 0, 0, 1])), inputs: ["dorefa"])
        try g.append("relu6", .activation(.relu6), inputs: ["avgpool"])
        try conv("dw", "relu6", &g, cin: 16, cout: 16, kernel: 3, padding: [1, 1, 1, 1], groups: 16, scheme: .codebook, bits: 4,
                 levels: true)
        try conv("c4", "dw", &g, cin: 16, cout: 12, kernel: 1, padding: [0, 0, 0, 0], scheme: .uniform, bits: 8, levels: true)
        try g.append("flatten", .flatten, inputs: ["c4"])
        try g.append("fc1", .linear(Linear(inFeatures: 108, outFeatures: 10, weight: weights("fc1", rows: 10, k: 108, scheme: .uniform, bits: 8),
                                           bias: floats("fc1.bias", 10, -0.1...0.1), activation: .relu)), inputs: ["flatten"])
        try g.append("gap", .globalAvgPool, inputs: ["c4"])
        try g.append("fc2", .linear(Linear(inFeatures: 12, outFeatures: 10, weight: weights("fc2", rows: 10, k: 12, scheme: .float32, bits: 32))),
                     inputs: ["gap"])
        try g.append("sum", .add(.none), inputs: ["fc1", "fc2"])
        try batchNorm("logits", "sum", &g, channels: 10)
        let url = tmp.appendingPathComponent("every-op.lbm")
        try ModelArchive.write(graph: g, info: info(height: 9, width: 10), tensors: tensors, to: url)
        return url
    }

    private func info(height: Int, width: Int) -> ModelInfo {
        ModelInfo(name: "every-op", arch: "", recipe: "", precision: "", labels: [],
                  preprocessing: Preprocessing(inputSize: [height, width], channels: 3, mean: [0, 0, 0], std: [1, 1, 1]))
    }

    /// max |a - b| / max |b| (0 when both are all zero).
    private func relative(_ a: [Double], _ b: [Double]) -> Double {
        let scale = b.map(abs).max()!, diff = zip(a, b).map { abs($0 - $1) }.max()!
        return scale == 0 ? diff : diff / scale
    }

    /// Each reference op, fed the engine's own f32 inputs, gives the engine's output of that node to f32
    /// rounding (1e-5 of the node's largest value; the quantizers sign, round_to_fixed and DoReFa agree
    /// on every decision, or a whole step would show).
    func testEveryOpMatchesTheEngineNodeByNode() throws {
        let model = try Model(contentsOf: try everyOpModel())
        XCTAssertTrue(model.layerKernels.contains { $0.layer == "c3" && $0.kernel.hasPrefix("qk_bgemm_") }, "\(model.layerKernels)")
        let reference = try ReferenceExecutor(model: model)
        let input = random(model.inputElementCount, -2...2)
        var engine: [String: [Double]] = ["x": input.map(Double.init)]
        try Session(model: model).run(input: input) { name, values in engine[name] = values.map(Double.init) }
        XCTAssertEqual(reference.steps.map(\.name), model.graph.nodes.map(\.name))
        for (step, node) in zip(reference.steps, model.graph.nodes) {
            let got = reference.evaluate(step, on: node.inputs.map { engine[$0]! }), want = engine[node.output]!
            XCTAssertEqual(got.count, want.count, node.name)
            XCTAssertLessThanOrEqual(relative(got, want), 1e-5, "\(node.name) (\(node.op.kind))")
        }
        XCTAssertTrue(engine["sign"]!.contains(0), "the sign input has exact zeros (sign(0) = 0 is exercised)")
    }

    /// The whole graph in float64 against the f32 engine, and the observer sees every node's value.
    func testEveryOpMatchesTheEngineEndToEnd() throws {
        let model = try Model(contentsOf: try everyOpModel())
        let reference = try ReferenceExecutor(model: model)
        for _ in 0..<3 {
            let input = random(model.inputElementCount, -2...2)
            let want = Session(model: model).run(input).map(Double.init)
            var seen: [String] = []
            let got = reference.run(input) { name, _ in seen.append(name) }
            XCTAssertLessThanOrEqual(relative(got, want), 1e-5, "\(got) vs \(want)")
            XCTAssertEqual(seen, model.graph.nodes.map(\.output))
            XCTAssertEqual(try model.referenceRun(input), got)
        }
    }

    /// u8 activations are the integer engine's; the reference refuses them with the reason.
    func testRefusesU8Activations() throws {
        var g = Graph(input: Value(name: "x", shape: [4, 4, 3]))
        try g.append("q", .quantize, inputs: ["x"], quant: .uint8(scale: 0.02, zeroPoint: 128))
        try conv("c", "q", &g, cin: 3, cout: 4, kernel: 1, padding: [0, 0, 0, 0], scheme: .uniform, bits: 4)
        try g.append("gap", .globalAvgPool, inputs: ["c"])
        let url = tmp.appendingPathComponent("u8.lbm")
        try ModelArchive.write(graph: g, info: info(height: 4, width: 4), tensors: tensors, to: url)
        let model = try Model(contentsOf: url)
        XCTAssertThrowsError(try ReferenceExecutor(model: model)) {
            XCTAssertTrue("\($0)".contains("float activations") && "\($0)".contains("--activations u8") && "\($0)".contains("'q'"), "\($0)")
        }
    }

    /// A width on a model without run-time widths is refused as Session.setBits refuses it.
    func testRefusesBitsOnAFixedModel() throws {
        let model = try Model(contentsOf: try everyOpModel())
        XCTAssertThrowsError(try model.referenceRun([Float](repeating: 0, count: model.inputElementCount), bits: 4)) {
            XCTAssertTrue("\($0)".contains("no run-time bit widths"), "\($0)")
        }
    }
}
