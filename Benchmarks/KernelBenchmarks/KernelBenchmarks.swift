// GEMM micro-benchmarks (ordo-one/benchmark): the quantized GEMM families on the shapes of real
// layers (ResNet-18 at 224x224, ResNet-20 at 32x32), square 512^3 and 1024^3, and memory-bound
// GEMV-like shapes (M <= 4 rows against 4096x4096 weights), at 8/4/2/1 bits, plus the int8 peak
// probe (qk_peak.h) in the same process. Each benchmark reports GOP/s (2 ops per multiply-add) and
// "% of peak" next to the usual wall-clock statistics. Depthwise 3x3 (direct vs GEMM path):
// DWConvBenchmarks.swift. One thread unless LOWBIT_BENCH_THREADS is set.
// Run: LOWBIT_BENCHMARKS=1 swift package benchmark --target KernelBenchmarks   (Benchmarks/README.md)
import Benchmark
import Foundation
import QKernels

/// A GEMM shape: M activation rows (output pixels), N output channels, K = kh*kw*Cin.
struct Shape {
    var name: String
    var M: Int, N: Int, K: Int
}

let layerShapes: [Shape] = [
    Shape(name: "resnet18.conv1", M: 112 * 112, N: 64, K: 7 * 7 * 3),
    Shape(name: "resnet18.layer1", M: 56 * 56, N: 64, K: 9 * 64),
    Shape(name: "resnet18.layer2", M: 28 * 28, N: 128, K: 9 * 128),
    Shape(name: "resnet18.layer3", M: 14 * 14, N: 256, K: 9 * 256),
    Shape(name: "resnet18.layer4", M: 7 * 7, N: 512, K: 9 * 512),
    Shape(name: "resnet18.fc", M: 1, N: 1000, K: 512),
    Shape(name: "resnet20.layer1", M: 32 * 32, N: 16, K: 9 * 16),
    Shape(name: "resnet20.layer2", M: 16 * 16, N: 32, K: 9 * 32),
    Shape(name: "resnet20.layer3", M: 8 * 8, N: 64, K: 9 * 64),
    Shape(name: "square512", M: 512, N: 512, K: 512),
    Shape(name: "square1024", M: 1024, N: 1024, K: 1024),
]
/// 4096x4096 int8 weights (16 MB) fit a large L3; 8192x8192 (64 MB) stream from DRAM.
let memoryBoundShapes: [Shape] = [1, 4].map { Shape(name: "gemv\($0)x4096x4096", M: $0, N: 4096, K: 4096) }
    + [Shape(name: "gemv1x8192x8192", M: 1, N: 8192, K: 8192)]

let gops = BenchmarkMetric.custom("GOP/s", polarity: .prefersLarger, useScalingFactor: false)
let ofPeak = BenchmarkMetric.custom("% of peak", polarity: .prefersLarger, useScalingFactor: false)
let threads = Int32(ProcessInfo.processInfo.environment["LOWBIT_BENCH_THREADS"] ?? "1") ?? 1

/// Deterministic bytes (xorshift), so every run measures the same data.
func fillRandom(_ p: UnsafeMutablePointer<UInt8>, _ count: Int, seed: UInt64) {
    var s = seed | 1
    for i in 0..<count {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        p[i] = UInt8(truncatingIfNeeded: s)
    }
}

/// Owns the buffers of one qgemm: activations, packed weights, column sums, epilogue, u8 output.
final class QGemmProblem {
    var args = qk_qgemm_args()
    let member: qk_qgemm_ukernel_desc
    private var blocks: [UnsafeMutableRawPointer] = []

