// Data-free activation statistics: what a float graph's BatchNorm statistics say about its activations,
// for static u8 ranges and bias correction without calibration images (Nagel et al. 2019, "Data-free
// quantization through weight equalization and bias correction").
import Foundation
import QGraph

/// Where an uncalibrated conversion's u8 activation ranges come from.
public enum UncalibratedRanges: String, Sendable, CaseIterable {
    /// Static ranges from the BatchNorm statistics (and the input's from the preprocessing); values they do
    /// not model are quantized at run time.
    case dataFree = "data-free"
    /// Every range measured at run time (each quantized layer's input min/max).
    case dynamic
}

/// Per-channel statistics of a float graph's values, derived from its BatchNorms alone.
///
/// Model: each channel of a BatchNorm's output is normal, N(beta, gamma^2 var / (var + eps)) (the running
/// statistics are the input's); relu / relu6 / hardtanh clamp a normal channel; an add sums means and
/// variances (the operands taken independent) and makes the sum normal again; max / average pooling, flatten
/// and the option-A shortcut (zero channels) keep the distribution, a max pool raising the mean by one
/// standard deviation and halving the variance (the max of a window of correlated neighbours); global average
/// pooling keeps the mean. A value's static range is the union over its channels of mean -/+ `sigmas`
/// standard deviations of the normal, clamped. The network input's range is the preprocessing's: pixels in
/// [0, 1], normalised. Anything else (conv or linear outputs not followed by a BatchNorm, other ops) is not
/// modeled, nor is what reads it.
struct DataFreeStatistics {
    let sigmas: Double
    /// Static u8 ranges of the modeled values (global average pool outputs excluded: the spread of a channel
    /// mean is not modeled) and of the network input.
    private(set) var ranges: [String: (min: Float, max: Float)] = [:]
    /// Per-channel (per-element for flattened maps) means of the modeled values, the input excluded.
    private(set) var means: [String: [Double]] = [:]
    /// BatchNorm nodes whose statistics are not finite or have a negative variance: not modeled.
    private(set) var unusableBatchNorms: [String] = []
    private var channels: [String: ClampedNormal] = [:]

    /// Walks `model`'s graph (before BatchNorm folding) in node order.
    init(_ model: FloatModel, sigmas: Double) {
        self.sigmas = sigmas
        let graph = model.graph
        if let inputRange = Self.inputRange(model.preprocessing, graph.value(graph.input)?.shape) {
            ranges[graph.input] = inputRange
        }
        for node in graph.nodes {
            guard let out = distribution(node, model) else { continue }
            channels[node.output] = out
            means[node.output] = out.mean
            if out.hasRange, let range = out.range(sigmas: sigmas) { ranges[node.output] = range }
        }
    }

    /// The output distribution of `node`, or nil when the model does not cover it.
    private mutating func distribution(_ node: Node, _ model: FloatModel) -> ClampedNormal? {
        let inputs = node.inputs.map { channels[$0] }
        switch node.op {
        case .batchNorm(let bn):
            guard let d = ClampedNormal(batchNorm: bn, model.tensors) else {
                unusableBatchNorms.append(node.name)
                return nil
            }
            return d
        case .activation(let act):
            return inputs[0]?.clamped(act.clampRange)
        case .add(let act):
            guard let a = inputs[0], let b = inputs[1], a.mean.count == b.mean.count else { return nil }
            return ClampedNormal(sumOf: a, b).clamped(act.clampRange)
        case .maxPool:
            return inputs[0]?.maxPooled()
        case .avgPool:
            return inputs[0]
        case .globalAvgPool:
            return inputs[0]?.channelMeans()
        case .flatten:
            guard let d = inputs[0], let shape = model.graph.value(node.inputs[0])?.shape else { return nil }
            return shape.count == 3 ? d.flattened(positions: shape[0] * shape[1]) : d
        case .shortcutA(let pad):
            return inputs[0]?.zeroPadded(pad)
        default:
            return nil
        }
    }

