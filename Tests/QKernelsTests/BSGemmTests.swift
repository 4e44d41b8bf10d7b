// Every registered bsgemm member (bit-serial: 1-2 bit unsigned weight codes x 1-2 bit unsigned
// activation codes, qk_bsgemm.h) against a naive Int reference on the unpacked codes and against its
// scalar twin, on generated tail cases: M and N from 1 to the tile and past it, K around the 64-bit
// word, affine weight levels up to the K-limit coefficients, every output, residual and clamp kind,
// garbage in the activation row gap, guard bytes; the packed bits by hand and every packer against a
// Swift packer; the conv against a direct convolution (zero padding, strides 1 and 2, dilation, 3x3,
// 1x1, 3x2, channel tails); K at the int32 limit; 1 vs 2 threads; names and dispatch. Failures print
// the seed (QK_TEST_SEED overrides it).
import Foundation
import QKernels
import XCTest

var bsgemmMembers: [qk_bsgemm_ukernel_desc] {
    (0..<qk_bsgemm_ukernel_count).map { qk_bsgemm_ukernel_at($0)!.pointee }
}

extension qk_bsgemm_ukernel_desc {
    var nameString: String { String(cString: name) }
}

/// The epilogue a case runs, and the same math in Swift (the kernels' float order).
struct BSEpilogue {
    var output = QK_OUTPUT_I32
    var residual = QK_RESIDUAL_NONE
    var scale: [Float] = [], bias: [Float]? = nil
    var resF32: [Float] = [], resU8: [UInt8] = []
    var rscale: Float = 0.02, rzero: Int32 = 0
    var clampLo = -Float.infinity, clampHi = Float.infinity
    var invScale: Float = 1, outZero: Int32 = 0

