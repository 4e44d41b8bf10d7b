// The fdwconv family (direct depthwise 3x3 and 5x5, f32 activations): every registered member against a
// naive float reference of the stated summation order (one fused multiply-add chain over the
// in-image taps in (ky, kx) order: bit for bit), a double reference and the f32 GEMM path (to
// rounding), and its scalar twin (bit for bit), on generated cases: C 1, 3, 15, 16, 17, 33, 69 and
// 1...40, H/W 1...9, strides 1/2, paddings 0/1/2 and asymmetric, bias or none, f32 residual or none,
// clamps (none, ReLU, ReLU6, narrow), guard bytes and a row gap around the output, each at kernel
// size 3 and 5. Also the repack, the shape scope, dispatch, names and 1 vs 2 threads.
import Foundation
import QKernels
import XCTest

var fdwconvMembers: [qk_fdwconv_ukernel_desc] {
    (0..<qk_fdwconv_ukernel_count).map { qk_fdwconv_ukernel_at($0)!.pointee }
}
extension qk_fdwconv_ukernel_desc {
    var nameString: String { String(cString: name) }
}

/// One generated f32 depthwise layer: input, weight rows [C][K*K], the repacked weights and the epilogue.
final class FDWConvCase: CustomStringConvertible {
    let geom: qk_conv_geom
    let C: Int, K: Int, M: Int, ldc: Int, ldr: Int
    let hasBias: Bool, hasResidual: Bool, lo: Float, hi: Float
    let input: Guarded<Float>, rows: Guarded<Float>, bias: Guarded<Float>, residual: Guarded<Float>
    let w: Guarded<Float>, wStride: Int

    var description: String {
        "\(K)x\(K) C \(C) H \(geom.in_h) W \(geom.in_w) stride \(geom.stride_h)x\(geom.stride_w) pads "
            + "(\(geom.pad_top),\(geom.pad_left),\(geom.pad_bottom),\(geom.pad_right)) bias \(hasBias) "
            + "residual \(hasResidual) clamp [\(lo), \(hi)] ldc \(ldc)"
    }

    init(C: Int, kernel K: Int = 3, height h: Int, width wd: Int, sh: Int, sw: Int, pads: [Int], hasBias: Bool,
         hasResidual: Bool, clamp: (Float, Float), rng: inout SeededGenerator) {
        var g = qk_conv_geom()
        g.in_h = Int32(h); g.in_w = Int32(wd); g.in_c = Int32(C); g.out_c = Int32(C)
        g.kernel_h = Int32(K); g.kernel_w = Int32(K); g.stride_h = Int32(sh); g.stride_w = Int32(sw)
        g.pad_top = Int32(pads[0]); g.pad_left = Int32(pads[1]); g.pad_bottom = Int32(pads[2]); g.pad_right = Int32(pads[3])
        g.dilation_h = 1; g.dilation_w = 1; g.groups = Int32(C)
        geom = g
        self.C = C; self.K = K; self.hasBias = hasBias; self.hasResidual = hasResidual
        (lo, hi) = clamp
        M = Int(qk_conv_out_h(&g)) * Int(qk_conv_out_w(&g))
        ldc = C + Int.random(in: 0...3, using: &rng); ldr = C + Int.random(in: 0...2, using: &rng)
        input = Guarded<Float>((0..<(h * wd * C)).map { _ in Float.random(in: -2...2, using: &rng) })
        rows = Guarded<Float>((0..<(C * K * K)).map { _ in Float.random(in: -1...1, using: &rng) })
        bias = Guarded<Float>((0..<C).map { _ in Float.random(in: -1...1, using: &rng) })
        residual = Guarded<Float>((0..<(max(M, 1) * ldr)).map { _ in Float.random(in: -3...3, using: &rng) })
        wStride = qk_fdwconv_weight_stride(Int32(C))
        w = Guarded<Float>(count: K * K * wStride)
        qk_fdwconv_pack(rows.ptr, K * K, Int32(K * K), Int32(C), w.ptr, wStride)
    }

