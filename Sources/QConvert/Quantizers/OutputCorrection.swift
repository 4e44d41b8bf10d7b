// Correction of a quantized layer's per-channel output statistics to the float network's: bias
// correction (the mean) and BatchNorm re-estimation (the spread).
import QKernels

/// The change to a quantized layer that makes each output channel's mean over the calibration set the
/// float network's, and optionally its variance (BatchNorm re-estimation: a folded BatchNorm normalised
/// the float conv output with its statistics; re-estimated on the quantized network and folded again,
/// the channel is rescaled by sigma_float / sigma_quantized and re-centred). Per row r (conv group g),
/// with y = w_r . x the float layer on the float network's inputs and y' = q_r . x' the quantized layer
/// on the quantized network's:
///   alpha_r = sqrt(var y / var y')  (1 without variance),   scale_r *= alpha_r,
///   b_r += w_r . mean(x) - alpha_r q_r . mean(x')  (means over every position of every image),
///   var y from the float statistics' sampled outputs, var y' = q_r^T (H / n) q_r - (q_r . sampled mean)^2.
struct OutputCorrection {
    var channelScales: [Float]
    var biasShift: [Float]

    /// `w`, `q`: the float and quantized weights [rows][k] (q as the runtime computes it); `float`: the
    /// float network's statistics (means, and output moments for the variance), `quantized`: the quantized
    /// network's (means, H).
    init(weights w: [Float], quantized q: [Float], rows: Int, k: Int, float: LayerInputStatistics,
         quantized stats: LayerInputStatistics, variance: Bool) {
        channelScales = [Float](repeating: 1, count: rows)
        biasShift = [Float](repeating: 0, count: rows)
        let perGroup = rows / float.means.count
        let measured = variance && float.outputMeans.count == rows && stats.sampledRows > 0 && !stats.hessians.isEmpty
        let squares = measured ? rowQuadraticForms(q, rows: rows, k: k, hessians: stats.hessians) : []
        for r in 0..<rows {
            let g = r / perGroup
            let row = (0..<k).map { Double(q[r * k + $0]) }
            let meanFloat = (0..<k).reduce(0.0) { $0 + Double(w[r * k + $1]) * float.means[g][$1] }
            let meanQuantized = (0..<k).reduce(0.0) { $0 + row[$1] * stats.means[g][$1] }
            var alpha = 1.0
            if measured {
                let sampledMean = (0..<k).reduce(0.0) { $0 + row[$1] * stats.sampledMeans[g][$1] }
                let varFloat = float.outputSquares[r] - float.outputMeans[r] * float.outputMeans[r]
                let varQuantized = squares[r] / Double(stats.sampledRows) - sampledMean * sampledMean
                if varFloat > 0, varQuantized > 0 { alpha = (varFloat / varQuantized).squareRoot() }
            }
            channelScales[r] = Float(alpha)
            biasShift[r] = Float(meanFloat - alpha * meanQuantized)
        }
    }
}

/// q_r^T H_g q_r for every row (conv group g), from Q H_g with the f32 GEMM.
private func rowQuadraticForms(_ q: [Float], rows: Int, k: Int, hessians: [[Double]]) -> [Double] {
    let perGroup = rows / hessians.count
    var out = [Double](repeating: 0, count: rows)
    var product = [Float](repeating: 0, count: perGroup * k)
    let weights = q + [Float](repeating: 0, count: 16)   // QK_EXTRA_BYTES of slack
    for (g, hessian) in hessians.enumerated() {
        let h = hessian.map(Float.init) + [Float](repeating: 0, count: 16)
        weights.withUnsafeBufferPointer { a in
            h.withUnsafeBufferPointer { b in
                product.withUnsafeMutableBufferPointer { p in
                    // (Q H)[r][j] = sum_t Q[r][t] H[j][t] (H symmetric)
                    floatGEMM(m: perGroup, n: k, k: k, a: a.baseAddress! + g * perGroup * k, lda: k, b: b.baseAddress!, ldb: k,
                              c: p.baseAddress!, ldc: k)
                }
            }
        }
        for r in 0..<perGroup {
            var s = 0.0
            for j in 0..<k { s += Double(product[r * k + j]) * Double(q[(g * perGroup + r) * k + j]) }
            out[g * perGroup + r] = s
        }
    }
    return out
}
