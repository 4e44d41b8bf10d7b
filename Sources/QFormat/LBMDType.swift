// Element types an .lbm tensor may have: the safetensors dtype strings LowBit uses.

/// An element type, spelled as in safetensors' `dtype` field.
public enum LBMDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i8 = "I8", u8 = "U8", i16 = "I16", i32 = "I32", i64 = "I64"
    case bool = "BOOL"

    /// Bytes per element (little-endian; BOOL is one byte holding 0 or 1).
    public var byteSize: Int {
        switch self {
        case .i8, .u8, .bool: return 1
        case .f16, .bf16, .i16: return 2
        case .f32, .i32: return 4
        case .f64, .i64: return 8
        }
    }
}

extension LBMDType {
    /// Bytes for `shape` of this dtype, or nil when a dimension is negative or the product overflows `Int`.
    public func byteCount(shape: [Int]) -> Int? {
        var count = byteSize
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }
}
