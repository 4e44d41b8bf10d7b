// The dwconv family (direct depthwise 3x3 and 5x5): every registered member against a naive reference
// on unpacked codes, against the scalar member and against the GEMM path (qk_conv2d_u8 with groups ==
// C), on generated cases: kernels 3 and 5, C 1...70 (every channel tail), H/W 1...9 (and rows 47...131
// wide, C up to 200, with the output rows split across calls), strides 1/2,
// paddings 0...2 (3x3) / 0...4 (5x5) per side (asymmetric), bits 8/1/2/3/4, residual none/u8/f32, outputs
// u8/f32/i32, clamps, extreme zero points, guard bytes and a row gap around the output. Also the
// repack, dispatch, names, threads.
import Foundation
import QKernels
import XCTest

var dwconvMembers: [qk_dwconv_ukernel_desc] {
    (0..<qk_dwconv_ukernel_count).map { qk_dwconv_ukernel_at($0)!.pointee }
}
extension qk_dwconv_ukernel_desc {
    var nameString: String { String(cString: name) }
}

/// One generated depthwise layer with its packed codes, repacked weights and epilogue operands.
final class DWConvCase: CustomStringConvertible {
    let geom: qk_conv_geom
    let kernel: Int, taps: Int
    let bits: Int, za: Int32, residualKind: qk_residual_kind, outputKind: qk_output_kind
    let lo: Float, hi: Float, hasBias: Bool
    let C: Int, M: Int, ldc: Int, ldr: Int
    let input: Guarded<UInt8>
    let codes: [UInt8], lut: Guarded<Int8>
    let packed: Guarded<UInt8>, colsum: Guarded<Int32>, groupStride: Int
    let w: Guarded<Int8>, wsum: Guarded<Int32>, wStride: Int
    let scale: Guarded<Float>, bias: Guarded<Float>
    let residual: Guarded<UInt8>
    let rscale: Float, rzero: Int32, outInv: Float, outZero: Int32

    var description: String {
        "\(kernel)x\(kernel) C \(C) H \(geom.in_h) W \(geom.in_w) stride \(geom.stride_h)x\(geom.stride_w) pads "
            + "(\(geom.pad_top),\(geom.pad_left),\(geom.pad_bottom),\(geom.pad_right)) bits \(bits) za \(za) "
            + "residual \(residualKind.rawValue) output \(outputKind.rawValue) clamp [\(lo), \(hi)]"
    }

