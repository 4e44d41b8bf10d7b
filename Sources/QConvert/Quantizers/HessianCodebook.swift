// Per-layer codebooks fitted to the calibration output error (not to the weights): the levels that
// minimise sum_r (w_r - s_r L[c_r])^T H (w_r - s_r L[c_r]) over the layer's rows, with GPTQ choosing the
// codes c_r (GPTQ.swift).
import QGraph

/// A b-bit codebook layer (one level table of int8 values shared by the layer, a scale per output channel,
/// as the runtime's codebook kernels read it) by alternating, starting from GPTQ on the uniform grid
/// (so the result's output error is never above uniform's):
///   1. levels: with codes and scales fixed the error is quadratic in L, so L solves the normal equations
///      G L = h, G[a][b] = sum_r s_r^2 sum_{i: c_ri = a, j: c_rj = b} H[i][j], h[a] = sum_r s_r sum_{i: c_ri = a} (H w_r)[i],
///      the level at 0 pinned (exact zeros stay exact) and unused levels kept;
///   2. the levels rounded to the int8 table (unit u = max(max L / 127, -min L / 128), table = round(L / u));
///   3. scales: s_r = (a_r^T H w_r) / (a_r^T H a_r) with a_r = table[c_r], the least-squares scale;
///   4. codes: GPTQ on the new table with those scales.
/// The round with the lowest error is kept. At 8 bits the codebook is the int8 grid itself: uniform GPTQ.
func gptqCodebook(_ w: [Float], rows: Int, k: Int, bits: Int, factors: [HessianFactor], rounds: Int = 4) -> QuantizedWeights {
    let uniform = QuantizationGrid.uniform(bits: bits)
    let start = gptqQuantize(w, rows: rows, k: k, factors: factors, grid: uniform, top: uniform.values.last! + 0.5)
    if bits == 8 {
        return QuantizedWeights(scheme: .codebook, bits: 8, rows: rows, k: k, codes: start.indices.map { uniform.codes[Int($0)] },
                                lut: nil, scales: start.scales, levels: nil)
    }
    // the uniform grid as an int8 table: {-2, -1, 0, 1} -> {-128, -64, 0, 64}
    var table = int8Table(uniform.values)
    var scales = start.scales.map { $0 * table.unit }
    // for b < 8 the uniform table is already ascending: grid index = code = index into `table`
    var codes = start.indices
    var best = (table: table.values, scales: scales, codes: codes, loss: start.losses.reduce(0, +))
    let perGroup = rows / factors.count
    for _ in 0..<rounds {
        guard let levels = fitLevels(w, rows: rows, k: k, codes: codes, scales: scales, levels: table.values,
                                     factors: factors, perGroup: perGroup) else { break }
        table = int8Table(levels)
        scales = (0..<rows).map { r in
            fitScale(w, row: r, k: k, codes: codes, table: table.values, factor: factors[r / perGroup]) ?? scales[r] * table.unit
        }
        let grid = QuantizationGrid(table: table.values)
        let next = gptqQuantize(w, rows: rows, k: k, factors: factors, grid: grid, top: 1, fixedScales: scales)
        codes = next.indices.map { grid.codes[Int($0)] }
        let loss = next.losses.reduce(0, +)
        if loss < best.loss { best = (table.values, scales, codes, loss) } else { break }
    }
    return QuantizedWeights(scheme: .codebook, bits: bits, rows: rows, k: k, codes: best.codes,
                            lut: best.table.map { Int($0) }, scales: best.scales, levels: nil)
}

/// Levels as int8 values: unit u = max(max L / 127, -min L / 128) (1 if all zero), values round(L / u).
private func int8Table(_ levels: [Float]) -> (values: [Float], unit: Float) {
    let unit = Swift.max((levels.max() ?? 0) / 127, -(levels.min() ?? 0) / 128)
    guard unit > 0, unit.isFinite else { return (levels.map { _ in 0 }, 1) }
    return (levels.map { Swift.min(Swift.max(($0 / unit).rounded(.toNearestOrEven), -128), 127) }, unit)
}

/// The least-squares levels for fixed codes and scales (the doc comment's step 1); nil if the system is singular.
private func fitLevels(_ w: [Float], rows: Int, k: Int, codes: [UInt8], scales: [Float], levels: [Float],
                       factors: [HessianFactor], perGroup: Int) -> [Float]? {
    let n = levels.count
    var g = [Double](repeating: 0, count: n * n), h = [Double](repeating: 0, count: n)
    var m = [Double](repeating: 0, count: n)
    for r in 0..<rows {
        let hessian = factors[r / perGroup].hessian
        let s = Double(scales[r])
        for i in 0..<k {
            for b in 0..<n { m[b] = 0 }
            var hw = 0.0
            for j in 0..<k {
                let hij = hessian[i * k + j]
                m[Int(codes[r * k + j])] += hij
                hw += hij * Double(w[r * k + j])
            }
            let a = Int(codes[r * k + i])
            for b in 0..<n { g[a * n + b] += s * s * m[b] }
            h[a] += s * hw
        }
    }
    // free levels: used, and not the exact zero
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

/// s = (a^T H w) / (a^T H a), a = table[codes of row r]: the row's least-squares scale (nil if not positive).
private func fitScale(_ w: [Float], row r: Int, k: Int, codes: [UInt8], table: [Float], factor: HessianFactor) -> Float? {
    let a = (0..<k).map { Double(table[Int(codes[r * k + $0])]) }
    let x = (0..<k).map { Double(w[r * k + $0]) }
    var num = 0.0, den = 0.0
    for i in 0..<k where a[i] != 0 {
        var ha = 0.0, hx = 0.0
        for j in 0..<k { ha += factor.hessian[i * k + j] * a[j]; hx += factor.hessian[i * k + j] * x[j] }
        num += a[i] * hx
        den += a[i] * ha
    }
    let s = num / den
    return s > 0 && s.isFinite ? Float(s) : nil
}

/// x with a x = b for a symmetric positive definite n x n `a`, by Cholesky; nil if not positive definite.
func solveSPD(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
    guard let l = choleskyLower(a, n: n) else { return nil }
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
