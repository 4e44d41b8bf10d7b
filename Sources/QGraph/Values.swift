// Activation values of the graph: shapes and quantization descriptors.

/// How an activation tensor is represented at run time.
///
/// `uint8` is static affine quantization, real = scale * (q - zeroPoint); `dynamicUInt8` has the same
/// form with scale and zero point measured from the tensor each run (min/max, see `ActivationQuant.fit`).
public enum ActivationQuant: Codable, Equatable, Sendable {
    case float32
    case uint8(scale: Float, zeroPoint: Int)
    case dynamicUInt8

    /// True for both static and dynamic u8.
    public var isUInt8: Bool { if case .float32 = self { return false } else { return true } }

    /// The u8 parameters covering [min, max] (always including 0 so that zero padding is exact):
    /// scale = (max - min) / 255, zeroPoint = round(-min / scale) clamped to [0, 255].
    public static func fit(min lo: Float, max hi: Float) -> (scale: Float, zeroPoint: Int) {
        let lo = Swift.min(lo, 0), hi = Swift.max(hi, 0)
        guard hi > lo, (hi - lo).isFinite else { return (1, 0) }
        let scale = (hi - lo) / 255
        let zero = Int((-lo / scale).rounded(.toNearestOrEven))
        return (scale, Swift.min(Swift.max(zero, 0), 255))
    }
}

/// One activation tensor (batch 1): `shape` is [H, W, C] for feature maps (NHWC) or [C] for vectors.
public struct Value: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var quant: ActivationQuant

    public init(name: String, shape: [Int], quant: ActivationQuant = .float32) {
        self.name = name
        self.shape = shape
        self.quant = quant
    }

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}
