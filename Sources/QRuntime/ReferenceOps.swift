// The float64 reference's operators: each graph op on Double values with plain loops, exactly as the
// graph IR defines it (QGraph/Ops.swift) and with the rounding rules of qk_eltwise.c, but in double.
import QGraph

/// A conv (or a linear, as a 1x1 conv on a [1, 1, in] input) with its weights decoded to Double.
///
/// y[oy][ox][oc] = clamp(sum over (ky, kx, c) of x[iy][ix][g * cpg + c] * w[oc][(ky * kw + kx) * cpg + c]
/// + bias[oc] + residual[oy][ox][oc], lo, hi), iy = oy * sh - pt + ky * dh, ix = ox * sw - pl + kx * dw,
/// taps outside the input are zero padding; g = oc / (OC / groups), cpg = C / groups.
struct ReferenceConv: Sendable {
    var kernel: (h: Int, w: Int)
    var stride: (h: Int, w: Int)
    var padding: (top: Int, left: Int)
    var dilation: (h: Int, w: Int)
    var groups: Int
    /// Rows [OC][K], K = kh * kw * (C / groups) in (ky, kx, c) order.
    var weights: [Double]
    var bias: [Double]
    var clamp: (lo: Double, hi: Double)
}

/// One graph op with its parameters in Double.
enum ReferenceOp: Sendable {
    /// Conv or linear; with `residual`, the node's second input is added before the clamp.
    case conv(ReferenceConv, residual: Bool)
    /// y = (x - mean[c]) / sqrt(variance[c] + eps) * gamma[c] + beta[c]; `denominator` = sqrt(variance + eps).
    case batchNorm(mean: [Double], denominator: [Double], gamma: [Double], beta: [Double])
    /// Swift's min(max(x, lo), hi) (a NaN passes through, as in qk_eltwise.c).
    case clamp(lo: Double, hi: Double)
    /// y = x >= 0 ? x : slope * x, one slope per channel or one shared slope.
    case prelu(slopes: [Double])
    /// y = 1, -1 or 0 for x > 0, x < 0, otherwise (0 and NaN).
    case sign
    /// y = clamp(floor(x / delta) * delta, lo, hi).
    case roundToFixed(delta: Double, lo: Double, hi: Double)
    /// y = round_half_even(clamp(x, 0, 1) * levels) / levels.
    case doReFa(levels: Double)
    /// y = clamp(a + b, lo, hi).
    case add(lo: Double, hi: Double)
    case maxPool(Pool)
    /// Average over the window, padding counted (divisor kh * kw).
    case avgPool(Pool)
    case globalAvgPool
    /// [H, W, C] -> C-major [C * H * W] (PyTorch's flatten of NCHW); a vector is copied.
    case flatten
    /// x[::2, ::2, :] with `pad` zero channels on each side.
    case shortcutA(pad: Int)
    /// An op with its own definition (QGraph/Ops/), which states its reference math.
    case defined(DefinedOp)

