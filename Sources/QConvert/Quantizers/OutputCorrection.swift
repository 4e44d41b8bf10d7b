// Correction of a quantized layer's per-channel output statistics to the float network's: bias
// correction (the mean) and BatchNorm re-estimation (the spread).
import Foundation

/// The change to a quantized layer that makes each output channel's mean over the calibration set the
/// float network's, and optionally its variance (BatchNorm re-estimation: a folded BatchNorm normalised
/// the float conv output with its statistics; re-estimated on the quantized network and folded again,
/// the channel is rescaled by sigma_float / sigma_quantized and re-centred). Per row r (conv group g),
/// with y = w_r . x the float layer on float inputs and q_r . x' the quantized one on quantized inputs,
///   alpha_r = sqrt(var y / var q_r . x')  (1 without variance),   scale_r *= alpha_r,
///   b_r += w_r . mu_float - alpha_r q_r . mu_quantized,
///   var of w . x = w^T (H / n) w - (w . mu)^2 with H, n the statistics' sampled second moment.
struct OutputCorrection {
    var channelScales: [Float]
    var biasShift: [Float]

    /// `w`, `q`: the float and quantized weights [rows][k] (q as the runtime computes it).
    init(weights w: [Float], quantized q: [Float], rows: Int, k: Int, float: LayerInputStatistics,
         quantized stats: LayerInputStatistics, variance: Bool) {
        channelScales = [Float](repeating: 1, count: rows)
        biasShift = [Float](repeating: 0, count: rows)
        let perGroup = rows / float.means.count
        for r in 0..<rows {
            let g = r / perGroup
            let wr = (0..<k).map { Double(w[r * k + $0]) }, qr = (0..<k).map { Double(q[r * k + $0]) }
            let meanFloat = zip(wr, float.means[g]).reduce(0) { $0 + $1.0 * $1.1 }
            let meanQuantized = zip(qr, stats.means[g]).reduce(0) { $0 + $1.0 * $1.1 }
            var alpha = 1.0
            if variance, float.sampledRows > 0, stats.sampledRows > 0 {
                let varFloat = quadraticForm(wr, float.hessians[g], k) / Double(float.sampledRows) - meanFloat * meanFloat
                let varQuantized = quadraticForm(qr, stats.hessians[g], k) / Double(stats.sampledRows) - meanQuantized * meanQuantized
                if varFloat > 0, varQuantized > 0 { alpha = (varFloat / varQuantized).squareRoot() }
            }
            channelScales[r] = Float(alpha)
            biasShift[r] = Float(meanFloat - alpha * meanQuantized)
        }
    }
}

/// x^T H x for a k x k row-major H.
private func quadraticForm(_ x: [Double], _ h: [Double], _ k: Int) -> Double {
    x.withUnsafeBufferPointer { xp in
        h.withUnsafeBufferPointer { hp in
            var total = 0.0
            for i in 0..<k where xp[i] != 0 { total += xp[i] * dot(hp.baseAddress! + i * k, xp.baseAddress!, k) }
            return total
        }
    }
}
