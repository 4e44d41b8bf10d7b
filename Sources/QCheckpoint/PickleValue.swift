// The value tree an unpickled checkpoint becomes: plain data, tensors, and inert stand-ins for other objects.

/// One unpickled value. Objects of classes LowBit does not build are `.opaque`: inert, keeping their
/// class name, constructor arguments and state for messages. APPENDS/SETITEMS applied to an opaque object
/// are kept as one extra trailing argument (a `.list` or `.dict`).
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// A LONG that does not fit in Int64: little-endian two's complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// Insertion ordered, as in Python.
    case dict([(key: PickleValue, value: PickleValue)])
    case set([PickleValue])
    case tensor(CheckpointTensor)
    case opaque(className: String, args: [PickleValue], state: PickleValue?)

    /// The integer (bools count as 0/1), or nil.
    public var intValue: Int64? {
        switch self {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        case .tensor(let t) where t.elementCount == 1 && !t.dtype.isFloatingPoint: return t.int64Values()[0]
        default: return nil
        }
    }

    /// The number as a Double (ints converted; one-element tensors too), or nil.
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .int(let v): return Double(v)
        case .bool(let b): return b ? 1 : 0
        case .tensor(let t) where t.elementCount == 1:
            if t.dtype == .float64 { return t.bytes.withUnsafeBytes { $0.loadUnaligned(as: Double.self) } }
            return Double(t.floatValues()[0])
        default: return nil
        }
    }

    /// The string, or nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The tensor, or nil.
    public var tensorValue: CheckpointTensor? {
        if case .tensor(let t) = self { return t }
        return nil
    }

    /// The entries of a dict, or nil.
    public var dictEntries: [(key: PickleValue, value: PickleValue)]? {
        if case .dict(let entries) = self { return entries }
        return nil
    }

    /// The elements of a list, tuple or set, or nil.
    public var elements: [PickleValue]? {
        switch self {
        case .list(let a), .tuple(let a), .set(let a): return a
        default: return nil
        }
    }

    /// The value stored under a string key of a dict (the last one if repeated), or nil.
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        return entries.last(where: { $0.key.stringValue == key })?.value
    }

    /// The class name of an opaque value, or nil.
    public var opaqueClassName: String? {
        if case .opaque(let name, _, _) = self { return name }
        return nil
    }
}
