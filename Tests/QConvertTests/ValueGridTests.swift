// Value-grid detection (Passes/ValueGrid.swift) on generated weights: every class per layer and per
// channel, zeros, -0.0, all-zero channels, steps that are not exact in float32, depthwise shapes, and the
// packed codes decoded back bit for bit; plain float weights are rejected.
@testable import QConvert
import QGraph
import QKernels
import _QTestSupport
import XCTest

final class ValueGridTests: XCTestCase {
    private var rng = SeededGenerator(seed: 15)

    /// Weights [rows][k] = step(o) * q with q drawn from `levels` (both as float32, multiplied in float32).
    private func grid(_ rows: Int, _ k: Int, levels: [Int], step: (Int) -> Float) -> [Float] {
        (0..<(rows * k)).map { i in Float(levels.randomElement(using: &rng)!) * step(i / k) }
    }

    /// A step that is not a power of two and differs per channel.
    private func channelStep(_ o: Int) -> Float { Float(0.0123 + 0.0071 * Double(o)) * Float(1 + o % 3) / 3 }

    /// findValueGrid, its description checked (a prefix), its codes decoding exactly (or nil codes when
    /// `exactFloat`), and the stored form packed by applyMethodLayers decoding back bit for bit.
    @discardableResult
    private func check(_ w: [Float], rows: Int, k: Int, _ description: String, exactFloat: Bool = false,
                       bits: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> ValueGrid? {
        guard let found = findValueGrid(w, rows: rows, k: k) else {
            XCTFail("no grid found, wanted \(description)", file: file, line: line)
            return nil
        }
        XCTAssertTrue(found.description.hasPrefix(description), "\(found.description), wanted \(description)", file: file, line: line)
        XCTAssertEqual(found.codes == nil, exactFloat, found.description, file: file, line: line)
        if let layer = found.codes {
            XCTAssertTrue(decodesExactly(layer, w, rows: rows, k: k), found.description, file: file, line: line)
            let descriptor = try packAndDecode(w, rows: rows, cin: k, kernel: [1, 1], groups: 1, layer: layer,
                                               file: file, line: line)
            if let bits { XCTAssertEqual(descriptor.bits, bits, found.description, file: file, line: line) }
        }
        return found
    }

    /// Packs `layer` for a conv whose checkpoint weights are `w` ([OC, Cin/groups, kh, kw]) with
    /// applyMethodLayers (no BatchNorm: fold factor 1), then decodes the stored codes, table and scales as
    /// the runtime does (scale[oc] * levels[code], GEMM order) and compares with the weights bit for bit.
    @discardableResult
    private func packAndDecode(_ w: [Float], rows oc: Int, cin: Int, kernel: [Int], groups: Int, layer: MethodLayer,
                               file: StaticString = #filePath, line: UInt = #line) throws -> WeightDescriptor {
        let (kh, kw) = (kernel[0], kernel[1]), cg = cin / groups, k = cg * kh * kw
        var gemm = [Float](repeating: 0, count: w.count)
        for o in 0..<oc { for c in 0..<cg { for y in 0..<kh { for x in 0..<kw {
            gemm[o * k + (y * kw + x) * cg + c] = w[((o * cg + c) * kh + y) * kw + x]
        } } } }
        var graph = Graph(input: Value(name: "input", shape: [kh + 2, kw + 2, cin]))
        try graph.append("conv", .conv2d(Conv2D(inChannels: cin, outChannels: oc, kernel: kernel, groups: groups,
                                                weight: .float32("conv.weight"))), inputs: ["input"])
        var tensors = TensorStore()
        tensors.set("conv.weight", StoredTensor(floats: gemm, shape: [oc, k]))
        var model = FloatModel(arch: "test", graph: graph, tensors: tensors,
                               preprocessing: Preprocessing(inputSize: [kh + 2, kw + 2], channels: cin, mean: [], std: []),
                               labels: [])
        _ = try applyMethodLayers(&model, layers: ["conv": layer], foldFactors: [:])
        guard case .conv2d(let c) = model.graph.nodes[0].op, c.weight.scheme != .float32 else {
            XCTFail("not packed", file: file, line: line)
            return WeightDescriptor.float32("conv.weight")
        }
        let packed = model.tensors[c.weight.codes!]!.bytes, scale = model.tensors[c.weight.scale!]!.floats
        let perGroup = oc / groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(c.weight.bits))
        for g in 0..<groups {
            var codes = [UInt8](repeating: 0, count: perGroup * k)
            packed.withUnsafeBufferPointer { qk_unpack_codes($0.baseAddress! + g * groupBytes, perGroup, k, Int32(c.weight.bits), &codes) }
            for r in 0..<perGroup {
                let o = g * perGroup + r
                for j in 0..<k {
                    let got = scale[o] * c.weight.exactValue(code: Int(codes[r * k + j]))
                    if got != gemm[o * k + j] {
                        XCTFail("channel \(o) weight \(j): decoded \(got), stored \(gemm[o * k + j])", file: file, line: line)
                        return c.weight
                    }
                }
            }
        }
        return c.weight
    }

