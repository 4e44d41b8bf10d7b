// Per-layer codebooks fitted to the calibration output error (not to the weights): the levels that minimise
// sum_r (w_r - s_r L[c_r])^T H (w_r - s_r L[c_r]) over the layer's rows, with GPTQ choosing the codes c_r
// and each row's scale s_r (GPTQ.swift).
import QGraph

/// A b-bit codebook layer (one table of int8 levels shared by the layer, a scale per output channel, as the
/// runtime's codebook kernels read it). Levels L are in units of a row's largest magnitude. Three starting
/// tables: the uniform grid q / (2^(b-1) - 0.5) (so the result is never worse than uniform's), the zero-free
/// mid-rise grid (2i + 1 - 2^b) / 2^b, and the H-weighted k-means levels of the weights divided by their
/// row's largest magnitude (`weightedKMeansLevels`). Each start is GPTQ on its table with the per-row clip
/// search (s_r = c max|w_r|), then refined by rounds of
///   1. codes and scales fixed, the error is quadratic in L: the least-squares levels (`fitLevels`), put on
///      the int8 table (unit u = max(max L / 127, -min L / 128), L = round(L / u) u), kept if lower;
///   2. GPTQ again on that table, each row's scale searched around its current one (`refitScaleFactors`);
///   3. of 1 (the old codes: never above the round before) and 2 the lower error goes on,
/// while the error falls. The lowest error of all wins (errors computed exactly, `hessianWeightedError`).
/// At 8 bits the codebook is the int8 grid: uniform GPTQ. Deterministic.
func gptqCodebook(_ w: [Float], rows: Int, k: Int, bits: Int, factors: [HessianFactor], rounds: Int = 3) -> QuantizedWeights {
    let uniform = QuantizationGrid.uniform(bits: bits)
    if bits == 8 {
        let start = gptqQuantize(w, rows: rows, k: k, factors: factors, grid: uniform, top: uniform.values.last! + 0.5)
        return QuantizedWeights(scheme: .codebook, bits: 8, rows: rows, k: k, codes: start.indices.map { uniform.codes[Int($0)] },
                                lut: nil, scales: start.scales, levels: nil)
    }
    // inputs never seen: weight 0, as GPTQ rounds them, so that the exact error and GPTQ's loss agree
    let perGroup = rows / factors.count
    var w = w
    for r in 0..<rows { for j in 0..<k where factors[r / perGroup].dead[j] { w[r * k + j] = 0 } }
    let layer = CodebookLayer(w: w, rows: rows, k: k, factors: factors)
    let n = 1 << bits
    let starts: [[Float]] = [
        uniform.values.map { $0 / (uniform.values.last! + 0.5) },
        (0..<n).map { Float(2 * $0 + 1 - n) / Float(n) },
        weightedKMeansLevels(w, rows: rows, k: k, factors: factors, count: n),
    ]
    var best: CodebookFit?
    for start in starts {
        var fit = layer.gptq(int8Table(start))
        for round in 0...rounds {
            if fit.loss < best?.loss ?? .infinity { best = fit }
            guard round < rounds else { break }
            let refit = layer.refit(fit)
            let again = layer.gptq((refit.table, refit.unit), around: refit.scales)
            let next = again.loss < refit.loss ? again : refit
            guard next.loss < fit.loss * (1 - 1e-7) else { break }
            fit = next
        }
    }
    let fit = best!
    return QuantizedWeights(scheme: .codebook, bits: bits, rows: rows, k: k, codes: fit.codes,
                            lut: fit.table.map { Int($0) }, scales: fit.scales.map { $0 * fit.unit }, levels: nil)
}

/// Clip factors of a codebook row (its levels are fitted, so a row may also want a larger scale).
let codebookClipFactors: [Float] = (0...14).map { 0.5 + Float($0) * 0.05 }

/// Factors tried around a row's scale when GPTQ runs again on a refitted table.
let refitScaleFactors: [Float] = [0.9, 0.95, 1, 1.05, 1.1]

/// One candidate codebook of a layer: int8 table values, their unit, codes (table indices), per-row scales
/// (row r's weights are scales[r] * unit * table[code]) and the exact H-weighted error.
struct CodebookFit {
    var table: [Float]
    var unit: Float
    var codes: [UInt8]
    var scales: [Float]
    var loss: Double
}

/// A layer's weights (dead inputs zeroed) with its Hessian factors: the codebook fitting steps.
struct CodebookLayer {
    let w: [Float]
    let rows: Int
    let k: Int
    let factors: [HessianFactor]
    var perGroup: Int { rows / factors.count }