    /// The op's output for `inputs` (first input of shape `inShape`), of shape `outShape`.
    func evaluate(_ inputs: [[Double]], inShape: [Int], outShape: [Int]) -> [Double] {
        let x = inputs[0]
        switch self {
        case .defined(let d):
            return d.definition.reference(inputs, shape: inShape)
        case .conv(let c, let residual):
            return ReferenceOp.conv(c, x, residual: residual ? inputs[1] : nil, inShape: inShape, outShape: outShape)
        case .batchNorm(let mean, let denominator, let gamma, let beta):
            return ReferenceOp.perChannel(x, channels: mean.count) { v, c in (v - mean[c]) / denominator[c] * gamma[c] + beta[c] }
        case .clamp(let lo, let hi):
            return x.map { ReferenceOp.clamp($0, lo, hi) }
        case .prelu(let slopes):
            if slopes.count == 1 { return x.map { $0 >= 0 ? $0 : slopes[0] * $0 } }
            return ReferenceOp.perChannel(x, channels: slopes.count) { v, c in v >= 0 ? v : slopes[c] * v }
        case .sign:
            return x.map { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 }
        case .roundToFixed(let delta, let lo, let hi):
            return x.map { ReferenceOp.clamp(($0 / delta).rounded(.down) * delta, lo, hi) }
        case .doReFa(let levels):
            return x.map { (ReferenceOp.clamp($0, 0, 1) * levels).rounded(.toNearestOrEven) / levels }
        case .add(let lo, let hi):
            return zip(x, inputs[1]).map { ReferenceOp.clamp($0 + $1, lo, hi) }
        case .maxPool(let p):
            return ReferenceOp.pool(p, x, inShape: inShape, outShape: outShape, start: -.infinity) { Swift.max($0, $1) } finish: { s in s }
        case .avgPool(let p):
            let divisor = Double(p.kernel[0] * p.kernel[1])
            return ReferenceOp.pool(p, x, inShape: inShape, outShape: outShape, start: 0, +) { $0 / divisor }
        case .globalAvgPool:
            let channels = inShape[2], pixels = inShape[0] * inShape[1]
            var sums = [Double](repeating: 0, count: channels)
            for p in 0..<pixels { for c in 0..<channels { sums[c] += x[p * channels + c] } }
            return sums.map { $0 / Double(pixels) }
        case .flatten:
            guard inShape.count == 3 else { return x }
            let pixels = inShape[0] * inShape[1], channels = inShape[2]
            var y = [Double](repeating: 0, count: x.count)
            for p in 0..<pixels { for c in 0..<channels { y[c * pixels + p] = x[p * channels + c] } }
            return y
        case .shortcutA(let pad):
            let (w, c) = (inShape[1], inShape[2])
            let (oh, ow, oc) = (outShape[0], outShape[1], outShape[2])
            var y = [Double](repeating: 0, count: oh * ow * oc)
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for ch in 0..<c { y[(oy * ow + ox) * oc + pad + ch] = x[(2 * oy * w + 2 * ox) * c + ch] }
                }
            }
            return y
        }
    }

    /// Swift's min(max(x, lo), hi).
    static func clamp(_ x: Double, _ lo: Double, _ hi: Double) -> Double { Swift.min(Swift.max(x, lo), hi) }

    /// `f(x[i], channel of i)` with the channel the last dimension (i % channels).
    private static func perChannel(_ x: [Double], channels: Int, _ f: (Double, Int) -> Double) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for p in 0..<(x.count / channels) { for c in 0..<channels { y[p * channels + c] = f(x[p * channels + c], c) } }
        return y
    }

    /// A window reduction per output pixel and channel over the input taps inside the window
    /// (PyTorch floor mode: padding taps are skipped, `finish` sees the reduction of the real ones).
    private static func pool(_ p: Pool, _ x: [Double], inShape: [Int], outShape: [Int], start: Double,
                             _ combine: (Double, Double) -> Double, finish: (Double) -> Double) -> [Double] {
        let (h, w, channels) = (inShape[0], inShape[1], inShape[2])
        let (oh, ow) = (outShape[0], outShape[1])
        var y = [Double](repeating: 0, count: oh * ow * channels)
        for oy in 0..<oh {
            let y0 = oy * p.stride[0] - p.padding[0]
            for ox in 0..<ow {
                let x0 = ox * p.stride[1] - p.padding[1]
                for c in 0..<channels {
                    var r = start
                    for iy in Swift.max(y0, 0)..<Swift.min(y0 + p.kernel[0], h) {
                        for ix in Swift.max(x0, 0)..<Swift.min(x0 + p.kernel[1], w) { r = combine(r, x[(iy * w + ix) * channels + c]) }
                    }
                    y[(oy * ow + ox) * channels + c] = finish(r)
                }
            }
        }
        return y
    }

    /// The conv of `ReferenceConv`'s formula: the sum over taps and input channels first (contiguous
    /// inner loop over the group's channels), then bias, then the residual, then the clamp.
    private static func conv(_ c: ReferenceConv, _ x: [Double], residual: [Double]?, inShape: [Int], outShape: [Int]) -> [Double] {
        let (h, w, channels) = (inShape[0], inShape[1], inShape[2])
        let (oh, ow, oc) = (outShape[0], outShape[1], outShape[2])
        let cpg = channels / c.groups, opg = oc / c.groups, k = c.kernel.h * c.kernel.w * cpg
        var y = [Double](repeating: 0, count: oh * ow * oc)
        x.withUnsafeBufferPointer { xs in
            c.weights.withUnsafeBufferPointer { ws in
                y.withUnsafeMutableBufferPointer { ys in
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            for o in 0..<oc {
                                let g = o / opg
                                var sum = 0.0
                                for ky in 0..<c.kernel.h {
                                    let iy = oy * c.stride.h - c.padding.top + ky * c.dilation.h
                                    guard iy >= 0 && iy < h else { continue }
                                    for kx in 0..<c.kernel.w {
                                        let ix = ox * c.stride.w - c.padding.left + kx * c.dilation.w
                                        guard ix >= 0 && ix < w else { continue }
                                        let xRow = (iy * w + ix) * channels + g * cpg
                                        let wRow = o * k + (ky * c.kernel.w + kx) * cpg
                                        for j in 0..<cpg { sum += xs[xRow + j] * ws[wRow + j] }
                                    }
                                }
                                let at = (oy * ow + ox) * oc + o
                                ys[at] = clamp(sum + c.bias[o] + (residual?[at] ?? 0), c.clamp.lo, c.clamp.hi)
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}