    static func random(M: Int, N: Int, ldc: Int, rng: inout SeededGenerator) -> BSEpilogue {
        var e = BSEpilogue()
        e.output = [QK_OUTPUT_I32, QK_OUTPUT_F32, QK_OUTPUT_U8].randomElement(using: &rng)!
        e.residual = e.output == QK_OUTPUT_I32 ? QK_RESIDUAL_NONE
            : [QK_RESIDUAL_NONE, QK_RESIDUAL_F32, QK_RESIDUAL_U8].randomElement(using: &rng)!
        e.scale = (0..<N).map { _ in Float.random(in: -0.05...0.05, using: &rng) }
        e.bias = Bool.random(using: &rng) ? (0..<N).map { _ in Float.random(in: -2...2, using: &rng) } : nil
        e.resF32 = (0..<(M * ldc)).map { _ in Float.random(in: -3...3, using: &rng) }
        e.resU8 = (0..<(M * ldc)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        e.rzero = Int32.random(in: 0...255, using: &rng)
        (e.clampLo, e.clampHi) = [(-Float.infinity, Float.infinity), (0, Float.infinity), (0, 6), (-1.5, 2)]
            .randomElement(using: &rng)!
        e.invScale = Float.random(in: 5...40, using: &rng)
        e.outZero = Int32.random(in: 0...255, using: &rng)
        return e
    }

    /// Output (m, n) of accumulator acc, as Double.
    func apply(_ acc: Int32, m: Int, n: Int, ldc: Int) -> Double {
        if output == QK_OUTPUT_I32 { return Double(acc) }
        var y = Float(acc) * scale[n]
        if let bias { y = y + bias[n] }
        if residual == QK_RESIDUAL_F32 { y = y + resF32[m * ldc + n] }
        if residual == QK_RESIDUAL_U8 { y = y + rscale * Float(Int32(resU8[m * ldc + n]) - rzero) }
        y = refClamp(y, clampLo, clampHi)
        return output == QK_OUTPUT_F32 ? Double(y) : Double(refRequant(y, invScale, outZero))
    }

    var elementBytes: Int { output == QK_OUTPUT_U8 ? 1 : 4 }

    /// Runs body with a qk_epilogue over these arrays, writing into `out` ([rows][ldc]).
    func with<R>(out: UnsafeMutableRawPointer, ldc: Int, _ body: (qk_epilogue) -> R) -> R {
        scale.withUnsafeBufferPointer { sp in resF32.withUnsafeBufferPointer { rf in resU8.withUnsafeBufferPointer { ru in
            (bias ?? []).withUnsafeBufferPointer { bp in
                var e = qk_epilogue()
                e.scale = sp.baseAddress; e.bias = bias == nil ? nil : bp.baseAddress
                e.clamp_lo = clampLo; e.clamp_hi = clampHi
                e.residual_kind = residual
                e.residual = residual == QK_RESIDUAL_U8 ? UnsafeRawPointer(ru.baseAddress) : UnsafeRawPointer(rf.baseAddress)
                e.ldr = ldc; e.rscale = rscale; e.rzero = rzero
                e.output_kind = output; e.out = out; e.ldc = ldc
                e.out_inv_scale = invScale; e.out_zero = outZero
                return body(e)
            }
        } } }
    }

    /// The M x N values of an output buffer written with this epilogue.
    func read(_ out: UnsafeRawPointer, M: Int, N: Int, ldc: Int) -> [Double] {
        var v = [Double](repeating: 0, count: M * N)
        for m in 0..<M {
            for n in 0..<N {
                let at = (m * ldc + n) * elementBytes
                switch output {
                case QK_OUTPUT_I32: v[m * N + n] = Double(out.loadUnaligned(fromByteOffset: at, as: Int32.self))
                case QK_OUTPUT_F32: v[m * N + n] = Double(out.loadUnaligned(fromByteOffset: at, as: Float.self))
                default: v[m * N + n] = Double(out.load(fromByteOffset: at, as: UInt8.self))
                }
            }
        }
        return v
    }
}

/// Weight levels w_mul * q + w_offset: Any-Precision / DoReFa 2q - (2^wb - 1), plain q, and the
/// K-limit extremes +-QK_BSGEMM_MAX_COEF.
private func randomCoefficients(wbits: Int, _ rng: inout SeededGenerator) -> (mul: Int32, offset: Int32) {
    let limit = Int32(QK_BSGEMM_MAX_COEF)
    return [(2, 1 - (Int32(1) << wbits)), (1, 0), (-limit, limit), (limit, -Int32.random(in: 0...limit, using: &rng))]
        .randomElement(using: &rng)!
}

/// Codes in [0, 2^bits), with extra zeros (activations after ReLU often are).
private func randomCodes(_ count: Int, bits: Int, _ rng: inout SeededGenerator) -> [UInt8] {
    (0..<count).map { _ in Int.random(in: 0..<4, using: &rng) == 0 ? 0 : UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &rng) }
}

/// Swift packer written from the layout of qk_bsgemm.h: row r, word j, plane p at r * ldo + ab * j + p.
private func swiftPackRows(_ a: [UInt8], rows: Int, C: Int, abits: Int, ldo: Int) -> [UInt64] {
    var out = [UInt64](repeating: 0, count: rows * ldo)
    for r in 0..<rows {
        for c in 0..<C {
            for p in 0..<abits where (a[r * C + c] >> p) & 1 == 1 {
                out[r * ldo + abits * (c / 64) + p] |= UInt64(1) << (c % 64)
            }
        }
    }
    return out
}

/// "first bad index i (m, n): got / want" with the neighbours, or nil when equal.
private func bsMismatch(_ got: [Double], _ want: [Double], N: Int, context: String) -> String? {
    guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
    let lo = max(0, i - 2), hi = min(got.count, i + 3)
    return "\(context): first bad index \(i) (m \(i / N), n \(i % N)) got \(got[i]) want \(want[i]); "
        + "around: got \(Array(got[lo..<hi])) want \(Array(want[lo..<hi]))"
}

/// One bsgemm on plain packed rows: the codes, their packing and the run.
struct BSGemmCase: CustomStringConvertible {
    var M = 1, N = 1, K = 1, wbits = 1, abits = 1, ldc = 1, gap = 0
    var a: [UInt8] = [], q: [UInt8] = []
    var mul: Int32 = 1, offset: Int32 = 0
    var epi = BSEpilogue()

