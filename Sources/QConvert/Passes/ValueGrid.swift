// Pass: recognise a conv/linear weight tensor that is already on a low-bit value grid (binary, ternary,
// shift, uniform per layer or per channel, a small codebook), from its float32 values alone, and give
// the exact codes applyMethodLayers packs.
import QGraph

/// How one weight tensor already lies on a value grid.
struct ValueGrid: Sendable {
    /// Codes (in the order of the values given), levels, table unit and per-channel steps for
    /// applyMethodLayers; nil when the layer has more levels than the kernels take and keeps its exact
    /// float32 weights.
    var codes: MethodLayer?
    /// For the report: "uniform 3-bit per channel", "shift 5 levels per layer", "binary +-a per channel",
    /// "exact f32, 31 levels".
    var description: String
}

/// The value grid of `weights` ([rows][k]: one row per output channel, any order within a row), or nil
/// for plain float weights. Tried in this order; the first that explains the values wins:
///  1. uniform: w = s * q, q an integer in -128...127, one step s for the layer or else one per output
///     channel. s is m / j (m the smallest nonzero |w|, j = 1...128) or a float neighbour of it, kept only
///     when Float(q) * s gives back every stored float32 (so s is the largest such step: the channel's
///     "GCD"). An all-zero channel gets s = 0 (every code decodes to 0). The integers all channels use are
///     the shared levels: <= 16 of them -> 1-4-bit codes, else 8-bit codes (level = code - 128).
///     Described as binary (levels +-1), ternary (0, +-1), shift (0 / +-2^e, not one run of integers) or
///     uniform b-bit (b from the levels' span), per layer when every nonzero channel step is equal.
///  2. codebook: <= 16 distinct values in the layer ("shift" when all are 0 or +-2^e).
///  3. exact: <= 256 distinct values in the layer, or <= 16 in every channel: more levels than the
///     kernels take, so the layer keeps its float32 weights (not re-quantized).
/// Evidence: a grid is taken only when the layer has at least twice as many nonzero weights as the grid
/// has free values (nonzero levels plus channel steps), so a small or pruned float layer whose nonzero
/// values are all distinct is not a codebook and a one-weight row is not a "binary channel".
/// Exactness: every result decodes as applyMethodLayers stores it (scale[o] = unit * channelScale[o],
/// table level / unit, fold factor 1) to the stored float32 bit for bit, checked value by value (-0.0 and
/// 0.0 compare equal: a zero's sign changes no product sum). A non-finite weight gives nil.
/// Cost: plain float weights stop after 257 distinct values, the first channel whose largest and smallest
/// nonzero magnitudes are more than 128 apart, and the first channel with 17 distinct values (layers with
/// at most 16 weights per channel: every channel); docs/CONVERTER.md "Weights already on a grid".
func findValueGrid(_ weights: [Float], rows: Int, k: Int) -> ValueGrid? {
    guard rows > 0, k > 0, weights.count == rows * k else { return nil }
    let layerValues = distinctValues(weights[...], limit: 256)
    if let grid = uniformGrid(weights, rows: rows, k: k, layerValues: layerValues) { return grid }
    let nonzero = { weights.reduce(0) { $1 != 0 ? $0 + 1 : $0 } }     // counted only where needed
    if let values = layerValues {
        guard hasEvidence(nonzero: nonzero(), free: values.filter { $0 != 0 }.count) else { return nil }
        if values.count <= 16, var layer = codesForValues(weights, maxLevels: 16) {
            layer.unit = exactTableUnit(layer.levels)
            if decodesExactly(layer, weights, rows: rows, k: k) {
                let shift = layer.levels.allSatisfy(isZeroOrPowerOfTwo)
                return ValueGrid(codes: layer, description: "\(shift ? "shift" : "codebook") \(values.count) levels per layer")
            }
        }
        return ValueGrid(codes: nil, description: "exact f32, \(values.count) levels")
    }
    // few values in every channel (e.g. per-channel codebooks): exact, when they repeat enough
    var free = 0, most = 0
    for o in 0..<rows {
        guard let row = distinctValues(weights[(o * k)..<((o + 1) * k)], limit: 16) else { return nil }
        free += row.filter { $0 != 0 }.count
        most = max(most, row.count)
    }
    guard hasEvidence(nonzero: nonzero(), free: free) else { return nil }
    return ValueGrid(codes: nil, description: "exact f32, up to \(most) levels per channel")
}

/// A grid explains the weights only when the nonzero weights are at least twice as many as the grid's
/// free values (nonzero levels, channel steps): random floats, pruned or not, never repeat that much.
private func hasEvidence(nonzero: Int, free: Int) -> Bool { nonzero >= 2 * free }

