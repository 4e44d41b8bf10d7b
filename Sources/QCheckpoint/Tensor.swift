// Tensors read from checkpoints: element types and contiguous little-endian storage with value accessors.

/// The element type of a checkpoint tensor (the storage types PyTorch and safetensors write).
public enum TensorDType: String, Sendable, CaseIterable {
    case float32, float16, bfloat16, float64, int8, uint8, int16, int32, int64, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// Whether values are floating point.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return true
        default: return false
        }
    }

    /// The PyTorch storage class that holds this type (`torch.FloatStorage`, ...), without the module.
    public var torchStorageName: String {
        switch self {
        case .float32: return "FloatStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .float64: return "DoubleStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .int16: return "ShortStorage"
        case .int32: return "IntStorage"
        case .int64: return "LongStorage"
        case .bool: return "BoolStorage"
        }
    }

    /// The type a PyTorch storage class name (`FloatStorage`, `UntypedStorage`, ...) denotes, or nil.
    public init?(torchStorageName name: String) {
        if name == "UntypedStorage" || name == "ByteStorage" { self = .uint8; return }
        guard let match = TensorDType.allCases.first(where: { $0.torchStorageName == name }) else { return nil }
        self = match
    }

    /// The safetensors dtype string (`F32`, `BF16`, ...).
    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .float64: return "F64"
        case .int8: return "I8"
        case .uint8: return "U8"
        case .int16: return "I16"
        case .int32: return "I32"
        case .int64: return "I64"
        case .bool: return "BOOL"
        }
    }

    /// The type a safetensors dtype string denotes, or nil when LowBit does not read it.
    public init?(safetensorsName name: String) {
        guard let match = TensorDType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
        self = match
    }
}

/// A named tensor's contents: element type, shape and contiguous row-major little-endian bytes.
public struct CheckpointTensor: Sendable, Equatable {
    public let dtype: TensorDType
    public let shape: [Int]
    /// Contiguous, row-major, little-endian; `elementCount * dtype.byteSize` bytes.
    public let bytes: [UInt8]

    /// Wraps raw bytes; `bytes.count` must equal the element count times the element size.
    public init(dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(bytes.count == shape.reduce(1, *) * dtype.byteSize, "byte count does not match shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 tensor from values (for tests and tools that build checkpoints in memory).
    public init(shape: [Int], floats: [Float]) {
        var bytes = [UInt8](repeating: 0, count: floats.count * 4)
        bytes.withUnsafeMutableBytes { raw in
            floats.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        self.init(dtype: .float32, shape: shape, bytes: bytes)
    }

    /// The number of elements (the product of the shape; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Every element converted to Float: f16 and bf16 exactly, f64 rounded to nearest, integers converted.
    public func floatValues() -> [Float] {
        let n = elementCount
        return [Float](unsafeUninitializedCapacity: n) { out, count in
            bytes.withUnsafeBytes { raw in
                switch dtype {
                case .float32:
                    _ = memcpyFloats(raw, into: out, n)
                case .float16:
                    #if arch(x86_64) || arch(arm64)
                    for i in 0..<n { out[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                    #else
                    for i in 0..<n { out[i] = halfToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                    #endif
                case .bfloat16:
                    for i in 0..<n {
                        out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                    }
                case .float64:
                    for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
                case .int8:
                    for i in 0..<n { out[i] = Float(raw.load(fromByteOffset: i, as: Int8.self)) }
                case .uint8, .bool:
                    for i in 0..<n { out[i] = Float(raw[i]) }
                case .int16:
                    for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
                case .int32:
                    for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
                case .int64:
                    for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
                }
            }
            count = n
        }
    }

    /// Every element as Int64: integer and bool types exactly; float types truncated toward zero
    /// (NaN gives 0, out-of-range values clamp).
    public func int64Values() -> [Int64] {
        let n = elementCount
        return [Int64](unsafeUninitializedCapacity: n) { out, count in
            bytes.withUnsafeBytes { raw in
                switch dtype {
                case .int8:
                    for i in 0..<n { out[i] = Int64(raw.load(fromByteOffset: i, as: Int8.self)) }
                case .uint8, .bool:
                    for i in 0..<n { out[i] = Int64(raw[i]) }
                case .int16:
                    for i in 0..<n { out[i] = Int64(raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
                case .int32:
                    for i in 0..<n { out[i] = Int64(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
                case .int64:
                    for i in 0..<n { out[i] = raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self) }
                case .float64:
                    for i in 0..<n { out[i] = clampedInt64(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
                case .float32, .float16, .bfloat16:
                    break
                }
            }
            if dtype == .float32 || dtype == .float16 || dtype == .bfloat16 {
                let floats = floatValues()
                for i in 0..<n { out[i] = clampedInt64(Double(floats[i])) }
            }
            count = n
        }
    }
}

private func memcpyFloats(_ raw: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>, _ n: Int) -> Int {
    if n > 0 { UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(4 * n)])) }
    return n
}

private func clampedInt64(_ value: Double) -> Int64 {
    if value.isNaN { return 0 }
    if value >= 9.2233720368547758e18 { return .max }
    if value <= -9.2233720368547758e18 { return .min }
    return Int64(value)
}

/// IEEE half to float, for platforms without Float16 (value-exact).
func halfToFloat(_ h: UInt16) -> Float {
    let sign: Float = h & 0x8000 != 0 ? -1 : 1
    let exponent = Int((h >> 10) & 0x1F), mantissa = Float(h & 0x3FF)
    if exponent == 0 { return sign * mantissa * 0x1p-24 }
    if exponent == 31 { return mantissa == 0 ? sign * .infinity : .nan }
    return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
}
