// A range of channels (ONNX Split and Slice on axis 1 of [1, C, H, W] maps, torch.split / chunk /
// x[:, a:b]): input [H, W, C] (or a vector [C]), output [H, W, count] with channels start ..< start + count.

/// y[p, c] = x[p, start + c] for c in 0 ..< count.
public struct ChannelSlice: OpDefinition {
    public var start: Int
    public var count: Int

    public init(start: Int, count: Int) {
        self.start = start
        self.count = count
    }

    public var kind: String { "slice" }
    public var dumpAttributes: String { " channels=\(start)..<\(start + count)" }

    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count == 1 else { throw OpError("expects 1 input, has \(inputs.count)") }
        guard let c = inputs[0].last, start >= 0, count >= 1, start <= c - count else {
            throw OpError("channels \(start)..<\(start + count) are not within the input's \(inputs[0])")
        }
        return inputs[0].dropLast() + [count]
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] {
        let c = shape.last!, x = inputs[0]
        return (0..<(x.count / c)).flatMap { p in x[(p * c + start)..<(p * c + start + count)] }
    }
}