/// Step 1 of findValueGrid: integer levels times one step per layer or per output channel, or nil.
private func uniformGrid(_ w: [Float], rows: Int, k: Int, layerValues: [Float]?) -> ValueGrid? {
    let layerStep = layerValues.flatMap { integerStep($0[...]) }
    var steps = [Float](repeating: 0, count: rows)
    for o in 0..<rows {
        let row = w[(o * k)..<((o + 1) * k)]
        guard row.contains(where: { $0 != 0 }) else { continue }          // all-zero channel: s = 0
        if let s = layerStep, s > 0 { steps[o] = s; continue }
        guard let s = integerStep(row) else { return nil }
        steps[o] = s
    }
    // the integer of every weight, and which of -128...127 occur
    var q = [Int](repeating: 0, count: w.count), used = [Bool](repeating: false, count: 256)
    for o in 0..<rows where steps[o] != 0 {
        for j in (o * k)..<((o + 1) * k) {
            q[j] = Int((w[j] / steps[o]).rounded(.toNearestOrEven))
            used[q[j] + 128] = true
        }
    }
    var levels = (0..<256).filter { used[$0] }.map { $0 - 128 }
    if levels.isEmpty { levels = [0] }                                  // every weight is 0
    let nonzeroSteps = Set(steps.filter { $0 != 0 })
    let perLayer = nonzeroSteps.count <= 1
    let nonzero = q.reduce(0) { $1 != 0 ? $0 + 1 : $0 }
    guard hasEvidence(nonzero: nonzero, free: levels.filter { $0 != 0 }.count + nonzeroSteps.count) else { return nil }

    var layer: MethodLayer
    if levels.count <= 16 {
        // codesForValues order: the levels sorted, 0 first when present
        var ordered = levels.filter { $0 != 0 }
        if levels.contains(0) { ordered.insert(0, at: 0) }
        var code = [UInt8](repeating: 0, count: 256)
        for (c, v) in ordered.enumerated() { code[v + 128] = UInt8(c) }
        layer = MethodLayer(codes: q.map { code[$0 + 128] }, levels: ordered.map(Float.init))
    } else {
        layer = MethodLayer(codes: q.map { UInt8($0 + 128) }, levels: (0..<256).map { Float($0 - 128) })
    }
    layer.unit = 1
    layer.channelScales = steps
    guard decodesExactly(layer, w, rows: rows, k: k) else { return nil }
    return ValueGrid(codes: layer, description: describe(levels, perLayer: perLayer))
}

/// "binary +-a per channel", "ternary 0, +-a per layer", "shift 7 levels per layer", "uniform 3-bit per
/// channel", "uniform 6-bit per channel (8-bit codes)" for the sorted integer levels of a uniform grid.
private func describe(_ levels: [Int], perLayer: Bool) -> String {
    let scope = perLayer ? "per layer" : "per channel"
    if levels == [0] { return "all zero" }
    if levels.allSatisfy({ $0 == 1 || $0 == -1 }) { return "binary +-a \(scope)" }
    if levels.allSatisfy({ abs($0) <= 1 }) { return "ternary 0, +-a \(scope)" }
    let span = levels.last! - levels.first! + 1
    if span != levels.count && levels.allSatisfy({ isZeroOrPowerOfTwo(Float($0)) }) {
        return "shift \(levels.count) levels \(scope)"
    }
    var bits = 1
    while 1 << bits < span { bits += 1 }
    return "uniform \(bits)-bit \(scope)" + (levels.count > 16 ? " (8-bit codes)" : "")
}

/// The largest step s > 0 with every value == Float(q) * s for an integer q in -128...127: s = m / j for
/// j = 1...128 (m the smallest nonzero magnitude), or one of that quotient's float neighbours (m itself
/// may be a rounded product, e.g. fl(3 s)). 0 when every value is 0; nil when no step fits.
private func integerStep(_ values: ArraySlice<Float>) -> Float? {
    var smallest = Float.infinity, largest: Float = 0
    for v in values where v != 0 {
        let a = abs(v)
        guard a.isFinite else { return nil }
        smallest = min(smallest, a)
        largest = max(largest, a)
    }
    if largest == 0 { return 0 }
    for j in 1...128 {
        let base = smallest / Float(j)
        // the largest |q| grows with j: past 128 no smaller step can fit either
        guard (largest / base).rounded(.toNearestOrEven) <= 128 else { return nil }
        for s in j == 1 ? [base] : [base, base.nextUp, base.nextDown] where s.isNormal && s > 0 {
            if values.allSatisfy({ v in
                let q = (v / s).rounded(.toNearestOrEven)
                return q >= -128 && q <= 127 && q * s == v
            }) {
                return s
            }
        }
    }
    return nil
}

/// The distinct values of `values` (-0.0 counted as 0), sorted; nil when there are more than `limit` or
/// a value is not finite. Stops counting at limit + 1.
private func distinctValues(_ values: ArraySlice<Float>, limit: Int) -> [Float]? {
    var seen = Set<UInt32>(minimumCapacity: min(values.count, limit + 1))
    for v in values {
        guard v.isFinite else { return nil }
        seen.insert(v == 0 ? 0 : v.bitPattern)
        if seen.count > limit { return nil }
    }
    return seen.map { Float(bitPattern: $0) }.sorted()
}

/// A power of two u with max |level| / u <= 127 (as fine as that allows): level / u and u * (level / u)
/// are then exact, and level / u rounds to the int8 table entry.
private func exactTableUnit(_ levels: [Float]) -> Float {
    let top = levels.reduce(Float(0)) { max($0, abs($1)) }
    guard top > 0 else { return 1 }
    let target = top / 127
    var unit = Float(sign: .plus, exponent: target.exponent, significand: 1)
    if unit < target { unit *= 2 }
    return unit
}

/// Whether applyMethodLayers' stored form gives back every weight (fold factor 1): the runtime's exact
/// weight is scale[o] * table[code] with scale[o] = unit * channelScale[o] and table = level / unit.
func decodesExactly(_ layer: MethodLayer, _ w: [Float], rows: Int, k: Int) -> Bool {
    guard let unit = layer.unit, layer.codes.count == w.count else { return false }
    let table = layer.levels.map { $0 / unit }
    for o in 0..<rows {
        let scale = Float(1) * unit * (layer.channelScales?[o] ?? 1)
        for j in (o * k)..<((o + 1) * k) where scale * table[Int(layer.codes[j])] != w[j] { return false }
    }
    return true
}

private func isZeroOrPowerOfTwo(_ v: Float) -> Bool { v == 0 || (v.isNormal && v.significandBitPattern == 0) }