    /// The taps of (oy, ox, c) inside the image, in (ky, kx) order: (input, weight) pairs.
    private func taps(_ oy: Int, _ ox: Int, _ c: Int) -> [(Float, Float)] {
        var out: [(Float, Float)] = []
        for ky in 0..<K { for kx in 0..<K {
            let iy = oy * Int(geom.stride_h) - Int(geom.pad_top) + ky
            let ix = ox * Int(geom.stride_w) - Int(geom.pad_left) + kx
            guard iy >= 0 && iy < Int(geom.in_h) && ix >= 0 && ix < Int(geom.in_w) else { continue }
            out.append((input[(iy * Int(geom.in_w) + ix) * C + c], rows[c * K * K + ky * K + kx]))
        } }
        return out
    }

    /// The contract in Swift: acc = +0, acc = fma(x, w, acc) per in-image tap, then the fgemm epilogue.
    /// Also a double-precision value and the sum of magnitudes (for tolerances).
    func reference() -> (bits: [UInt32], exact: [Double], magnitude: [Double]) {
        var g = geom
        let ow = Int(qk_conv_out_w(&g))
        var bits = [UInt32](repeating: 0, count: M * C), exact = [Double](repeating: 0, count: M * C)
        var magnitude = exact
        for m in 0..<M { for c in 0..<C {
            var acc: Float = 0, d: Double = 0, mag: Double = 0
            for (x, wt) in taps(m / ow, m % ow, c) {
                acc = acc.addingProduct(x, wt)
                d += Double(x) * Double(wt); mag += abs(Double(x) * Double(wt))
            }
            var y = acc
            if hasBias { y = y + bias[c]; d += Double(bias[c]); mag += abs(Double(bias[c])) }
            if hasResidual {
                y = y + residual[m * ldr + c]; d += Double(residual[m * ldr + c]); mag += abs(Double(residual[m * ldr + c]))
            }
            bits[m * C + c] = refClamp(y, lo, hi).bitPattern
            exact[m * C + c] = min(max(d, Double(lo)), Double(hi))
            magnitude[m * C + c] = mag
        } }
        return (bits, exact, magnitude)
    }

    private func epilogue(_ out: UnsafeMutablePointer<Float>) -> qk_epilogue {
        var e = qk_epilogue()
        e.bias = hasBias ? UnsafePointer(bias.ptr) : nil
        e.clamp_lo = lo; e.clamp_hi = hi
        e.residual_kind = hasResidual ? QK_RESIDUAL_F32 : QK_RESIDUAL_NONE
        e.residual = UnsafeRawPointer(residual.ptr); e.ldr = ldr
        e.output_kind = QK_OUTPUT_F32; e.out = UnsafeMutableRawPointer(out); e.ldc = ldc
        return e
    }

    private func collect(_ out: Guarded<Float>) -> (values: [UInt32], untouched: Bool) {
        var v = [UInt32](repeating: 0, count: M * C)
        for m in 0..<M { for c in 0..<C { v[m * C + c] = out[m * ldc + c].bitPattern } }
        return (v, out.unchangedOutside { $0 % ldc < C })
    }

    /// The layer through an fdwconv member (qk_fdwconv driver).
    func runDirect(_ uk: qk_fdwconv_ukernel_desc) -> (values: [UInt32], untouched: Bool) {
        let out = Guarded<Float>(count: M * ldc)
        var a = qk_fdwconv_args()
        a.geom = geom; a.in = UnsafePointer(input.ptr); a.w = UnsafePointer(w.ptr); a.w_stride = wStride
        a.epi = epilogue(out.ptr)
        var desc = uk
        qk_fdwconv(&desc, &a)
        return collect(out)
    }

    /// The layer through the f32 GEMM path: qk_conv2d_f32 with groups == C, weight rows [C][K*K].
    func runGemm() -> [UInt32] {
        var g = geom
        let out = Guarded<Float>(count: M * ldc)
        let ws = Guarded<UInt8>(count: qk_conv_workspace_bytes(&g, 4))
        var layer = qk_fgemm_args()
        layer.b = UnsafePointer(rows.ptr); layer.ldb = K * K
        layer.epi = epilogue(out.ptr)
        qk_conv2d_f32(qk_fgemm_select(qk_isa_active()), &g, input.ptr,
                      &layer, UnsafeMutableRawPointer(ws.ptr).assumingMemoryBound(to: Float.self))
        return collect(out).values
    }
}

