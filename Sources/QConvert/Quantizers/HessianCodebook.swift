// Per-layer codebooks fitted to the calibration output error (not to the weights): the levels that
// minimise sum_r (w_r - s_r L[c_r])^T H (w_r - s_r L[c_r]) over the layer's rows, with GPTQ choosing the
// codes c_r and each row's scale s_r (GPTQ.swift).
import QGraph

/// A b-bit codebook layer (one table of int8 levels shared by the layer, a scale per output channel, as the
/// runtime's codebook kernels read it). Levels L are in units of a row's largest magnitude (s_r = c_r max|w_r|,
/// c_r chosen per row by GPTQ's loss). Two starting tables, the uniform grid q / (2^(b-1) - 0.5) (so the result
/// is never worse than uniform's) and the zero-free mid-rise grid (2i + 1 - 2^b) / 2^b, each refined by rounds of
///   1. levels: with codes and scales fixed the error is quadratic in L, so L solves the normal equations
///      G L = h, G[a][b] = sum_r s_r^2 sum_{i: c_ri = a, j: c_rj = b} H[i][j], h[a] = sum_r s_r sum_{i: c_ri = a} (H w_r)[i]
///      (an exact 0 level stays pinned, unused levels are kept);
///   2. the levels put on the int8 table (unit u = max(max L / 127, -min L / 128), L = round(L / u) u);
///   3. codes and scales: GPTQ on the new table with the per-row clip search;
/// while the total loss falls. The lowest loss wins. At 8 bits the codebook is the int8 grid: uniform GPTQ.
func gptqCodebook(_ w: [Float], rows: Int, k: Int, bits: Int, factors: [HessianFactor], rounds: Int = 3) -> QuantizedWeights {
    let uniform = QuantizationGrid.uniform(bits: bits)
    if bits == 8 {
        let start = gptqQuantize(w, rows: rows, k: k, factors: factors, grid: uniform, top: uniform.values.last! + 0.5)
        return QuantizedWeights(scheme: .codebook, bits: 8, rows: rows, k: k, codes: start.indices.map { uniform.codes[Int($0)] },
                                lut: nil, scales: start.scales, levels: nil)
    }
    let n = 1 << bits
    let starts: [[Float]] = [
        uniform.values.map { $0 / (uniform.values.last! + 0.5) },
        (0..<n).map { Float(2 * $0 + 1 - n) / Float(n) },
    ]
    var best: (table: [Float], unit: Float, result: GPTQRows, loss: Double)?
    let perGroup = rows / factors.count
    for start in starts {
        var levels = start
        var previous = Double.infinity
        for round in 0...rounds {
            let table = int8Table(levels)
            let grid = QuantizationGrid(table: table.values.map { $0 * table.unit })
            let result = gptqQuantize(w, rows: rows, k: k, factors: factors, grid: grid, top: 1, clipFactors: codebookClipFactors)
            let loss = result.losses.reduce(0, +)
            guard loss < previous else { break }
            previous = loss
            if loss < best?.loss ?? .infinity { best = (table.values, table.unit, result, loss) }
            // grid index -> table index, for the least-squares fit over the table's levels
            let codes = result.indices.map { grid.codes[Int($0)] }
            guard round < rounds, let fitted = fitLevels(w, rows: rows, k: k, codes: codes, scales: result.scales,
                                                         levels: table.values.map { $0 * table.unit },
                                                         factors: factors, perGroup: perGroup) else { break }
            levels = fitted
        }
    }
    let (table, unit, result, _) = best!
    let grid = QuantizationGrid(table: table.map { $0 * unit })
    return QuantizedWeights(scheme: .codebook, bits: bits, rows: rows, k: k, codes: result.indices.map { grid.codes[Int($0)] },
                            lut: table.map { Int($0) }, scales: result.scales.map { $0 * unit }, levels: nil)
}

/// Clip factors of a codebook row (its levels are fitted, so a row may also want a larger scale).
let codebookClipFactors: [Float] = (0...14).map { 0.5 + Float($0) * 0.05 }

/// Levels as int8 values: unit u = max(max L / 127, -min L / 128) (1 if all zero), values round(L / u).
private func int8Table(_ levels: [Float]) -> (values: [Float], unit: Float) {
    let unit = Swift.max((levels.max() ?? 0) / 127, -(levels.min() ?? 0) / 128)
    guard unit > 0, unit.isFinite else { return (levels.map { _ in 0 }, 1) }
    return (levels.map { Swift.min(Swift.max(($0 / unit).rounded(.toNearestOrEven), -128), 127) }, unit)
}

/// The least-squares levels for fixed codes (indices into `levels`) and scales (the doc comment's step 1);
/// nil if the system is singular.
private func fitLevels(_ w: [Float], rows: Int, k: Int, codes: [UInt8], scales: [Float], levels: [Float],
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