    init(_ s: Shape, bits: Int) {
        member = qk_qgemm_select(Int32(bits), qk_isa_active())!.pointee
        func alloc(_ bytes: Int) -> UnsafeMutableRawPointer {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes + Int(QK_EXTRA_BYTES), alignment: 64)
            blocks.append(p)
            return p
        }
        let a = alloc(s.M * s.K).bindMemory(to: UInt8.self, capacity: s.M * s.K)
        fillRandom(a, s.M * s.K, seed: 1)
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: s.N * s.K)
        defer { codes.deallocate() }
        fillRandom(codes, s.N * s.K, seed: 2)
        let rowBytes = qk_packed_row_bytes(s.K, Int32(bits))
        let packedBytes = qk_packed_bytes(s.N, s.K, Int32(bits))
        let w = alloc(packedBytes).bindMemory(to: UInt8.self, capacity: packedBytes)
        qk_pack_codes(codes, s.N, s.K, Int32(bits), w)
        let lut = alloc(16).bindMemory(to: Int8.self, capacity: 16)
        for i in 0..<16 { lut[i] = Int8(i * 9 - 70) }
        let colsum = alloc(s.N * 4).bindMemory(to: Int32.self, capacity: s.N)
        qk_weight_colsums(w, s.N, s.K, Int32(bits), lut, colsum)
        let scale = alloc(s.N * 4).bindMemory(to: Float.self, capacity: s.N)
        let bias = alloc(s.N * 4).bindMemory(to: Float.self, capacity: s.N)
        for n in 0..<s.N { scale[n] = 1e-4; bias[n] = 0.5 }
        let out = alloc(s.M * s.N)
        args.M = s.M; args.N = s.N; args.K = s.K
        args.a = UnsafePointer(a); args.lda = s.K; args.a_zero = 3
        args.w = UnsafePointer(w); args.w_group_stride = Int(QK_ROW_GROUP) * rowBytes; args.bits = Int32(bits)
        args.lut = bits == 8 ? nil : UnsafePointer(lut); args.colsum = UnsafePointer(colsum)
        args.epi.scale = UnsafePointer(scale); args.epi.bias = UnsafePointer(bias)
        args.epi.clamp_lo = 0; args.epi.clamp_hi = .infinity
        args.epi.output_kind = QK_OUTPUT_U8; args.epi.out = out; args.epi.ldc = s.N
        args.epi.out_inv_scale = 10; args.epi.out_zero = 0
    }

    deinit { blocks.forEach { $0.deallocate() } }

    func run() {
        withUnsafePointer(to: member) { uk in
            withUnsafePointer(to: args) { qk_qgemm(uk, $0) }
        }
    }
}

/// Owns the buffers of one binary conv (qk_bconv2d_f32, ResNet-18 3x3 shapes): f32 input with no
/// zeros, binary weights (path BINARY) or ternary weights with a third zeros (path SIGN_ACT).
final class BConvProblem {
    var geom: qk_conv_geom
    var layer = qk_bconv_layer()
    let member: qk_bgemm_ukernel_desc
    private var blocks: [UnsafeMutableRawPointer] = []
    private var input: UnsafeMutablePointer<Float>! = nil
    private var workspace: UnsafeMutableRawPointer! = nil

    init(size: Int, channels c: Int, ternary: Bool) {
        member = qk_bgemm_select(qk_isa_active())!.pointee
        geom = qk_conv_geom(in_h: Int32(size), in_w: Int32(size), in_c: Int32(c), out_c: Int32(c), kernel_h: 3,
                            kernel_w: 3, stride_h: 1, stride_w: 1, pad_top: 1, pad_left: 1, pad_bottom: 1,
                            pad_right: 1, dilation_h: 1, dilation_w: 1, groups: 1)
        func alloc(_ bytes: Int) -> UnsafeMutableRawPointer {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes + Int(QK_EXTRA_BYTES), alignment: 64)
            blocks.append(p)
            return p
        }
        let K = 9 * c, kw = qk_bgemm_kwords(K, c)
        var bytes = [UInt8](repeating: 0, count: max(size * size * c, c * K))
        fillRandom(&bytes, size * size * c, seed: 5)
        input = alloc(size * size * c * 4).bindMemory(to: Float.self, capacity: size * size * c)
        for i in 0..<(size * size * c) { input[i] = bytes[i] & 1 == 0 ? 1.5 : -0.5 }
        fillRandom(&bytes, c * K, seed: 6)
        let w = (0..<(c * K)).map { ternary ? Int8(Int(bytes[$0]) % 3 - 1) : (bytes[$0] & 1 == 0 ? 1 : -1) }
        let packed = alloc(qk_bgemm_packed_words(c, kw) * 8).bindMemory(to: UInt64.self, capacity: qk_bgemm_packed_words(c, kw))
        layer.w_has_zero = qk_bgemm_pack_weights(w, c, K, c, packed)
        let sums = alloc(9 * c * 4).bindMemory(to: Int32.self, capacity: 9 * c)
        let nonzero = alloc(c * 4).bindMemory(to: Int32.self, capacity: c)
        qk_bgemm_segment_sums(packed, c, kw, (c + 63) / 64, sums)
        qk_bgemm_row_nonzeros(packed, c, kw, nonzero)
        let scale = alloc(c * 4).bindMemory(to: Float.self, capacity: c)
        let bias = alloc(c * 4).bindMemory(to: Float.self, capacity: c)
        for n in 0..<c { scale[n] = 0.01; bias[n] = 0.5 }
        layer.w = UnsafePointer(packed); layer.tap_sums = UnsafePointer(sums); layer.w_nonzero = UnsafePointer(nonzero)
        layer.epi.scale = UnsafePointer(scale); layer.epi.bias = UnsafePointer(bias)
        layer.epi.clamp_lo = -.infinity; layer.epi.clamp_hi = .infinity
        layer.epi.output_kind = QK_OUTPUT_F32; layer.epi.out = alloc(size * size * c * 4); layer.epi.ldc = c
        workspace = UnsafeMutableRawPointer.allocate(byteCount: qk_bconv_workspace_bytes(&geom), alignment: 64)
        blocks.append(workspace)
        // the row tables, built once as the runtime's plan does
        let tables = alloc(qk_bconv_tables_bytes(&geom))
        qk_bconv_prepare(&geom, &layer, tables)
        layer.tables = UnsafeRawPointer(tables)
    }

    deinit { blocks.forEach { $0.deallocate() } }

    func run() {
        withUnsafePointer(to: member) { uk in
            withUnsafePointer(to: geom) { g in withUnsafePointer(to: layer) { qk_bconv2d_f32(uk, g, input, $0, workspace) } }
        }
    }
}

