// Per-layer profiling: what each executor step is (for tables) and how long it took (measured by the
// executor with a monotonic clock around each step).
import Foundation
import QGraph

/// What one executor step computes, for per-layer profiles (`qbench --profile`).
public struct LayerInfo: Codable, Equatable, Sendable {
    /// The graph node's name.
    public var name: String
    /// The op's kind ("conv2d", "linear", "add", ...).
    public var op: String
    public var inputShape: [Int]
    public var outputShape: [Int]
    /// Weight format label ("uniform4", "f32", ...); nil for ops without weights.
    public var weightFormat: String?
    /// Weight bits (32 for float); nil for ops without weights.
    public var weightBits: Int?
    /// The micro-kernel member that runs the layer, when one does (e.g. "qk_lgemm_w4_ukernel_8x32c32__avx512vnnivbmi").
    public var kernel: String?
    /// Integer or float operations of the step (2 per multiply-accumulate); 0 where not meaningful.
    public var ops: Double

    /// The ISA suffix of `kernel` (after "__"), if any.
    public var isa: String? {
        guard let kernel, let range = kernel.range(of: "__") else { return nil }
        return String(kernel[range.upperBound...])
    }

    static func make(node: Node, input: [Int], output: [Int], kernel: String?) -> LayerInfo {
        var info = LayerInfo(name: node.name, op: node.op.kind, inputShape: input, outputShape: output,
                             weightFormat: nil, weightBits: nil, kernel: kernel, ops: 0)
        switch node.op {
        case .conv2d(let c):
            info.weightFormat = c.weight.label
            info.weightBits = c.weight.bits
            info.ops = 2 * Double(output.reduce(1, *)) * Double(c.reductionSize)
        case .linear(let l):
            info.weightFormat = l.weight.label
            info.weightBits = l.weight.bits
            info.ops = 2 * Double(l.inFeatures) * Double(l.outFeatures)
        default:
            break
        }
        return info
    }
}

/// Mean time per step over the profiled runs, in the plan's step order.
public struct LayerProfile: Sendable {
    public var layers: [LayerInfo]
    /// Milliseconds per run of each layer (mean over `runs`).
    public var milliseconds: [Double]
    public var runs: Int

    /// Sum of the per-layer times (ms per run).
    public var totalMilliseconds: Double { milliseconds.reduce(0, +) }
}

/// Accumulates nanoseconds per executor step.
final class StepTimer {
    let nanoseconds: UnsafeMutablePointer<UInt64>
    let count: Int

    init(steps: Int) {
        count = steps
        nanoseconds = .allocate(capacity: max(steps, 1))
        nanoseconds.initialize(repeating: 0, count: max(steps, 1))
    }

    @inline(__always) static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    deinit { nanoseconds.deallocate() }
}
