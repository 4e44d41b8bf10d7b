// Every registered bgemm member (sign activations x {-1,0,+1} weights, qk_bgemm.h) against a naive
// Int reference on unpacked values and against its scalar twin, on generated tail cases: K from 1
// to 300 around the 64-bit word, M/N tails, zeros in weights and/or activations on each of the
// three paths, every output kind; the packers' bits; the binary conv against a direct convolution
// (padding, stride 2, dilation); guard bytes; 1 vs 2 threads. Failures print the seed.
import QKernels
import XCTest

var bgemmMembers: [qk_bgemm_ukernel_desc] {
    (0..<qk_bgemm_ukernel_count).map { qk_bgemm_ukernel_at($0)!.pointee }
}

extension qk_bgemm_ukernel_desc {
    var nameString: String { String(cString: name) }
}

/// A value in {-1, 0, +1}; 0 only when `zeros`.
private func ternary(_ zeros: Bool, _ rng: inout SeededGenerator) -> Int8 {
    zeros ? Int8.random(in: -1...1, using: &rng) : (Bool.random(using: &rng) ? 1 : -1)
}

/// An f32 whose sign is v; zeros appear as +0, -0 or NaN (all pack as 0).
private func signedFloat(_ v: Int8, _ rng: inout SeededGenerator) -> Float {
    if v == 0 { return [Float(0), -Float(0), Float.nan].randomElement(using: &rng)! }
    return Float(v) * [Float.leastNonzeroMagnitude, 1e-6, 0.5, 3, Float.infinity].randomElement(using: &rng)!
}

struct BGemmCase: CustomStringConvertible {
    var M = 1, N = 1, K = 1, ldc = 1
    var a: [Int8] = [], w: [Int8] = [], x: [Float] = []
    var actZeros = false, weightZeros = false
    var output = QK_OUTPUT_I32
    var residual = false
    var scale: [Float] = [], bias: [Float] = [], res: [Float] = []
    var clampLo = -Float.infinity, clampHi = Float.infinity
    var invScale: Float = 1, outZero: Int32 = 0
    var gap = 0                 // extra words per activation row (filled with garbage)
    var downgrade = false       // run a more general path than the data allows (always valid)

    var description: String {
        "M=\(M) N=\(N) K=\(K) actZeros=\(actZeros) weightZeros=\(weightZeros) output=\(output.rawValue) "
            + "residual=\(residual) gap=\(gap) downgrade=\(downgrade)"
    }

    static func random(M: Int, N: Int, K: Int, zeros: Int, rng: inout SeededGenerator) -> BGemmCase {
        var c = BGemmCase()
        c.M = M; c.N = N; c.K = K
        c.actZeros = zeros & 1 != 0; c.weightZeros = zeros & 2 != 0
        c.a = (0..<(M * K)).map { _ in ternary(c.actZeros, &rng) }
        c.w = (0..<(N * K)).map { _ in ternary(c.weightZeros, &rng) }
        c.x = c.a.map { signedFloat($0, &rng) }
        c.ldc = N + [0, 3].randomElement(using: &rng)!
        c.gap = [0, 1, 3].randomElement(using: &rng)!
        c.output = [QK_OUTPUT_I32, QK_OUTPUT_F32, QK_OUTPUT_U8].randomElement(using: &rng)!
        c.residual = c.output != QK_OUTPUT_I32 && Bool.random(using: &rng)
        c.scale = (0..<N).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
        c.bias = (0..<N).map { _ in Float.random(in: -2...2, using: &rng) }
        c.res = (0..<(M * c.ldc)).map { _ in Float.random(in: -3...3, using: &rng) }
        (c.clampLo, c.clampHi) = [(-Float.infinity, Float.infinity), (0, Float.infinity), (-1.5, 2)]
            .randomElement(using: &rng)!
        c.invScale = Float.random(in: 5...40, using: &rng)
        c.outZero = Int32.random(in: 0...255, using: &rng)
        c.downgrade = Int.random(in: 0..<4, using: &rng) == 0
        return c
    }

