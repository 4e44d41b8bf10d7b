// The packed f32 GEMM and the Gram matrix (SYRK) the Hessian statistics use (FloatGEMM.swift), and the
// many-right-hand-side triangular solve of the float target (Cholesky.swift), against naive references
// on odd sizes (panel and block tails).
@testable import QConvert
import _QTestSupport
import XCTest

final class FloatGramTests: XCTestCase {
    private func random(_ count: Int, _ rng: inout SeededGenerator) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
    }

    /// C = A B^T on B packed in panels: every entry within f32 rounding of the Double sum.
    func testPackedGEMMMatchesNaive() {
        var rng = SeededGenerator(seed: 41)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (9, 33, 40), (17, 70, 3), (8, 32, 65)] {
            let a = random(m * k, &rng) + [Float](repeating: 0, count: 16), b = random(n * k, &rng)
            var packed = [Float](repeating: .nan, count: floatPanelCount(n: n, k: k) + 16)
            var c = [Float](repeating: .nan, count: m * n)
            b.withUnsafeBufferPointer { b in packed.withUnsafeMutableBufferPointer { packFloatPanels(b.baseAddress!, n: n, k: k, ldb: k, into: $0.baseAddress!) } }
            a.withUnsafeBufferPointer { a in
                packed.withUnsafeBufferPointer { p in
                    c.withUnsafeMutableBufferPointer {
                        packedFloatGEMM(m: m, n: n, k: k, a: a.baseAddress!, lda: k, packed: p.baseAddress!, c: $0.baseAddress!, ldc: n)
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<n {
                    let exact = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[j * k + $1]) }
                    XCTAssertEqual(Double(c[i * n + j]), exact, accuracy: 1e-5 * Double(k), "\(m)x\(n)x\(k) at (\(i), \(j))")
                }
            }
        }
    }

    /// The Gram matrix's upper triangle: within f32 rounding of the naive X^T X, and bit for bit the full
    /// packed GEMM's entries (so H is exactly symmetric once mirrored); row blocks of 256 crossed at n = 300.
    func testGramUpperMatchesNaiveAndFullGEMM() {
        var rng = SeededGenerator(seed: 42)
        for (n, rows) in [(1, 1), (5, 3), (31, 17), (33, 2), (70, 40), (300, 9)] {
            let x = random(rows * n, &rng)
            var xt = [Float](repeating: 0, count: n * rows + 16)
            for t in 0..<rows { for j in 0..<n { xt[j * rows + t] = x[t * n + j] } }
            var packed = [Float](repeating: .nan, count: floatPanelCount(n: n, k: rows) + 16)
            xt.withUnsafeBufferPointer { b in packed.withUnsafeMutableBufferPointer { packFloatPanels(b.baseAddress!, n: n, k: rows, ldb: rows, into: $0.baseAddress!) } }
            var gram = [Float](repeating: .nan, count: n * n), full = gram
            xt.withUnsafeBufferPointer { a in
                packed.withUnsafeBufferPointer { p in
                    gram.withUnsafeMutableBufferPointer {
                        floatGramUpper(n: n, rows: rows, xt: a.baseAddress!, packed: p.baseAddress!, c: $0.baseAddress!, ldc: n)
                    }
                    full.withUnsafeMutableBufferPointer {
                        packedFloatGEMM(m: n, n: n, k: rows, a: a.baseAddress!, lda: rows, packed: p.baseAddress!, c: $0.baseAddress!, ldc: n)
                    }
                }
            }
            for i in 0..<n {
                for j in i..<n {
                    let exact = (0..<rows).reduce(0.0) { $0 + Double(x[$1 * n + i]) * Double(x[$1 * n + j]) }
                    XCTAssertEqual(Double(gram[i * n + j]), exact, accuracy: 1e-5 * Double(rows), "n \(n) rows \(rows) at (\(i), \(j))")
                    XCTAssertEqual(gram[i * n + j].bitPattern, full[i * n + j].bitPattern, "n \(n) rows \(rows) at (\(i), \(j))")
                    XCTAssertEqual(full[i * n + j].bitPattern, full[j * n + i].bitPattern, "symmetric, n \(n) at (\(i), \(j))")
                }
            }
        }
    }

    /// Many right-hand sides at once equal `solveLowerFactored` column by column, bit for bit (blocks of 64
    /// columns crossed at 65 and 130), and solve L L^T X = B; `HessianFactor.solve` solves its dampened H.
    func testManyRightHandSidesMatchOneByOne() throws {
        var rng = SeededGenerator(seed: 43)
        for (n, m) in [(1, 1), (7, 5), (33, 65), (70, 130)] {
            let z = random(n * n, &rng).map(Double.init)
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n { a[i * n + j] = (0..<n).reduce(i == j ? 0.5 : 0) { $0 + z[i * n + $1] * z[j * n + $1] } } }
            let l = try XCTUnwrap(choleskyLower(a, n: n))
            let b = random(n * m, &rng).map(Double.init)
            let x = solveLowerFactored(l, columns: b, n: n, columns: m)
            for c in 0..<m {
                let one = solveLowerFactored(l, (0..<n).map { b[$0 * m + c] }, n: n)
                for i in 0..<n { XCTAssertEqual(x[i * m + c].bitPattern, one[i].bitPattern, "n \(n) m \(m) column \(c) row \(i)") }
                for i in 0..<n {
                    let ax = (0..<n).reduce(0.0) { $0 + a[i * n + $1] * x[$1 * m + c] }
                    XCTAssertEqual(ax, b[i * m + c], accuracy: 1e-8 * Double(n), "A x = b, n \(n) column \(c)")
                }
            }
            // through a GPTQ factor (act-order permuted, reversed): its dampened H times X is B
            let factor = HessianFactor(hessian: a, k: n)
            let y = try XCTUnwrap(factor.solve(b, columns: m))
            for c in 0..<m {
                for i in 0..<n {
                    let hy = (0..<n).reduce(0.0) { $0 + factor.hessian[i * n + $1] * y[$1 * m + c] }
                    XCTAssertEqual(hy, b[i * m + c], accuracy: 1e-8 * Double(n), "H y = b, n \(n) column \(c)")
                }
            }
        }
    }
}
