// Softmax over channels (ONNX Softmax on axis 1 of a [1, C, H, W] map or of a [1, N] vector, PyTorch
// softmax(dim=1)): input [H, W, C] (or [N]); every pixel's C values become exp(x - max) / sum.
import Foundation

/// y[p, c] = exp(x[p, c]) / sum_k exp(x[p, k]).
public struct ChannelSoftmax: OpDefinition {
    public init() {}
    public var kind: String { "softmax" }

    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count == 1 else { throw OpError("expects 1 input, has \(inputs.count)") }
        return inputs[0]
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] {
        let c = shape.last!, x = inputs[0]
        return (0..<(x.count / c)).flatMap { p -> [Double] in
            let row = x[(p * c)..<((p + 1) * c)]
            let top = row.max()!
            let e = row.map { exp($0 - top) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }
}