    /// Naive Int sums, then the epilogue in Float in the kernels' order; values as Double.
    func reference() -> [Double] {
        var out = [Double](repeating: 0, count: M * N)
        for m in 0..<M {
            for n in 0..<N {
                var acc = 0
                for k in 0..<K { acc += Int(a[m * K + k]) * Int(w[n * K + k]) }
                if output == QK_OUTPUT_I32 { out[m * N + n] = Double(acc); continue }
                var y = Float(Int32(acc)) * scale[n] + bias[n]
                if residual { y = y + res[m * ldc + n] }
                y = refClamp(y, clampLo, clampHi)
                out[m * N + n] = output == QK_OUTPUT_F32 ? Double(y) : Double(refRequant(y, invScale, outZero))
            }
        }
        return out
    }

    func run(_ uk: qk_bgemm_ukernel_desc, rng: inout SeededGenerator) -> (values: [Double], untouched: Bool,
                                                                        actZeroFlag: Bool, weightZeroFlag: Bool) {
        let kw = qk_bgemm_kwords(K, K), lda = 2 * kw + gap
        let act = Guarded<UInt64>(count: M * lda)
        for i in 0..<(M * lda) { act.ptr[i] = UInt64.random(in: 0...UInt64.max, using: &rng) }  // gap garbage
        let aZero = x.withUnsafeBufferPointer { qk_bgemm_pack_f32($0.baseAddress, M, K, K, act.ptr, lda) } != 0
        let packed = Guarded<UInt64>(count: qk_bgemm_packed_words(N, kw))
        let wZero = w.withUnsafeBufferPointer { qk_bgemm_pack_weights($0.baseAddress, N, K, K, packed.ptr) } != 0
        var nonzero = [Int32](repeating: 0, count: N)
        qk_bgemm_row_nonzeros(packed.ptr, N, kw, &nonzero)
        let elem = output == QK_OUTPUT_U8 ? 1 : 4
        let out = Guarded<UInt8>(count: M * ldc * elem)
        var path = aZero ? QK_BGEMM_GENERAL : (wZero ? QK_BGEMM_SIGN_ACT : QK_BGEMM_BINARY)
        if downgrade && path.rawValue > 0 { path = qk_bgemm_path(rawValue: path.rawValue - 1) }
        scale.withUnsafeBufferPointer { sp in bias.withUnsafeBufferPointer { bp in
            res.withUnsafeBufferPointer { rp in nonzero.withUnsafeBufferPointer { np in
                var args = qk_bgemm_args()
                args.M = M; args.N = N; args.kw = kw; args.K = K
                args.a = UnsafePointer(act.ptr); args.lda = lda
                args.w = UnsafePointer(packed.ptr); args.path = path; args.w_nonzero = np.baseAddress
                args.epi.scale = sp.baseAddress; args.epi.bias = bp.baseAddress
                args.epi.clamp_lo = clampLo; args.epi.clamp_hi = clampHi
                args.epi.residual_kind = residual ? QK_RESIDUAL_F32 : QK_RESIDUAL_NONE
                args.epi.residual = UnsafeRawPointer(rp.baseAddress); args.epi.ldr = ldc
                args.epi.output_kind = output
                args.epi.out = UnsafeMutableRawPointer(out.ptr); args.epi.ldc = ldc
                args.epi.out_inv_scale = invScale; args.epi.out_zero = outZero
                var member = uk
                qk_bgemm(&member, &args)
            } }
        } }
        var values = [Double](repeating: 0, count: M * N)
        let raw = UnsafeRawPointer(out.ptr)
        for m in 0..<M {
            for n in 0..<N {
                let at = (m * ldc + n) * elem
                switch output {
                case QK_OUTPUT_I32: values[m * N + n] = Double(raw.loadUnaligned(fromByteOffset: at, as: Int32.self))
                case QK_OUTPUT_F32: values[m * N + n] = Double(raw.loadUnaligned(fromByteOffset: at, as: Float.self))
                default: values[m * N + n] = Double(out[at])
                }
            }
        }
        let untouched = out.unchangedOutside { $0 / elem % ldc < N }
        return (values, untouched, aZero, wZero)
    }
}