final class FDWConvTests: XCTestCase {
    func firstBad(_ got: [UInt32], _ want: [UInt32], C: Int) -> String? {
        guard got.count == want.count else { return "\(got.count) values, want \(want.count)" }
        guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
        let lo = max(0, i - 2), hi = min(got.count, i + 3)
        func show(_ v: ArraySlice<UInt32>) -> String { "\(v.map { Float(bitPattern: $0) })" }
        return "first bad m \(i / C) c \(i % C): got \(show(got[lo..<hi])) want \(show(want[lo..<hi]))"
    }

    /// The first value further than `ulps` float roundings of the summed magnitudes from the exact value.
    func firstFar(_ got: [UInt32], _ t: FDWConvCase, _ exact: [Double], _ magnitude: [Double], ulps: Double) -> String? {
        for i in got.indices {
            let v = Double(Float(bitPattern: got[i]))
            if abs(v - exact[i]) > ulps * Double(Float.ulpOfOne) * (magnitude[i] + 1) {
                return "m \(i / t.C) c \(i % t.C): got \(v), exact \(exact[i])"
            }
        }
        return nil
    }

    func check(_ t: FDWConvCase, seed: UInt64, members: [qk_fdwconv_ukernel_desc],
               scalar: qk_fdwconv_ukernel_desc) -> Bool {
        let (want, exact, magnitude) = t.reference()
        // one rounding per tap, bias and residual, with slack: 12 for 3x3, 28 for 5x5
        let ulps = Double(t.K * t.K + 3)
        if let far = firstFar(want, t, exact, magnitude, ulps: ulps) {
            XCTFail("seed \(seed) \(t) float reference vs double: \(far)"); return false
        }
        if let far = firstFar(t.runGemm(), t, exact, magnitude, ulps: ulps) {
            XCTFail("seed \(seed) \(t) f32 GEMM path vs double: \(far)"); return false
        }
        let twin = t.runDirect(scalar).values
        for uk in members {
            let got = t.runDirect(uk)
            XCTAssertTrue(got.untouched, "seed \(seed) \(uk.nameString) \(t): wrote outside its output")
            if let bad = firstBad(got.values, want, C: t.C) {
                XCTFail("seed \(seed) \(uk.nameString) \(t) vs reference: \(bad)"); return false
            }
            if let bad = firstBad(got.values, twin, C: t.C) {
                XCTFail("seed \(seed) \(uk.nameString) \(t) vs scalar: \(bad)"); return false
            }
        }
        return true
    }

    /// Every member vs the references, the f32 GEMM path and the scalar member; guard bytes and row gap.
    func testEveryMemberOnGeneratedCases() {
        generatedCases(kernel: 3, seed: testSeed(81))
    }

    /// The same generated cases with 5x5 kernels (pads 0...2 stay below the kernel, so some outputs see
    /// only part of the window on every side).
    func testEveryMemberOnGeneratedCases5x5() {
        generatedCases(kernel: 5, seed: testSeed(85))
    }

