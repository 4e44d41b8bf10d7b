// Every registered fgemm and pfgemm member against a naive f32 reference (k-order sums, no FMA): exact
// for the scalar members, close for SIMD members (which may reorder the sum or use FMA); guards, threads.
import QKernels
import XCTest

struct FGemmCase: CustomStringConvertible {
    var M = 1, N = 1, K = 1, lda = 1, ldb = 1, ldc = 1, ldr = 1
    var a: [Float] = [], b: [Float] = []
    var bias: [Float]? = nil
    var residual: [Float]? = nil
    var clampLo = -Float.infinity, clampHi = Float.infinity

    var description: String {
        "M=\(M) N=\(N) K=\(K) lda=\(lda) ldb=\(ldb) ldc=\(ldc) bias=\(bias != nil) "
            + "residual=\(residual != nil) clamp=[\(clampLo),\(clampHi)]"
    }

    static func random(M: Int, N: Int, K: Int, rng: inout SeededGenerator) -> FGemmCase {
        var c = FGemmCase()
        c.M = M; c.N = N; c.K = K
        c.lda = K + [0, 1, 5].randomElement(using: &rng)!
        c.ldb = K + [0, 3].randomElement(using: &rng)!
        c.ldc = N + [0, 2].randomElement(using: &rng)!
        c.ldr = N + [0, 1].randomElement(using: &rng)!
        c.a = (0..<(M * c.lda)).map { _ in Float.random(in: -1...1, using: &rng) }
        c.b = (0..<(N * c.ldb)).map { _ in Float.random(in: -1...1, using: &rng) }
        if Bool.random(using: &rng) { c.bias = (0..<N).map { _ in Float.random(in: -1...1, using: &rng) } }
        if Bool.random(using: &rng) {
            c.residual = (0..<(M * c.ldr)).map { _ in Float.random(in: -1...1, using: &rng) }
        }
        (c.clampLo, c.clampHi) = [(-Float.infinity, Float.infinity), (0, Float.infinity), (0, 6),
                                  (-0.3, 0.4)].randomElement(using: &rng)!
        return c
    }

    func reference() -> [Double] {
        var out = [Double](repeating: 0, count: M * N)
        for m in 0..<M {
            for n in 0..<N {
                var acc: Float = 0
                for k in 0..<K { acc = acc + a[m * lda + k] * b[n * ldb + k] }
                var y = acc
                if let bias { y = y + bias[n] }
                if let residual { y = y + residual[m * ldr + n] }
                out[m * N + n] = Double(refClamp(y, clampLo, clampHi))
            }
        }
        return out
    }

    func run(_ uk: qk_fgemm_ukernel_desc) -> (values: [Double], untouched: Bool) {
        var member = uk
        return run(weights: b) { qk_fgemm(&member, &$0) }
    }

    /// On a pfgemm member: B packed into its panels first (ldb is then unused).
    func run(_ uk: qk_pfgemm_ukernel_desc) -> (values: [Double], untouched: Bool) {
        var packed = [Float](repeating: .nan, count: qk_pfgemm_packed_floats(N, K, Int(uk.nr)))
        qk_pfgemm_pack(b, N, K, ldb, Int(uk.nr), &packed)
        var member = uk
        return run(weights: packed) { qk_pfgemm(&member, &$0) }
    }

    /// Runs `gemm` on this case's arguments with `weights` as B, in guarded buffers.
    private func run(weights: [Float], _ gemm: (inout qk_fgemm_args) -> Void) -> (values: [Double], untouched: Bool) {
        let aBuf = Guarded<Float>(a), bBuf = Guarded<Float>(weights)
        let biasBuf = bias.map { Guarded<Float>($0) }, rBuf = residual.map { Guarded<Float>($0) }
        let out = Guarded<Float>(count: M * ldc)
        var args = qk_fgemm_args()
        args.M = M; args.N = N; args.K = K
        args.a = UnsafePointer(aBuf.ptr); args.lda = lda
        args.b = UnsafePointer(bBuf.ptr); args.ldb = ldb
        args.epi.bias = biasBuf.map { UnsafePointer($0.ptr) }
        args.epi.residual_kind = rBuf == nil ? QK_RESIDUAL_NONE : QK_RESIDUAL_F32
        args.epi.residual = rBuf.map { UnsafeRawPointer($0.ptr) }
        args.epi.ldr = ldr
        args.epi.clamp_lo = clampLo; args.epi.clamp_hi = clampHi
        args.epi.output_kind = QK_OUTPUT_F32
        args.epi.out = UnsafeMutableRawPointer(out.ptr); args.epi.ldc = ldc
        gemm(&args)
        var values = [Double](repeating: 0, count: M * N)
        for m in 0..<M { for n in 0..<N { values[m * N + n] = Double(out[m * ldc + n]) } }
        return (values, out.unchangedOutside { $0 % ldc < N })
    }
}

