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

    /// The pointwise activation a defined op is, or nil for any other op.
    init?(_ op: DefinedOp) {
        switch op {
        case .hardSwish: self = .hardSwish
        case .hardSigmoid(let h): self = .hardSigmoid(alpha: h.alpha, beta: h.beta)
        case .sigmoid: self = .sigmoid
        case .silu: self = .silu
        default: return nil
        }
    }

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
    if let function = PointwiseFunction(op) { return .pointwise(src: src, dst: output, count: count, function: function) }
    switch op {
    case .hardSwish, .hardSigmoid, .sigmoid, .silu: fatalError("pointwise, handled above")
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
    case .resize(let r): return .spatial(.resize(ResizeTables(r, channels: channels), src: src, dst: output))
    case .pad(let p):
        let x = inputs[0].shape
        return .spatial(.pad(src: src, dst: output, shape: (x[0], x[1], x[2]), pads: p.pads, mode: p.mode, value: p.value))
    case .softmax: return .spatial(.softmax(src: src, dst: output, pixels: count / channels, channels: channels))
    case .arithmetic(let a):
        let periods = inputs.map { $0.shape == out.shape ? count : channels }
        return .spatial(.arithmetic(a.operation, a: inputs[0].offset, aPeriod: periods[0], b: inputs[1].offset, bPeriod: periods[1],
                                    dst: output, count: count))
    }
}

/// The f32 steps of segmentation nets (qk_spatial.h): resize, border padding, channel softmax,
/// per-channel broadcast arithmetic.
enum SpatialStep {
    case resize(ResizeTables, src: Int, dst: Int)
    case pad(src: Int, dst: Int, shape: (Int, Int, Int), pads: [Int], mode: SpatialPad.Mode, value: Float)
    case softmax(src: Int, dst: Int, pixels: Int, channels: Int)
    case arithmetic(ChannelArithmetic.Operation, a: Int, aPeriod: Int, b: Int, bPeriod: Int, dst: Int, count: Int)

    /// Runs the kernel on the arena at `base`.
    func run(_ base: UnsafeMutableRawPointer) {
        func f32(_ offset: Int) -> UnsafeMutablePointer<Float> { (base + offset).assumingMemoryBound(to: Float.self) }
        switch self {
        case .resize(let t, let src, let dst):
            var g = t.geometry
            if t.linear { qk_resize_bilinear_f32(&g, f32(src), f32(dst)) } else { qk_resize_nearest_f32(&g, f32(src), f32(dst)) }
        case .pad(let src, let dst, let shape, let pads, let mode, let value):
            let code: Int32 = switch mode {
            case .constant: Int32(QK_PAD_CONSTANT)
            case .reflect: Int32(QK_PAD_REFLECT)
            case .edge: Int32(QK_PAD_EDGE)
            }
            qk_pad_f32(f32(src), Int32(shape.0), Int32(shape.1), Int32(shape.2), Int32(pads[0]), Int32(pads[1]),
                       Int32(pads[2]), Int32(pads[3]), code, value, f32(dst))
        case .softmax(let src, let dst, let pixels, let channels):
            qk_softmax_f32(pixels, channels, f32(src), f32(dst))
        case .arithmetic(let operation, let a, let aPeriod, let b, let bPeriod, let dst, let count):
            let code: Int32 = switch operation {
            case .add: Int32(QK_ARITH_ADD)
            case .sub: Int32(QK_ARITH_SUB)
            case .mul: Int32(QK_ARITH_MUL)
            case .div: Int32(QK_ARITH_DIV)
            }
            qk_channel_arith_f32(count, f32(a), aPeriod, f32(b), bPeriod, code, f32(dst))
        }
    }
}

/// A resize's per-axis source tables (Resize.sourceTable in f32), owned for the plan's lifetime, and the
/// kernel geometry pointing at them.
final class ResizeTables: @unchecked Sendable {
    let linear: Bool
    private(set) var geometry: qk_resize_geom
    private let indices: UnsafeMutablePointer<Int32>
    private let weights: UnsafeMutablePointer<Float>

    init(_ r: Resize, channels: Int) {
        linear = r.mode == .linear
        let rows = r.sourceTable(inLength: r.inHeight, outLength: r.outHeight, scale: r.scales[0])
        let columns = r.sourceTable(inLength: r.inWidth, outLength: r.outWidth, scale: r.scales[1])
        let (m, n) = (rows.count, columns.count)
        indices = .allocate(capacity: 2 * (m + n))
        weights = .allocate(capacity: m + n)
        for (i, t) in (rows + columns).enumerated() {
            let offset = i < m ? i : m + i     // row0, row1 in [0, 2m); col0, col1 in [2m, 2m + 2n)
            let width = i < m ? m : n
            indices[offset] = Int32(t.i0)
            indices[offset + width] = Int32(t.i1)
            weights[i] = Float(t.w)
        }
        geometry = qk_resize_geom(in_h: Int32(r.inHeight), in_w: Int32(r.inWidth), channels: Int32(channels),
                                  out_h: Int32(m), out_w: Int32(n), row0: indices, row1: indices + m, row_w: weights,
                                  col0: indices + 2 * m, col1: indices + 2 * m + n, col_w: weights + m)
    }

    deinit {
        indices.deallocate()
        weights.deallocate()
    }
}
