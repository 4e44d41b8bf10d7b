// PyTorch's CPU float32 sum, reproduced operation for operation, for recipes whose math reduces a tensor
// (torch.sum / torch.mean): a different summation order rounds differently in the last bit.

/// The float32 sum of `x` as torch.sum computes it on a contiguous CPU tensor (ATen SumKernel.cpp,
/// cascade sum, AVX2 kernels: `lanes` = 8-wide vectors):
/// - the n / lanes whole vectors are read as rows of 4 vectors (ILP 4); rows are accumulated into level 0,
///   and every 2^p rows (p = max(4, ceilLog2(rows) / 4)) each level is added into the next, up to 4 levels,
///   stopping at the first level whose row count is not a multiple of its span;
/// - leftover rows go into level 0, the levels are added into level 0, leftover vectors into the first of
///   the 4 accumulators, and the 4 accumulators are added in order;
/// - finally, starting from 0: the scalar tail in order, then the vector's lanes in order.
/// torch.mean = this sum / count (CPU: sum, then div_). Checked against torch 2.13 on every conv of the
/// Any-Precision fixture (AnyPrecisionFixtureTests).
func torchFloatSum(_ x: [Float], lanes: Int = 8) -> Float {
    let ilp = 4, levels = 4
    let vectors = x.count / lanes, rows = vectors / ilp
    let ceilLog2 = rows <= 2 ? 1 : Int.bitWidth - (rows - 1).leadingZeroBitCount
    let power = max(4, ceilLog2 / levels), step = 1 << power, mask = step - 1
    // acc[level][accumulator * lanes + lane]
    var acc = [[Float]](repeating: [Float](repeating: 0, count: ilp * lanes), count: levels)
    func addRow(_ row: Int) {
        for j in 0..<(ilp * lanes) { acc[0][j] += x[row * ilp * lanes + j] }
    }
    var i = 0
    while i + step <= rows {
        for _ in 0..<step { addRow(i); i += 1 }
        for level in 1..<levels {
            for j in 0..<(ilp * lanes) { acc[level][j] += acc[level - 1][j]; acc[level - 1][j] = 0 }
            if i & (mask << (level * power)) != 0 { break }
        }
    }
    while i < rows { addRow(i); i += 1 }
    for level in 1..<levels { for j in 0..<(ilp * lanes) { acc[0][j] += acc[level][j] } }
    var vector = Array(acc[0][0..<lanes])
    for v in rows * ilp..<vectors { for l in 0..<lanes { vector[l] += x[v * lanes + l] } }
    for k in 1..<ilp { for l in 0..<lanes { vector[l] += acc[0][k * lanes + l] } }
    var total: Float = 0
    for k in vectors * lanes..<x.count { total += x[k] }
    for l in 0..<lanes { total += vector[l] }
    return total
}
