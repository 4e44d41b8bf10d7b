// im2col and the conv drivers (u8 and f32) against a naive direct convolution: stride 1/2,
// asymmetric padding, dilation, groups (depthwise included), the 1x1 direct path, strided output.
import QKernels
import XCTest

/// One conv shape: (H, W, C) -> OC, kernel, stride, pads (top, left, bottom, right), dilation, groups.
struct ConvShape {
    var h, w, c, oc, kh, kw, sh, sw: Int32
    var pads: (Int32, Int32, Int32, Int32)
    var dh, dw, groups: Int32

    var geom: qk_conv_geom {
        var g = qk_conv_geom()
        g.in_h = h; g.in_w = w; g.in_c = c; g.out_c = oc
        g.kernel_h = kh; g.kernel_w = kw; g.stride_h = sh; g.stride_w = sw
        (g.pad_top, g.pad_left, g.pad_bottom, g.pad_right) = pads
        g.dilation_h = dh; g.dilation_w = dw; g.groups = groups
        return g
    }
}

let convShapes: [ConvShape] = [
    ConvShape(h: 5, w: 6, c: 3, oc: 4, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 7, w: 7, c: 4, oc: 6, kh: 3, kw: 3, sh: 2, sw: 2, pads: (0, 1, 1, 2), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 9, w: 8, c: 4, oc: 4, kh: 3, kw: 3, sh: 1, sw: 1, pads: (2, 2, 2, 2), dh: 2, dw: 2, groups: 2),
    ConvShape(h: 6, w: 6, c: 8, oc: 8, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 8),
    ConvShape(h: 6, w: 5, c: 6, oc: 12, kh: 3, kw: 3, sh: 2, sw: 2, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 6),
    ConvShape(h: 5, w: 5, c: 16, oc: 7, kh: 1, kw: 1, sh: 1, sw: 1, pads: (0, 0, 0, 0), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 6, w: 6, c: 6, oc: 6, kh: 1, kw: 1, sh: 1, sw: 1, pads: (0, 0, 0, 0), dh: 1, dw: 1, groups: 3),
    ConvShape(h: 8, w: 8, c: 3, oc: 5, kh: 1, kw: 1, sh: 2, sw: 2, pads: (0, 0, 0, 0), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 4, w: 5, c: 2, oc: 3, kh: 5, kw: 3, sh: 2, sw: 1, pads: (2, 1, 2, 1), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 3, w: 3, c: 5, oc: 33, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 1),
    // in-image runs of kw * C bytes >= 32 with an overlapping last 32-byte move (48, 33; f32: 192, 132 bytes)
    ConvShape(h: 6, w: 7, c: 16, oc: 9, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 7, w: 8, c: 11, oc: 5, kh: 3, kw: 3, sh: 2, sw: 2, pads: (1, 0, 1, 1), dh: 1, dw: 1, groups: 1),
    // kw * C a multiple of 32 (whole 32-byte blocks per kernel row)
    ConvShape(h: 7, w: 9, c: 32, oc: 20, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 8, w: 6, c: 32, oc: 33, kh: 3, kw: 3, sh: 2, sw: 2, pads: (1, 0, 1, 2), dh: 2, dw: 1, groups: 1),
    ConvShape(h: 5, w: 7, c: 64, oc: 17, kh: 1, kw: 2, sh: 1, sw: 1, pads: (0, 1, 0, 0), dh: 1, dw: 1, groups: 1),
    // every kernel row cut by a border
    ConvShape(h: 2, w: 2, c: 32, oc: 16, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 1),
    // >= 4 panels of rows (QK_FUSED_PANELS_PER_THREAD): the fused per-panel im2col path of
    // qk_conv2d_u8, with a partial last panel, a stem-like 7x7/2 conv, a channel slice per group
    ConvShape(h: 32, w: 32, c: 8, oc: 20, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 40, w: 40, c: 3, oc: 16, kh: 7, kw: 7, sh: 2, sw: 2, pads: (3, 3, 3, 3), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 31, w: 30, c: 64, oc: 18, kh: 3, kw: 3, sh: 2, sw: 2, pads: (1, 0, 1, 2), dh: 1, dw: 1, groups: 2),
    // paddings wider than the kernel: whole kernel rows in the border (im2col once wrote past such a row)
    ConvShape(h: 3, w: 4, c: 3, oc: 5, kh: 1, kw: 1, sh: 1, sw: 1, pads: (2, 3, 2, 4), dh: 1, dw: 1, groups: 1),
    ConvShape(h: 20, w: 20, c: 5, oc: 6, kh: 2, kw: 2, sh: 1, sw: 1, pads: (3, 4, 3, 5), dh: 1, dw: 1, groups: 1),
]

