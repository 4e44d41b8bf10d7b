// Per-output-channel symmetric uniform quantization of weight rows.
import QGraph

/// How the per-channel clipping range is chosen.
public enum ClipMode: String, Sendable, CaseIterable {
    /// clip = max |w| of the channel.
    case max
    /// clip = argmin over c in {0.30, 0.31, ..., 1.00} * max|w| of the channel's weight MSE.
    case mse
    /// Per layer, whichever of max and mse gives the lower layer-output error on calibration patches.
    case auto
}

/// Symmetric uniform b-bit over all 2^b codes (PyTorch's symmetric per-channel observer):
/// q in [-2^(b-1), 2^(b-1) - 1], scale = clip / (2^(b-1) - 0.5), q = clamp(roundHalfEven(w / scale), qmin, qmax);
/// code = q - qmin (b < 8) or q's bit pattern (b = 8).
func quantizeUniform(rows w: [Float], rows count: Int, k: Int, bits: Int, clip: ClipMode) -> QuantizedWeights {
    precondition(clip != .auto, "auto is resolved by the recipe")
    let qmax = (1 << (bits - 1)) - 1, qmin = -(1 << (bits - 1))
    let steps = Float(qmax) + 0.5
    var codes = [UInt8](repeating: 0, count: count * k)
    var scales = [Float](repeating: 1, count: count)
    for r in 0..<count {
        let row = w[(r * k)..<(r * k + k)]
        let m = row.reduce(Float(0)) { Swift.max($0, abs($1)) }
        guard m > 0, m.isFinite else {
            for j in 0..<k { codes[r * k + j] = code(0, qmin: qmin, bits: bits) }
            continue
        }
        var best = m
        if clip == .mse {
            var bestError = Float.infinity
            for step in 30...100 {
                let c = m * Float(step) / 100
                let s = c / steps
                var e: Float = 0
                for x in row {
                    let q = Swift.min(Swift.max((x / s).rounded(.toNearestOrEven), Float(qmin)), Float(qmax))
                    e += (x - q * s) * (x - q * s)
                }
                if e < bestError { bestError = e; best = c }
            }
        }
        let s = best / steps
        scales[r] = s
        for j in 0..<k {
            let q = Int(Swift.min(Swift.max((w[r * k + j] / s).rounded(.toNearestOrEven), Float(qmin)), Float(qmax)))
            codes[r * k + j] = code(q, qmin: qmin, bits: bits)
        }
    }
    let lut: [Int]? = bits == 8 ? nil : (0..<(1 << bits)).map { $0 + qmin }
    return QuantizedWeights(scheme: .uniform, bits: bits, rows: count, k: k, codes: codes, lut: lut,
                            scales: scales, levels: nil)
}

@inline(__always) private func code(_ q: Int, qmin: Int, bits: Int) -> UInt8 {
    bits == 8 ? UInt8(bitPattern: Int8(q)) : UInt8(q - qmin)
}