/// "first bad index i (m, n): got / want" with the neighbours, or nil when equal.
private func bgemmMismatch(_ got: [Double], _ want: [Double], N: Int, context: String) -> String? {
    guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
    let lo = max(0, i - 2), hi = min(got.count, i + 3)
    return "\(context): first bad index \(i) (m \(i / N), n \(i % N)) got \(got[i]) want \(want[i]); "
        + "around: got \(Array(got[lo..<hi])) want \(Array(want[lo..<hi]))"
}

final class BGemmTests: XCTestCase {
    static let Ks = [1, 2, 5, 31, 63, 64, 65, 100, 127, 128, 129, 191, 255, 256, 257, 300]

    func testEveryMemberOnTailCases() {
        let seed = testSeed(0xB17)
        let scalar = qk_bgemm_select(QK_ISA_SCALAR)!.pointee
        XCTAssertEqual(String(cString: scalar.name), "qk_bgemm_ukernel_4x8c64__scalar")
        for (mi, uk) in bgemmMembers.enumerated() where qk_isa_supported(uk.isa) != 0 {
            var rng = SeededGenerator(seed: seed &+ UInt64(mi))
            var index = 0
            for M in tailSizes(tile: Int(uk.mr)) {
                for N in Array(Set(tailSizes(tile: Int(uk.nr)) + [17, 33])).sorted() {
                    for K in Self.Ks {
                        let c = BGemmCase.random(M: M, N: N, K: K, zeros: index % 4, rng: &rng)
                        let ctx = "seed \(seed)+\(mi) (QK_TEST_SEED) \(uk.nameString) case #\(index) \(c)"
                        index += 1
                        var r1 = SeededGenerator(seed: UInt64(index)), r2 = r1
                        let got = c.run(uk, rng: &r1)
                        XCTAssertTrue(got.untouched, "\(ctx): wrote outside its output")
                        XCTAssertEqual(got.actZeroFlag, c.actZeros && c.a.contains(0), ctx)
                        XCTAssertEqual(got.weightZeroFlag, c.weightZeros && c.w.contains(0), ctx)
                        if let msg = bgemmMismatch(got.values, c.reference(), N: N, context: ctx) {
                            XCTFail(msg); return
                        }
                        let twin = c.run(scalar, rng: &r2)
                        if let msg = bgemmMismatch(got.values, twin.values, N: N, context: ctx + " vs scalar") {
                            XCTFail(msg); return
                        }
                    }
                }
            }
        }
    }