    func testBinaryAndTernaryPerLayerAndPerChannel() throws {
        try check(grid(8, 72, levels: [-1, 1]) { _ in 0.0371 }, rows: 8, k: 72, "binary +-a per layer", bits: 1)
        try check(grid(8, 72, levels: [-1, 1], step: channelStep), rows: 8, k: 72, "binary +-a per channel", bits: 1)
        var ternary = grid(16, 36, levels: [-1, 0, 1]) { _ in 0.25 }
        ternary[0] = -0.0
        try check(ternary, rows: 16, k: 36, "ternary 0, +-a per layer", bits: 2)
        ternary = grid(16, 36, levels: [-1, 0, 1], step: channelStep)
        ternary[5] = -0.0
        try check(ternary, rows: 16, k: 36, "ternary 0, +-a per channel", bits: 2)
    }

    func testShiftValues() throws {
        // DeepShift / S3 style: 0 and +-2^e, no scale
        let shifts = (0..<(8 * 72)).map { i -> Float in
            let e = Int.random(in: -6...0, using: &rng), sign: Float = Bool.random(using: &rng) ? 1 : -1
            return i % 7 == 0 ? 0 : sign * Float(sign: .plus, exponent: e, significand: 1)
        }
        let found = try check(shifts, rows: 8, k: 72, "shift 15 levels per layer")
        XCTAssertEqual(try packAndDecode(shifts, rows: 8, cin: 72, kernel: [1, 1], groups: 1, layer: found!.codes!).scheme, .shift)
        // S3's released values
        try check(grid(8, 36, levels: [0, 1, -1, 2, -2, 4, -4]) { _ in 1 }, rows: 8, k: 36, "shift 7 levels per layer", bits: 3)
        // per channel: a scale times 0 / +-2^e
        try check(grid(8, 36, levels: [0, 1, -1, 2, -2, 4, -4, 8], step: channelStep), rows: 8, k: 36, "shift 8 levels per channel")
    }

    func testUniformPerLayerAndPerChannel() throws {
        try check(grid(8, 72, levels: Array(-7...7)) { _ in 0.0173 }, rows: 8, k: 72, "uniform 4-bit per layer", bits: 4)
        try check(grid(16, 72, levels: Array(-4...3), step: channelStep), rows: 16, k: 72, "uniform 3-bit per channel", bits: 3)
        try check(grid(16, 72, levels: Array(-3...3), step: channelStep), rows: 16, k: 72, "uniform 3-bit per channel", bits: 3)
        // more than 16 levels: 8-bit codes (level = code - 128)
        try check(grid(16, 288, levels: Array(-32...31), step: channelStep), rows: 16, k: 288,
                  "uniform 6-bit per channel (8-bit codes)", bits: 8)
        try check(grid(4, 600, levels: Array(-128...127), step: channelStep), rows: 4, k: 600,
                  "uniform 8-bit per channel (8-bit codes)", bits: 8)
    }

    /// A channel using only -4, -3, 3 (its smallest value the rounded fl(3 s)) still gets an exact step; a
    /// channel using only even integers gets the larger step 2 s.
    func testStepsFromRoundedSmallestValues() throws {
        var w = grid(8, 64, levels: Array(-4...3), step: channelStep)
        let threeAndFour = grid(1, 64, levels: [-4, -3, 3]) { _ in 0.0123457 }
        w.replaceSubrange(0..<64, with: threeAndFour)
        w.replaceSubrange(64..<128, with: grid(1, 64, levels: [-4, -2, 2]) { _ in 0.0711 })
        try check(w, rows: 8, k: 64, "uniform 3-bit per channel", bits: 3)
    }

    func testZerosNegativeZeroAndAllZeroChannels() throws {
        var w = grid(8, 72, levels: [-1, 1], step: channelStep)
        for j in 144..<216 { w[j] = j % 2 == 0 ? 0 : -0.0 }                   // channel 2 all zero
        let found = try check(w, rows: 8, k: 72, "binary +-a per channel", bits: 1)
        XCTAssertEqual(found?.codes?.channelScales?[2], 0)
        try check([Float](repeating: 0, count: 64), rows: 4, k: 16, "all zero")
        var u = grid(8, 72, levels: Array(-4...3)) { _ in 0.02 }
        for j in stride(from: 0, to: u.count, by: 9) { u[j] = -0.0 }
        try check(u, rows: 8, k: 72, "uniform 3-bit per layer", bits: 3)
    }

