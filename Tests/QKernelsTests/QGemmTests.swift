// Every registered qgemm member against the naive reference on unpacked data and against its
// scalar twin: generated tail cases, rounding ties, deep K at the int32 limit, guard bytes, threads.
import QKernels
import XCTest

final class QGemmTests: XCTestCase {
    /// M, N from 1 to the tile and beyond, K around the 32-code block, all epilogue options.
    func testEveryMemberOnTailCases() {
        let seed = testSeed(0x51_6B65_726E)
        XCTAssertGreaterThanOrEqual(qgemmMembers.count, 5)
        for (mi, uk) in qgemmMembers.enumerated() {
            var rng = SeededGenerator(seed: seed &+ UInt64(mi))
            let twin = qk_qgemm_select_kind(uk.bits, QK_ISA_SCALAR, uk.kind)!.pointee
            var index = 0
            for M in tailSizes(tile: Int(uk.mr)) {
                for N in tailSizes(tile: Int(uk.nr)) {
                    for K in tailKs {
                        let c = QGemmCase.random(M: M, N: N, K: K, bits: Int(uk.bits),
                                                 shift: uk.kind == QK_KIND_SHIFT, rng: &rng)
                        let ctx = "seed \(seed)+\(mi) \(uk.nameString) case #\(index) \(c)"
                        index += 1
                        let got = c.run(uk)
                        XCTAssertTrue(got.untouched, "\(ctx): wrote outside its output")
                        if let msg = firstMismatch(got.values, c.reference(), N: N, context: ctx) {
                            XCTFail(msg); return
                        }
                        if uk.isa != QK_ISA_SCALAR,
                           let msg = firstMismatch(got.values, c.run(twin).values, N: N,
                                                   context: ctx + " vs scalar twin") {
                            XCTFail(msg); return
                        }
                    }
                }
            }
        }
    }

    /// y = acc'/2 lands on .5 often: round half to even must hold (2.5 -> 2, 3.5 -> 4).
    func testRoundingTiesGoToEven() {
        let seed = testSeed(7)
        var rng = SeededGenerator(seed: seed)
        for uk in qgemmMembers {
            var c = QGemmCase.random(M: 9, N: 6, K: 5, bits: Int(uk.bits), rng: &rng)
            c.a = c.a.map { $0 % 4 }
            c.za = 1
            c.halfStep = false
            c.lut = (0..<16).map { Int8($0 % 5) - 2 }
            if c.bits == 8 { c.codes = c.codes.map { UInt8(bitPattern: Int8($0 % 5) - 2) } }
            c.scale = [Float](repeating: 0.5, count: c.N)
            c.bias = nil
            c.clampLo = -.infinity; c.clampHi = .infinity
            c.residualKind = QK_RESIDUAL_NONE
            c.outputKind = QK_OUTPUT_U8
            c.outInv = 1; c.outZero = 100
            let ties = (0..<c.M).flatMap { m in (0..<c.N).map { n in c.correctedAcc(m, n) } }
                .filter { $0 % 2 != 0 }.count
            XCTAssertGreaterThan(ties, 5, "the case must contain ties")
            if let msg = firstMismatch(c.run(uk).values, c.reference(), N: c.N,
                                       context: "seed \(seed) \(uk.nameString) ties \(c)") {
                XCTFail(msg)
            }
        }
    }

    /// K = QK_MAX_K and 65536 with every product at its extreme: exact int32 sums (vs Int64).
    func testDeepKAtTheInt32Limit() {
        let seed = testSeed(65_793)
        var rng = SeededGenerator(seed: seed)
        XCTAssertEqual(Int(QK_MAX_K), Int(Int32.max) / (255 * 128))
        for uk in qgemmMembers {
            for K in [65_536, Int(QK_MAX_K)] {
                for pattern in 0..<3 {
                    var c = QGemmCase()
                    c.M = 2; c.N = 5; c.K = K; c.bits = Int(uk.bits)
                    c.lda = K; c.ldc = c.N; c.ldr = c.N
                    c.scale = [Float](repeating: 1, count: c.N)
                    let lo = c.bits == 8 ? UInt8(0x80) : 0
                    let hi = c.bits == 8 ? UInt8(0x7F) : UInt8((1 << c.bits) - 1)
                    if c.bits <= 4 { c.lut[0] = -128; c.lut[Int(hi)] = uk.kind == QK_KIND_SHIFT ? 64 : 127 }
                    switch pattern {
                    case 0:  // all a = 255, w = -128 / 127: |acc| at its maximum, za = 0
                        c.a = [UInt8](repeating: 255, count: c.M * K)
                        c.codes = (0..<(c.N * K)).map { $0 / K % 2 == 0 ? lo : hi }
                        c.za = 0
                    case 1:  // a in {0, 255}, w in {-128, 127}, za = 255
                        c.a = (0..<(c.M * K)).map { _ in Bool.random(using: &rng) ? 0 : 255 }
                        c.codes = (0..<(c.N * K)).map { _ in Bool.random(using: &rng) ? lo : hi }
                        c.za = 255
                    default:  // a = 0 and za = 255: acc = 0, the correction carries everything
                        c.a = [UInt8](repeating: 0, count: c.M * K)
                        c.codes = (0..<(c.N * K)).map { $0 / K % 2 == 0 ? lo : hi }
                        c.za = 255
                    }
                    c.outputKind = QK_OUTPUT_I32
                    let ctx = "seed \(seed) \(uk.nameString) deep K=\(K) pattern \(pattern)"
                    let got = c.run(uk)
                    XCTAssertTrue(got.untouched, ctx)
                    if let msg = firstMismatch(got.values, c.reference(), N: c.N, context: ctx) {
                        XCTFail(msg)
                    }
                }
            }
        }
    }

    /// Results are identical for 1 and 2 threads (the problem is large enough to go parallel).
    func testThreadCountInvariance() {
        let seed = testSeed(2)
        var rng = SeededGenerator(seed: seed)
        for uk in qgemmMembers {
            let c = QGemmCase.random(M: 67, N: 45, K: 200, bits: Int(uk.bits), shift: uk.kind == QK_KIND_SHIFT,
                                     rng: &rng)
            let one = withThreads(1) { c.run(uk) }
            let two = withThreads(2) { c.run(uk) }
            XCTAssertEqual(withThreads(2) { qk_get_max_threads() }, 2)
            XCTAssertTrue(one.untouched && two.untouched)
            let ctx = "seed \(seed) \(uk.nameString) \(c)"
            if let msg = firstMismatch(two.values, one.values, N: c.N, context: ctx + " 2 vs 1 threads") {
                XCTFail(msg)
            }
            if let msg = firstMismatch(one.values, c.reference(), N: c.N, context: ctx) { XCTFail(msg) }
        }
    }
}