    /// The packed bits, checked by hand: sign table of the f32 packer and one weight group.
    func testPackedBits() {
        let x: [Float] = [1, -1, 0, -0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude,
                          -.leastNonzeroMagnitude] + [Float](repeating: 2, count: 61) // 70 = 2 words
        var out = [UInt64](repeating: 0xDEAD, count: 4)
        XCTAssertEqual(qk_bgemm_pack_f32(x, 1, 70, 70, &out, 4), 1)
        // mask: positions 0,1,5,6,7,8 and 9..69; sign: 1, 6, 8
        let mask0: UInt64 = 0b1_1110_0011 | (~UInt64(0) << 9)
        XCTAssertEqual(out[0], mask0)
        XCTAssertEqual(out[1], 0b1_0100_0010)
        XCTAssertEqual(out[2], (1 << 6) - 1)  // positions 64..69
        XCTAssertEqual(out[3], 0)
        XCTAssertEqual(qk_bgemm_pack_f32([Float](repeating: -3, count: 5), 1, 5, 5, &out, 2), 0)

        // 9 rows (two groups), K = 3 in segments of 1 (a 3-tap, 1-channel conv): kw = 3
        var w = [Int8](repeating: 0, count: 9 * 3)
        w[0 * 3 + 0] = 1; w[0 * 3 + 2] = -1; w[7 * 3 + 1] = -1; w[8 * 3 + 2] = 1
        XCTAssertEqual(qk_bgemm_kwords(3, 1), 3)
        var packed = [UInt64](repeating: 0xFF, count: qk_bgemm_packed_words(9, 3))
        XCTAssertEqual(packed.count, 2 * 16 * 3)
        XCTAssertEqual(qk_bgemm_pack_weights(w, 9, 3, 1, &packed), 1)
        func word(group g: Int, k j: Int, plane p: Int, row r: Int) -> UInt64 { packed[(g * 3 + j) * 16 + p * 8 + r] }
        XCTAssertEqual(word(group: 0, k: 0, plane: 0, row: 0), 1)
        XCTAssertEqual(word(group: 0, k: 0, plane: 1, row: 0), 0)
        XCTAssertEqual(word(group: 0, k: 2, plane: 0, row: 0), 1)
        XCTAssertEqual(word(group: 0, k: 2, plane: 1, row: 0), 1)
        XCTAssertEqual(word(group: 0, k: 1, plane: 1, row: 7), 1)
        XCTAssertEqual(word(group: 1, k: 2, plane: 0, row: 0), 1)
        XCTAssertEqual(packed.filter { $0 != 0 }.count, 6)
        var sums = [Int32](repeating: 0, count: 9 * 3), nz = [Int32](repeating: 0, count: 9)
        qk_bgemm_segment_sums(packed, 9, 3, 1, &sums)
        qk_bgemm_row_nonzeros(packed, 9, 3, &nz)
        XCTAssertEqual(sums[2 * 9 + 0], -1)  // [tap][n]
        XCTAssertEqual(sums[0 * 9 + 0], 1)
        XCTAssertEqual(sums[1 * 9 + 7], -1)
        XCTAssertEqual(nz, [2, 0, 0, 0, 0, 0, 0, 1, 1])
    }

    /// The f32 packer on whole 64-channel words (where AVX-512 takes the sign bits directly and checks
    /// for zeros and NaN afterwards) against the definition, with and without a zero, -0 or NaN placed
    /// in one random row.
    func testPackerOnWholeWords() {
        var rng = SeededGenerator(seed: testSeed(0x5161))
        for t in 0..<60 {
            let rows = Int.random(in: 1...9, using: &rng), C = 64 * Int.random(in: 1...3, using: &rng), ld = C + t % 3
            var x = (0..<(rows * ld)).map { _ in signedFloat(Bool.random(using: &rng) ? 1 : -1, &rng) }
            let special = t % 3 == 0 ? nil : [Float(0), -Float(0), Float.nan][t % 3]
            if let special { x[Int.random(in: 0..<rows, using: &rng) * ld + Int.random(in: 0..<C, using: &rng)] = special }
            let words = C / 64
            var out = [UInt64](repeating: 0xDEAD, count: rows * 2 * words)
            let zero = qk_bgemm_pack_f32(x, rows, C, ld, &out, 2 * words)
            XCTAssertEqual(zero, special == nil ? 0 : 1, "case \(t)")
            for r in 0..<rows {
                for j in 0..<words {
                    var mask: UInt64 = 0, sign: UInt64 = 0
                    for b in 0..<64 {
                        let v = x[r * ld + 64 * j + b]
                        if v > 0 || v < 0 { mask |= 1 << UInt64(b) }
                        if v < 0 { sign |= 1 << UInt64(b) }
                    }
                    XCTAssertEqual(out[r * 2 * words + 2 * j], mask, "case \(t) row \(r) word \(j) mask")
                    XCTAssertEqual(out[r * 2 * words + 2 * j + 1], sign, "case \(t) row \(r) word \(j) sign")
                }
            }
        }
    }

