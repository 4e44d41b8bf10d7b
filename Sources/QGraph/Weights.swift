// Weight descriptors: how a conv or linear layer's weights are stored in the model file.

/// The numeric scheme of a layer's weights.
public enum WeightScheme: String, Codable, Sendable, CaseIterable {
    /// Full-precision float32 rows.
    case float32
    /// Symmetric per-output-channel uniform codes: value = code - 2^(b-1) + 1 .. (signed grid), real = scale[oc] * value.
    case uniform
    /// A per-layer codebook of 2^b levels (one exactly 0) with per-code indices.
    case codebook
    /// Power-of-two ("shift") weights: every table entry is 0 or +-2^e, so a layer can run on the
    /// multiplication-free shift-add kernels as well as the table-lookup ones.
    case shift
}

/// Where a layer's weights live in the tensor store and how to decode them.
///
/// Weight rows are the GEMM rows of the layer: one per output channel, K = kh*kw*(Cin/groups) values in
/// (ky, kx, c) order. For `float32`, `values` names an F32 tensor [OC, K]. Otherwise `codes` names a U8
/// tensor [OC, rowBytes] of packed b-bit codes (docs/KERNELS.md: rows padded to a multiple of 32 codes),
/// `lut` maps each code to its int8 weight value, `scale` names an F32 tensor [OC] with the real value of
/// one step, so the integer kernels use weight = scale[oc] * lut[code]. `levels`, when present, holds the
/// exact value of each code in the same units (lut[code] is its int8 rounding): the exact weight is
/// scale[oc] * levels[code]. Layers on f32 activations (weights-only quantization) use the exact weights.
public struct WeightDescriptor: Codable, Equatable, Sendable {
    public var scheme: WeightScheme
    public var bits: Int
    public var values: String?
    public var codes: String?
    public var lut: [Int]?
    public var scale: String?
    public var levels: [Float]?

    public init(scheme: WeightScheme, bits: Int, values: String? = nil, codes: String? = nil,
                lut: [Int]? = nil, scale: String? = nil, levels: [Float]? = nil) {
        self.scheme = scheme
        self.bits = bits
        self.values = values
        self.codes = codes
        self.lut = lut
        self.scale = scale
        self.levels = levels
    }

    /// A float32 descriptor for a tensor.
    public static func float32(_ tensor: String) -> WeightDescriptor {
        WeightDescriptor(scheme: .float32, bits: 32, values: tensor)
    }

    /// Short text for dumps and tables, e.g. "f32", "uniform4", "codebook2".
    public var label: String { scheme == .float32 ? "f32" : "\(scheme.rawValue)\(bits)" }

    /// True if every table entry is 0 or +-2^e (e <= 6) or -128: weights the shift-add kernels can run
    /// (the same rule as QKernels' qk_lut_is_shift).
    public static func isShiftTable(_ lut: [Int]) -> Bool {
        lut.allSatisfy { $0 == 0 || $0 == -128 || (abs($0) <= 64 && abs($0) & (abs($0) - 1) == 0) }
    }

    /// The exact value of `code` in units of the per-channel scale: levels[code] when stored, else the int8
    /// value (lut[code] for bits < 8, the code byte as int8 for 8 bits).
    public func exactValue(code: Int) -> Float {
        if let levels, code < levels.count { return levels[code] }
        if bits == 8 { return Float(Int8(truncatingIfNeeded: code)) }
        return Float(lut?[code] ?? 0)
    }

    /// 8-bit codes whose exact levels are their int8 values plus one half (levels[code] = int8(code) + 1/2
    /// up to the float32 rounding of the method's own levels, within 1/64: odd integer levels 2q + 1 in half
    /// units, as Any-Precision's 2Q - 255): the integer kernels run them as half-step weights (qk_gemm.h),
    /// acc = 2 * sum (a - za) * q + sum (a - za) exactly, at half the scale. Any other 8-bit table is at
    /// least 1/2 away from this on some code.
    public var isHalfStep: Bool {
        guard bits == 8, scheme != .float32, let levels, levels.count == 256 else { return false }
        return (0..<256).allSatisfy { abs(levels[$0] - (Float(Int8(truncatingIfNeeded: $0)) + 0.5)) <= 1.0 / 64 }
    }

    /// Bit widths the packed code layout supports.
    public static let packedBits: Set<Int> = [1, 2, 3, 4, 8]
}
