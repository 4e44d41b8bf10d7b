// HardSwish (PyTorch nn.Hardswish, ONNX HardSwish): y = x * clamp(x + 3, 0, 6) / 6, on f32 values.

/// y = x * min(max(x + 3, 0), 6) / 6, pointwise.
public struct HardSwish: UnaryPointwiseOp {
    public init() {}
    public var kind: String { "hardswish" }
    public func apply(_ x: Double) -> Double { x * Swift.min(Swift.max(x + 3, 0), 6) / 6 }
}
