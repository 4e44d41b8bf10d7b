// Depthwise 3x3 benchmarks: the dispatched dwconv member (qk_dwconv.h) against the GEMM path
// (qk_conv2d_u8 with groups == C, the dispatched qgemm member) on MobileNetV2's depthwise layers at
// 224x224, 8-bit weights, u8 output with bias and ReLU6. Same data for both; GOP/s counts 2 ops per
// multiply-add of the 3x3 taps. Registered by KernelBenchmarks.swift.
import Benchmark
import QKernels

/// A MobileNetV2 depthwise layer: square input of `size` pixels, `channels`, stride, pad 1.
struct DepthwiseShape {
    var name: String
    var size: Int, channels: Int, stride: Int

    var geometry: qk_conv_geom {
        let (s, c, st) = (Int32(size), Int32(channels), Int32(stride))
        return qk_conv_geom(in_h: s, in_w: s, in_c: c, out_c: c, kernel_h: 3, kernel_w: 3, stride_h: st,
                            stride_w: st, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1,
                            dilation_h: 1, dilation_w: 1, groups: c)
    }
}

let depthwiseShapes: [DepthwiseShape] = [
    DepthwiseShape(name: "mobilenetv2.112x112x32.s1", size: 112, channels: 32, stride: 1),
    DepthwiseShape(name: "mobilenetv2.112x112x96.s2", size: 112, channels: 96, stride: 2),
    DepthwiseShape(name: "mobilenetv2.56x56x144.s1", size: 56, channels: 144, stride: 1),
    DepthwiseShape(name: "mobilenetv2.28x28x192.s1", size: 28, channels: 192, stride: 1),
    DepthwiseShape(name: "mobilenetv2.14x14x576.s1", size: 14, channels: 576, stride: 1),
    DepthwiseShape(name: "mobilenetv2.7x7x960.s1", size: 7, channels: 960, stride: 1),
]

/// Owns one depthwise layer's buffers for both paths: packed codes + column sums + im2col workspace
/// (GEMM path) and the repacked [9][C] weights + sums (direct path).
final class DepthwiseProblem {
    let direct: qk_dwconv_ukernel_desc
    let gemm: qk_qgemm_ukernel_desc
    var geometry: qk_conv_geom
    var directArgs = qk_dwconv_args()
    var gemmArgs = qk_qgemm_args()
    let multiplyAdds: Double
    private let input: UnsafeMutablePointer<UInt8>
    private let workspace: UnsafeMutablePointer<UInt8>
    private var blocks: [UnsafeMutableRawPointer] = []

    init(_ s: DepthwiseShape) {
        direct = qk_dwconv_select(qk_isa_active())!.pointee
        gemm = qk_qgemm_select(8, qk_isa_active())!.pointee
        geometry = s.geometry
        var g = s.geometry
        var owned: [UnsafeMutableRawPointer] = []
        func alloc(_ bytes: Int) -> UnsafeMutableRawPointer {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes + Int(QK_EXTRA_BYTES), alignment: 64)
            owned.append(p)
            return p
        }
        let c = s.channels, pixels = Int(qk_conv_out_h(&g)) * Int(qk_conv_out_w(&g))
        multiplyAdds = Double(pixels * c * 9)
        let input = alloc(s.size * s.size * c).bindMemory(to: UInt8.self, capacity: s.size * s.size * c)
        fillRandom(input, s.size * s.size * c, seed: 5)
        let groupBytes = qk_packed_bytes(1, 9, 8)
        let packed = alloc(c * groupBytes).bindMemory(to: UInt8.self, capacity: c * groupBytes)
        var codes = [UInt8](repeating: 0, count: 9)
        let colsum = alloc(c * 4).bindMemory(to: Int32.self, capacity: c)
        for ch in 0..<c {
            codes.withUnsafeMutableBufferPointer { fillRandom($0.baseAddress!, 9, seed: UInt64(ch + 7)) }
            qk_pack_codes(codes, 1, 9, 8, packed + ch * groupBytes)
            qk_weight_colsums(packed + ch * groupBytes, 1, 9, 8, nil, colsum + ch)
        }
        let wStride = qk_dwconv_weight_stride(Int32(c))
        let w = alloc(9 * wStride).bindMemory(to: Int8.self, capacity: 9 * wStride)
        let wsum = alloc(c * 4).bindMemory(to: Int32.self, capacity: c)
        qk_dwconv_pack(packed, groupBytes, 8, nil, 3, Int32(c), w, wStride, wsum)
        let scale = alloc(c * 4).bindMemory(to: Float.self, capacity: c)
        let bias = alloc(c * 4).bindMemory(to: Float.self, capacity: c)
        for ch in 0..<c { scale[ch] = 1e-3; bias[ch] = 0.5 }
        var epi = qk_epilogue()
        epi.scale = UnsafePointer(scale); epi.bias = UnsafePointer(bias); epi.clamp_lo = 0; epi.clamp_hi = 6
        epi.output_kind = QK_OUTPUT_U8; epi.out = alloc(pixels * c); epi.ldc = c
        epi.out_inv_scale = 40; epi.out_zero = 0
        let workspace = alloc(qk_conv_workspace_bytes(&g, 1)).bindMemory(to: UInt8.self, capacity: 1)
        self.input = input
        self.workspace = workspace
        blocks = owned
        directArgs = qk_dwconv_args(geom: geometry, in: UnsafePointer(input), a_zero: 3, w: UnsafePointer(w),
                                    w_stride: wStride, wsum: UnsafePointer(wsum), epi: epi)
        gemmArgs.a_zero = 3; gemmArgs.w = UnsafePointer(packed); gemmArgs.w_group_stride = groupBytes
        gemmArgs.bits = 8; gemmArgs.colsum = UnsafePointer(colsum); gemmArgs.epi = epi
    }

    deinit { blocks.forEach { $0.deallocate() } }

    func runDirect() {
        withUnsafePointer(to: direct) { uk in withUnsafePointer(to: directArgs) { qk_dwconv(uk, $0) } }
    }

    func runGemm() {
        withUnsafePointer(to: gemm) { uk in
            withUnsafePointer(to: gemmArgs) { qk_conv2d_u8(uk, &geometry, input, $0, workspace) }
        }
    }
}

/// Registers "dwconv 3x3 <shape> [member]" and "dwconv 3x3 via qgemm <shape> [member]" per shape.
func registerDepthwiseBenchmarks() {
    for shape in depthwiseShapes {
        let problem = DepthwiseProblem(shape)
        let ops = 2 * problem.multiplyAdds
        Benchmark("dwconv 3x3 \(shape.name) [\(String(cString: problem.direct.name))]") { benchmark in
            for _ in benchmark.scaledIterations { record(benchmark) { problem.runDirect(); return ops } }
        }
        Benchmark("dwconv 3x3 via qgemm \(shape.name) [\(String(cString: problem.gemm.name))]") { benchmark in
            for _ in benchmark.scaledIterations { record(benchmark) { problem.runGemm(); return ops } }
        }
    }
}
