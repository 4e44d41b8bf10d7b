// Sigmoid (PyTorch torch.sigmoid, ONNX Sigmoid): y = 1 / (1 + exp(-x)), on f32 values.
import Foundation

/// y = 1 / (1 + e^-x), pointwise.
public struct Sigmoid: UnaryPointwiseOp {
    public init() {}
    public var kind: String { "sigmoid" }
    public func apply(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
}
