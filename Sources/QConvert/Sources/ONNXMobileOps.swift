// ONNX ops of mobile networks (MobileNetV3, EfficientNet) that become QGraph/Ops/ definitions: HardSwish,
// HardSigmoid, Sigmoid, Mul of run-time tensors as squeeze-excite's per-channel multiply, and x * Sigmoid(x)
// fused into one SiLU op. docs/ONNX.md lists them.
import QCheckpoint
import QGraph
import QONNX

extension ONNXGraphBuilder {
    /// A pointwise op of one run-time input (any shape).
    mutating func pointwise(_ node: ONNXNode, _ op: DefinedOp) throws {
        let x = try tensor(node, 0)
        define(node.outputs[0], .tensor(try appendOp(.defined(op), inputs: [x.value], for: node), shape: x.shape))
    }

    /// HardSigmoid: y = max(0, min(1, alpha * x + beta)), alpha 0.2 and beta 0.5 by default (PyTorch's
    /// Hardsigmoid exports alpha 1/6).
    mutating func hardSigmoid(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let op = HardSigmoid(alpha: try a.float("alpha", default: 0.2), beta: try a.float("beta", default: 0.5))
        try pointwise(node, .hardSigmoid(op))
    }

    /// Mul: of constants folded; x * Sigmoid(x) (the Sigmoid read only here) a SiLU; a tensor times a
    /// per-channel [1, C, 1, 1] (or [1, C]) tensor squeeze-excite's channel multiply. Other products of
    /// run-time tensors, and run-time tensors times constants, are refused.
    mutating func mul(_ node: ONNXNode) throws {
        let (x, y) = (try input(node, 0), try input(node, 1))
        guard case .tensor(let a, let sa) = x, case .tensor(let b, let sb) = y else {
            if case .constant = x, case .constant = y { return try arithmetic(node) }
            throw ConvertError("node \(node.label): Mul of a run-time tensor by a constant is not supported; LowBit "
                + "multiplies run-time tensors as x * Sigmoid(x) (SiLU) or by per-channel [1, C, 1, 1] scales (squeeze-excite)")
        }
        if try fuseSiLU(node, x: a, sigmoidOutput: node.inputs[1]) || fuseSiLU(node, x: b, sigmoidOutput: node.inputs[0]) {
            return
        }
        func perChannel(_ s: [Int], of shape: [Int]) -> Bool {
            shape.count >= 2 && s.count == shape.count && s[1] == shape[1] && s.enumerated().allSatisfy { $0.offset == 1 || $0.element == 1 }
        }
        // the operand that is one value per channel is the scale; the other keeps its shape
        let (value, scale, shape): (String, String, [Int])
        if perChannel(sb, of: sa) {
            (value, scale, shape) = (a, b, sa)
        } else if perChannel(sa, of: sb) {
            (value, scale, shape) = (b, a, sb)
        } else {
            throw ConvertError("node \(node.label): Mul of shapes \(sa) and \(sb) is not supported; LowBit multiplies run-time "
                + "tensors as x * Sigmoid(x) (SiLU) or by per-channel [1, C, 1, 1] scales (squeeze-excite)")
        }
        guard graph.value(scale)!.shape.count == 1 else {
            throw ConvertError("node \(node.label): the per-channel operand of Mul is not a vector LowBit holds as [C]")
        }
        define(node.outputs[0], .tensor(try appendOp(.defined(.channelMul(ChannelMul())), inputs: [value, scale], for: node), shape: shape))
    }

    /// When `sigmoidOutput` is a Sigmoid of LowBit value `x` read only by this Mul: the Sigmoid node
    /// becomes one SiLU node (moved here, renamed `silu_<n>`) and the Mul's output is it. False otherwise.
    private mutating func fuseSiLU(_ node: ONNXNode, x: String, sigmoidOutput: String) throws -> Bool {
        guard readerCount(sigmoidOutput) == 1, case .tensor(let s, let shape)? = value(sigmoidOutput),
              origin(of: s) == sigmoidOutput, let i = graph.producer(of: s),
              case .defined(.sigmoid) = graph.nodes[i].op, graph.nodes[i].inputs == [x] else { return false }
        graph.nodes.remove(at: i)
        graph.removeValue(s)
        define(node.outputs[0], .tensor(try appendOp(.defined(.silu(SiLU())), inputs: [x], for: node), shape: shape))
        return true
    }
}
