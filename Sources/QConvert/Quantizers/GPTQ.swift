// Hessian-aware rounding of weight rows: GPTQ (Frantar et al. 2022, "GPTQ: Accurate post-training
// quantization for generative pre-trained transformers"; Optimal Brain Quantization, Frantar & Alistarh
// 2022). A layer's output error on calibration inputs X is sum_r (w_r - q_r)^T H (w_r - q_r) with
// H = X X^T; GPTQ quantizes one column at a time and spreads each rounding error over the columns not yet
// quantized, through the upper Cholesky factor U of H^-1 (U^T U = H^-1):
//     q_i = grid(w_i),  e = (w_i - q_i) / U[i][i],  w_j -= e * U[i][j]  (j > i),  loss += e^2
// where loss is exactly the error sum above (with the dampened H). Rows are independent: one row's errors
// only move that row's later columns.
import QGraph
import QKernels

/// The values one weight row may take, in units of the row's scale, ascending, with the code each stores as.
struct QuantizationGrid: Sendable {
    let values: [Float]
    let codes: [UInt8]
    /// The values are the consecutive integers values[0] ... values.last: the nearest is round-half-even
    /// then clamp, exactly as round-to-nearest quantizers round.
    let isIntegerRange: Bool

    /// Builds a grid from a code -> value table (a codebook's LUT, a shift table).
    init(table: [Float]) {
        let order = table.indices.sorted { (table[$0], $0) < (table[$1], $1) }
        let sorted = order.map { table[$0] }
        values = sorted
        codes = order.map { UInt8($0) }
        isIntegerRange = sorted.enumerated().allSatisfy { $0.element == sorted[0] + Float($0.offset) }
    }

    /// Symmetric uniform b-bit (UniformQuantizer.swift): q in [-2^(b-1), 2^(b-1) - 1], code q - qmin (b < 8)
    /// or the int8 bit pattern of q (b = 8).
    static func uniform(bits: Int) -> QuantizationGrid {
        let qmin = -(1 << (bits - 1))
        let table = (0..<(1 << bits)).map { Float(bits == 8 ? Int(Int8(truncatingIfNeeded: $0)) : $0 + qmin) }
        return QuantizationGrid(table: table)
    }

    /// Index into `values` of the value nearest x (ties: the lower value, or half-even for integer ranges).
    func nearest(_ x: Float) -> Int {
        values.withUnsafeBufferPointer { Self.nearest(x, in: $0, integerRange: isIntegerRange) }
    }

    /// `nearest` over the ascending `values` (the hot loop's form: no array access).
    @inline(__always) static func nearest(_ x: Float, in values: UnsafeBufferPointer<Float>, integerRange: Bool) -> Int {
        let last = values.count - 1
        if integerRange {
            let r = x.rounded(.toNearestOrEven) - values[0]
            return r <= 0 ? 0 : r >= Float(last) ? last : Int(r)
        }
        guard x == x, x > values[0] else { return 0 }
        if x >= values[last] { return last }
        var lo = 0, hi = last
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if values[mid] <= x { lo = mid } else { hi = mid }
        }
        return values[hi] - x < x - values[lo] ? hi : lo
    }
}

/// GPTQ's damping, a fraction of H's mean diagonal: 10 % (Frantar et al. use 1 %; on ResNet-56's held-out
/// calibration images 10 % gave the lower output error, with the float target it also regularises w*).
let gptqDamping = 0.1

