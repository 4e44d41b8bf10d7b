// Add / Sub / Mul / Div of two run-time tensors with per-channel broadcasting (ONNX Add, Sub, Mul, Div of
// [1, C, H, W] maps, or a map and a [1, C, 1, 1] / [1, C] tensor, in either order): each input is the full
// shape [H, W, C] (or a vector [N]) or a [C] vector applied to every pixel.

/// y[p, c] = a[p, c] op b[p, c], a [C] input read as a[c] (b[c]) at every pixel p.
public struct ChannelArithmetic: OpDefinition {
    /// The elementwise operation.
    public enum Operation: String, Codable, Sendable { case add, sub, mul, div }

    public var operation: Operation

    public init(_ operation: Operation) { self.operation = operation }

    public var kind: String { "arith" }
    public var dumpAttributes: String { " \(operation.rawValue)" }

    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count == 2 else { throw OpError("expects 2 inputs, has \(inputs.count)") }
        let (a, b) = (inputs[0], inputs[1])
        if a == b { return a }
        if b.count == 1, a.last == b[0] { return a }
        if a.count == 1, b.last == a[0] { return b }
        throw OpError("shapes \(a) and \(b) are neither equal nor a map and one value per channel")
    }

    /// The float64 operation.
    public func apply(_ x: Double, _ y: Double) -> Double {
        switch operation {
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        }
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] {
        let (a, b) = (inputs[0], inputs[1])
        let n = max(a.count, b.count)
        return (0..<n).map { i in apply(a[i % a.count], b[i % b.count]) }
    }
}