    /// sum_r (w_r - q_r)^T H (w_r - q_r) of the fit's weights.
    func loss(table: [Float], unit: Float, codes: [UInt8], scales: [Float]) -> Double {
        var q = [Float](repeating: 0, count: rows * k)
        for r in 0..<rows {
            let s = scales[r] * unit
            for j in 0..<k { q[r * k + j] = s * table[Int(codes[r * k + j])] }
        }
        return hessianWeightedError(w, q, rows: rows, k: k, hessians: factors.map(\.hessian))
    }

    /// GPTQ on the int8 table: each row's scale searched as c max|w_r| (`codebookClipFactors`) or, with
    /// `around`, as f around[r] (`refitScaleFactors`).
    func gptq(_ table: (values: [Float], unit: Float), around: [Float]? = nil) -> CodebookFit {
        let grid = QuantizationGrid(table: table.values.map { $0 * table.unit })
        let result = gptqQuantize(w, rows: rows, k: k, factors: factors, grid: grid, top: 1,
                                  clipFactors: around == nil ? codebookClipFactors : refitScaleFactors,
                                  scaleBases: around)
        let codes = result.indices.map { grid.codes[Int($0)] }
        return CodebookFit(table: table.values, unit: table.unit, codes: codes, scales: result.scales,
                           loss: loss(table: table.values, unit: table.unit, codes: codes, scales: result.scales))
    }

    /// Step 1 of `gptqCodebook`: the fit's codes and scales kept, the least-squares levels (`fitLevels`) put
    /// on the int8 table; the fit itself where that is not lower.
    func refit(_ fit: CodebookFit) -> CodebookFit {
        guard let levels = fitLevels(w, rows: rows, k: k, codes: fit.codes, scales: fit.scales,
                                     levels: fit.table.map { $0 * fit.unit }, factors: factors, perGroup: perGroup) else { return fit }
        let table = int8Table(levels)
        let loss = self.loss(table: table.values, unit: table.unit, codes: fit.codes, scales: fit.scales)
        return loss < fit.loss ? CodebookFit(table: table.values, unit: table.unit, codes: fit.codes, scales: fit.scales, loss: loss) : fit
    }
}

/// `count` levels in units of a row's largest magnitude: the 1-D k-means (Lloyd's iterations from the
/// weighted quantiles (i + 0.5) / count) of the weights w_rj / max|w_r|, each weighted by H_jj max|w_r|^2,
/// i.e. fitted to the layer's H-weighted error with H's off-diagonal terms left out. Ascending.
func weightedKMeansLevels(_ w: [Float], rows: Int, k: Int, factors: [HessianFactor], count: Int,
                          iterations: Int = 50) -> [Float] {
    let perGroup = rows / factors.count
    var points: [(x: Double, weight: Double)] = []
    points.reserveCapacity(rows * k)
    for r in 0..<rows {
        let peak = Double(w[(r * k)..<((r + 1) * k)].reduce(Float(0)) { Swift.max($0, abs($1)) })
        guard peak > 0, peak.isFinite else { continue }
        let factor = factors[r / perGroup]
        for j in 0..<k where !factor.dead[j] {
            points.append((Double(w[r * k + j]) / peak, factor.hessian[j * k + j] * peak * peak))
        }
    }
    let fallback = (0..<count).map { Float(2 * $0 + 1 - count) / Float(count) }
    points.sort { ($0.x, $0.weight) < ($1.x, $1.weight) }
    // prefix sums of weight and weight * x: a cluster's centroid over any run of sorted points in O(1)
    var mass = [0.0], moment = [0.0]
    for p in points { mass.append(mass.last! + p.weight); moment.append(moment.last! + p.weight * p.x) }
    guard let total = mass.last, total > 0 else { return fallback }
    /// The first sorted point with x > value.
    func firstAbove(_ value: Double) -> Int {
        var lo = 0, hi = points.count
        while lo < hi { let mid = (lo + hi) / 2; if points[mid].x <= value { lo = mid + 1 } else { hi = mid } }
        return lo
    }
    var centres = (0..<count).map { i -> Double in
        let target = total * (Double(i) + 0.5) / Double(count)
        var lo = 0, hi = points.count - 1
        while lo < hi { let mid = (lo + hi) / 2; if mass[mid + 1] < target { lo = mid + 1 } else { hi = mid } }
        return points[lo].x
    }
    for _ in 0..<iterations {
        // cluster i: the sorted points between the midpoints to its neighbours
        var bounds = [0] + (1..<count).map { firstAbove((centres[$0 - 1] + centres[$0]) / 2) } + [points.count]
        for i in 1..<bounds.count { bounds[i] = Swift.max(bounds[i], bounds[i - 1]) }
        let next = (0..<count).map { i -> Double in
            let m = mass[bounds[i + 1]] - mass[bounds[i]]
            return m > 0 ? (moment[bounds[i + 1]] - moment[bounds[i]]) / m : centres[i]
        }
        if next == centres { break }
        centres = next.sorted()
    }
    return centres.map(Float.init)
}