/// One conv group's Hessian H = sum over calibration rows of x x^T, ready for GPTQ: inputs never seen
/// (H_jj = 0) marked dead (their weights become 0, as they cannot change the output), H dampened by
/// `damping` * mean(diag H) on the diagonal, columns in act-order (descending H_jj: the inputs that
/// matter most are rounded first, while every later column can still absorb their error), and U the upper
/// Cholesky factor of the permuted H^-1.
struct HessianFactor: Sendable {
    let k: Int
    /// order[i]: the original column quantized i-th.
    let order: [Int]
    let dead: [Bool]
    /// The dampened H in original column order (what the loss measures).
    let hessian: [Double]
    /// The damping added to H's diagonal (dead inputs aside): H + lambda I is `hessian`.
    let lambda: Double
    /// U, k x k in act-order, Float like the weights it updates.
    let u: [Float]
    /// The lower Cholesky factor L of `hessian` with its columns in reverse act-order (row i: column
    /// order[k - 1 - i]), L L^T = that matrix, from which U is built; nil where it failed (U is then the
    /// identity). `solve` uses it.
    let reversedLower: [Double]?
    /// The lazy updates' GEMM operands (`gptqBlock`): for each block of `gptqBlockColumns` columns
    /// first ..< end with columns after it, U[first ..< end][end ..< k] packed for `packedFloatGEMM`
    /// (as B[j][i] = U[first + i][end + j]), one after the other, with the kernels' read slack.
    let panels: [Float]

    /// `hessian`: k x k, row-major, symmetric positive semi-definite. An all-zero H (inputs never seen)
    /// gives identity, i.e. round-to-nearest.
    init(hessian h: [Double], k: Int, damping: Double = gptqDamping, actOrder: Bool = true) {
        precondition(h.count == k * k)
        self.k = k
        var damped = h
        let dead = (0..<k).map { !(h[$0 * k + $0] > 0) }
        for j in 0..<k where dead[j] {
            for t in 0..<k { damped[j * k + t] = 0; damped[t * k + j] = 0 }
            damped[j * k + j] = 1
        }
        let mean = (0..<k).reduce(0.0) { $0 + damped[$1 * k + $1] } / Double(k)
        var lambda = damping * mean
        for j in 0..<k { damped[j * k + j] += lambda }
        let order = actOrder ? (0..<k).sorted { (-damped[$0 * k + $0], $0) < (-damped[$1 * k + $1], $1) } : Array(0..<k)
        var lower: [Double]?
        // H + lambda I is positive definite in exact arithmetic; more damping only for rounding trouble
        for _ in 0..<8 {
            var reversed = [Double](repeating: 0, count: k * k)
            for i in 0..<k { for j in 0..<k { reversed[i * k + j] = damped[order[k - 1 - i] * k + order[k - 1 - j]] } }
            lower = choleskyLower(reversed, n: k)
            if lower != nil { break }
            let extra = Swift.max(lambda, 1e-12) * 9
            for j in 0..<k { damped[j * k + j] += extra }
            lambda += extra
        }
        self.order = order
        self.dead = dead
        self.hessian = damped
        self.lambda = lambda
        self.reversedLower = lower
        let factor = lower.map { inverseCholeskyUpper(reversedFactor: $0, n: k) }
        let u = (factor ?? (0..<(k * k)).map { $0 % (k + 1) == 0 ? 1 : 0 }).map(Float.init)
        var ut = [Float](repeating: 0, count: k * k)
        for i in 0..<k { for j in i..<k { ut[j * k + i] = u[i * k + j] } }
        var panels = [Float](repeating: 0, count: gptqPanelOffset(k: k, first: k) + 16)
        ut.withUnsafeBufferPointer { ut in
            panels.withUnsafeMutableBufferPointer { p in
                for first in stride(from: 0, to: k, by: gptqBlockColumns) where first + gptqBlockColumns < k {
                    let end = first + gptqBlockColumns
                    packFloatPanels(ut.baseAddress! + end * k + first, n: k - end, k: gptqBlockColumns, ldb: k,
                                    into: p.baseAddress! + gptqPanelOffset(k: k, first: first))
                }
            }
        }
        self.u = u
        self.panels = panels
    }

