// Concatenation along channels (ONNX Concat on axis 1 of [1, C, H, W] maps, torch.cat(dim=1)): inputs
// [H, W, C_i] with one H, W (or vectors [C_i]); the output holds input 0's channels, then input 1's, ...

/// y[p, :] = x0[p, :] ++ x1[p, :] ++ ... (channels in input order).
public struct ChannelConcat: OpDefinition {
    public init() {}
    public var kind: String { "concat" }

    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count >= 2 else { throw OpError("expects at least 2 inputs, has \(inputs.count)") }
        let pixels = inputs[0].dropLast()
        guard !inputs[0].isEmpty, inputs.allSatisfy({ !$0.isEmpty && $0.dropLast() == pixels }) else {
            throw OpError("inputs \(inputs) differ in more than their channels")
        }
        return Array(pixels) + [inputs.reduce(0) { $0 + $1.last! }]
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] {
        let pixels = shape.dropLast().reduce(1, *)
        var y: [Double] = []
        for p in 0..<pixels {
            for x in inputs {
                let c = x.count / pixels
                y += x[(p * c)..<((p + 1) * c)]
            }
        }
        return y
    }
}