/// Levels as int8 values: unit u = max(max L / 127, -min L / 128) (1 if all zero), values round(L / u).
func int8Table(_ levels: [Float]) -> (values: [Float], unit: Float) {
    let unit = Swift.max((levels.max() ?? 0) / 127, -(levels.min() ?? 0) / 128)
    guard unit > 0, unit.isFinite else { return (levels.map { _ in 0 }, 1) }
    return (levels.map { Swift.min(Swift.max(($0 / unit).rounded(.toNearestOrEven), -128), 127) }, unit)
}

/// The least-squares levels for fixed codes (indices into `levels`) and scales: with both fixed the error is
/// quadratic in L, so L solves the normal equations G L = h,
///   G[a][b] = sum_r s_r^2 sum_{i: c_ri = a, j: c_rj = b} H[i][j],  h[a] = sum_r s_r sum_{i: c_ri = a} (H w_r)[i]
/// (an exact 0 level stays pinned, unused levels are kept); nil if the system is singular.
func fitLevels(_ w: [Float], rows: Int, k: Int, codes: [UInt8], scales: [Float], levels: [Float],
               factors: [HessianFactor], perGroup: Int) -> [Float]? {
    let n = levels.count
    var g = [Double](repeating: 0, count: n * n), h = [Double](repeating: 0, count: n)
    var m = [Double](repeating: 0, count: n)
    w.withUnsafeBufferPointer { w in
        codes.withUnsafeBufferPointer { codes in
            m.withUnsafeMutableBufferPointer { m in
                for r in 0..<rows {
                    let s = Double(scales[r])
                    factors[r / perGroup].hessian.withUnsafeBufferPointer { hessian in
                        let c = codes.baseAddress! + r * k, x = w.baseAddress! + r * k
                        var i = 0
                        while i < k {
                            for b in 0..<n { m[b] = 0 }
                            var hw = 0.0, j = 0
                            let row = hessian.baseAddress! + i * k
                            while j < k {
                                m[Int(c[j])] += row[j]
                                hw += row[j] * Double(x[j])
                                j += 1
                            }
                            let a = Int(c[i])
                            for b in 0..<n { g[a * n + b] += s * s * m[b] }
                            h[a] += s * hw
                            i += 1
                        }
                    }
                }
            }
        }
    }
    // free levels: used, and not an exact zero
    let free = (0..<n).filter { g[$0 * n + $0] > 0 && levels[$0] != 0 }
    guard !free.isEmpty else { return nil }
    var reduced = [Double](repeating: 0, count: free.count * free.count)
    var rhs = free.map { h[$0] }
    for (x, a) in free.enumerated() {
        for (y, b) in free.enumerated() { reduced[x * free.count + y] = g[a * n + b] }
        for b in 0..<n where !free.contains(b) { rhs[x] -= g[a * n + b] * Double(levels[b]) }
    }
    guard let solution = solveSPD(reduced, rhs, n: free.count) else { return nil }
    var out = levels
    for (x, a) in free.enumerated() { out[a] = Float(solution[x]) }
    return out.allSatisfy(\.isFinite) ? out : nil
}

/// x with a x = b for a symmetric positive definite n x n `a`, by Cholesky; nil if not positive definite.
func solveSPD(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
    choleskyLower(a, n: n).map { solveLowerFactored($0, b, n: n) }
}

/// x with L L^T x = b, L lower triangular (row-major, `choleskyLower`'s factor): two triangular solves.
func solveLowerFactored(_ l: [Double], _ b: [Double], n: Int) -> [Double] {
    var y = b
    for i in 0..<n {
        for t in 0..<i { y[i] -= l[i * n + t] * y[t] }
        y[i] /= l[i * n + i]
    }
    for i in stride(from: n - 1, through: 0, by: -1) {
        for t in (i + 1)..<n { y[i] -= l[t * n + i] * y[t] }
        y[i] /= l[i * n + i]
    }
    return y
}