final class FGemmTests: XCTestCase {
    /// One member of either family under test: its name, tile, ISA and how it runs a case.
    private struct Member {
        var name: String, mr: Int, nr: Int, kr: Int, isa: qk_isa
        var run: (FGemmCase) -> (values: [Double], untouched: Bool)
    }

    private var rowMembers: [Member] {
        fgemmMembers.map { uk in Member(name: uk.nameString, mr: Int(uk.mr), nr: Int(uk.nr), kr: Int(uk.kr), isa: uk.isa) { $0.run(uk) } }
    }

    /// The packed-panel members: B packed per member (panel widths 8, 16, 32); K steps 1 (k one at a time).
    private var panelMembers: [Member] {
        pfgemmMembers.map { uk in Member(name: uk.nameString, mr: Int(uk.mr), nr: Int(uk.nr), kr: 32, isa: uk.isa) { $0.run(uk) } }
    }

    /// Tail cases of M, N, K around each member's tile and vector step: exact for scalar members, to
    /// rounding (1e-5 per k) for SIMD ones; nothing written outside the output.
    private func checkTailCases(_ members: [Member], seed: UInt64) {
        XCTAssertGreaterThanOrEqual(members.count, 1)
        for (mi, uk) in members.enumerated() {
            var rng = SeededGenerator(seed: seed &+ UInt64(mi))
            var index = 0
            // K around the member's own vector step too (AVX-512: 15, 16, 17, 33), and a CIFAR stem's 27
            let ks = Set(tailKs + [uk.kr - 1, uk.kr, uk.kr + 1, 2 * uk.kr + 1, 27].filter { $0 >= 1 }).sorted()
            for M in tailSizes(tile: uk.mr) {
                for N in tailSizes(tile: uk.nr) + [2 * uk.nr + 3] {
                    for K in ks {
                        let c = FGemmCase.random(M: M, N: N, K: K, rng: &rng)
                        let ctx = "seed \(seed)+\(mi) \(uk.name) case #\(index) \(c)"
                        index += 1
                        let got = uk.run(c)
                        XCTAssertTrue(got.untouched, "\(ctx): wrote outside its output")
                        let want = c.reference()
                        if uk.isa == QK_ISA_SCALAR {
                            if let msg = firstMismatch(got.values, want, N: N, context: ctx) { XCTFail(msg); return }
                        } else if let i = got.values.indices.first(where: {
                            abs(got.values[$0] - want[$0]) > 1e-5 * Double(K) + 1e-6
                        }) {
                            XCTFail("\(ctx): first bad index \(i) got \(got.values[i]) want \(want[i])")
                            return
                        }
                    }
                }
            }
        }
    }

    func testEveryMemberOnTailCases() { checkTailCases(rowMembers, seed: testSeed(0xF32)) }

    func testEveryPackedMemberOnTailCases() { checkTailCases(panelMembers, seed: testSeed(0xF33)) }

    func testThreadCountInvariance() {
        let seed = testSeed(3)
        var rng = SeededGenerator(seed: seed)
        for uk in rowMembers + panelMembers {
            let c = FGemmCase.random(M: 70, N: 33, K: 150, rng: &rng)
            let one = withThreads(1) { uk.run(c) }, two = withThreads(2) { uk.run(c) }
            XCTAssertTrue(one.untouched && two.untouched)
            if let msg = firstMismatch(two.values, one.values, N: c.N, context: "seed \(seed) \(uk.name) 2 vs 1 threads") {
                XCTFail(msg)
            }
        }
    }
}
