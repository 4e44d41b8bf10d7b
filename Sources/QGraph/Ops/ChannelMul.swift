// The per-channel multiply of squeeze-excite (ONNX Mul of [1, C, H, W] by [1, C, 1, 1]): input 0 a map
// [H, W, C] (or a vector [C]), input 1 a [C] vector of run-time scales; y[p, c] = x[p, c] * s[c].

/// y[p, c] = x[p, c] * s[c]: every pixel of input 0 times the per-channel vector input 1.
public struct ChannelMul: OpDefinition {
    public init() {}
    public var kind: String { "channelmul" }

    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count == 2 else { throw OpError("expects 2 inputs (values, per-channel scales), has \(inputs.count)") }
        guard let c = inputs[0].last, inputs[1] == [c] else {
            throw OpError("scales \(inputs[1]) are not one per channel of \(inputs[0])")
        }
        return inputs[0]
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] {
        let (x, s) = (inputs[0], inputs[1])
        return x.indices.map { x[$0] * s[$0 % s.count] }
    }
}