    /// Binary conv of f32 NHWC input against a direct convolution of sign values (int32 output), with
    /// plan-time row tables (qk_bconv_prepare) on every other case and per-call tables on the rest.
    func testConvAgainstDirect() {
        let seed = testSeed(0xC0)
        for (mi, uk) in bgemmMembers.enumerated() where qk_isa_supported(uk.isa) != 0 {
            var rng = SeededGenerator(seed: seed &+ UInt64(mi))
            for t in 0..<40 {
                var g = qk_conv_geom()
                g.in_h = Int32.random(in: 1...9, using: &rng); g.in_w = Int32.random(in: 1...9, using: &rng)
                g.in_c = [1, 3, 64, 65, 130].randomElement(using: &rng)!
                g.out_c = Int32.random(in: 1...19, using: &rng)
                g.kernel_h = t % 4 == 3 ? 1 : 3; g.kernel_w = t % 8 == 7 ? 2 : g.kernel_h
                g.stride_h = Int32(1 + t % 2); g.stride_w = g.stride_h
                g.pad_top = Int32.random(in: 0...2, using: &rng); g.pad_left = Int32.random(in: 0...1, using: &rng)
                g.pad_bottom = Int32.random(in: 0...1, using: &rng); g.pad_right = Int32.random(in: 0...2, using: &rng)
                g.dilation_h = t % 5 == 4 ? 2 : 1; g.dilation_w = g.dilation_h; g.groups = 1
                let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g))
                if oh <= 0 || ow <= 0 { continue }
                let zeros = t % 4
                let ctx = "seed \(seed)+\(mi) \(uk.nameString) conv #\(t) \(g.in_h)x\(g.in_w)x\(g.in_c)->\(g.out_c) "
                    + "k\(g.kernel_h)x\(g.kernel_w) s\(g.stride_h) pad \(g.pad_top),\(g.pad_left),\(g.pad_bottom),"
                    + "\(g.pad_right) d\(g.dilation_h) zeros=\(zeros)"
                let got = runConv(uk, g, zeros: zeros, rng: &rng, prepared: t % 2 == 0)
                XCTAssertTrue(got.untouched, "\(ctx): wrote outside its output")
                if let msg = bgemmMismatch(got.values, got.want, N: Int(g.out_c), context: ctx) {
                    XCTFail(msg); return
                }
            }
        }
    }

    func testThreadCountInvariance() {
        let seed = testSeed(5)
        for uk in bgemmMembers where qk_isa_supported(uk.isa) != 0 {
            var g = qk_conv_geom(in_h: 23, in_w: 19, in_c: 70, out_c: 37, kernel_h: 3, kernel_w: 3,
                                 stride_h: 1, stride_w: 1, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1,
                                 dilation_h: 1, dilation_w: 1, groups: 1)
            for zeros in [0, 2, 3] {
                var r1 = SeededGenerator(seed: seed), r2 = r1
                let one = withThreads(1) { runConv(uk, g, zeros: zeros, rng: &r1) }
                let two = withThreads(2) { runConv(uk, g, zeros: zeros, rng: &r2) }
                XCTAssertEqual(one.values, two.values, "seed \(seed) \(uk.nameString) zeros=\(zeros) 2 vs 1 threads")
                XCTAssertEqual(one.values, one.want, "seed \(seed) \(uk.nameString) zeros=\(zeros)")
            }
            g.stride_h = 2; g.stride_w = 2
            var r = SeededGenerator(seed: seed)
            let s2 = runConv(uk, g, zeros: 0, rng: &r)
            XCTAssertEqual(s2.values, s2.want, "seed \(seed) \(uk.nameString) stride 2")
            // 512 channels: the packed weights exceed the driver's L1 column block, so the GEMM runs
            // in several column blocks
            let wide = qk_conv_geom(in_h: 5, in_w: 6, in_c: 512, out_c: 100, kernel_h: 3, kernel_w: 3,
                                    stride_h: 1, stride_w: 1, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1,
                                    dilation_h: 1, dilation_w: 1, groups: 1)
            for zeros in [0, 3] {
                var r1 = SeededGenerator(seed: seed), r2 = r1
                let one = withThreads(1) { runConv(uk, wide, zeros: zeros, rng: &r1) }
                let two = withThreads(2) { runConv(uk, wide, zeros: zeros, rng: &r2) }
                XCTAssertEqual(one.values, one.want, "seed \(seed) \(uk.nameString) 512 channels zeros=\(zeros)")
                XCTAssertEqual(two.values, one.values, "seed \(seed) \(uk.nameString) 512 channels, 2 vs 1 threads")
            }
        }
    }

    func testDispatch() {
        let active = qk_isa_active()
        let picked = String(cString: qk_bgemm_select(active)!.pointee.name)
        let expected: qk_bgemm_ukernel_desc = bestMember(bgemmMembers, under: active) { $0.isa }!   // typed for Swift 6.2
        XCTAssertEqual(picked, expected.nameString, "under \(String(cString: qk_isa_name(active)))")
        XCTAssertEqual(String(cString: qk_bgemm_select(QK_ISA_SCALAR)!.pointee.name), "qk_bgemm_ukernel_4x8c64__scalar")
    }

    /// Runs qk_bconv2d_f32 on random sign data (zeros: bit 0 input, bit 1 weights) and the direct reference.
    private func runConv(_ uk: qk_bgemm_ukernel_desc, _ geom: qk_conv_geom, zeros: Int,
                         rng: inout SeededGenerator, prepared: Bool = false) -> (values: [Double], want: [Double], untouched: Bool) {
        var g = geom
        let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g))
        let C = Int(g.in_c), N = Int(g.out_c), kh = Int(g.kernel_h), kwid = Int(g.kernel_w), taps = kh * kwid
        let K = taps * C, kw = qk_bgemm_kwords(K, C), M = oh * ow, ldc = N + 2
        let av = (0..<(Int(g.in_h) * Int(g.in_w) * C)).map { _ in ternary(zeros & 1 != 0, &rng) }
        let x = av.map { signedFloat($0, &rng) }
        let wv = (0..<(N * K)).map { _ in ternary(zeros & 2 != 0, &rng) }
        var packed = [UInt64](repeating: 0, count: qk_bgemm_packed_words(N, kw))
        let wZero = qk_bgemm_pack_weights(wv, N, K, C, &packed)
        var sums = [Int32](repeating: 0, count: taps * N), nz = [Int32](repeating: 0, count: N)
        qk_bgemm_segment_sums(packed, N, kw, (C + 63) / 64, &sums)
        qk_bgemm_row_nonzeros(packed, N, kw, &nz)
        let out = Guarded<Int32>(count: M * ldc)
        let ws = UnsafeMutableRawPointer.allocate(byteCount: qk_bconv_workspace_bytes(&g), alignment: 64)
        defer { ws.deallocate() }
        packed.withUnsafeBufferPointer { pp in sums.withUnsafeBufferPointer { sp in nz.withUnsafeBufferPointer { np in
            var layer = qk_bconv_layer()
            layer.w = pp.baseAddress; layer.w_has_zero = wZero; layer.tap_sums = sp.baseAddress
            layer.w_nonzero = np.baseAddress
            layer.epi.output_kind = QK_OUTPUT_I32; layer.epi.out = UnsafeMutableRawPointer(out.ptr); layer.epi.ldc = ldc
            var member = uk
            if prepared {  // plan-time row tables, as the runtime builds them
                let tables = UnsafeMutableRawPointer.allocate(byteCount: qk_bconv_tables_bytes(&g), alignment: 64)
                defer { tables.deallocate() }
                qk_bconv_prepare(&g, &layer, tables)
                layer.tables = UnsafeRawPointer(tables)
                qk_bconv2d_f32(&member, &g, x, &layer, ws)
            } else {
                qk_bconv2d_f32(&member, &g, x, &layer, ws)
            }
        } } }
        let want = directConvolution(g, input: av.map { Int($0) }, weights: wv.map { Int($0) }).map { Double($0) }
        var values = [Double](repeating: 0, count: M * N)
        for m in 0..<M { for n in 0..<N { values[m * N + n] = Double(out[m * ldc + n]) } }
        return (values, want, out.unchangedOutside { $0 % ldc < N })
    }
}