    func generatedCases(kernel: Int, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let scalar = qk_fdwconv_select(QK_ISA_SCALAR)!.pointee
        let members = fdwconvMembers.filter { qk_isa_supported($0.isa) == 1 }
        let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (0, 6), (-0.5, 0.25)]
        let padChoices: [[Int]] = [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [0, 1, 2, 0], [1, 0, 0, 2]]
        var n = 0, skipped = 0
        for C in Array(1...40) + [69] {
            for rep in 0..<4 {
                let pads = rep == 3 ? (0..<4).map { _ in Int.random(in: 0...2, using: &rng) }
                                    : padChoices[(C + rep) % padChoices.count]
                let h = Int.random(in: 1...9, using: &rng), w = Int.random(in: 1...9, using: &rng)
                let sh = Int.random(in: 1...2, using: &rng), sw = Int.random(in: 1...2, using: &rng)
                let k = C * 4 + rep
                let t = FDWConvCase(C: C, kernel: kernel, height: h, width: w, sh: sh, sw: sw, pads: pads,
                                    hasBias: k % 2 == 0, hasResidual: (k / 2) % 2 == 0,
                                    clamp: clamps[(k / 4 + rep) % clamps.count], rng: &rng)
                var g = t.geom
                guard qk_fdwconv_supports(&g) == 1 else {
                    XCTAssertEqual(t.M, 0, "seed \(seed) \(t): supported shape refused")
                    skipped += 1
                    continue
                }
                n += 1
                if !check(t, seed: seed, members: members, scalar: scalar) { return }
            }
        }
        XCTAssertGreaterThan(n, kernel == 3 ? 120 : 50, "too few generated cases ran (\(skipped) had an empty output)")
    }

    /// The channel counts of the brief at every size 1...9 (square), strides 1 and 2: 3x3 with pad 1,
    /// 5x5 with pad 2 ("same") and with pad 1.
    func testChannelTailsAtEverySize() {
        let seed = testSeed(82)
        var rng = SeededGenerator(seed: seed)
        let scalar = qk_fdwconv_select(QK_ISA_SCALAR)!.pointee
        let members = fdwconvMembers.filter { qk_isa_supported($0.isa) == 1 }
        for (kernel, pad) in [(3, 1), (5, 2), (5, 1)] {
            for C in [1, 3, 15, 16, 17, 33, 64 + 5] {
                for size in 1...9 {
                    for s in 1...2 {
                        let t = FDWConvCase(C: C, kernel: kernel, height: size, width: size, sh: s, sw: s,
                                            pads: [pad, pad, pad, pad], hasBias: true, hasResidual: size % 2 == 1,
                                            clamp: (0, 6), rng: &rng)
                        var g = t.geom
                        guard qk_fdwconv_supports(&g) == 1 else { XCTAssertEqual(t.M, 0, "\(t)"); continue }
                        if !check(t, seed: seed, members: members, scalar: scalar) { return }
                    }
                }
            }
        }
    }

    /// MobileNetV2-like (3x3) and MnasNet-like (5x5) layers at a larger size, both strides, every
    /// member; 1 vs 2 threads give equal bits.
    func testLargerLayersAndThreadInvariance() {
        let seed = testSeed(83)
        var rng = SeededGenerator(seed: seed)
        for (C, K, hw, s) in [(96, 3, 17, 2), (144, 3, 12, 1), (40, 3, 23, 1), (72, 5, 20, 2), (120, 5, 14, 1),
                              (37, 5, 11, 1)] {
            let p = K / 2
            let t = FDWConvCase(C: C, kernel: K, height: hw, width: hw, sh: s, sw: s, pads: [p, p, p, p], hasBias: true,
                                hasResidual: s == 1, clamp: (0, 6), rng: &rng)
            let want = t.reference().bits
            for uk in fdwconvMembers where qk_isa_supported(uk.isa) == 1 {
                let one = withThreads(1) { t.runDirect(uk).values }
                let two = withThreads(2) { t.runDirect(uk).values }
                XCTAssertNil(firstBad(one, want, C: C), "seed \(seed) \(uk.nameString) \(t)")
                XCTAssertEqual(one, two, "seed \(seed) \(uk.nameString) \(t): thread count changed the result")
            }
        }
    }

    /// The repack: w[k][c] = rows[c][k], zeros for c >= C up to the stride (a multiple of the alignment).
    func testRepackTransposesRows() {
        var rng = SeededGenerator(seed: testSeed(84))
        for C in [1, 5, 16, 17, 33, 64, 65] { for K in [3, 5] {
            let t = FDWConvCase(C: C, kernel: K, height: 5, width: 5, sh: 1, sw: 1, pads: [1, 1, 1, 1], hasBias: false,
                                hasResidual: false, clamp: (-.infinity, .infinity), rng: &rng)
            XCTAssertEqual(t.wStride % Int(QK_FDWCONV_CHANNEL_ALIGN), 0)
            XCTAssertGreaterThanOrEqual(t.wStride, C)
            XCTAssertTrue(t.w.unchangedOutside { _ in true }, "C \(C): repack wrote outside w")
            for k in 0..<(K * K) { for c in 0..<t.wStride {
                let want: Float = c < C ? t.rows[c * K * K + k] : 0
                if t.w[k * t.wStride + c].bitPattern != want.bitPattern {
                    XCTFail("\(K)x\(K) C \(C): w[\(k)][\(c)] = \(t.w[k * t.wStride + c]), want \(want)"); return
                }
            } }
        } }
    }

    /// The scope: depthwise 3x3 and 5x5 only, square, dilation 1, strides 1/2, a non-empty output.
    func testSupportedShapes() {
        func geom(_ k: (Int32, Int32), stride: Int32 = 1, dilation: Int32 = 1, groups: Int32 = 8,
                  size: Int32 = 9) -> qk_conv_geom {
            var g = qk_conv_geom()
            g.in_h = size; g.in_w = size; g.in_c = 8; g.out_c = 8; g.groups = groups
            g.kernel_h = k.0; g.kernel_w = k.1; g.stride_h = stride; g.stride_w = stride
            g.pad_top = k.0 / 2; g.pad_left = k.1 / 2; g.pad_bottom = k.0 / 2; g.pad_right = k.1 / 2
            g.dilation_h = dilation; g.dilation_w = dilation
            return g
        }
        for (g0, want) in [(geom((3, 3)), 1), (geom((5, 5)), 1), (geom((5, 5), stride: 2), 1), (geom((7, 7)), 0),
                           (geom((1, 1)), 0), (geom((5, 3)), 0), (geom((3, 5)), 0), (geom((5, 5), stride: 3), 0),
                           (geom((5, 5), dilation: 2), 0), (geom((5, 5), groups: 1), 0), (geom((5, 5), groups: 4), 0)] {
            var g = g0
            XCTAssertEqual(qk_fdwconv_supports(&g), Int32(want),
                           "\(g.kernel_h)x\(g.kernel_w) stride \(g.stride_h) dilation \(g.dilation_h) groups \(g.groups)")
        }
        var empty = geom((5, 5), size: 2)
        empty.pad_top = 0; empty.pad_left = 0; empty.pad_bottom = 0; empty.pad_right = 0
        XCTAssertEqual(qk_fdwconv_supports(&empty), 0, "an empty output is refused")
    }

    /// qk_fdwconv_ukernel_<pixels>x<channels>__<isa>; dispatch picks the best supported member.
    func testNamesAndDispatch() throws {
        let regex = try NSRegularExpression(pattern: "^qk_fdwconv_ukernel_([0-9]+)x([0-9]+)__([a-z0-9]+)$")
        XCTAssertEqual(fdwconvMembers.first?.isa, QK_ISA_SCALAR)
        for uk in fdwconvMembers {
            let name = uk.nameString
            guard let m = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) else {
                XCTFail("bad name \(name)"); continue
            }
            func group(_ i: Int) -> String { String(name[Range(m.range(at: i), in: name)!]) }
            XCTAssertEqual(group(1), "\(uk.pixels)", name)
            XCTAssertEqual(group(2), "\(uk.channels)", name)
            XCTAssertEqual(group(3), String(cString: qk_isa_name(uk.isa)), name)
        }
        for uk in fdwconvMembers {
            XCTAssertEqual(uk.channels % uk.lanes, 0, uk.nameString)
            XCTAssertEqual(uk.lanes == 1, uk.isa == QK_ISA_SCALAR, uk.nameString)
        }
        let active = qk_isa_active()
        let picked = qk_fdwconv_select(active)!.pointee
        XCTAssertEqual(picked.nameString, bestMember(fdwconvMembers, under: active) { $0.isa }!.nameString)
        XCTAssertEqual(qk_fdwconv_select(QK_ISA_SCALAR)!.pointee.isa, QK_ISA_SCALAR)
        // per channel count: the best SIMD member whose vector width divides C, else the plain pick
        for isa in (0..<QK_ISA_COUNT).map({ qk_isa(rawValue: UInt32($0)) }) where qk_isa_supported(isa) == 1 {
            for C in 1...100 {
                let d = qk_fdwconv_select_for(isa, Int32(C))!.pointee
                let fits = fdwconvMembers.filter { $0.isa != QK_ISA_SCALAR && C % Int($0.lanes) == 0 }
                let want = bestMember(fits, under: isa) { $0.isa } ?? qk_fdwconv_select(isa)!.pointee
                XCTAssertEqual(d.nameString, want.nameString, "C \(C) isa \(String(cString: qk_isa_name(isa)))")
            }
        }
        #if arch(x86_64)
        if active == QK_ISA_AVX512VNNI {
            XCTAssertEqual(qk_fdwconv_select_for(active, 8)!.pointee.isa, QK_ISA_AVX2)
            XCTAssertEqual(qk_fdwconv_select_for(active, 48)!.pointee.isa, QK_ISA_AVX512F)
            XCTAssertEqual(qk_fdwconv_select_for(active, 3)!.pointee.isa, QK_ISA_AVX512F)
        }
        #endif
    }
}