final class ConvTests: XCTestCase {
    /// im2col rows against the definition, for a channel slice and a padded row stride.
    func testIm2colU8MatchesDefinition() {
        var rng = SeededGenerator(seed: testSeed(21))
        for s in convShapes {
            var g = s.geom
            let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g))
            let input = (0..<Int(s.h * s.w * s.c)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let cg = s.c / s.groups, cb = (s.groups - 1) * cg, K = Int(s.kh * s.kw * cg), ld = K + 3
            let out = Guarded<UInt8>(count: oh * ow * ld)
            qk_im2col_u8(&g, input, cb, cg, 77, out.ptr, ld)
            XCTAssertTrue(out.unchangedOutside { $0 % ld < K })
            for oy in 0..<oh { for ox in 0..<ow { for ky in 0..<Int(s.kh) { for kx in 0..<Int(s.kw) {
                for c in 0..<Int(cg) {
                    let iy = oy * Int(s.sh) - Int(s.pads.0) + ky * Int(s.dh)
                    let ix = ox * Int(s.sw) - Int(s.pads.1) + kx * Int(s.dw)
                    let inside = iy >= 0 && iy < Int(s.h) && ix >= 0 && ix < Int(s.w)
                    let want = inside ? input[(iy * Int(s.w) + ix) * Int(s.c) + Int(cb) + c] : 77
                    let got = out[(oy * ow + ox) * ld + (ky * Int(s.kw) + kx) * Int(cg) + c]
                    if got != want { XCTFail("im2col \(s) at oy \(oy) ox \(ox) ky \(ky) kx \(kx) c \(c)"); return }
                }
            } } } }
        }
    }

    /// Quantized conv through qk_conv2d_u8 vs a direct conv in Int64 plus the reference epilogue.
    func testConv2dU8MatchesNaive() {
        let seed = testSeed(22)
        var rng = SeededGenerator(seed: seed)
        for (si, s) in convShapes.enumerated() {
            let bits = [1, 2, 3, 4, 8][si % 5]
            runConvU8(s, bits: bits, rng: &rng, context: "seed \(seed) shape #\(si) bits \(bits)")
        }
    }

    /// Thread-count invariance of the whole conv path (im2col and GEMM both go parallel).
    func testConv2dU8ThreadInvariance() {
        var rng = SeededGenerator(seed: testSeed(23))
        let s = ConvShape(h: 16, w: 16, c: 16, oc: 24, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1),
                          dh: 1, dw: 1, groups: 1)
        let one = withThreads(1) { runConvU8(s, bits: 4, rng: &rng, context: "1 thread", seedOverride: 5) }
        let two = withThreads(2) { runConvU8(s, bits: 4, rng: &rng, context: "2 threads", seedOverride: 5) }
        XCTAssertEqual(one, two)
        // enough panels for the fused im2col path at 1, 2 and 3 threads (uneven split)
        let big = ConvShape(h: 32, w: 32, c: 16, oc: 24, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1),
                            dh: 1, dw: 1, groups: 1)
        let runs = [1, 2, 3].map { t in
            withThreads(t) { runConvU8(big, bits: 2, rng: &rng, context: "\(t) threads", seedOverride: 6) }
        }
        XCTAssertEqual(runs[0], runs[1])
        XCTAssertEqual(runs[0], runs[2])
    }

    /// Weights large enough for the L2-sized panels (> QK_L2_WEIGHT_BYTES: one im2col, then qgemm with
    /// every row in one panel) and for the next-tile prefetch (>= QK_PREFETCH_MIN_WEIGHT_BYTES, on the
    /// qgemm path and on the fused per-panel path), with partial last column tiles (N = 1000, 232) and a
    /// last row tile of one row: the same values as the naive conv (1 thread for one, 2 for the other).
    func testConv2dU8LargeWeights() {
        let seed = testSeed(24)
        var rng = SeededGenerator(seed: seed)
        // 3x3, K = 2304, 1000 outputs: 1.15 MB of 4-bit weights, 9 rows (one im2col, one qgemm panel)
        let late = ConvShape(h: 3, w: 3, c: 256, oc: 1000, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1),
                             dh: 1, dw: 1, groups: 1)
        // 8x8, K = 1152, 232 outputs: 267 KB of 8-bit weights, 64 rows in 8 panels (fused path)
        let fused = ConvShape(h: 8, w: 8, c: 128, oc: 232, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1),
                              dh: 1, dw: 1, groups: 1)
        withThreads(1) { _ = runConvU8(late, bits: 4, rng: &rng, context: "seed \(seed) late, 1 thread") }
        withThreads(2) { _ = runConvU8(fused, bits: 8, rng: &rng, context: "seed \(seed) fused, 2 threads") }
    }

    /// Half-step weights (codes q standing for q + 1/2: Any-Precision's 8-bit levels 2Q - 255 as
    /// int8 Q - 128) through every conv path: direct 1x1, one im2col, fused panels at 1-3 threads,
    /// groups; the driver's row sums against the naive conv with weights 2q + 1.
    func testConv2dU8HalfStepMatchesNaive() {
        let seed = testSeed(25)
        var rng = SeededGenerator(seed: seed)
        for (si, s) in convShapes.enumerated() {
            let bits = [8, 4, 8, 2][si % 4]
            runConvU8(s, bits: bits, rng: &rng, context: "seed \(seed) shape #\(si) bits \(bits) half", halfStep: true)
        }
        let big = ConvShape(h: 32, w: 32, c: 16, oc: 24, kh: 3, kw: 3, sh: 1, sw: 1, pads: (1, 1, 1, 1),
                            dh: 1, dw: 1, groups: 1)
        let runs = [1, 2, 3].map { t in
            withThreads(t) { runConvU8(big, bits: 8, rng: &rng, context: "\(t) threads half", seedOverride: 7, halfStep: true) }
        }
        XCTAssertEqual(runs[0], runs[1])
        XCTAssertEqual(runs[0], runs[2])
    }

    /// Implicit conv rows (kernel rows of whole 32-byte blocks, one group: the GEMM reads the bordered
    /// image in place, qk_qgemm_args.a_width) on every qgemm member this CPU runs, LUT and shift-add,
    /// every width: the same values as the naive conv. With paddings wider than the kernel (whole
    /// kernel rows in the border) and the unpadded strided 1x1 read straight from the input.
    func testConv2dU8ImplicitRowsEveryMember() {
        let seed = testSeed(26)
        var rng = SeededGenerator(seed: seed)
        let shapes = convShapes.filter { $0.groups == 1 && $0.dw == 1 && ($0.kw * $0.c) % 32 == 0 && $0.oc <= 64 } + [
            ConvShape(h: 4, w: 5, c: 32, oc: 19, kh: 1, kw: 1, sh: 1, sw: 1, pads: (2, 3, 1, 2), dh: 1, dw: 1, groups: 1),
            ConvShape(h: 9, w: 9, c: 64, oc: 40, kh: 1, kw: 1, sh: 2, sw: 2, pads: (0, 0, 0, 0), dh: 1, dw: 1, groups: 1),
            ConvShape(h: 5, w: 4, c: 32, oc: 17, kh: 2, kw: 3, sh: 2, sw: 1, pads: (4, 4, 3, 3), dh: 3, dw: 1, groups: 1),
        ]
        XCTAssertGreaterThanOrEqual(shapes.count, 6)
        for m in 0..<qk_qgemm_ukernel_count {
            let uk = qk_qgemm_ukernel_at(m)!
            guard qk_isa_supported(uk.pointee.isa) != 0 else { continue }
            let name = String(cString: uk.pointee.name)
            for (si, s) in shapes.enumerated() {
                let half = uk.pointee.bits == 8 && si % 2 == 1
                runConvU8(s, bits: Int(uk.pointee.bits), rng: &rng, context: "seed \(seed) \(name) shape #\(si)",
                          halfStep: half, member: uk)
            }
        }
    }

    /// Runs one u8 conv case (u8 residual, ReLU6, ldc > out_c) and checks it; returns the outputs.
    @discardableResult
    func runConvU8(_ s: ConvShape, bits: Int, rng: inout SeededGenerator, context: String,
                   seedOverride: UInt64? = nil, halfStep: Bool = false,
                   member: UnsafePointer<qk_qgemm_ukernel_desc>? = nil) -> [UInt8] {
        if let seedOverride { rng = SeededGenerator(seed: seedOverride) }
        var g = s.geom
        let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g)), M = oh * ow
        let cg = Int(s.c / s.groups), ocg = Int(s.oc / s.groups), oc = Int(s.oc)
        let K = Int(qk_conv_gemm_k(&g))
        XCTAssertEqual(K, Int(s.kh * s.kw) * cg)
        let za = Int32.random(in: 0...255, using: &rng)
        let input = Guarded<UInt8>((0..<Int(s.h * s.w * s.c)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let maxCode = bits == 8 ? 255 : (1 << bits) - 1
        let codes = (0..<(oc * K)).map { _ in UInt8(Int.random(in: 0...maxCode, using: &rng)) }
        // a shift-add member needs a shift-coded table (every entry 0 or +-2^e)
        let shiftValues: [Int8] = [0, -128] + (0...6).flatMap { [Int8(1 << $0), -Int8(1 << $0)] }
        let lut = (0..<16).map { _ in
            member?.pointee.kind == QK_KIND_SHIFT ? shiftValues.randomElement(using: &rng)! : Int8.random(in: -128...127, using: &rng)
        }
        func w(_ n: Int, _ k: Int) -> Int64 {
            let c = codes[n * K + k]
            return bits == 8 ? Int64(Int8(bitPattern: c)) : Int64(lut[Int(c)])
        }
        // naive direct conv: padding is real 0, i.e. q - za = 0
        var accp = [Int32](repeating: 0, count: M * oc)
        for oy in 0..<oh { for ox in 0..<ow { for n in 0..<oc {
            let gi = n / ocg
            var s64: Int64 = 0
            for ky in 0..<Int(s.kh) { for kx in 0..<Int(s.kw) {
                let iy = oy * Int(s.sh) - Int(s.pads.0) + ky * Int(s.dh)
                let ix = ox * Int(s.sw) - Int(s.pads.1) + kx * Int(s.dw)
                guard iy >= 0 && iy < Int(s.h) && ix >= 0 && ix < Int(s.w) else { continue }
                for c in 0..<cg {
                    let q = Int64(input[(iy * Int(s.w) + ix) * Int(s.c) + gi * cg + c])
                    let wk = w(n, (ky * Int(s.kw) + kx) * cg + c)
                    s64 += (q - Int64(za)) * (halfStep ? 2 * wk + 1 : wk)
                }
            } }
            accp[(oy * ow + ox) * oc + n] = Int32(s64)
        } } }
        let maxAbs = max(1, accp.map { abs(Int64($0)) }.max() ?? 1)
        let scale = (0..<oc).map { _ in Float.random(in: 0.5...1.5, using: &rng) * 4 / Float(maxAbs) }
        let bias = (0..<oc).map { _ in Float.random(in: -1...1, using: &rng) }
        let ldc = oc + 3, ldr = oc + 1
        let residual = (0..<(M * ldr)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let rscale: Float = 0.01, rzero = Int32.random(in: 0...255, using: &rng)
        let outInv: Float = 40, outZero = Int32.random(in: 0...60, using: &rng)

        let rowBytes = qk_packed_row_bytes(K, Int32(bits))
        // each conv group's rows are packed as their own matrix, one after the other (qk_pack.h)
        let groupBytes = qk_packed_bytes(ocg, K, Int32(bits))
        let packed = Guarded<UInt8>(count: Int(s.groups) * groupBytes)
        let colsum = Guarded<Int32>(count: oc)
        for gi in 0..<Int(s.groups) {
            codes.withUnsafeBufferPointer { c in
                qk_pack_codes(c.baseAddress! + gi * ocg * K, ocg, K, Int32(bits), packed.ptr + gi * groupBytes)
            }
            qk_weight_colsums(packed.ptr + gi * groupBytes, ocg, K, Int32(bits), lut, colsum.ptr + gi * ocg)
        }
        let lutBuf = Guarded<Int8>(lut), scaleBuf = Guarded<Float>(scale), biasBuf = Guarded<Float>(bias)
        let rBuf = Guarded<UInt8>(residual)
        let out = Guarded<UInt8>(count: M * ldc)
        let ws = Guarded<UInt8>(count: qk_conv_workspace_bytes(&g, 1) + (halfStep ? qk_conv_half_step_bytes(&g) : 0))
        if !halfStep { XCTAssertEqual(qk_conv_is_direct(&g) == 1, ws.count == 0) }
        let request = Guarded<Int32>(count: 1)   // half_rows only asks; the driver must not read it
        var layer = qk_qgemm_args()
        layer.a_zero = za
        layer.w = UnsafePointer(packed.ptr); layer.w_group_stride = Int(QK_ROW_GROUP) * rowBytes; layer.bits = Int32(bits)
        layer.lut = UnsafePointer(lutBuf.ptr); layer.colsum = UnsafePointer(colsum.ptr)
        layer.epi.scale = UnsafePointer(scaleBuf.ptr); layer.epi.bias = UnsafePointer(biasBuf.ptr)
        layer.epi.clamp_lo = 0; layer.epi.clamp_hi = 6
        layer.epi.residual_kind = QK_RESIDUAL_U8; layer.epi.residual = UnsafeRawPointer(rBuf.ptr)
        layer.epi.ldr = ldr; layer.epi.rscale = rscale; layer.epi.rzero = rzero
        layer.epi.output_kind = QK_OUTPUT_U8; layer.epi.out = UnsafeMutableRawPointer(out.ptr)
        layer.epi.ldc = ldc; layer.epi.out_inv_scale = outInv; layer.epi.out_zero = outZero
        if halfStep { layer.epi.half_rows = UnsafePointer(request.ptr) }
        let uk = member ?? qk_qgemm_select(Int32(bits), qk_isa_active())!
        qk_conv2d_u8(uk, &g, input.ptr, &layer, ws.count == 0 ? nil : ws.ptr)
        XCTAssertTrue(out.unchangedOutside { $0 % ldc < oc }, "\(context): wrote outside")
        // the same layer writing floats measures their range (every path: direct, im2col, fused panels, groups)
        var floatLayer = layer
        let floats = Guarded<Float>(count: M * ldc)
        var range: [Float] = [.infinity, -.infinity]
        floatLayer.epi.output_kind = QK_OUTPUT_F32
        floatLayer.epi.out = UnsafeMutableRawPointer(floats.ptr)
        range.withUnsafeMutableBufferPointer { r in
            floatLayer.epi.out_range = r.baseAddress
            qk_conv2d_u8(uk, &g, input.ptr, &floatLayer, ws.count == 0 ? nil : ws.ptr)
        }
        let written = (0..<(M * ldc)).filter { $0 % ldc < oc }.map { floats[$0] }
        XCTAssertEqual(range, [written.min()!, written.max()!], "\(context): measured range")

        var got = [UInt8](repeating: 0, count: M * oc)
        for m in 0..<M {
            for n in 0..<oc {
                got[m * oc + n] = out[m * ldc + n]
                var y = Float(accp[m * oc + n]) * scale[n]
                y = y + bias[n]
                y = y + rscale * Float(Int32(residual[m * ldr + n]) - rzero)
                let want = refRequant(refClamp(y, 0, 6), outInv, outZero)
                if got[m * oc + n] != want {
                    XCTFail("\(context) \(s): first bad m \(m) n \(n) got \(got[m * oc + n]) want \(want)")
                    return got
                }
            }
        }
        return got
    }

    /// f32 conv through qk_conv2d_f32 vs a direct conv summing in im2col order (exact for scalar), and
    /// through qk_conv2d_pf32 on every pfgemm member.
    func testConv2dF32MatchesNaive() {
        let seed = testSeed(24)
        var rng = SeededGenerator(seed: seed)
        for (si, s) in convShapes.enumerated() {
            var g = s.geom
            let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g)), M = oh * ow
            let cg = Int(s.c / s.groups), ocg = Int(s.oc / s.groups), oc = Int(s.oc)
            let K = Int(qk_conv_gemm_k(&g)), ldb = K + 1, ldc = oc + 2
            let input = Guarded<Float>((0..<Int(s.h * s.w * s.c)).map { _ in Float.random(in: -1...1, using: &rng) })
            let b = Guarded<Float>((0..<(oc * ldb)).map { _ in Float.random(in: -1...1, using: &rng) })
            let bias = Guarded<Float>((0..<oc).map { _ in Float.random(in: -1...1, using: &rng) })
            let out = Guarded<Float>(count: M * ldc)
            let ws = Guarded<Float>(count: qk_conv_workspace_bytes(&g, 4) / 4)
            var layer = qk_fgemm_args()
            layer.b = UnsafePointer(b.ptr); layer.ldb = ldb
            layer.epi.bias = UnsafePointer(bias.ptr)
            layer.epi.clamp_lo = -.infinity; layer.epi.clamp_hi = .infinity
            layer.epi.output_kind = QK_OUTPUT_F32
            layer.epi.out = UnsafeMutableRawPointer(out.ptr); layer.epi.ldc = ldc
            let uk = qk_fgemm_select(QK_ISA_SCALAR)!
            var range: [Float] = [.infinity, -.infinity]
            range.withUnsafeMutableBufferPointer { r in
                var measuring = layer
                measuring.epi.out_range = r.baseAddress
                qk_conv2d_f32(uk, &g, input.ptr, &measuring, ws.count == 0 ? nil : ws.ptr)
            }
            XCTAssertTrue(out.unchangedOutside { $0 % ldc < oc })
            let written = (0..<(M * ldc)).filter { $0 % ldc < oc }.map { out[$0] }
            XCTAssertEqual(range, [written.min()!, written.max()!], "seed \(seed) shape #\(si): measured range")
            // every pfgemm member through qk_conv2d_pf32 on the same layer, its weights packed per group:
            // the scalar one gives the same bits as fgemm's, SIMD ones agree to rounding
            for member in pfgemmMembers {
                var pf = member
                let nr = Int(pf.nr), groupFloats = qk_pfgemm_packed_floats(ocg, K, nr)
                var packed = [Float](repeating: .nan, count: Int(s.groups) * groupFloats)
                for gi in 0..<Int(s.groups) {
                    packed.withUnsafeMutableBufferPointer { qk_pfgemm_pack(b.ptr + gi * ocg * ldb, ocg, K, ldb, nr, $0.baseAddress! + gi * groupFloats) }
                }
                let pout = Guarded<Float>(count: M * ldc)
                var player = layer
                player.epi.out = UnsafeMutableRawPointer(pout.ptr)
                packed.withUnsafeBufferPointer { p in
                    player.b = p.baseAddress
                    qk_conv2d_pf32(&pf, &g, input.ptr, &player, ws.count == 0 ? nil : ws.ptr)
                }
                XCTAssertTrue(pout.unchangedOutside { $0 % ldc < oc }, pf.nameString)
                if let i = (0..<(M * ldc)).first(where: { $0 % ldc < oc && (pf.isa == QK_ISA_SCALAR ? pout[$0] != out[$0] : abs(pout[$0] - out[$0]) > 1e-5 * Float(K) + 1e-6) }) {
                    XCTFail("seed \(seed) shape #\(si) \(pf.nameString): element \(i) got \(pout[i]) want \(out[i])")
                }
            }
            for oy in 0..<oh { for ox in 0..<ow { for n in 0..<oc {
                let gi = n / ocg
                var acc: Float = 0
                for ky in 0..<Int(s.kh) { for kx in 0..<Int(s.kw) { for c in 0..<cg {
                    let iy = oy * Int(s.sh) - Int(s.pads.0) + ky * Int(s.dh)
                    let ix = ox * Int(s.sw) - Int(s.pads.1) + kx * Int(s.dw)
                    let inside = iy >= 0 && iy < Int(s.h) && ix >= 0 && ix < Int(s.w)
                    let v: Float = inside ? input[(iy * Int(s.w) + ix) * Int(s.c) + gi * cg + c] : 0
                    acc = acc + v * b[n * ldb + (ky * Int(s.kw) + kx) * cg + c]
                } } }
                let want = acc + bias[n], got = out[(oy * ow + ox) * ldc + n]
                if got != want {
                    XCTFail("seed \(seed) shape #\(si): first bad oy \(oy) ox \(ox) n \(n) got \(got) want \(want)")
                    return
                }
            } } }
        }
    }
}
