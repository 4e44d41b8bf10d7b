// What Hessian-aware rounding and output correction need to know about a weight layer's inputs: per conv
// group, H = sum x x^T over sampled im2col rows and the mean im2col row, or (given the layer's weights)
// the mean and mean square of each output channel over the sampled rows and the outputs themselves;
// given those float outputs at the same sampled rows, the cross moments sum x y_float^T that let GPTQ aim
// at the float network's outputs (GPTQ.swift, `floatTargetWeights`); accumulated image by image.
import QGraph
import QKernels
import QRuntime

/// The row sampling seed of a layer's statistics: the same in every pass over the same images, so the
/// float network's outputs and the quantized network's inputs are sampled at the same rows.
func statisticsSeed(layer: String) -> UInt64 {
    layer.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

/// One weight layer's input statistics over a calibration set.
struct LayerInputStatistics: Sendable {
    /// Per conv group, k x k row-major: sum over sampled rows x of x x^T (empty when measuring outputs).
    var hessians: [[Double]]
    /// Per conv group: the mean im2col row over every output position of every image.
    var means: [[Double]]
    /// Per conv group: the mean of the sampled rows (the mean that goes with H / sampledRows).
    var sampledMeans: [[Double]] = []
    /// Per output channel, over the sampled rows: E[y] and E[y^2] of y = w_r . x (when measuring outputs).
    var outputMeans: [Double] = []
    var outputSquares: [Double] = []
    /// When measuring outputs: y = w_r . x at every sampled row, [outputs][sampledRows] row-major.
    var sampledOutputs: [Float] = []
    /// Given float outputs at the same sampled rows: per conv group, k x (outputs / groups) row-major,
    /// sum over sampled rows of x y_float^T (x this network's row, y_float the float network's outputs
    /// there). Empty when not measured, or when the sampled rows did not line up.
    var crossMoments: [[Double]] = []
    var sampledRows = 0
    var rows = 0
}

/// Accumulates `LayerInputStatistics` of a conv or linear layer from its input tensors, one image at a
/// time. Conv rows are im2col rows in the weights' (ky, kx, c) order (zero padding); a linear's row is its
/// whole input. Each image contributes every row to the mean and `rowsPerImage` rows, drawn with a seeded
/// SplitMix (so the same images give the same bytes), to the sampled statistics, which the packed f32 GEMM
/// (FloatGEMM.swift) updates a block of rows at a time: H += X^T X (its upper triangle, summed into Double,
/// mirrored at the end), or with `weights` Y = X W^T and the sums of Y and Y^2 per output channel, keeping
/// Y; with `floatOutputs` (the float network's Y at the same rows) also X^T Y_float. Every sum is over the
/// same rows in the same order whatever the threads: the bytes depend only on the inputs.
final class LayerInputAccumulator {
    let k: Int
    let groups: Int
    private let conv: Conv2D?
    private let shape: [Int]
    private let rowsPerImage: Int
    private var rng: SplitMix
    private var statistics: LayerInputStatistics
    /// Per group, the weights packed for the GEMM (`packFloatPanels`, plus slack) when measuring outputs; nil for H.
    private let weights: [Float]?
    private let outputs: Int
    /// Per group, the gathered rows: for H, X packed as panels (`floatPanelCount(n: k, k: capacity)` floats,
    /// each row's panel slices written whole, zeros past k); for outputs, X (`capacity` rows of k).
    private var block: [Float]
    private let groupFloats: Int
    private var filled = 0
    private let capacity: Int
    /// One im2col row; for H also one group's X^T (k rows of `filled`) at flush.
    private var row: [Float]
    private var transposed: [Float]
    private var product: [Float]
    private var rowSums: [Float]
    private var sampledSums: [Double]
    /// Float outputs [outputs][floatRows] plus GEMM slack, for the cross moments; nil when not measured.
    private var floatOutputs: [Float]?
    private let floatRows: Int

    /// `op`: the layer (conv2d or linear), `inputShape`: its input's shape, `rowsPerImage`: rows per image for
    /// the sampled statistics (0: means only), `seed`: the row sampling seed, `weights`: the layer's
    /// [outputs][k] weight rows to measure its outputs instead of H, `floatOutputs`: with H, the float
    /// network's `sampledOutputs` for the same images, rows and seed (their cross moments with this
    /// network's rows are measured; dropped if the row counts do not match).
    init(op: Op, inputShape: [Int], rowsPerImage: Int, seed: UInt64, weights: [Float]? = nil,
         floatOutputs: LayerInputStatistics? = nil) {
        if case .conv2d(let c) = op { conv = c; groups = c.groups } else { conv = nil; groups = 1 }
        k = Self.reductionSize(op, inputShape: inputShape)
        shape = inputShape
        self.rowsPerImage = rowsPerImage
        rng = SplitMix(seed: seed)
        let outputs = (weights?.count ?? 0) / k
        self.outputs = outputs
        let k = k, groups = groups
        // QK_EXTRA_BYTES of readable slack after every GEMM input
        self.weights = weights.map { w in
            let perGroup = outputs / groups, size = floatPanelCount(n: perGroup, k: k)
            var packed = [Float](repeating: 0, count: groups * size + 16)
            w.withUnsafeBufferPointer { w in
                packed.withUnsafeMutableBufferPointer { p in
                    for g in 0..<groups {
                        packFloatPanels(w.baseAddress! + g * perGroup * k, n: perGroup, k: k, ldb: k, into: p.baseAddress! + g * size)
                    }
                }
            }
            return packed
        }
        capacity = rowsPerImage == 0 ? 0 : Swift.max(16, Swift.min(2048, (1 << 21) / (k * groups)))
        let measureH = rowsPerImage > 0 && weights == nil
        statistics = LayerInputStatistics(hessians: measureH ? Array(repeating: [Double](repeating: 0, count: k * k), count: groups) : [],
                                          means: Array(repeating: [Double](repeating: 0, count: k), count: groups))
        statistics.outputMeans = [Double](repeating: 0, count: outputs)
        statistics.outputSquares = [Double](repeating: 0, count: outputs)
        groupFloats = measureH ? floatPanelCount(n: k, k: capacity) : k * capacity
        block = [Float](repeating: 0, count: groups * groupFloats + 16)
        row = [Float](repeating: 0, count: k)
        transposed = [Float](repeating: 0, count: measureH ? k * capacity + 16 : 0)
        product = [Float](repeating: 0, count: rowsPerImage == 0 ? 0 : weights == nil ? k * k : capacity * outputs / groups)
        rowSums = [Float](repeating: 0, count: groups * k)
        sampledSums = [Double](repeating: 0, count: groups * k)
        let target = measureH ? floatOutputs.flatMap { $0.sampledOutputs.isEmpty ? nil : $0 } : nil
        floatRows = target?.sampledRows ?? 0
        let floatChannels = floatRows > 0 ? (target?.sampledOutputs.count ?? 0) / floatRows : 0
        if let target, floatChannels > 0, floatChannels % groups == 0 {
            self.floatOutputs = target.sampledOutputs
            statistics.crossMoments = Array(repeating: [Double](repeating: 0, count: k * floatChannels / groups), count: groups)
            crossProduct = [Float](repeating: 0, count: k * floatChannels / groups)
            packedOutputs = [Float](repeating: 0, count: floatPanelCount(n: floatChannels / groups, k: capacity) + 16)
        } else {
            self.floatOutputs = nil
            crossProduct = []
            packedOutputs = []
        }
        outputRows = Array(repeating: [], count: outputs)
    }

    /// Per output channel, the outputs of the sampled rows so far (when measuring outputs).
    private var outputRows: [[Float]]
    /// One group's X^T Y_float for the gathered rows, and Y_float at those rows packed for it.
    private var crossProduct: [Float]
    private var packedOutputs: [Float]

    /// K of one conv group's rows (a linear: its input size).
    static func reductionSize(_ op: Op, inputShape: [Int]) -> Int {
        if case .conv2d(let c) = op { return c.reductionSize }
        return inputShape.reduce(1, *)
    }

    /// Output positions of the conv (1 for a linear).
    private var positions: (h: Int, w: Int) {
        guard let c = conv else { return (1, 1) }
        let oh = (shape[0] + c.padding[0] + c.padding[2] - c.dilation[0] * (c.kernel[0] - 1) - 1) / c.stride[0] + 1
        let ow = (shape[1] + c.padding[1] + c.padding[3] - c.dilation[1] * (c.kernel[1] - 1) - 1) / c.stride[1] + 1
        return (oh, ow)
    }

    /// Adds one image's layer input (`shape` values, NHWC).
    func add(_ x: UnsafeBufferPointer<Float>) {
        let (oh, ow) = positions
        addToMeans(x, oh: oh, ow: ow)
        guard rowsPerImage > 0 else { return }
        let all = oh * ow
        for n in 0..<Swift.min(rowsPerImage, all) {
            let m = rowsPerImage >= all ? n : Int(rng.next() % UInt64(all))
            if filled == capacity { flush() }
            block.withUnsafeMutableBufferPointer { b in
                row.withUnsafeMutableBufferPointer { r in
                    let r = r.baseAddress!, width = floatPanelWidth
                    for g in 0..<groups {
                        let base = b.baseAddress! + g * groupFloats
                        writeRow(x, position: m / ow, m % ow, group: g, into: weights == nil ? r : base + filled * k)
                        let written = weights == nil ? r : base + filled * k
                        for j in 0..<k { sampledSums[g * k + j] += Double(written[j]) }
                        guard weights == nil else { continue }
                        // the row's slice of each panel, zeros past k
                        for p0 in stride(from: 0, to: k, by: width) {
                            let to = base + p0 * capacity + filled * width, n = Swift.min(width, k - p0)
                            for j in 0..<n { to[j] = r[p0 + j] }
                            for j in n..<width { to[j] = 0 }
                        }
                    }
                }
            }
            filled += 1
        }
    }

    /// The statistics so far.
    func finish() -> LayerInputStatistics {
        flush()
        var s = statistics
        let count = Double(Swift.max(1, s.rows)), sampled = Double(Swift.max(1, s.sampledRows))
        s.means = s.means.map { $0.map { $0 / count } }
        s.sampledMeans = (0..<groups).map { g in (0..<k).map { sampledSums[g * k + $0] / sampled } }
        s.outputMeans = s.outputMeans.map { $0 / sampled }
        s.outputSquares = s.outputSquares.map { $0 / sampled }
        s.sampledOutputs = Array(outputRows.joined())
        if s.sampledRows != floatRows { s.crossMoments = [] }
        // H was accumulated above the diagonal only
        for g in s.hessians.indices { for i in 0..<k { for j in 0..<i { s.hessians[g][i * k + j] = s.hessians[g][j * k + i] } } }
        return s
    }

    /// Row sums over every output position (the mean's numerator), separably: for each kernel column kx the
    /// input columns the output positions read there are summed per input row, then for each kernel row ky
    /// those per-row sums over the input rows read there (about kw * H * OW * C additions, not OH * OW * K).
    private func addToMeans(_ x: UnsafeBufferPointer<Float>, oh: Int, ow: Int) {
        rowSums.withUnsafeMutableBufferPointer { sums in
            for i in sums.indices { sums[i] = 0 }
            guard let c = conv else {
                for j in 0..<k { sums[j] = x[j] }
                return
            }
            let (h, w, cin) = (shape[0], shape[1], shape[2])
            let cg = cin / c.groups
            var columns = [Float](repeating: 0, count: h * cin)
            columns.withUnsafeMutableBufferPointer { col in
                for kx in 0..<c.kernel[1] {
                    for i in col.indices { col[i] = 0 }
                    for ox in 0..<ow {
                        let xx = ox * c.stride[1] - c.padding[1] + kx * c.dilation[1]
                        guard xx >= 0, xx < w else { continue }
                        for y in 0..<h {
                            let from = (y * w + xx) * cin, to = y * cin
                            for ch in 0..<cin { col[to + ch] += x[from + ch] }
                        }
                    }
                    for ky in 0..<c.kernel[0] {
                        let tap = (ky * c.kernel[1] + kx) * cg
                        for oy in 0..<oh {
                            let y = oy * c.stride[0] - c.padding[0] + ky * c.dilation[0]
                            guard y >= 0, y < h else { continue }
                            for g in 0..<c.groups {
                                let to = g * k + tap, from = y * cin + g * cg
                                for ch in 0..<cg { sums[to + ch] += col[from + ch] }
                            }
                        }
                    }
                }
            }
        }
        for g in 0..<groups { for j in 0..<k { statistics.means[g][j] += Double(rowSums[g * k + j]) } }
        statistics.rows += oh * ow
    }

    /// The im2col row of output position (oy, ox), group g, written to out[0 ..< k].
    private func writeRow(_ x: UnsafeBufferPointer<Float>, position oy: Int, _ ox: Int, group g: Int,
                          into out: UnsafeMutablePointer<Float>) {
        guard let c = conv else {
            for j in 0..<k { out[j] = x[j] }
            return
        }
        let (h, w, cin) = (shape[0], shape[1], shape[2])
        let cg = cin / c.groups
        for ky in 0..<c.kernel[0] {
            let y = oy * c.stride[0] - c.padding[0] + ky * c.dilation[0]
            for kx in 0..<c.kernel[1] {
                let xx = ox * c.stride[1] - c.padding[1] + kx * c.dilation[1]
                let tap = (ky * c.kernel[1] + kx) * cg
                let inside = y >= 0 && y < h && xx >= 0 && xx < w
                if inside {
                    let from = (y * w + xx) * cin + g * cg
                    for ch in 0..<cg { out[tap + ch] = x[from + ch] }
                } else {
                    for ch in 0..<cg { out[tap + ch] = 0 }
                }
            }
        }
    }

    /// H_g += X_g^T X_g for the gathered rows (the upper triangle: f32 Gram matrix over the block, then into
    /// Double); or, with weights, Y_g = X_g W_g^T and the per-channel sums of Y and Y^2.
    private func flush() {
        guard filled > 0 else { return }
        let perGroup = outputs / groups, width = floatPanelWidth
        for g in 0..<groups {
            if let weights {
                block.withUnsafeBufferPointer { b in
                    weights.withUnsafeBufferPointer { w in
                        product.withUnsafeMutableBufferPointer { p in
                            packedFloatGEMM(m: filled, n: perGroup, k: k, a: b.baseAddress! + g * groupFloats, lda: k,
                                            packed: w.baseAddress! + g * floatPanelCount(n: perGroup, k: k),
                                            c: p.baseAddress!, ldc: perGroup)
                        }
                    }
                }
                for m in 0..<filled {
                    for o in 0..<perGroup {
                        let y = product[m * perGroup + o]
                        statistics.outputMeans[g * perGroup + o] += Double(y)
                        statistics.outputSquares[g * perGroup + o] += Double(y) * Double(y)
                        outputRows[g * perGroup + o].append(y)
                    }
                }
                continue
            }
            block.withUnsafeMutableBufferPointer { b in
                transposed.withUnsafeMutableBufferPointer { t in
                    product.withUnsafeMutableBufferPointer { p in
                        let panels = b.baseAddress! + g * groupFloats, xt = t.baseAddress!
                        // panels of `capacity` rows -> of `filled` rows (the GEMM's K), in place (moving down)
                        if filled < capacity {
                            for p0 in stride(from: width, to: k, by: width) {
                                (panels + p0 * filled).update(from: panels + p0 * capacity, count: filled * width)
                            }
                        }
                        for p0 in stride(from: 0, to: k, by: width) {
                            let panel = panels + p0 * filled
                            for j in 0..<Swift.min(width, k - p0) {
                                let to = xt + (p0 + j) * filled
                                for m in 0..<filled { to[m] = panel[m * width + j] }
                            }
                        }
                        floatGramUpper(n: k, rows: filled, xt: xt, packed: panels, c: p.baseAddress!, ldc: k)
                    }
                }
            }
            statistics.hessians[g].withUnsafeMutableBufferPointer { h in
                product.withUnsafeBufferPointer { p in
                    for i in 0..<k { for j in i..<k { h[i * k + j] += Double(p[i * k + j]) } }
                }
            }
            addCrossMoments(group: g)
        }
        statistics.sampledRows += filled
        filled = 0
    }

    /// crossMoments[g] += X_g^T Y_float for the gathered rows (the float outputs at rows sampledRows ..<
    /// sampledRows + filled; X^T in `transposed`); stops measuring if there are more rows than float outputs.
    private func addCrossMoments(group g: Int) {
        guard let target = floatOutputs, !statistics.crossMoments.isEmpty else { return }
        let perGroup = statistics.crossMoments[g].count / k, offset = statistics.sampledRows
        guard offset + filled <= floatRows else {
            statistics.crossMoments = []
            return
        }
        target.withUnsafeBufferPointer { y in
            packedOutputs.withUnsafeMutableBufferPointer { packed in
                transposed.withUnsafeBufferPointer { xt in
                    crossProduct.withUnsafeMutableBufferPointer { p in
                        // P[j][o] = sum_m X^T[j][m] Y[o][offset + m]
                        packFloatPanels(y.baseAddress! + g * perGroup * floatRows + offset, n: perGroup, k: filled, ldb: floatRows,
                                        into: packed.baseAddress!)
                        packedFloatGEMM(m: k, n: perGroup, k: filled, a: xt.baseAddress!, lda: filled, packed: packed.baseAddress!,
                                        c: p.baseAddress!, ldc: perGroup)
                    }
                }
            }
        }
        for i in crossProduct.indices { statistics.crossMoments[g][i] += Double(crossProduct[i]) }
    }
}
