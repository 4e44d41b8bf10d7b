// The run-time side of the ops defined in QGraph/Ops/: the executor step each one plans to and its C
// kernel call (qk_eltwise.c). Everything else about such an op (shape, validation, typing, reference
// math) is its definition's.
import QGraph
import QKernels

/// A pointwise f32 activation of QGraph/Ops/.
enum PointwiseFunction {
    case hardSwish
    case hardSigmoid(alpha: Float, beta: Float)
    case sigmoid
    case silu

    /// Runs the kernel on n floats.
    func run(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        switch self {
        case .hardSwish: qk_hardswish_f32(n, x, y)
        case .hardSigmoid(let alpha, let beta): qk_hardsigmoid_f32(n, x, alpha, beta, y)
        case .sigmoid: qk_sigmoid_f32(n, x, y)
        case .silu: qk_silu_f32(n, x, y)
        }
    }
}

/// One input's part of a channel copy (concat, slice): channels from ..< from + count of each pixel of
/// the value at arena offset `src` (`channels` per pixel) go to channels to ..< to + count of the output.
struct ChannelCopy {
    var src: Int
    var channels: Int
    var from: Int
    var to: Int
    var count: Int
}

/// The step of defined op `op` reading the values `inputs` (arena offset and shape) and writing the
/// value at `output` (shape `out`, f32: their typing is `.float32`).
func definedStep(_ op: DefinedOp, inputs: [(offset: Int, shape: [Int])], output: Int, out: Value) -> Step {
    let count = out.elementCount, channels = out.shape.last!, src = inputs[0].offset
    switch op {
    case .hardSwish: return .pointwise(src: src, dst: output, count: count, function: .hardSwish)
    case .hardSigmoid(let h): return .pointwise(src: src, dst: output, count: count, function: .hardSigmoid(alpha: h.alpha, beta: h.beta))
    case .sigmoid: return .pointwise(src: src, dst: output, count: count, function: .sigmoid)
    case .silu: return .pointwise(src: src, dst: output, count: count, function: .silu)
    case .channelMul: return .channelMul(src: src, scale: inputs[1].offset, dst: output, count: count, channels: channels)
    case .concat:
        var to = 0
        let parts = inputs.map { input -> ChannelCopy in
            let c = input.shape.last!
            defer { to += c }
            return ChannelCopy(src: input.offset, channels: c, from: 0, to: to, count: c)
        }
        return .copyChannels(dst: output, pixels: count / channels, channels: channels, parts: parts)
    case .slice(let s):
        let part = ChannelCopy(src: src, channels: inputs[0].shape.last!, from: s.start, to: 0, count: s.count)
        return .copyChannels(dst: output, pixels: count / channels, channels: channels, parts: [part])
    }
}