    var description: String {
        "M=\(M) N=\(N) K=\(K) W\(wbits)A\(abits) mul=\(mul) offset=\(offset) output=\(epi.output.rawValue) "
            + "residual=\(epi.residual.rawValue) gap=\(gap)"
    }

    static func random(M: Int, N: Int, K: Int, wbits: Int, abits: Int, rng: inout SeededGenerator) -> BSGemmCase {
        var c = BSGemmCase()
        c.M = M; c.N = N; c.K = K; c.wbits = wbits; c.abits = abits
        c.a = randomCodes(M * K, bits: abits, &rng)
        c.q = (0..<(N * K)).map { _ in UInt8.random(in: 0...UInt8((1 << wbits) - 1), using: &rng) }
        (c.mul, c.offset) = randomCoefficients(wbits: wbits, &rng)
        c.ldc = N + [0, 3].randomElement(using: &rng)!
        c.gap = [0, 1, 5].randomElement(using: &rng)!
        c.epi = BSEpilogue.random(M: M, N: N, ldc: c.ldc, rng: &rng)
        return c
    }

    /// Naive sums of level * a (Int), then the epilogue.
    func reference() -> [Double] {
        var out = [Double](repeating: 0, count: M * N)
        for m in 0..<M {
            for n in 0..<N {
                var acc = 0
                for k in 0..<K { acc += (Int(mul) * Int(q[n * K + k]) + Int(offset)) * Int(a[m * K + k]) }
                out[m * N + n] = epi.apply(Int32(acc), m: m, n: n, ldc: ldc)
            }
        }
        return out
    }

    /// Packs (garbage in the row gap) and runs member `uk`; the values and whether it wrote only
    /// out[m][n < N].
    func run(_ uk: qk_bsgemm_ukernel_desc, garbage: UInt64) -> (values: [Double], untouched: Bool) {
        let kw = qk_bsgemm_kwords(K, K), lda = abits * kw + gap
        var rng = SeededGenerator(seed: garbage)
        let act = Guarded<UInt64>(count: M * lda)
        for i in 0..<(M * lda) { act.ptr[i] = UInt64.random(in: 0...UInt64.max, using: &rng) }
        qk_bsgemm_pack_rows(a, M, K, K, Int32(abits), act.ptr, lda)
        let packed = Guarded<UInt64>(count: qk_bsgemm_packed_words(N, kw, Int32(wbits)))
        qk_bsgemm_pack_weights(q, N, K, K, Int32(wbits), packed.ptr)
        let out = Guarded<UInt8>(count: M * ldc * epi.elementBytes)
        epi.with(out: UnsafeMutableRawPointer(out.ptr), ldc: ldc) { e in
            var args = qk_bsgemm_args()
            args.M = M; args.N = N; args.kw = kw; args.wbits = Int32(wbits); args.abits = Int32(abits)
            args.a = UnsafePointer(act.ptr); args.lda = lda
            args.w = UnsafePointer(packed.ptr); args.w_mul = mul; args.w_offset = offset
            args.epi = e
            var member = uk
            qk_bsgemm(&member, &args)
        }
        let values = epi.read(UnsafeRawPointer(out.ptr), M: M, N: N, ldc: ldc)
        let elem = epi.elementBytes
        return (values, out.unchangedOutside { $0 / elem % ldc < N })
    }
}

final class BSGemmTests: XCTestCase {
    static let Ks = [1, 2, 5, 63, 64, 65, 127, 128, 129, 193, 257]