    init(C: Int, height h: Int, width wd: Int, kernel: Int = 3, sh: Int, sw: Int, pads: [Int], bits: Int,
         residualKind: qk_residual_kind, outputKind: qk_output_kind, rng: inout SeededGenerator) {
        var g = qk_conv_geom()
        g.in_h = Int32(h); g.in_w = Int32(wd); g.in_c = Int32(C); g.out_c = Int32(C)
        g.kernel_h = Int32(kernel); g.kernel_w = Int32(kernel); g.stride_h = Int32(sh); g.stride_w = Int32(sw)
        g.pad_top = Int32(pads[0]); g.pad_left = Int32(pads[1]); g.pad_bottom = Int32(pads[2]); g.pad_right = Int32(pads[3])
        g.dilation_h = 1; g.dilation_w = 1; g.groups = Int32(C)
        geom = g
        let taps = kernel * kernel
        self.kernel = kernel; self.taps = taps
        self.C = C; self.bits = bits; self.residualKind = residualKind; self.outputKind = outputKind
        M = Int(qk_conv_out_h(&g)) * Int(qk_conv_out_w(&g))
        za = [0, 255, 128, Int32.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
        let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, 6), (-0.5, 0.25)]
        (lo, hi) = clamps.randomElement(using: &rng)!
        hasBias = Bool.random(using: &rng)
        ldc = C + Int.random(in: 0...3, using: &rng); ldr = C + Int.random(in: 0...2, using: &rng)
        input = Guarded<UInt8>((0..<(h * wd * C)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let maxCode = bits == 8 ? 255 : (1 << bits) - 1
        codes = (0..<(C * taps)).map { _ in UInt8(Int.random(in: 0...maxCode, using: &rng)) }
        var table = (0..<16).map { _ in Int8.random(in: -128...127, using: &rng) }
        table[0] = -128; table[1] = 127
        lut = Guarded<Int8>(table)
        // conv group c = one packed matrix of one row (a 16-row group), K = taps, one after the other
        let stride = qk_packed_bytes(1, taps, Int32(bits)), allCodes = codes
        let packedCodes = Guarded<UInt8>(count: C * stride), sums = Guarded<Int32>(count: C)
        for c in 0..<C {
            allCodes.withUnsafeBufferPointer { p in
                qk_pack_codes(p.baseAddress! + c * taps, 1, taps, Int32(bits), packedCodes.ptr + c * stride)
            }
            qk_weight_colsums(packedCodes.ptr + c * stride, 1, taps, Int32(bits), lut.ptr, sums.ptr + c)
        }
        groupStride = stride; packed = packedCodes; colsum = sums
        let ws = qk_dwconv_weight_stride(Int32(C))
        let repacked = Guarded<Int8>(count: taps * ws), repackedSums = Guarded<Int32>(count: C)
        qk_dwconv_pack(packedCodes.ptr, stride, Int32(bits), bits == 8 ? nil : UnsafePointer(lut.ptr), Int32(kernel),
                       Int32(C), repacked.ptr, ws, repackedSums.ptr)
        wStride = ws; w = repacked; wsum = repackedSums
        scale = Guarded<Float>((0..<C).map { _ in Float.random(in: 0.00001...0.002, using: &rng) })
        bias = Guarded<Float>((0..<C).map { _ in Float.random(in: -2...2, using: &rng) })
        if residualKind == QK_RESIDUAL_F32 {
            let r = Guarded<Float>((0..<(max(M, 1) * ldr)).map { _ in Float.random(in: -3...3, using: &rng) })
            residual = Guarded<UInt8>(count: r.bytes)
            residual.ptr.update(from: UnsafeRawPointer(r.ptr).assumingMemoryBound(to: UInt8.self), count: r.bytes)
        } else {
            residual = Guarded<UInt8>((0..<(max(M, 1) * ldr)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        rscale = Float.random(in: 0.001...0.05, using: &rng); rzero = Int32.random(in: 0...255, using: &rng)
        outInv = 1 / Float.random(in: 0.005...0.1, using: &rng); outZero = Int32.random(in: 0...255, using: &rng)
    }

    func weight(_ c: Int, _ k: Int) -> Int64 {
        let code = codes[c * taps + k]
        return bits == 8 ? Int64(Int8(bitPattern: code)) : Int64(lut[Int(code)])
    }

    var outElem: Int { outputKind == QK_OUTPUT_U8 ? 1 : 4 }

    /// The expected output bits per [m][c] (u8 value, f32 bit pattern or i32 bit pattern).
    func reference() -> [UInt32] {
        var g = geom
        let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g))
        var out = [UInt32](repeating: 0, count: M * C)
        for oy in 0..<oh { for ox in 0..<ow { for c in 0..<C {
            var acc: Int64 = 0
            for ky in 0..<kernel { for kx in 0..<kernel {
                let iy = oy * Int(geom.stride_h) - Int(geom.pad_top) + ky
                let ix = ox * Int(geom.stride_w) - Int(geom.pad_left) + kx
                guard iy >= 0 && iy < Int(geom.in_h) && ix >= 0 && ix < Int(geom.in_w) else { continue }
                acc += (Int64(input[(iy * Int(geom.in_w) + ix) * C + c]) - Int64(za)) * weight(c, ky * kernel + kx)
            } }
            let m = oy * ow + ox
            if outputKind == QK_OUTPUT_I32 { out[m * C + c] = UInt32(bitPattern: Int32(acc)); continue }
            var y = Float(Int32(acc)) * scale[c]
            if hasBias { y = y + bias[c] }
            if residualKind == QK_RESIDUAL_U8 { y = y + rscale * Float(Int32(residual[m * ldr + c]) - rzero) }
            if residualKind == QK_RESIDUAL_F32 {
                y = y + UnsafeRawPointer(residual.ptr).assumingMemoryBound(to: Float.self)[m * ldr + c]
            }
            y = refClamp(y, lo, hi)
            out[m * C + c] = outputKind == QK_OUTPUT_F32 ? y.bitPattern : UInt32(refRequant(y, outInv, outZero))
        } } }
        return out
    }

    private func epilogue(_ out: UnsafeMutableRawPointer) -> qk_epilogue {
        var e = qk_epilogue()
        e.scale = UnsafePointer(scale.ptr); e.bias = hasBias ? UnsafePointer(bias.ptr) : nil
        e.clamp_lo = lo; e.clamp_hi = hi
        e.residual_kind = residualKind; e.residual = UnsafeRawPointer(residual.ptr); e.ldr = ldr
        e.rscale = rscale; e.rzero = rzero
        e.output_kind = outputKind; e.out = out; e.ldc = ldc; e.out_inv_scale = outInv; e.out_zero = outZero
        return e
    }

    private func collect(_ out: Guarded<UInt8>) -> (values: [UInt32], untouched: Bool) {
        var v = [UInt32](repeating: 0, count: M * C)
        let raw = UnsafeRawPointer(out.ptr)
        for m in 0..<M { for c in 0..<C {
            let at = (m * ldc + c) * outElem
            v[m * C + c] = outElem == 1 ? UInt32(out[at]) : raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        } }
        let untouched = out.unchangedOutside { i in i / outElem % ldc < C }
        return (v, untouched)
    }

    private func args(_ out: Guarded<UInt8>) -> qk_dwconv_args {
        var a = qk_dwconv_args()
        a.geom = geom; a.in = UnsafePointer(input.ptr); a.a_zero = za
        a.w = UnsafePointer(w.ptr); a.w_stride = wStride; a.wsum = UnsafePointer(wsum.ptr)
        a.epi = epilogue(UnsafeMutableRawPointer(out.ptr))
        return a
    }

    /// The layer through a member called directly, once per row range [bounds[i], bounds[i + 1]):
    /// members compute each range alone, so the split must not change a bit.
    func runRanges(_ uk: qk_dwconv_ukernel_desc, bounds: [Int]) -> (values: [UInt32], untouched: Bool) {
        let out = Guarded<UInt8>(count: M * ldc * outElem)
        var a = args(out)
        for i in 0..<(bounds.count - 1) { uk.fn(&a, bounds[i], bounds[i + 1]) }
        return collect(out)
    }

    /// The layer through a dwconv member (qk_dwconv driver).
    func runDirect(_ uk: qk_dwconv_ukernel_desc) -> (values: [UInt32], untouched: Bool) {
        let out = Guarded<UInt8>(count: M * ldc * outElem)
        var a = args(out)
        var desc = uk
        guard outputKind == QK_OUTPUT_F32 else {
            qk_dwconv(&desc, &a)
            return collect(out)
        }
        // f32 outputs: the driver measures their range as it writes them
        var range: [Float] = [.infinity, -.infinity]
        range.withUnsafeMutableBufferPointer { r in
            a.epi.out_range = r.baseAddress
            qk_dwconv(&desc, &a)
        }
        let result = collect(out), floats = result.values.map { Float(bitPattern: $0) }
        XCTAssertEqual(range, [floats.min()!, floats.max()!], "\(String(cString: uk.name)) measured range")
        return result
    }

    /// The layer through the GEMM path: qk_conv2d_u8 with groups == C and the dispatched member.
    func runGemm() -> [UInt32] {
        var g = geom
        let out = Guarded<UInt8>(count: M * ldc * outElem)
        let ws = Guarded<UInt8>(count: qk_conv_workspace_bytes(&g, 1))
        var layer = qk_qgemm_args()
        layer.a_zero = za; layer.w = UnsafePointer(packed.ptr); layer.w_group_stride = groupStride
        layer.bits = Int32(bits); layer.lut = bits == 8 ? nil : UnsafePointer(lut.ptr)
        layer.colsum = UnsafePointer(colsum.ptr)
        layer.epi = epilogue(UnsafeMutableRawPointer(out.ptr))
        qk_conv2d_u8(qk_qgemm_select(Int32(bits), qk_isa_active()), &g, input.ptr, &layer, ws.ptr)
        return collect(out).values
    }
}

final class DWConvTests: XCTestCase {
    func firstBad(_ got: [UInt32], _ want: [UInt32], C: Int) -> String? {
        guard got.count == want.count else { return "\(got.count) values, want \(want.count)" }
        guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
        let lo = max(0, i - 2), hi = min(got.count, i + 3)
        return "first bad m \(i / C) c \(i % C): got \(got[lo..<hi]) want \(want[lo..<hi])"
    }

    /// Every member vs the reference, the scalar member and the GEMM path; guard bytes and row gap.
    func testEveryMemberOnGeneratedCases() {
        let seed = testSeed(71)
        var rng = SeededGenerator(seed: seed)
        let scalar = qk_dwconv_select(QK_ISA_SCALAR)!.pointee
        let members = dwconvMembers.filter { qk_isa_supported($0.isa) == 1 }
        let bitsList = [8, 2, 4, 1, 3]
        let residuals = [QK_RESIDUAL_NONE, QK_RESIDUAL_U8, QK_RESIDUAL_F32]
        let outputs = [QK_OUTPUT_U8, QK_OUTPUT_F32, QK_OUTPUT_I32]
        var n = 0, skipped = 0
        for C in 1...70 {
            for rep in 0..<4 {
                let kernel = rep % 2 == 0 ? 3 : 5
                let pads = (0..<4).map { _ in Int.random(in: 0...(kernel - 1), using: &rng) }
                let h = Int.random(in: 1...9, using: &rng), w = Int.random(in: 1...9, using: &rng)
                let sh = Int.random(in: 1...2, using: &rng), sw = Int.random(in: 1...2, using: &rng)
                let k = C * 4 + rep
                let t = DWConvCase(C: C, height: h, width: w, kernel: kernel, sh: sh, sw: sw, pads: pads, bits: bitsList[k % 5],
                                   residualKind: residuals[k % 3], outputKind: outputs[(k / 3) % 3], rng: &rng)
                var g = t.geom
                guard qk_dwconv_supports(&g) == 1 else {
                    XCTAssertEqual(t.M, 0, "seed \(seed) \(t): supported shape refused")
                    skipped += 1
                    continue
                }
                n += 1
                let want = t.reference()
                if let bad = firstBad(t.runGemm(), want, C: C) { XCTFail("seed \(seed) \(t) GEMM path: \(bad)"); return }
                let twin = t.runDirect(scalar).values
                for uk in members {
                    let got = t.runDirect(uk)
                    XCTAssertTrue(got.untouched, "seed \(seed) \(uk.nameString) \(t): wrote outside its output")
                    if let bad = firstBad(got.values, want, C: C) {
                        XCTFail("seed \(seed) \(uk.nameString) \(t) vs reference: \(bad)"); return
                    }
                    if let bad = firstBad(got.values, twin, C: C) {
                        XCTFail("seed \(seed) \(uk.nameString) \(t) vs scalar: \(bad)"); return
                    }
                }
            }
        }
        XCTAssertGreaterThan(n, 190, "too few generated cases ran (\(skipped) had an empty output)")
    }

    /// MobileNetV2 / V3-like channel counts at a larger size, both strides and kernels, all members; and 1 vs 2
    /// threads.
    func testLargerLayersAndThreadInvariance() {
        let seed = testSeed(72)
        var rng = SeededGenerator(seed: seed)
        for (C, hw, s, kernel) in [(96, 17, 2, 3), (144, 12, 1, 3), (40, 23, 1, 3), (120, 14, 1, 5), (72, 15, 2, 5)] {
            let p = kernel / 2
            let t = DWConvCase(C: C, height: hw, width: hw, kernel: kernel, sh: s, sw: s, pads: [p, p, p, p], bits: 8,
                               residualKind: QK_RESIDUAL_U8, outputKind: QK_OUTPUT_U8, rng: &rng)
            let want = t.reference()
            XCTAssertNil(firstBad(t.runGemm(), want, C: C), "seed \(seed) \(t) GEMM path")
            for uk in dwconvMembers where qk_isa_supported(uk.isa) == 1 {
                let one = withThreads(1) { t.runDirect(uk).values }
                let two = withThreads(2) { t.runDirect(uk).values }
                XCTAssertNil(firstBad(one, want, C: C), "seed \(seed) \(uk.nameString) \(t)")
                XCTAssertEqual(one, two, "seed \(seed) \(uk.nameString) \(t): thread count changed the result")
            }
        }
    }

    /// Rows wider than a member's column chunk (the avx512vnni member builds at most 48 entries per
    /// input row at a time), several 64-channel blocks with tails, both kernels and strides, asymmetric
    /// padding: every member vs the reference and the scalar member, through the driver and called
    /// directly on a split of the output rows (members that carry work across the rows of one call).
    func testWideRowsAndRowRanges() {
        let seed = testSeed(74)
        var rng = SeededGenerator(seed: seed)
        let scalar = qk_dwconv_select(QK_ISA_SCALAR)!.pointee
        let members = dwconvMembers.filter { qk_isa_supported($0.isa) == 1 }
        let widths = [47, 48, 49, 50, 52, 95, 96, 97, 101, 131]
        let channels = [1, 15, 16, 17, 63, 64, 65, 100, 130, 200]
        for (i, (wd, C)) in zip(widths, channels).enumerated() {
            for kernel in [3, 5] {
                let pads = (0..<4).map { _ in Int.random(in: 0...(kernel - 1), using: &rng) }
                let h = Int.random(in: 1...7, using: &rng), sh = 1 + i % 2, sw = 1 + (i / 2 + kernel) % 2
                let t = DWConvCase(C: C, height: h, width: wd, kernel: kernel, sh: sh, sw: sw, pads: pads, bits: 8,
                                   residualKind: [QK_RESIDUAL_NONE, QK_RESIDUAL_U8][i % 2],
                                   outputKind: [QK_OUTPUT_U8, QK_OUTPUT_I32, QK_OUTPUT_F32][(i + kernel) % 3], rng: &rng)
                var g = t.geom
                guard qk_dwconv_supports(&g) == 1 else { continue }
                let oh = Int(qk_conv_out_h(&g))
                let cut = Int.random(in: 0...oh, using: &rng)
                let want = t.reference(), twin = t.runDirect(scalar).values
                XCTAssertNil(firstBad(twin, want, C: C), "seed \(seed) scalar \(t)")
                for uk in members {
                    for (how, got) in [("driver", t.runDirect(uk)), ("rows split at \(cut)", t.runRanges(uk, bounds: [0, cut, oh]))] {
                        XCTAssertTrue(got.untouched, "seed \(seed) \(uk.nameString) \(t) \(how): wrote outside its output")
                        if let bad = firstBad(got.values, want, C: C) {
                            XCTFail("seed \(seed) \(uk.nameString) \(t) \(how) vs reference: \(bad)"); return
                        }
                        if let bad = firstBad(got.values, twin, C: C) {
                            XCTFail("seed \(seed) \(uk.nameString) \(t) \(how) vs scalar: \(bad)"); return
                        }
                    }
                }
            }
        }
    }

    /// The repack: w[k][c] = the weight of code (c, k), zeros for c >= C up to the stride, wsum = colsum.
    func testRepackMatchesCodes() {
        let seed = testSeed(73)
        var rng = SeededGenerator(seed: seed)
        for bits in [1, 2, 3, 4, 8] {
            for (C, kernel) in [(1, 3), (5, 5), (16, 3), (33, 5), (64, 3), (65, 5)] {
                let t = DWConvCase(C: C, height: 5, width: 5, kernel: kernel, sh: 1, sw: 1, pads: [1, 1, 1, 1], bits: bits,
                                   residualKind: QK_RESIDUAL_NONE, outputKind: QK_OUTPUT_U8, rng: &rng)
                XCTAssertEqual(t.wStride % Int(QK_DWCONV_CHANNEL_ALIGN), 0)
                XCTAssertGreaterThanOrEqual(t.wStride, C)
                for k in 0..<t.taps { for c in 0..<t.wStride {
                    let want = c < C ? t.weight(c, k) : 0
                    if Int64(t.w[k * t.wStride + c]) != want {
                        XCTFail("seed \(seed) bits \(bits) C \(C): w[\(k)][\(c)] = \(t.w[k * t.wStride + c]), want \(want)")
                        return
                    }
                } }
                for c in 0..<C { XCTAssertEqual(t.wsum[c], t.colsum[c], "bits \(bits) C \(C) c \(c)") }
            }
        }
    }

    /// qk_dwconv_ukernel_<pixels>x<channels>__<isa>; dispatch picks the best supported member.
    func testNamesAndDispatch() throws {
        let regex = try NSRegularExpression(pattern: "^qk_dwconv_ukernel_([0-9]+)x([0-9]+)__([a-z0-9]+)$")
        XCTAssertEqual(dwconvMembers.first?.isa, QK_ISA_SCALAR)
        for uk in dwconvMembers {
            let name = uk.nameString
            guard let m = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) else {
                XCTFail("bad name \(name)"); continue
            }
            func group(_ i: Int) -> String { String(name[Range(m.range(at: i), in: name)!]) }
            XCTAssertEqual(group(1), "\(uk.pixels)", name)
            XCTAssertEqual(group(2), "\(uk.channels)", name)
            XCTAssertEqual(group(3), String(cString: qk_isa_name(uk.isa)), name)
            XCTAssertLessThanOrEqual(Int(uk.channels), Int(QK_DWCONV_CHANNEL_ALIGN), name)
        }
        // members with an int8 dot product qualify only under a ceiling that has one (QK_ISA=avx512skx
        // keeps the avx512skx member although avx512vnni has the same rank)
        let dot: Set<UInt32> = [QK_ISA_AVX512VNNI.rawValue, QK_ISA_AVX512VNNIVBMI.rawValue, QK_ISA_NEONDOT.rawValue]
        for ceiling in [qk_isa_active(), QK_ISA_AVX512SKX, QK_ISA_AVX512VNNI, QK_ISA_AVX2, QK_ISA_NEON, QK_ISA_NEONDOT]
        where qk_isa_supported(ceiling) == 1 {
            let eligible = dwconvMembers.filter { !dot.contains($0.isa.rawValue) || dot.contains(ceiling.rawValue) }
            let picked = qk_dwconv_select(ceiling)!.pointee
            XCTAssertEqual(String(cString: picked.name), String(cString: bestMember(eligible, under: ceiling) { $0.isa }!.name),
                           "ceiling \(String(cString: qk_isa_name(ceiling)))")
        }
        if qk_isa_supported(QK_ISA_AVX512VNNI) == 1 {
            XCTAssertEqual(String(cString: qk_dwconv_select(QK_ISA_AVX512VNNI)!.pointee.name), "qk_dwconv_ukernel_1x64__avx512vnni")
            XCTAssertEqual(String(cString: qk_dwconv_select(QK_ISA_AVX512SKX)!.pointee.name), "qk_dwconv_ukernel_1x32__avx512skx")
        }
        XCTAssertEqual(qk_dwconv_select(QK_ISA_SCALAR)!.pointee.isa, QK_ISA_SCALAR)
        // shapes outside the family
        var g = qk_conv_geom(in_h: 8, in_w: 8, in_c: 4, out_c: 4, kernel_h: 3, kernel_w: 3, stride_h: 1,
                             stride_w: 1, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1,
                             dilation_h: 1, dilation_w: 1, groups: 4)
        XCTAssertEqual(qk_dwconv_supports(&g), 1)
        g.dilation_h = 2; XCTAssertEqual(qk_dwconv_supports(&g), 0); g.dilation_h = 1
        g.stride_w = 3; XCTAssertEqual(qk_dwconv_supports(&g), 0); g.stride_w = 1
        g.groups = 2; XCTAssertEqual(qk_dwconv_supports(&g), 0); g.groups = 4
        g.out_c = 8; XCTAssertEqual(qk_dwconv_supports(&g), 0); g.out_c = 4
        g.kernel_h = 5; g.kernel_w = 5; XCTAssertEqual(qk_dwconv_supports(&g), 1)
        g.kernel_w = 3; XCTAssertEqual(qk_dwconv_supports(&g), 0)   // not square
        g.kernel_h = 7; g.kernel_w = 7; XCTAssertEqual(qk_dwconv_supports(&g), 0)
    }
}
