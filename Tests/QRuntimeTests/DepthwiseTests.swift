// Depthwise 3x3 convs in the runtime: the planner runs them on the direct dwconv kernels (u8
// inputs) or fdwconv kernels (f32 inputs, 3x3 and 5x5), reports the member, needs no im2col workspace for them,
// and the outputs equal the GEMM path's bit for bit (u8) or to rounding (f32) (DepthwisePath.gemm runs
// the same layers through qk_conv2d_u8 / qk_conv2d_f32).
import Foundation
import QGraph
import QKernels
import QRuntime
import _QTestSupport
import XCTest

final class DepthwiseTests: XCTestCase {
    private let size = (h: 9, w: 11), channels = 20

    /// Packed codes of a conv's weights (each conv group's rows their own packed matrix), as stored.
    private func packedCodes(rows: Int, groups: Int, k: Int, bits: Int, rng: inout SeededGenerator) -> StoredTensor {
        let perGroup = rows / groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(bits))
        let maxCode = bits == 8 ? 255 : (1 << bits) - 1
        var bytes = [UInt8](repeating: 0, count: groups * groupBytes)
        for g in 0..<groups {
            let codes = (0..<(perGroup * k)).map { _ in UInt8(Int.random(in: 0...maxCode, using: &rng)) }
            bytes.withUnsafeMutableBufferPointer { out in
                qk_pack_codes(codes, perGroup, k, Int32(bits), out.baseAddress! + g * groupBytes)
            }
        }
        return StoredTensor(dtype: .u8, shape: [WeightDescriptor.packedRows(rows: rows, groups: groups),
                                                WeightDescriptor.packedRowBytes(k: k, bits: bits)], bytes: bytes)
    }

    /// input [9, 11, 3] -> quantize -> 1x1 conv to 20 channels -> dw 3x3 s1 (8-bit, ReLU6) -> dw 3x3 s1
    /// with asymmetric padding and a residual (2-bit table) -> dw 3x3 s2 (4-bit table, f32 output).
    private func writeModel(to url: URL, seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var tensors = TensorStore()
        var graph = Graph(input: Value(name: "x", shape: [size.h, size.w, 3]))
        try graph.append("q", .quantize, inputs: ["x"], quant: .uint8(scale: 0.02, zeroPoint: 128))
        func layer(_ name: String, cin: Int, k: Int, stride: Int, padding: [Int], groups: Int, bits: Int,
                   activation: Activation, residual: String?, inputs: [String], quant: ActivationQuant) throws {
            let lut: [Int]? = bits == 8 ? nil : (0..<(1 << bits)).map { _ in Int.random(in: -128...127, using: &rng) }
            tensors.set("\(name).codes", packedCodes(rows: channels, groups: groups, k: k * k * cin / groups,
                                                     bits: bits, rng: &rng))
            tensors.set("\(name).scale", StoredTensor(floats: (0..<channels).map { _ in Float.random(in: 0.001...0.01, using: &rng) },
                                                      shape: [channels]))
            tensors.set("\(name).bias", StoredTensor(floats: (0..<channels).map { _ in Float.random(in: -1...1, using: &rng) },
                                                     shape: [channels]))
            let weight = WeightDescriptor(scheme: .uniform, bits: bits, codes: "\(name).codes", lut: lut, scale: "\(name).scale")
            let conv = Conv2D(inChannels: cin, outChannels: channels, kernel: [k, k], stride: [stride, stride],
                              padding: padding, groups: groups, weight: weight, bias: "\(name).bias",
                              activation: activation, residual: residual != nil)
            try graph.append(name, .conv2d(conv), inputs: inputs + (residual.map { [$0] } ?? []), quant: quant)
        }
        try layer("expand", cin: 3, k: 1, stride: 1, padding: [0, 0, 0, 0], groups: 1, bits: 8, activation: .none,
                  residual: nil, inputs: ["q"], quant: .uint8(scale: 0.05, zeroPoint: 100))
        try layer("dw1", cin: channels, k: 3, stride: 1, padding: [1, 1, 1, 1], groups: channels, bits: 8,
                  activation: .relu6, residual: nil, inputs: ["expand"], quant: .uint8(scale: 6 / 255, zeroPoint: 0))
        try layer("dw2", cin: channels, k: 3, stride: 1, padding: [0, 1, 2, 1], groups: channels, bits: 2,
                  activation: .none, residual: "dw1", inputs: ["dw1"], quant: .uint8(scale: 0.04, zeroPoint: 120))
        try layer("dw3", cin: channels, k: 3, stride: 2, padding: [1, 1, 1, 1], groups: channels, bits: 4,
                  activation: .none, residual: nil, inputs: ["dw2"], quant: .float32)
        let info = ModelInfo(name: "depthwise", arch: "", recipe: "", precision: "", labels: [],
                             preprocessing: Preprocessing(inputSize: [size.h, size.w], channels: 3,
                                                          mean: [0, 0, 0], std: [1, 1, 1]))
        try ModelArchive.write(graph: graph, info: info, tensors: tensors, to: url)
    }

    func testDirectDepthwiseEqualsTheGemmPath() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["QK_TEST_SEED"] ?? "") ?? 91
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("depthwise.lbm")
        try writeModel(to: url, seed: seed)
        let direct = try Model(contentsOf: url)
        let gemm = try Model(contentsOf: url, depthwise: .gemm)

        let member = String(cString: qk_dwconv_select(qk_isa_active())!.pointee.name)
        XCTAssertEqual(direct.layerKernels.map(\.layer), ["expand", "dw1", "dw2", "dw3"])
        XCTAssertEqual(direct.layerKernels.dropFirst().map(\.kernel), [member, member, member], "\(direct.layerKernels)")
        XCTAssertFalse(direct.layerKernels.first!.kernel.hasPrefix("qk_dwconv"))
        XCTAssertFalse(gemm.layerKernels.contains { $0.kernel.hasPrefix("qk_dwconv") }, "\(gemm.layerKernels)")
        XCTAssertLessThanOrEqual(direct.arenaBytes, gemm.arenaBytes, "direct depthwise layers need no im2col workspace")
        XCTAssertEqual(direct.outputCount, 5 * 6 * channels)

        var rng = SeededGenerator(seed: seed &+ 1)
        let sessions = (Session(model: direct), Session(model: direct, threads: 2), Session(model: gemm))
        for round in 0..<4 {
            let input = (0..<direct.inputElementCount).map { _ in Float.random(in: -2.6...2.6, using: &rng) }
            let (a, b, c) = (sessions.0.run(input), sessions.1.run(input), sessions.2.run(input))
            for (other, what) in [(c, "direct vs GEMM path"), (b, "1 vs 2 threads")] {
                XCTAssertEqual(a.count, other.count)
                if let i = a.indices.first(where: { a[$0].bitPattern != other[$0].bitPattern }) {
                    XCTFail("seed \(seed) round \(round) \(what): first difference at \(i) (pixel \(i / channels), "
                            + "channel \(i % channels)): \(a[i]) vs \(other[i])")
                }
            }
            XCTAssertGreaterThan(Set(a).count, 20, "outputs should vary (not all clamped)")
        }
    }
    /// input [9, 11, 3] f32 -> 1x1 conv (f32 weights) to 20 channels -> dw 3x3 s1 (f32 weights, ReLU6)
    /// -> dw 3x3 s1, asymmetric padding, residual (weights-only 4-bit codes) -> dw 3x3 s2 (weights-only
    /// 2-bit codes) -> dw 3x3 dilation 2 (f32 weights; outside the direct family) -> dw 5x5 s1, pad 2,
    /// residual (weights-only 4-bit codes) -> dw 5x5 s2, asymmetric padding (f32 weights). All activations f32.
    private func writeFloatModel(to url: URL, seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var tensors = TensorStore()
        var graph = Graph(input: Value(name: "x", shape: [size.h, size.w, 3]))
        func layer(_ name: String, cin: Int, k: Int, stride: Int, padding: [Int], dilation: Int = 1, groups: Int,
                   bits: Int, activation: Activation, residual: String?, input: String) throws {
            let kk = k * k * cin / groups
            let weight: WeightDescriptor
            if bits == 32 {
                tensors.set("\(name).w", StoredTensor(floats: (0..<(channels * kk)).map { _ in Float.random(in: -0.5...0.5, using: &rng) },
                                                      shape: [channels, kk]))
                weight = .float32("\(name).w")
            } else {
                tensors.set("\(name).codes", packedCodes(rows: channels, groups: groups, k: kk, bits: bits, rng: &rng))
                tensors.set("\(name).scale", StoredTensor(floats: (0..<channels).map { _ in Float.random(in: 0.001...0.01, using: &rng) },
                                                          shape: [channels]))
                let lut = (0..<(1 << bits)).map { _ in Int.random(in: -128...127, using: &rng) }
                weight = WeightDescriptor(scheme: .uniform, bits: bits, codes: "\(name).codes", lut: lut, scale: "\(name).scale")
            }
            tensors.set("\(name).bias", StoredTensor(floats: (0..<channels).map { _ in Float.random(in: -1...1, using: &rng) },
                                                     shape: [channels]))
            let conv = Conv2D(inChannels: cin, outChannels: channels, kernel: [k, k], stride: [stride, stride],
                              padding: padding, dilation: [dilation, dilation], groups: groups, weight: weight,
                              bias: "\(name).bias", activation: activation, residual: residual != nil)
            try graph.append(name, .conv2d(conv), inputs: [input] + (residual.map { [$0] } ?? []), quant: .float32)
        }
        try layer("expand", cin: 3, k: 1, stride: 1, padding: [0, 0, 0, 0], groups: 1, bits: 32, activation: .none,
                  residual: nil, input: "x")
        try layer("dw1", cin: channels, k: 3, stride: 1, padding: [1, 1, 1, 1], groups: channels, bits: 32,
                  activation: .relu6, residual: nil, input: "expand")
        try layer("dw2", cin: channels, k: 3, stride: 1, padding: [0, 1, 2, 1], groups: channels, bits: 4,
                  activation: .none, residual: "dw1", input: "dw1")
        try layer("dw3", cin: channels, k: 3, stride: 2, padding: [1, 1, 1, 1], groups: channels, bits: 2,
                  activation: .none, residual: nil, input: "dw2")
        try layer("dw4", cin: channels, k: 3, stride: 1, padding: [2, 2, 2, 2], dilation: 2, groups: channels, bits: 32,
                  activation: .none, residual: nil, input: "dw3")
        try layer("dw5", cin: channels, k: 5, stride: 1, padding: [2, 2, 2, 2], groups: channels, bits: 4,
                  activation: .relu, residual: "dw4", input: "dw4")
        try layer("dw6", cin: channels, k: 5, stride: 2, padding: [1, 2, 2, 1], groups: channels, bits: 32,
                  activation: .none, residual: nil, input: "dw5")
        let info = ModelInfo(name: "depthwise-f32", arch: "", recipe: "", precision: "", labels: [],
                             preprocessing: Preprocessing(inputSize: [size.h, size.w], channels: 3,
                                                          mean: [0, 0, 0], std: [1, 1, 1]))
        try ModelArchive.write(graph: graph, info: info, tensors: tensors, to: url)
    }

    /// f32 inputs: depthwise 3x3 and 5x5 convs with f32 or weights-only coded weights run on fdwconv
    /// (the dilated one stays on the f32 GEMM), need no im2col, agree with the GEMM path to rounding, and
    /// give the same bits on 1 and 2 threads.
    func testFloatDepthwiseRunsDirectly() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["QK_TEST_SEED"] ?? "") ?? 92
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("depthwise-f32.lbm")
        try writeFloatModel(to: url, seed: seed)
        let direct = try Model(contentsOf: url)
        let gemm = try Model(contentsOf: url, depthwise: .gemm)

        let member = String(cString: qk_fdwconv_select_for(qk_isa_active(), Int32(channels))!.pointee.name)
        let kernels = Dictionary(uniqueKeysWithValues: direct.layers.map { ($0.name, $0.kernel ?? "-") })
        for name in ["dw1", "dw2", "dw3", "dw5", "dw6"] { XCTAssertEqual(kernels[name], member, name) }
        for name in ["expand", "dw4"] { XCTAssertTrue(kernels[name]!.hasPrefix("qk_pfgemm_") || kernels[name]!.hasPrefix("qk_fgemm_"), "\(name): \(kernels[name]!)") }
        XCTAssertFalse(gemm.layers.contains { $0.kernel?.hasPrefix("qk_fdwconv_") ?? false })
        XCTAssertLessThan(direct.arenaBytes, gemm.arenaBytes, "direct depthwise layers need no im2col workspace")

        var rng = SeededGenerator(seed: seed &+ 1)
        let sessions = (Session(model: direct), Session(model: direct, threads: 2), Session(model: gemm))
        for round in 0..<4 {
            let input = (0..<direct.inputElementCount).map { _ in Float.random(in: -2.6...2.6, using: &rng) }
            let (a, b, c) = (sessions.0.run(input), sessions.1.run(input), sessions.2.run(input))
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "seed \(seed) round \(round): 1 vs 2 threads")
            XCTAssertEqual(a.count, c.count)
            let scale = c.map { abs($0) }.max()! + 1
            if let i = a.indices.first(where: { abs(a[$0] - c[$0]) > 1e-5 * scale }) {
                XCTFail("seed \(seed) round \(round) direct vs GEMM path at \(i): \(a[i]) vs \(c[i])")
            }
            XCTAssertGreaterThan(Set(a).count, 20, "outputs should vary")
        }
    }
}