    /// What `sigmas` is when not chosen (chosen on held-apart CIFAR-10 images: docs/PTQ.md).
    static let defaultSigmas = 8.0

    /// Where the u8 ranges of `graph` (typed by `assignActivationTypes` with these ranges) came from, in words.
    func rangeSummary(_ graph: Graph) -> String {
        var fromStatistics = 0, fromInput = false
        var dynamic: [String] = []
        // each quantization once: where a conv, add or quantize writes it (pools and the like keep its codes)
        for node in graph.nodes where !node.op.keepsInputCodes {
            let source = node.op == .quantize ? node.inputs[0] : node.output
            switch graph.value(node.output)?.quant {
            case .uint8?:
                if source == graph.input { fromInput = true } else if ranges[source] != nil { fromStatistics += 1 }
            case .dynamicUInt8?:
                dynamic.append(source)
            default:
                break
            }
        }
        var parts = ["\(fromStatistics) from BatchNorm statistics (data-free, mean +- \(sigmas.formatted()) sd)"]
        if fromInput { parts.append("the input's from the preprocessing (pixels in [0, 1])") }
        if !dynamic.isEmpty {
            parts.append("\(dynamic.count) at run time (not modeled: \(dynamic.prefix(4).joined(separator: ", "))\(dynamic.count > 4 ? ", ..." : ""))")
        }
        return "u8 static without calibration: " + parts.joined(separator: "; ")
    }

    /// The notes of a conversion: unusable BatchNorms, and how many layers' biases were corrected.
    func notes(biasCorrected: Int) -> [String] {
        (unusableBatchNorms.isEmpty ? [] : ["BatchNorm statistics not usable (not finite, or a negative variance): "
            + unusableBatchNorms.joined(separator: ", ") + "; what they feed is quantized at run time and not bias-corrected"])
        + (biasCorrected == 0 ? [] : ["data-free bias correction: \(biasCorrected) layers (input means from the BatchNorm statistics)"])
    }

    /// [min, max] of the normalised input over its channels: (0 - mean) / std ... (1 - mean) / std.
    private static func inputRange(_ p: Preprocessing, _ shape: [Int]?) -> (min: Float, max: Float)? {
        guard let c = shape?.last, c == p.mean.count, c == p.std.count else { return nil }
        let ends = (0..<c).flatMap { [(0 - p.mean[$0]) / p.std[$0], (1 - p.mean[$0]) / p.std[$0]] }
        return (ends.min()!, ends.max()!)
    }

    /// The means of each weight layer's im2col rows (per conv group, in the weights' (ky, kx, c) order; a
    /// linear's one row is its input) for the layers of `graph` (after folding and fusion: the names of
    /// their inputs are values of the graph this was built from) whose input is modeled. A conv tap's mean
    /// is the channel's times the fraction of output positions where the tap reads inside the map (zero
    /// padding elsewhere).
    func layerInputMeans(_ graph: Graph) -> [String: [[Double]]] {
        var rows: [String: [[Double]]] = [:]
        for i in graph.weightLayerIndices {
            let node = graph.nodes[i]
            guard let mean = means[node.inputs[0]] else { continue }
            switch node.op {
            case .conv2d(let c):
                guard let shape = graph.value(node.inputs[0])?.shape, shape.count == 3, shape[2] == mean.count,
                      c.inChannels == mean.count else { continue }
                let fy = tapCoverage(size: shape[0], kernel: c.kernel[0], stride: c.stride[0], padBefore: c.padding[0],
                                     padAfter: c.padding[2], dilation: c.dilation[0])
                let fx = tapCoverage(size: shape[1], kernel: c.kernel[1], stride: c.stride[1], padBefore: c.padding[1],
                                     padAfter: c.padding[3], dilation: c.dilation[1])
                let cg = c.inChannels / c.groups
                rows[node.name] = (0..<c.groups).map { g in
                    var row = [Double](repeating: 0, count: c.reductionSize)
                    for ky in 0..<c.kernel[0] {
                        for kx in 0..<c.kernel[1] {
                            for ch in 0..<cg { row[(ky * c.kernel[1] + kx) * cg + ch] = mean[g * cg + ch] * fy[ky] * fx[kx] }
                        }
                    }
                    return row
                }
            case .linear(let l):
                guard l.inFeatures == mean.count else { continue }
                rows[node.name] = [mean]
            default:
                continue
            }
        }
        return rows
    }
}