    /// X with `hessian` X = B for `columns` right-hand sides (B: k x columns row-major), through
    /// `reversedLower`; nil without it.
    func solve(_ b: [Double], columns: Int) -> [Double]? {
        guard let lower = reversedLower else { return nil }
        var reversed = [Double](repeating: 0, count: k * columns)
        for i in 0..<k { for c in 0..<columns { reversed[i * columns + c] = b[order[k - 1 - i] * columns + c] } }
        let y = solveLowerFactored(lower, columns: reversed, n: k, columns: columns)
        var x = [Double](repeating: 0, count: k * columns)
        for i in 0..<k { for c in 0..<columns { x[order[k - 1 - i] * columns + c] = y[i * columns + c] } }
        return x
    }
}

/// One layer by GPTQ from its input statistics (H per conv group), in the layer's stored format: uniform
/// (per-channel scale, clip chosen by the H-weighted error), shift (the shift table's levels per channel) or
/// codebook (levels fitted to the H-weighted error, HessianCodebook.swift). With the statistics' cross
/// moments, the rows rounded are `floatTargetWeights`' (aimed at the float network's outputs).
func gptqLayer(_ w: [Float], rows: Int, k: Int, bits: Int, scheme: WeightScheme,
               statistics: LayerInputStatistics) -> QuantizedWeights {
    let factors = statistics.hessians.map { HessianFactor(hessian: $0, k: k) }
    let w = floatTargetWeights(w, rows: rows, k: k, factors: factors, statistics: statistics)
    let grid: QuantizationGrid, top: Float, lut: [Int]?
    switch scheme {
    case .codebook:
        return gptqCodebook(w, rows: rows, k: k, bits: bits, factors: factors)
    case .shift:
        let table = shiftTable(bits: bits)
        grid = QuantizationGrid(table: table.map(Float.init))
        top = grid.values.last!
        lut = table
    case .uniform, .float32:
        grid = .uniform(bits: bits)
        top = grid.values.last! + 0.5
        lut = bits == 8 ? nil : grid.values.map { Int($0) }
    }
    let result = gptqQuantize(w, rows: rows, k: k, factors: factors, grid: grid, top: top)
    return QuantizedWeights(scheme: scheme == .shift ? .shift : .uniform, bits: bits, rows: rows, k: k,
                            codes: result.indices.map { grid.codes[Int($0)] }, lut: lut, scales: result.scales, levels: nil)
}

/// Rows quantized by GPTQ: per weight the index into the grid's values, per row its scale and loss.
struct GPTQRows {
    var indices: [UInt8]
    var scales: [Float]
    var losses: [Double]
}

/// GPTQ over `rows` x `k` weights whose rows fall into `factors.count` equal consecutive groups (conv
/// groups; one for dense layers), row r using factors[r / (rows / groups)]. A row's scale is
/// c * max|w_r| / `top` for the c in `clipFactors` with the lowest loss (all-zero rows: scale 1);
/// with `scaleBases` it is c * scaleBases[r] instead. Deterministic.
func gptqQuantize(_ w: [Float], rows: Int, k: Int, factors: [HessianFactor], grid: QuantizationGrid,
                  top: Float, clipFactors: [Float] = gptqClipFactors, scaleBases: [Float]? = nil) -> GPTQRows {
    precondition(w.count == rows * k && rows % factors.count == 0 && factors.allSatisfy { $0.k == k })
    let perGroup = rows / factors.count
    var result = GPTQRows(indices: [UInt8](repeating: 0, count: rows * k), scales: [Float](repeating: 1, count: rows),
                          losses: [Double](repeating: .infinity, count: rows))
    var work = [Float](repeating: 0, count: gptqBlockRows * k)
    var indices = [UInt8](repeating: 0, count: gptqBlockRows * k)
    for (g, factor) in factors.enumerated() {
        // every (row, scale) pair of the group, a row's candidates in order (the first lowest loss wins)
        var jobs: [(row: Int, scale: Float)] = []
        for r in (g * perGroup)..<((g + 1) * perGroup) {
            let peak = w[(r * k)..<((r + 1) * k)].reduce(Float(0)) { Swift.max($0, abs($1)) }
            let scales: [Float]
            if let base = scaleBases?[r] {
                scales = peak > 0 && peak.isFinite && base > 0 && base.isFinite ? clipFactors.map { $0 * base } : [1]
            } else {
                scales = peak > 0 && peak.isFinite ? clipFactors.map { $0 * peak / top } : [1]
            }
            jobs += scales.map { (r, $0) }
        }
        for start in stride(from: 0, to: jobs.count, by: gptqBlockRows) {
            let block = jobs[start..<Swift.min(start + gptqBlockRows, jobs.count)]
            let losses = gptqBlock(block, w, k: k, grid: grid, factor: factor, work: &work, indices: &indices)
            for (b, job) in block.enumerated() where losses[b] < result.losses[job.row] {
                result.losses[job.row] = losses[b]
                result.scales[job.row] = job.scale
                for j in 0..<k { result.indices[job.row * k + j] = indices[b * k + j] }
            }
        }
    }
    return result
}