    func testEveryMemberOnTailCases() {
        let seed = testSeed(0xB5E)
        for (mi, uk) in bsgemmMembers.enumerated() where qk_isa_supported(uk.isa) != 0 {
            let scalar = qk_bsgemm_select(uk.wbits, uk.abits, QK_ISA_SCALAR)!.pointee
            var rng = SeededGenerator(seed: seed &+ UInt64(mi))
            var index = 0
            for M in tailSizes(tile: Int(uk.mr)) {
                for N in Array(Set(tailSizes(tile: Int(uk.nr)) + [33])).sorted() {
                    for K in Self.Ks {
                        let c = BSGemmCase.random(M: M, N: N, K: K, wbits: Int(uk.wbits), abits: Int(uk.abits), rng: &rng)
                        let ctx = "seed \(seed)+\(mi) (QK_TEST_SEED) \(uk.nameString) case #\(index) \(c)"
                        index += 1
                        let got = c.run(uk, garbage: UInt64(index))
                        XCTAssertTrue(got.untouched, "\(ctx): wrote outside its output")
                        if let msg = bsMismatch(got.values, c.reference(), N: N, context: ctx) { XCTFail(msg); return }
                        let twin = c.run(scalar, garbage: UInt64(index) &+ 7)
                        if let msg = bsMismatch(got.values, twin.values, N: N, context: ctx + " vs scalar") {
                            XCTFail(msg); return
                        }
                    }
                }
            }
        }
    }

    /// 64 * kw = QK_BSGEMM_MAX_K positions with every code at its maximum and the coefficients at
    /// +-QK_BSGEMM_MAX_COEF: |acc| = 64 * 12 * 2^21 = 1,610,612,736, exact in int32.
    func testDeepKAtTheInt32Limit() {
        let K = Int(QK_BSGEMM_MAX_K), M = 2, N = 9
        for uk in bsgemmMembers where qk_isa_supported(uk.isa) != 0 {
            let wb = Int(uk.wbits), ab = Int(uk.abits), limit = Int32(QK_BSGEMM_MAX_COEF)
            for sign: Int32 in [1, -1] {
                var c = BSGemmCase()
                c.M = M; c.N = N; c.K = K; c.wbits = wb; c.abits = ab; c.ldc = N
                c.a = [UInt8](repeating: UInt8((1 << ab) - 1), count: M * K)
                c.q = [UInt8](repeating: UInt8((1 << wb) - 1), count: N * K)
                c.mul = sign * limit; c.offset = sign * limit
                let want = Double(Int(sign * limit) * ((1 << wb) - 1 + 1) * ((1 << ab) - 1) * K)
                let got = c.run(uk, garbage: 1)
                XCTAssertTrue(got.untouched, uk.nameString)
                XCTAssertEqual(got.values, [Double](repeating: want, count: M * N), "\(uk.nameString) sign \(sign)")
            }
        }
    }

