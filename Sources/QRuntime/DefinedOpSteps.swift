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

/// The step of defined op `op` reading the arena offsets `inputs` and writing `output` (shape `out`,
/// f32: their typing is `.float32`).
func definedStep(_ op: DefinedOp, inputs: [Int], output: Int, out: Value) -> Step {
    let count = out.elementCount
    switch op {
    case .hardSwish: return .pointwise(src: inputs[0], dst: output, count: count, function: .hardSwish)
    case .hardSigmoid(let h): return .pointwise(src: inputs[0], dst: output, count: count, function: .hardSigmoid(alpha: h.alpha, beta: h.beta))
    case .sigmoid: return .pointwise(src: inputs[0], dst: output, count: count, function: .sigmoid)
    case .silu: return .pointwise(src: inputs[0], dst: output, count: count, function: .silu)
    case .channelMul: return .channelMul(src: inputs[0], scale: inputs[1], dst: output, count: count, channels: out.shape.last!)
    }
}