/// Clip factors tried per row: 1.00, 0.95, ..., 0.50 of the row's largest magnitude.
let gptqClipFactors: [Float] = (0...10).map { 1 - Float($0) * 0.05 }

/// Where the packed operand of the column block starting at `first` begins in `HessianFactor.panels` (the
/// blocks before it, each with columns after it; `first` = k: their total).
private func gptqPanelOffset(k: Int, first: Int) -> Int {
    stride(from: 0, to: first, by: gptqBlockColumns).reduce(0) { total, start in
        let end = start + gptqBlockColumns
        return end < k ? total + floatPanelCount(n: k - end, k: gptqBlockColumns) : total
    }
}

/// Rows GPTQ walks together: their updates of the columns after a block of columns are one GEMM.
private let gptqBlockRows = 64
/// Columns quantized between two GEMM updates ("lazy batch" updates, Frantar et al. 2022, section 3).
private let gptqBlockColumns = 64

/// A block of (row, scale) jobs through GPTQ, all with `factor`: returns each job's loss and writes its grid
/// indices (original column order) to indices[b * k ..< (b + 1) * k]. Columns go in blocks of
/// `gptqBlockColumns`: inside a block each error updates the block's later columns at once; the columns
/// after the block receive the block's errors E together, W[:, after] -= E U[block, after] (f32 GEMM on
/// the factor's packed `panels`).
private func gptqBlock(_ jobs: ArraySlice<(row: Int, scale: Float)>, _ weights: [Float], k: Int, grid: QuantizationGrid,
                       factor: HessianFactor, work: inout [Float], indices: inout [UInt8]) -> [Double] {
    let count = jobs.count, integerRange = grid.isIntegerRange
    let scales = jobs.map(\.scale)
    var losses = [Double](repeating: 0, count: count)
    // errors [count][gptqBlockColumns] and the GEMM's output [count][k] (plus the kernels' read slack)
    var errors = [Float](repeating: 0, count: count * gptqBlockColumns + 16)
    var update = [Float](repeating: 0, count: count * k)
    work.withUnsafeMutableBufferPointer { wp in
        indices.withUnsafeMutableBufferPointer { ip in
            factor.u.withUnsafeBufferPointer { up in
                factor.panels.withUnsafeBufferPointer { panels in
                    factor.order.withUnsafeBufferPointer { order in
                        factor.dead.withUnsafeBufferPointer { dead in
                            grid.values.withUnsafeBufferPointer { values in
                                errors.withUnsafeMutableBufferPointer { ep in
                                    update.withUnsafeMutableBufferPointer { cp in
                                        let u = up.baseAddress!, w = wp.baseAddress!
                                        for (b, job) in jobs.enumerated() {
                                            for i in 0..<k { w[b * k + i] = dead[order[i]] ? 0 : weights[job.row * k + order[i]] }
                                        }
                                        for first in stride(from: 0, to: k, by: gptqBlockColumns) {
                                            let end = Swift.min(first + gptqBlockColumns, k)
                                            for i in first..<end {
                                                let pivot = u[i * k + i]
                                                for b in 0..<count {
                                                    let x = w[b * k + i], s = scales[b]
                                                    let index = QuantizationGrid.nearest(x / s, in: values, integerRange: integerRange)
                                                    ip[b * k + order[i]] = UInt8(index)
                                                    let e = (x - values[index] * s) / pivot
                                                    ep[b * gptqBlockColumns + i - first] = e
                                                    losses[b] += Double(e) * Double(e)
                                                    if e != 0 { axpy(-e, u + i * k + i + 1, w + b * k + i + 1, end - i - 1) }
                                                }
                                            }
                                            guard end < k else { break }
                                            // C[b][j] = sum_i E[b][i] U[first + i][end + j]
                                            packedFloatGEMM(m: count, n: k - end, k: gptqBlockColumns, a: ep.baseAddress!, lda: gptqBlockColumns,
                                                            packed: panels.baseAddress! + gptqPanelOffset(k: k, first: first),
                                                            c: cp.baseAddress!, ldc: k - end)
                                            for b in 0..<count {
                                                axpy(-1, UnsafePointer(cp.baseAddress! + b * (k - end)), w + b * k + end, k - end)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return losses
}

/// The weights GPTQ should round so that the layer, fed this network's inputs x, reproduces the float
/// network's outputs y = w_r . x_float at the same rows (asymmetric calibration: the layers before it are
/// quantized, so x != x_float). Per row, with H = sum x x^T + lambda I (the factor's dampened H) and
/// p_r = sum x y_r (the cross moments), the damped least-squares objective
///     sum (y_r - q . x)^2 + lambda |q - w_r|^2  =  (q - w*_r)^T H (q - w*_r) + const,
///     w*_r = H^-1 (p_r + lambda w_r),
/// so GPTQ on w* with H minimises it exactly (the damping keeps w* near w_r where the inputs say little).
/// Without cross moments: `w` unchanged. Inputs never seen keep weight 0 in GPTQ either way.
func floatTargetWeights(_ w: [Float], rows: Int, k: Int, factors: [HessianFactor], statistics: LayerInputStatistics) -> [Float] {
    let perGroup = rows / factors.count
    guard statistics.crossMoments.count == factors.count,
          statistics.crossMoments.allSatisfy({ $0.count == k * perGroup }) else { return w }
    var out = w
    for (g, factor) in factors.enumerated() {
        // right-hand sides p_r + lambda w_r as the columns of a k x perGroup matrix, solved together
        var rhs = statistics.crossMoments[g]
        for j in 0..<k { for o in 0..<perGroup { rhs[j * perGroup + o] += factor.lambda * Double(w[(g * perGroup + o) * k + j]) } }
        guard let solution = factor.solve(rhs, columns: perGroup) else { continue }
        for o in 0..<perGroup where (0..<k).allSatisfy({ solution[$0 * perGroup + o].isFinite }) {
            for j in 0..<k { out[(g * perGroup + o) * k + j] = Float(solution[j * perGroup + o]) }
        }
    }
    return out
}

/// sum_r (w_r - q_r)^T H_g (w_r - q_r): the calibration output error of quantized rows `q` (Double).
func hessianWeightedError(_ w: [Float], _ q: [Float], rows: Int, k: Int, hessians: [[Double]]) -> Double {
    let perGroup = rows / hessians.count
    var total = 0.0
    var d = [Double](repeating: 0, count: k)
    for r in 0..<rows {
        let h = hessians[r / perGroup]
        for j in 0..<k { d[j] = Double(w[r * k + j]) - Double(q[r * k + j]) }
        d.withUnsafeBufferPointer { dp in
            h.withUnsafeBufferPointer { hp in
                for i in 0..<k where dp[i] != 0 { total += dp[i] * dot(hp.baseAddress! + i * k, dp.baseAddress!, k) }
            }
        }
    }
    return total
}

/// y[t] += alpha * x[t] for t < n (Float).
@inline(__always) private func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var t = 0
    while t < n { y[t] += alpha * x[t]; t += 1 }
}
