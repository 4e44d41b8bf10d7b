// Power-of-two ("shift") weights: per output channel, w ~= scale[oc] * (+-2^e or 0).
import QGraph

/// Quantizes each row to {0, +-2^0, ..., +-2^E} steps of a per-row scale, E = 2^(bits-1) - 2 (bits 4:
/// 0, +-1 ... +-64; bits 3: 0, +-1, +-2, +-4; bits 2: ternary 0, +-1). The row's largest magnitude
/// maps to 2^E; each weight takes the nearest level (linear distance, ties to the larger).
/// Codes: 0 -> 0, 1 + e -> +2^e, half + 1 + e -> -2^e (half = 2^(bits-1)); the spare codes
/// half and (for bits 2) 3 map to 0.
func quantizeShift(rows w: [Float], rows: Int, k: Int, bits: Int) -> QuantizedWeights {
    precondition((2...4).contains(bits))
    let half = 1 << (bits - 1), top = half - 2
    let lut = shiftTable(bits: bits)
    var codes = [UInt8](repeating: 0, count: rows * k)
    var scales = [Float](repeating: 0, count: rows)
    for r in 0..<rows {
        let row = w[(r * k)..<((r + 1) * k)]
        let peak = row.map { abs($0) }.max() ?? 0
        guard peak > 0 else { continue }   // all-zero row: code 0, scale 0
        let scale = peak / Float(1 << top)
        scales[r] = scale
        for j in 0..<k {
            let x = abs(w[r * k + j]) / scale
            var best = 0, bestError = x        // level 0
            for e in 0...top where abs(x - Float(1 << e)) <= bestError {
                best = 1 + e
                bestError = abs(x - Float(1 << e))
            }
            codes[r * k + j] = UInt8(best == 0 ? 0 : (w[r * k + j] < 0 ? half + best : best))
        }
    }
    return QuantizedWeights(scheme: .shift, bits: bits, rows: rows, k: k, codes: codes, lut: lut, scales: scales,
                            levels: nil)
}

/// The shift code table of `quantizeShift`: 0 -> 0, 1 + e -> +2^e, half + 1 + e -> -2^e (e <= 2^(bits-1) - 2),
/// the spare codes -> 0.
func shiftTable(bits: Int) -> [Int] {
    let half = 1 << (bits - 1)
    var lut = [Int](repeating: 0, count: 1 << bits)
    for e in 0...(half - 2) {
        lut[1 + e] = 1 << e
        lut[half + 1 + e] = -(1 << e)
    }
    return lut
}
