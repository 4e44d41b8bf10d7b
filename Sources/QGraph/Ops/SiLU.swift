// SiLU / Swish (PyTorch nn.SiLU; ONNX writes it as x * Sigmoid(x), which the ONNX source fuses into this
// one op): y = x / (1 + exp(-x)), on f32 values.
import Foundation

/// y = x * sigmoid(x) = x / (1 + e^-x), pointwise.
public struct SiLU: UnaryPointwiseOp {
    public init() {}
    public var kind: String { "silu" }
    public func apply(_ x: Double) -> Double { x / (1 + exp(-x)) }
}