/// The int8 peak of this core in GOP/s, measured once (the probe of the active ISA, ~0.2 s).
let peakGOPs: Double = {
    qk_set_num_threads(1)
    let isa = qk_isa_active()
    _ = qk_peak_int8_ops(isa, 100_000)
    var best = 0.0
    for _ in 0..<5 {
        let start = ContinuousClock.now
        let ops = qk_peak_int8_ops(isa, 2_000_000)
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        best = max(best, Double(ops) / seconds / 1e9)
    }
    return best
}()

/// Times `body` once (it returns the operations it did) and records GOP/s and its share of the peak.
func record(_ benchmark: Benchmark, _ body: () -> Double) {
    let start = ContinuousClock.now
    let ops = body()
    let seconds = (ContinuousClock.now - start) / .seconds(1)
    let rate = ops / seconds / 1e9
    benchmark.measurement(gops, Int(rate.rounded()))
    benchmark.measurement(ofPeak, Int((rate / peakGOPs * 100).rounded()))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, gops, ofPeak], timeUnits: .microseconds, warmupIterations: 3,
        maxDuration: .seconds(1), maxIterations: 2_000)
    qk_set_num_threads(threads)
    let isa = String(cString: qk_isa_name(qk_isa_active()))

    Benchmark("peak int8 \(isa) (12 independent dot-product chains)") { benchmark in
        for _ in benchmark.scaledIterations {
            record(benchmark) { Double(qk_peak_int8_ops(qk_isa_active(), 200_000)) }
        }
    }

    for shape in layerShapes + memoryBoundShapes {
        for bits in [8, 4, 2, 1] {
            let problem = QGemmProblem(shape, bits: bits)
            let ops = 2.0 * Double(shape.M * shape.N * shape.K)
            let member = String(cString: problem.member.name)
            Benchmark("qgemm w\(bits) \(shape.name) \(shape.M)x\(shape.N)x\(shape.K) [\(member)]") { benchmark in
                for _ in benchmark.scaledIterations {
                    record(benchmark) { problem.run(); return ops }
                }
            }
        }
    }

    // Binary conv (sign packing + implicit bgemm) at the ResNet-18 3x3 shapes; compare with
    // "qgemm w8 resnet18.layerN" above (GEMM only) or Benchmarks/bconv/bench_bconv.c (whole conv).
    for (size, c) in [(56, 64), (28, 128), (14, 256), (7, 512)] {
        for ternary in [false, true] {
            let problem = BConvProblem(size: size, channels: c, ternary: ternary)
            let ops = 2.0 * Double(size * size * c * 9 * c)
            let member = String(cString: problem.member.name)
            let path = ternary ? "ternary weights" : "binary"
            Benchmark("bconv \(path) resnet18 \(size)x\(size)x\(c)->\(c) 3x3 [\(member)]") { benchmark in
                for _ in benchmark.scaledIterations {
                    record(benchmark) { problem.run(); return ops }
                }
            }
        }
    }
    registerDepthwiseBenchmarks()
}