    /// The packed bits by hand, and every activation packer (this CPU's best, AVX2, portable C)
    /// against the Swift packer for C = 1...200.
    func testPackedBits() {
        // codes 0, 1, 2, 3 at positions 0..3, 3 at position 64: planes of word 0 and word 1
        var a = [UInt8](repeating: 0, count: 70)
        a[1] = 1; a[2] = 2; a[3] = 3; a[64] = 3; a[69] = 0xFE  // only the low abits bits are read
        var out = [UInt64](repeating: 0xDEAD, count: 4)
        qk_bsgemm_pack_rows(a, 1, 70, 70, 2, &out, 4)
        XCTAssertEqual(out, [0b1010, 0b1100, 1, 1 | 1 << 5])  // 0xFE reads as code 2 (plane 1)
        qk_bsgemm_pack_rows(a, 1, 70, 70, 1, &out, 4)
        XCTAssertEqual(Array(out[0..<2]), [0b1010, 1])

        // 9 rows (two groups) of K = 3 2-bit codes in segments of 1 (a 3-tap, 1-channel conv): kw = 3
        var q = [UInt8](repeating: 0, count: 9 * 3)
        q[0 * 3 + 0] = 3; q[0 * 3 + 2] = 2; q[7 * 3 + 1] = 1; q[8 * 3 + 2] = 3
        XCTAssertEqual(qk_bsgemm_kwords(3, 1), 3)
        XCTAssertEqual(qk_bsgemm_kwords(130, 65), 4)
        var packed = [UInt64](repeating: 0xFF, count: qk_bsgemm_packed_words(9, 3, 2))
        XCTAssertEqual(packed.count, 2 * 3 * 2 * 8)
        qk_bsgemm_pack_weights(q, 9, 3, 1, 2, &packed)
        func word(group g: Int, k j: Int, plane i: Int, row r: Int) -> UInt64 { packed[((g * 3 + j) * 2 + i) * 8 + r] }
        XCTAssertEqual(word(group: 0, k: 0, plane: 0, row: 0), 1)
        XCTAssertEqual(word(group: 0, k: 0, plane: 1, row: 0), 1)
        XCTAssertEqual(word(group: 0, k: 2, plane: 0, row: 0), 0)
        XCTAssertEqual(word(group: 0, k: 2, plane: 1, row: 0), 1)
        XCTAssertEqual(word(group: 0, k: 1, plane: 0, row: 7), 1)
        XCTAssertEqual(word(group: 1, k: 2, plane: 1, row: 0), 1)
        XCTAssertEqual(packed.filter { $0 != 0 }.count, 6)

        let saved = getenv("QK_ISA").map { String(cString: $0) }
        defer { if let saved { setenv("QK_ISA", saved, 1) } else { unsetenv("QK_ISA") } }
        var rng = SeededGenerator(seed: testSeed(0xB5F))
        for isa in ["", "avx2", "scalar"] {
            if isa.isEmpty { unsetenv("QK_ISA") } else { setenv("QK_ISA", isa, 1) }
            for C in 1...200 {
                for abits in [1, 2] {
                    let rows = 3, ldo = abits * ((C + 63) / 64) + 1
                    let codes = (0..<(rows * C)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    var got = [UInt64](repeating: 0, count: rows * ldo)
                    qk_bsgemm_pack_rows(codes, rows, C, C, Int32(abits), &got, ldo)
                    XCTAssertEqual(got, swiftPackRows(codes, rows: rows, C: C, abits: abits, ldo: ldo), "QK_ISA=\(isa) C \(C) A\(abits)")
                }
            }
        }
    }

    /// Runs a bit-serial conv of random codes with member `uk` (u8 in, packed image in a guarded
    /// workspace) and the direct convolution of the levels; both through epilogue `epi`.
    private func runConv(_ uk: qk_bsgemm_ukernel_desc, _ geom: qk_conv_geom, rng: inout SeededGenerator,
                         epi: BSEpilogue? = nil) -> (values: [Double], want: [Double], untouched: Bool) {
        var g = geom
        let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g))
        let C = Int(g.in_c), N = Int(g.out_c), kh = Int(g.kernel_h), kwid = Int(g.kernel_w)
        let K = kh * kwid * C, kw = qk_bsgemm_kwords(K, C), M = oh * ow, ldc = N + 2
        let wb = Int(uk.wbits), ab = Int(uk.abits)
        let a = randomCodes(Int(g.in_h) * Int(g.in_w) * C, bits: ab, &rng)
        let q = (0..<(N * K)).map { _ in UInt8.random(in: 0...UInt8((1 << wb) - 1), using: &rng) }
        let (mul, offset) = randomCoefficients(wbits: wb, &rng)
        let e = epi ?? BSEpilogue.random(M: M, N: N, ldc: ldc, rng: &rng)
        var packed = [UInt64](repeating: 0, count: qk_bsgemm_packed_words(N, kw, Int32(wb)))
        qk_bsgemm_pack_weights(q, N, K, C, Int32(wb), &packed)
        let image = Guarded<UInt8>(count: qk_bsconv_image_bytes(&g, Int32(ab)))
        let out = Guarded<UInt8>(count: M * ldc * e.elementBytes)
        packed.withUnsafeBufferPointer { pp in
            e.with(out: UnsafeMutableRawPointer(out.ptr), ldc: ldc) { epilogue in
                var layer = qk_bsconv_layer()
                layer.w = pp.baseAddress; layer.w_mul = mul; layer.w_offset = offset; layer.epi = epilogue
                var member = uk
                qk_bsconv2d_u8(&member, &g, a, &layer, UnsafeMutableRawPointer(image.ptr))
            }
        }
        let levels = q.map { Int(mul) * Int($0) + Int(offset) }
        let sums = directConvolution(g, input: a.map { Int($0) }, weights: levels)
        let want = (0..<(M * N)).map { e.apply(Int32(sums[$0]), m: $0 / N, n: $0 % N, ldc: ldc) }
        let elem = e.elementBytes
        let untouched = out.unchangedOutside { $0 / elem % ldc < N } && image.unchangedOutside { _ in true }
        return (e.read(UnsafeRawPointer(out.ptr), M: M, N: N, ldc: ldc), want, untouched)
    }

    /// The conv (implicit GEMM over the zero-bordered packed image) against a direct convolution:
    /// paddings 0-2 on each side, strides 1 and 2, dilation 2, 3x3 / 1x1 / 3x2 kernels, channel
    /// counts around the 64-bit word; and the same layer through the scalar twin.
    func testConvAgainstDirectConvolution() {
        let seed = testSeed(0xB5C)
        for (mi, uk) in bsgemmMembers.enumerated() where qk_isa_supported(uk.isa) != 0 {
            let scalar = qk_bsgemm_select(uk.wbits, uk.abits, QK_ISA_SCALAR)!.pointee
            var rng = SeededGenerator(seed: seed &+ UInt64(mi))
            for t in 0..<36 {
                var g = qk_conv_geom()
                g.in_h = Int32.random(in: 1...9, using: &rng); g.in_w = Int32.random(in: 1...9, using: &rng)
                g.in_c = [1, 3, 63, 64, 65, 130].randomElement(using: &rng)!
                g.out_c = Int32.random(in: 1...37, using: &rng)
                g.kernel_h = t % 4 == 3 ? 1 : 3; g.kernel_w = t % 8 == 7 ? 2 : g.kernel_h
                g.stride_h = Int32.random(in: 1...2, using: &rng); g.stride_w = g.stride_h
                g.pad_top = Int32.random(in: 0...2, using: &rng); g.pad_left = Int32.random(in: 0...1, using: &rng)
                g.pad_bottom = Int32.random(in: 0...1, using: &rng); g.pad_right = Int32.random(in: 0...2, using: &rng)
                g.dilation_h = t % 5 == 4 ? 2 : 1; g.dilation_w = g.dilation_h; g.groups = 1
                guard qk_bsconv_supports(&g) == 1 else { continue }
                let ctx = "seed \(seed)+\(mi) (QK_TEST_SEED) \(uk.nameString) conv #\(t) \(g)"
                var r1 = rng, r2 = rng
                let got = runConv(uk, g, rng: &r1)
                XCTAssertTrue(got.untouched, "\(ctx): wrote outside its output or image")
                if let msg = bsMismatch(got.values, got.want, N: Int(g.out_c), context: ctx) { XCTFail(msg); return }
                let twin = runConv(scalar, g, rng: &r2)
                if let msg = bsMismatch(got.values, twin.values, N: Int(g.out_c), context: ctx + " vs scalar") {
                    XCTFail(msg); return
                }
                rng = r1
            }
        }
    }

    /// The conv's scope: groups 1 only, positive sizes, a non-empty output, the K limit.
    func testSupports() {
        var g = qk_conv_geom(in_h: 8, in_w: 8, in_c: 64, out_c: 64, kernel_h: 3, kernel_w: 3, stride_h: 1,
                             stride_w: 1, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1,
                             dilation_h: 1, dilation_w: 1, groups: 1)
        XCTAssertEqual(qk_bsconv_supports(&g), 1)
        var h = g; h.groups = 2
        XCTAssertEqual(qk_bsconv_supports(&h), 0)
        h = g; h.kernel_h = 11; h.pad_top = 0; h.pad_bottom = 0
        XCTAssertEqual(qk_bsconv_supports(&h), 0, "empty output")
        h = g; h.in_c = Int32(QK_BSGEMM_MAX_K / 9) + 64
        XCTAssertEqual(qk_bsconv_supports(&h), 0, "past the K limit")
        h = g; h.stride_w = 0
        XCTAssertEqual(qk_bsconv_supports(&h), 0)
        // the image holds the zero border: 10 x 10 pixels of one word per plane
        XCTAssertEqual(qk_bsconv_image_bytes(&g, 2), 10 * 10 * 2 * 8)
        XCTAssertEqual(qk_bsconv_image_bytes(&g, 1), 10 * 10 * 8)
        let codes = [UInt8](repeating: 3, count: 8 * 8 * 64)
        var image = [UInt64](repeating: 0xDEAD, count: 10 * 10 * 2)
        qk_bsconv_pack_image(&g, 2, codes, &image)
        for y in 0..<10 {
            for x in 0..<10 {
                let inside = y >= 1 && y <= 8 && x >= 1 && x <= 8
                XCTAssertEqual(image[(y * 10 + x) * 2], inside ? ~UInt64(0) : 0, "pixel \(y),\(x)")
                XCTAssertEqual(image[(y * 10 + x) * 2 + 1], inside ? ~UInt64(0) : 0, "pixel \(y),\(x)")
            }
        }
    }

    /// ResNet-like layers give the same bits on 1 and 2 threads (f32 output with bias and ReLU).
    func testThreadCountInvariance() {
        var g = qk_conv_geom(in_h: 14, in_w: 14, in_c: 64, out_c: 72, kernel_h: 3, kernel_w: 3, stride_h: 1,
                             stride_w: 1, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1,
                             dilation_h: 1, dilation_w: 1, groups: 1)
        for stride: Int32 in [1, 2] {
            g.stride_h = stride; g.stride_w = stride
            for wb: Int32 in [1, 2] {
                for ab: Int32 in [1, 2] {
                    let uk = qk_bsgemm_select(wb, ab, qk_isa_active())!.pointee
                    var epi = BSEpilogue()
                    epi.output = QK_OUTPUT_F32
                    epi.scale = [Float](repeating: 0.01, count: 72); epi.bias = (0..<72).map { Float($0) * 0.1 - 3 }
                    epi.clampLo = 0
                    var r1 = SeededGenerator(seed: 5), r2 = r1
                    let one = withThreads(1) { runConv(uk, g, rng: &r1, epi: epi) }
                    let two = withThreads(2) { runConv(uk, g, rng: &r2, epi: epi) }
                    XCTAssertEqual(one.values, two.values, "\(uk.nameString) stride \(stride)")
                    XCTAssertEqual(one.values, one.want, "\(uk.nameString) stride \(stride)")
                }
            }
        }
    }

    /// qk_bsgemm_w<wb>a<ab>_ukernel_<MR>x<NR>c64__<isa>, matching the descriptor; every width pair has
    /// a scalar member; dispatch picks the best supported member.
    func testNamesAndDispatch() throws {
        let regex = try NSRegularExpression(pattern: "^qk_bsgemm_w([12])a([12])_ukernel_([0-9]+)x([0-9]+)c64__([a-z0-9]+)$")
        for uk in bsgemmMembers {
            let name = uk.nameString
            guard let m = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) else {
                XCTFail("bad name \(name)"); continue
            }
            func group(_ i: Int) -> String { String(name[Range(m.range(at: i), in: name)!]) }
            XCTAssertEqual(group(1), "\(uk.wbits)", name)
            XCTAssertEqual(group(2), "\(uk.abits)", name)
            XCTAssertEqual(group(3), "\(uk.mr)", name)
            XCTAssertEqual(group(4), "\(uk.nr)", name)
            XCTAssertEqual(uk.kr, 64, name)
            XCTAssertEqual(group(5), String(cString: qk_isa_name(uk.isa)), name)
        }
        let active = qk_isa_active()
        for wb: Int32 in [1, 2] {
            for ab: Int32 in [1, 2] {
                let widths = bsgemmMembers.filter { $0.wbits == wb && $0.abits == ab }
                XCTAssertEqual(qk_bsgemm_select(wb, ab, QK_ISA_SCALAR)?.pointee.isa, QK_ISA_SCALAR)
                XCTAssertEqual(qk_bsgemm_select(wb, ab, active)?.pointee.nameString,
                               bestMember(widths, under: active) { $0.isa }?.nameString)
            }
        }
        XCTAssertNil(qk_bsgemm_select(3, 1, active))
        XCTAssertNil(qk_bsgemm_ukernel_at(qk_bsgemm_ukernel_count))
    }
}
