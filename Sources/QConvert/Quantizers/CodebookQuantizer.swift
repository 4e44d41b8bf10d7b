// Per-layer k-means codebooks with one level fixed at exactly 0.
import QGraph

/// 2^b levels per layer by 1-D Lloyd k-means (level 0 pinned to 0.0, the others initialised at quantiles
/// and updated to the mean of their members, 30 iterations or until stable). The runtime multiplies int8
/// values, so each level is then rounded to the per-layer grid s = max|level| / 127: value = round(level / s).
/// Codes index levels (b < 8); at b = 8 the code byte is the level's int8 value itself. The exact levels
/// are kept in step units (level / s) for layers run on f32 activations.
func quantizeCodebook(rows w: [Float], rows count: Int, k: Int, bits: Int) -> QuantizedWeights {
    let levelsCount = 1 << bits
    let sorted = w.sorted()
    var levels = [Float](repeating: 0, count: levelsCount)
    for i in 1..<levelsCount {
        let q = (Double(i) - 0.5) / Double(levelsCount - 1)
        levels[i] = sorted[Swift.min(sorted.count - 1, Int(q * Double(sorted.count)))]
    }
    var order = Array(0..<levelsCount)
    for _ in 0..<30 {
        order.sort { levels[$0] < levels[$1] }
        var sums = [Double](repeating: 0, count: levelsCount), counts = [Int](repeating: 0, count: levelsCount)
        var j = 0
        // Sorted weights sweep sorted levels: each weight goes to the nearer of two neighbouring levels.
        for x in sorted {
            while j + 1 < levelsCount && abs(levels[order[j + 1]] - x) <= abs(levels[order[j]] - x) { j += 1 }
            sums[order[j]] += Double(x)
            counts[order[j]] += 1
        }
        var changed = false
        for i in 1..<levelsCount where counts[i] > 0 {
            let m = Float(sums[i] / Double(counts[i]))
            if m != levels[i] { levels[i] = m; changed = true }
        }
        if !changed { break }
    }
    let top = levels.reduce(Float(0)) { Swift.max($0, abs($1)) }
    let step: Float = top > 0 ? top / 127 : 1
    let values = levels.map { Int(($0 / step).rounded(.toNearestOrEven)) }
    var codes = [UInt8](repeating: 0, count: w.count)
    order.sort { levels[$0] < levels[$1] }
    let sortedLevels = order.map { levels[$0] }
    for (i, x) in w.enumerated() {
        var lo = 0, hi = levelsCount - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if sortedLevels[mid] <= x { lo = mid } else { hi = mid }
        }
        let nearest = abs(sortedLevels[hi] - x) < abs(sortedLevels[lo] - x) ? hi : lo
        let level = order[nearest]
        codes[i] = bits == 8 ? UInt8(bitPattern: Int8(values[level])) : UInt8(level)
    }
    return QuantizedWeights(scheme: .codebook, bits: bits, rows: count, k: k, codes: codes,
                            lut: bits == 8 ? nil : values, scales: [Float](repeating: step, count: count),
                            levels: bits == 8 ? nil : levels.map { $0 / step })
}