    /// Values made in float64 from a step that float32 cannot hold, then rounded: a float32 step may or
    /// may not reproduce them; whatever is found decodes exactly, and they are never taken for plain floats.
    func testStepsThatAreNotExactInFloat32() throws {
        for rows in [4, 40] {
            let w = (0..<(rows * 64)).map { i -> Float in
                Float(Double(Int.random(in: -4...3, using: &rng)) * (0.1 + 0.013 * Double(i / 64)))
            }
            let found = findValueGrid(w, rows: rows, k: 64)
            XCTAssertNotNil(found, "rows \(rows)")
            if let layer = found?.codes { XCTAssertTrue(decodesExactly(layer, w, rows: rows, k: 64), found!.description) }
        }
    }

    func testCodebookAndExactFloatLayers() throws {
        let table: [Float] = [0, 0.013, -0.27, 0.31, -0.0555, 0.7, 0.123456, -0.9, 1.1, -0.002]
        let w = (0..<(8 * 72)).map { _ in table.randomElement(using: &rng)! }
        try check(w, rows: 8, k: 72, "codebook 10 levels per layer", bits: 4)
        // DeepShift 5-bit PS: 0 and +-2^-14 .. +-1, 31 levels: more than the kernels take
        let deepShift = (0..<(16 * 144)).map { i -> Float in
            i % 31 == 0 ? 0 : (i % 2 == 0 ? 1 : -1) * Float(sign: .plus, exponent: -((i / 2) % 15), significand: 1)
        }
        try check(deepShift, rows: 16, k: 144, "exact f32, 31 levels", exactFloat: true)
        // a k-means codebook per channel (4 values each, different per channel): exact f32
        let perChannel = (0..<(80 * 72)).map { i -> Float in Float(i / 72 + 1) * [0.11, -0.37, 0.52, -0.9][i % 4] * 0.01 + 0.001 }
        try check(perChannel, rows: 80, k: 72, "exact f32, up to 4 levels per channel", exactFloat: true)
    }

    /// Depthwise 3x3 (K = 9, one group per channel) and a grouped conv with 3-bit per-channel values:
    /// packed per group and decoded exactly.
    func testDepthwiseAndGroupedShapes() throws {
        for (oc, cin, groups) in [(32, 32, 32), (16, 8, 4)] {
            let k = cin / groups * 9
            let w = grid(oc, k, levels: Array(-4...3), step: channelStep)
            let found = try XCTUnwrap(findValueGrid(w, rows: oc, k: k))
            XCTAssertEqual(found.description, "uniform 3-bit per channel")
            let descriptor = try packAndDecode(w, rows: oc, cin: cin, kernel: [3, 3], groups: groups, layer: found.codes!)
            XCTAssertEqual(descriptor.bits, 3)
        }
    }

    func testPlainFloatWeightsAreRejected() {
        func normal() -> Float {
            let u = Float.random(in: Float.ulpOfOne..<1, using: &rng), v = Float.random(in: 0..<1, using: &rng)
            return (-2 * logf(u)).squareRoot() * cosf(2 * .pi * v) * 0.05
        }
        for (rows, k) in [(64, 576), (16, 27), (10, 64), (32, 9), (8, 1), (256, 2304), (3, 3)] {
            let w = (0..<(rows * k)).map { _ in normal() }
            XCTAssertNil(findValueGrid(w, rows: rows, k: k), "normal [\(rows), \(k)]")
            let pruned = w.enumerated().map { $0.offset % 5 == 0 ? $0.element : 0 }
            XCTAssertNil(findValueGrid(pruned, rows: rows, k: k), "80% pruned [\(rows), \(k)]")
            let bfloat16 = w.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) }
            XCTAssertNil(findValueGrid(bfloat16, rows: rows, k: k), "bfloat16 [\(rows), \(k)]")
        }
        XCTAssertNil(findValueGrid((0..<10).map { Float($0) * 0.37 + 0.01 }, rows: 10, k: 1), "one weight per channel")
        XCTAssertNil(findValueGrid([1, 2, .nan, 1, 2, 1, 2, 1], rows: 2, k: 4), "NaN")
        XCTAssertNil(findValueGrid([1, 2, .infinity, 1, 2, 1, 2, 1], rows: 2, k: 4), "infinity")
    }
}
