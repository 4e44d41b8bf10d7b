// HardSigmoid (ONNX HardSigmoid; PyTorch nn.Hardsigmoid is alpha 1/6, beta 0.5): y = clamp(alpha * x +
// beta, 0, 1), on f32 values.

/// y = min(max(alpha * x + beta, 0), 1), pointwise.
public struct HardSigmoid: UnaryPointwiseOp {
    public var alpha: Float
    public var beta: Float

    public init(alpha: Float = 1 / 6, beta: Float = 0.5) {
        self.alpha = alpha
        self.beta = beta
    }

    public var kind: String { "hardsigmoid" }
    public var dumpAttributes: String { " alpha=\(alpha) beta=\(beta)" }

    public func validate(tensors: TensorCatalog) throws(OpError) {
        guard alpha.isFinite, beta.isFinite else { throw OpError("alpha \(alpha) and beta \(beta) must be finite") }
    }

    public func apply(_ x: Double) -> Double { Swift.min(Swift.max(Double(alpha) * x + Double(beta), 0), 1) }
}