/// Per kernel tap along one axis, the fraction of output positions at which it reads inside the input.
private func tapCoverage(size: Int, kernel: Int, stride: Int, padBefore: Int, padAfter: Int, dilation: Int) -> [Double] {
    let outputs = (size + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride + 1
    guard outputs > 0 else { return [Double](repeating: 0, count: kernel) }
    return (0..<kernel).map { k in
        let inside = (0..<outputs).filter { o in
            let at = o * stride - padBefore + k * dilation
            return at >= 0 && at < size
        }.count
        return Double(inside) / Double(outputs)
    }
}

/// The bias shift that cancels a layer's rounding on inputs with the given mean rows (per conv group):
/// shift_r = (w_r - q_r) . mean_g, added to the bias (b' = b - (Q - W) E[x]).
func weightErrorShift(weights w: [Float], quantized q: [Float], rows: Int, k: Int, groupMeans: [[Double]]) -> [Float] {
    let perGroup = rows / groupMeans.count
    return (0..<rows).map { r in
        let mean = groupMeans[r / perGroup]
        var s = 0.0
        for j in 0..<k { s += mean[j] * Double(w[r * k + j] - q[r * k + j]) }
        return Float(s)
    }
}

/// Per channel, a normal N(normalMean, normalVariance) clamped to [lo, hi]; `mean` and `variance` are the
/// clamped values' moments (a max pool moves them off the clamped normal's; the range keeps the normal).
private struct ClampedNormal {
    var normalMean: [Double]
    var normalVariance: [Double]
    var lo = -Double.infinity, hi = Double.infinity
    var mean: [Double]
    var variance: [Double]
    /// false where only the mean is modeled (a global average pool's output).
    var hasRange = true

    init(normalMean: [Double], normalVariance: [Double]) {
        self.normalMean = normalMean
        self.normalVariance = normalVariance
        mean = normalMean
        variance = normalVariance
    }

    /// A BatchNorm's output, or nil when its statistics are unusable (not finite, variance < 0, eps <= 0 with
    /// a zero variance). A zero-variance channel is the constant beta.
    init?(batchNorm bn: BatchNorm, _ tensors: TensorStore) {
        guard let gamma = tensors[bn.gamma]?.floats, let beta = tensors[bn.beta]?.floats,
              let variance = tensors[bn.variance]?.floats, gamma.count == bn.channels, beta.count == bn.channels,
              variance.count == bn.channels, bn.eps.isFinite, bn.eps >= 0 else { return nil }
        var spread = [Double](repeating: 0, count: bn.channels)
        for c in 0..<bn.channels {
            let g = Double(gamma[c]), v = Double(variance[c]), eps = Double(bn.eps)
            guard g.isFinite, beta[c].isFinite, v.isFinite, v >= 0, v + eps > 0 else { return nil }
            spread[c] = g * g * v / (v + eps)
        }
        self.init(normalMean: beta.map(Double.init), normalVariance: spread)
    }

    /// a + b with independent operands: the sum's mean and variance, taken normal.
    init(sumOf a: ClampedNormal, _ b: ClampedNormal) {
        self.init(normalMean: zip(a.mean, b.mean).map(+), normalVariance: zip(a.variance, b.variance).map(+))
        hasRange = a.hasRange && b.hasRange
    }

    /// The distribution after clamping to `range` (nested clamps: their intersection).
    func clamped(_ range: (lo: Float, hi: Float)) -> ClampedNormal {
        var d = self
        d.lo = Swift.max(lo, Double(range.lo))
        d.hi = Swift.max(d.lo, Swift.min(hi, Double(range.hi)))
        for c in mean.indices {
            (d.mean[c], d.variance[c]) = clampedNormalMoments(mean: normalMean[c], sd: normalVariance[c].squareRoot(),
                                                              lo: d.lo, hi: d.hi)
        }
        return d
    }

    func maxPooled() -> ClampedNormal {
        var d = self
        for c in mean.indices {
            d.mean[c] = Swift.min(hi, mean[c] + variance[c].squareRoot())
            d.variance[c] = variance[c] / 2
        }
        return d
    }

    func channelMeans() -> ClampedNormal {
        var d = self
        d.hasRange = false
        return d
    }

    /// [H, W, C] -> [C * H * W] in (C, H, W) order.
    func flattened(positions: Int) -> ClampedNormal {
        func spread(_ x: [Double]) -> [Double] { x.flatMap { [Double](repeating: $0, count: positions) } }
        var d = self
        (d.normalMean, d.normalVariance, d.mean, d.variance) = (spread(normalMean), spread(normalVariance), spread(mean), spread(variance))
        return d
    }

    /// `pad` zero channels on each side.
    func zeroPadded(_ pad: Int) -> ClampedNormal {
        func padded(_ x: [Double]) -> [Double] { [Double](repeating: 0, count: pad) + x + [Double](repeating: 0, count: pad) }
        var d = self
        (d.normalMean, d.normalVariance, d.mean, d.variance) = (padded(normalMean), padded(normalVariance), padded(mean), padded(variance))
        return d
    }

    /// The union over channels of [mean - sigmas sd, mean + sigmas sd] of the normal, clamped; nil without channels.
    func range(sigmas: Double) -> (min: Float, max: Float)? {
        guard !normalMean.isEmpty else { return nil }
        var low = Double.infinity, high = -Double.infinity
        for c in normalMean.indices {
            let sd = normalVariance[c].squareRoot()
            low = Swift.min(low, Swift.min(Swift.max(normalMean[c] - sigmas * sd, lo), hi))
            high = Swift.max(high, Swift.max(Swift.min(normalMean[c] + sigmas * sd, hi), lo))
        }
        guard low.isFinite, high.isFinite else { return nil }
        return (Float(low), Float(high))
    }
}

/// Mean and variance of clamp(X, lo, hi) for X ~ N(mean, sd^2) (lo <= hi; either may be infinite).
func clampedNormalMoments(mean mu: Double, sd: Double, lo: Double, hi: Double) -> (mean: Double, variance: Double) {
    guard sd > 0 else {
        let x = Swift.min(Swift.max(mu, lo), hi)
        return (x, 0)
    }
    func pdf(_ z: Double) -> Double { z.isFinite ? exp(-0.5 * z * z) / (2 * Double.pi).squareRoot() : 0 }
    func cdf(_ z: Double) -> Double { 0.5 * (1 + erf(z / 2.0.squareRoot())) }
    let a = (lo - mu) / sd, b = (hi - mu) / sd
    let below = cdf(a), above = 1 - cdf(b), inside = cdf(b) - cdf(a)
    let (pa, pb) = (pdf(a), pdf(b))
    // the clamped ends' contributions (zero when the end is infinite)
    let loTerm = below > 0 ? lo * below : 0, hiTerm = above > 0 ? hi * above : 0
    let loSquare = below > 0 ? lo * lo * below : 0, hiSquare = above > 0 ? hi * hi * above : 0
    let za = a.isFinite ? a * pa : 0, zb = b.isFinite ? b * pb : 0
    let first = loTerm + hiTerm + mu * inside + sd * (pa - pb)
    let second = loSquare + hiSquare + (mu * mu + sd * sd) * inside + 2 * mu * sd * (pa - pb) + sd * sd * (za - zb)
    return (first, Swift.max(0, second - first * first))
}
