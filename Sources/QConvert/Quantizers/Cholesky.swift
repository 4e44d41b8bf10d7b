// Dense symmetric positive definite algebra for Hessian-aware rounding (GPTQ.swift): Cholesky factors
// and triangular inverses of n x n row-major Double matrices (n up to a few thousand).

/// The lower Cholesky factor L of a symmetric positive definite matrix: a = L L^T, row-major, zeros above
/// the diagonal. Only the lower triangle of `a` is read. nil when a pivot is not positive (not SPD).
///   L[i][j] = (a[i][j] - sum_{t<j} L[i][t] L[j][t]) / L[j][j],  L[j][j] = sqrt(a[j][j] - sum_{t<j} L[j][t]^2)
/// Rows are computed `choleskyBlockRows` at a time, so each earlier row is read once per block, not once
/// per row (the same sums in the same order: the result does not depend on the blocking).
func choleskyLower(_ a: [Double], n: Int) -> [Double]? {
    precondition(a.count == n * n)
    var l = [Double](repeating: 0, count: n * n)
    let ok = l.withUnsafeMutableBufferPointer { out -> Bool in
        let base = out.baseAddress!
        for first in stride(from: 0, to: n, by: choleskyBlockRows) {
            let end = Swift.min(first + choleskyBlockRows, n)
            for j in 0..<first {
                let rowJ = base + j * n, pivot = rowJ[j]
                for i in first..<end { base[i * n + j] = (a[i * n + j] - dot(base + i * n, rowJ, j)) / pivot }
            }
            for i in first..<end {
                let rowI = base + i * n
                for j in first...i {
                    let s = a[i * n + j] - dot(rowI, base + j * n, j)
                    if i == j {
                        guard s > 0, s.isFinite else { return false }
                        rowI[i] = s.squareRoot()
                    } else {
                        rowI[j] = s / base[j * n + j]
                    }
                }
            }
        }
        return true
    }
    return ok ? l : nil
}

/// The inverse of a lower-triangular matrix with a non-zero diagonal (row-major), built row by row:
///   X[i][:] = (e_i - sum_{t<i} L[i][t] X[t][:]) / L[i][i],
/// rows `choleskyBlockRows` at a time as in `choleskyLower` (t in increasing order for every row).
func invertLowerTriangular(_ l: [Double], n: Int) -> [Double] {
    precondition(l.count == n * n)
    var x = [Double](repeating: 0, count: n * n)
    x.withUnsafeMutableBufferPointer { out in
        let base = out.baseAddress!
        for first in stride(from: 0, to: n, by: choleskyBlockRows) {
            let end = Swift.min(first + choleskyBlockRows, n)
            for t in 0..<first {
                for i in first..<end where l[i * n + t] != 0 { axpy(-l[i * n + t], base + t * n, base + i * n, t + 1) }
            }
            for i in first..<end {
                let rowI = base + i * n
                for t in first..<i where l[i * n + t] != 0 { axpy(-l[i * n + t], base + t * n, rowI, t + 1) }
                let d = 1 / l[i * n + i]
                for j in 0..<i { rowI[j] *= d }
                rowI[i] = d
            }
        }
    }
    return x
}

/// Rows of the factor computed together: each pass over the earlier rows serves 32 rows, which stay in
/// cache (32 rows of 4,608 doubles are 1.2 MB), so large factors stream the earlier rows 32 times less.
private let choleskyBlockRows = 32

/// The upper-triangular U with U^T U = a^-1 (the factor GPTQ walks, row i holding the OBS update of column i).
/// With J the reversal permutation and J a J = L' L'^T, a = R R^T for the upper R = J L' J, so
/// a^-1 = R^-T R^-1 and U = R^-1 = J L'^-1 J: one Cholesky and one triangular inverse, no explicit a^-1.
/// nil when `a` is not positive definite.
func inverseCholeskyUpper(_ a: [Double], n: Int) -> [Double]? {
    var reversed = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { reversed[i * n + j] = a[(n - 1 - i) * n + (n - 1 - j)] } }
    return choleskyLower(reversed, n: n).map { inverseCholeskyUpper(reversedFactor: $0, n: n) }
}

/// `inverseCholeskyUpper` from L' = the lower Cholesky factor of J a J (a with rows and columns reversed):
/// U = J L'^-1 J.
func inverseCholeskyUpper(reversedFactor l: [Double], n: Int) -> [Double] {
    let inverse = invertLowerTriangular(l, n: n)
    var u = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { u[i * n + j] = inverse[(n - 1 - i) * n + (n - 1 - j)] } }
    return u
}

/// sum_{t<n} a[t] * b[t] in a fixed order (four interleaved partial sums, then the tail), so results never
/// vary between runs. Plain scalar code: the optimiser vectorises it, and unoptimised (debug) builds stay
/// usable, which SIMD types are not.
@inline(__always) func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var t = 0
    while t + 4 <= n {
        s0 += a[t] * b[t]
        s1 += a[t + 1] * b[t + 1]
        s2 += a[t + 2] * b[t + 2]
        s3 += a[t + 3] * b[t + 3]
        t += 4
    }
    var s = (s0 + s1) + (s2 + s3)
    while t < n { s += a[t] * b[t]; t += 1 }
    return s
}

/// y[t] += alpha * x[t] for t < n.
@inline(__always) func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
    var t = 0
    while t < n { y[t] += alpha * x[t]; t += 1 }
}

/// X with L L^T X = B for `columns` right-hand sides at once: b is n x columns row-major (column c is one
/// right-hand side), L lower triangular (row-major, `choleskyLower`'s factor). Each column gets exactly
/// `solveLowerFactored`'s operations in its order (x_i -= L[i][t] x_t for t ascending, then / L[i][i];
/// then the same with L^T, t descending from n - 1), so the result equals solving column by column, bit
/// for bit; the columns go `solveBlockColumns` at a time through contiguous rows, with L^T copied once so
/// the backward pass reads rows too.
func solveLowerFactored(_ l: [Double], columns b: [Double], n: Int, columns m: Int) -> [Double] {
    precondition(l.count == n * n && b.count == n * m)
    var lt = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for t in 0...i { lt[t * n + i] = l[i * n + t] } }
    var x = b
    let width = Swift.min(solveBlockColumns, Swift.max(1, m))
    var block = [Double](repeating: 0, count: n * width)
    l.withUnsafeBufferPointer { l in
        lt.withUnsafeBufferPointer { lt in
            block.withUnsafeMutableBufferPointer { y in
                let l = l.baseAddress!, lt = lt.baseAddress!, y = y.baseAddress!
                for c0 in stride(from: 0, to: m, by: width) {
                    let cw = Swift.min(width, m - c0)
                    for i in 0..<n { for c in 0..<cw { y[i * cw + c] = x[i * m + c0 + c] } }
                    for i in 0..<n {
                        let row = y + i * cw, li = l + i * n
                        for t in 0..<i { axpy(-li[t], y + t * cw, row, cw) }
                        let d = li[i]
                        for c in 0..<cw { row[c] /= d }
                    }
                    for i in stride(from: n - 1, through: 0, by: -1) {
                        let row = y + i * cw, column = lt + i * n
                        for t in (i + 1)..<n { axpy(-column[t], y + t * cw, row, cw) }
                        let d = column[i]
                        for c in 0..<cw { row[c] /= d }
                    }
                    for i in 0..<n { for c in 0..<cw { x[i * m + c0 + c] = y[i * cw + c] } }
                }
            }
        }
    }
    return x
}

/// Right-hand sides solved together (their rows of 64 doubles stay in cache while L streams past).
private let solveBlockColumns = 64
