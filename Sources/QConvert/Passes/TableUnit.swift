// The unit of a layer's int8 level table: the step that rounds arbitrary float levels (a DGMS mixture's
// centres) into int8 with the least weight error.
import Foundation

/// The unit u for a table of arbitrary float `levels` (table entry = round(level / u), round half to
/// even), `counts[j]` weights taking level j. Candidates: u = top / t, top = max |level|, t from 127 down
/// to 96 in steps of 1 / 64 (so no entry leaves -127...127 and the step is at most a third coarser than
/// top / 127); the one with the least count-weighted squared rounding error in real units,
///     E(u) = sum_j counts[j] * (levels[j] - u * round(levels[j] / u))^2,
/// wins, the finest on ties (a candidate must beat the best so far by more than float rounding noise, so
/// a table that top / 127 already holds exactly keeps it). The levels of one
/// table are shared by every output channel, so the per-channel scale cannot absorb their rounding; one
/// step chosen for the whole table can line up the often-taken levels with integers. On the real
/// pretrained ResNet-20 converted to DGMS (K = 16) this lowers the level error by 1.0-3.1x per layer and
/// the u8 top-1 loss from 1.11 to 0.28 points (docs/METHODS.md "Accuracy on real weights").
func levelTableUnit(levels: [Float], counts: [Int]) -> Float {
    precondition(levels.count == counts.count, "one count per level")
    let top = levels.reduce(Float(0)) { max($0, abs($1)) }
    guard top > 0, top.isFinite else { return 1 }
    /// E(u) in Double, so the comparison is not decided by float summation noise.
    func error(_ unit: Float) -> Double {
        zip(levels, counts).reduce(0.0) { sum, pair in
            let step = Double(unit)
            let q = Double((pair.0 / unit).rounded(.toNearestOrEven)) * step
            let d = Double(pair.0) - q
            return sum + Double(pair.1) * d * d
        }
    }
    // a candidate must be better by more than rounding noise: an exact table keeps top / 127
    let negligible = 1e-12 * zip(levels, counts).reduce(0.0) { $0 + Double($1.1) * Double($1.0) * Double($1.0) }
    var best = top / 127, bestError = error(best)
    for i in 1...(31 * 64) where bestError > negligible {
        let unit = top / (127 - Float(i) / 64)
        let e = error(unit)
        if e < bestError * (1 - 1e-6) - negligible { best = unit; bestError = e }
    }
    return best
}
