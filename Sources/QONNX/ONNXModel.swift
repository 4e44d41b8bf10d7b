// The typed description of an ONNX model that the reader returns: a validated graph whose nodes are in
// execution order, every name defined once, every tensor's bytes checked against its dims and type.
import QCheckpoint

/// An ONNX model as LowBit reads it (`ONNXModel.load`): its operator sets and its main graph.
public struct ONNXModel: Sendable {
    /// The file's `ir_version`.
    public var irVersion: Int64
    /// Operator set versions by domain ("" is the default domain, `ai.onnx`).
    public var opsets: [String: Int64]
    /// `producer_name producer_version`, e.g. "pytorch 2.13.0".
    public var producer: String
    public var graph: ONNXGraph

    /// The version of the default (`ai.onnx`) operator set, if the model imports it.
    public var defaultOpset: Int64? { opsets[""] ?? opsets["ai.onnx"] }
}

/// The main graph: inputs (initializers excluded), outputs, initializers and nodes in execution order.
public struct ONNXGraph: Sendable {
    public var name: String
    /// The values the caller feeds (graph inputs that no initializer provides).
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]
    /// Named constant tensors, in file order.
    public var initializers: [(name: String, tensor: CheckpointTensor)]
    /// The initializers the file stores as INT4 / UINT4 (held unpacked as int8 / uint8, one value a byte).
    public var fourBitInitializers: [String: ONNXDataType] = [:]
    /// Nodes sorted so that every node comes after the producers of its inputs (file order where free).
    public var nodes: [ONNXNode]
}

/// One operator application.
public struct ONNXNode: Sendable {
    /// The node's name; may be empty (ONNX does not require one).
    public var name: String
    public var opType: String
    /// "" (or "ai.onnx") for the standard operators.
    public var domain: String
    /// Value names read; "" stands for an omitted optional input.
    public var inputs: [String]
    /// Value names written; "" stands for an unused optional output.
    public var outputs: [String]
    public var attributes: [String: ONNXAttribute]
    /// Position in the file, for messages about unnamed nodes.
    public var index: Int

    /// `'name' (OpType)`, or `#index (OpType)` for an unnamed node: how messages name the node.
    public var label: String { name.isEmpty ? "#\(index) (\(opType))" : "'\(name)' (\(opType))" }
}

/// An attribute value (the types LowBit reads; graphs, sparse tensors and type protos are refused).
public enum ONNXAttribute: Sendable, Equatable {
    case float(Float)
    case int(Int64)
    case string(String)
    case tensor(CheckpointTensor)
    case floats([Float])
    case ints([Int64])
    case strings([String])
    case tensors([CheckpointTensor])

    /// The ONNX attribute type name (`INT`, `FLOATS`, ...), for messages.
    public var typeName: String {
        switch self {
        case .float: return "FLOAT"
        case .int: return "INT"
        case .string: return "STRING"
        case .tensor: return "TENSOR"
        case .floats: return "FLOATS"
        case .ints: return "INTS"
        case .strings: return "STRINGS"
        case .tensors: return "TENSORS"
        }
    }
}

/// A graph input or output: its name, element type and shape.
public struct ONNXValueInfo: Sendable, Equatable {
    public var name: String
    /// The element type, nil when the file does not say or the value is not a tensor.
    public var elementType: ONNXDataType?
    /// The dimensions; nil when the rank is unknown.
    public var shape: [ONNXDimension]?
}

/// One dimension of a value's shape.
public enum ONNXDimension: Sendable, Equatable, CustomStringConvertible {
    /// A fixed size.
    case value(Int)
    /// A named, caller-chosen size (e.g. "batch").
    case parameter(String)
    /// Not given.
    case unknown

    public var description: String {
        switch self {
        case .value(let v): return "\(v)"
        case .parameter(let p): return p
        case .unknown: return "?"
        }
    }
}

/// ONNX's element types (TensorProto.DataType) by their numbers, with the checkpoint type each maps to.
public enum ONNXDataType: Int32, Sendable, CaseIterable {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9
    case float16 = 10, double = 11, uint32 = 12, uint64 = 13, complex64 = 14, complex128 = 15, bfloat16 = 16
    case float8e4m3fn = 17, float8e4m3fnuz = 18, float8e5m2 = 19, float8e5m2fnuz = 20, uint4 = 21, int4 = 22
    case float4e2m1 = 23, float8e8m0 = 24, uint2 = 25, int2 = 26

    /// The upper-case ONNX name (`FLOAT`, `INT64`, ...).
    public var name: String { String(describing: self).uppercased() }

    /// The tensor type LowBit holds these elements in; nil for types it does not read.
    public var tensorType: TensorDType? {
        switch self {
        case .float: return .float32
        case .uint8: return .uint8
        case .int8: return .int8
        case .int16: return .int16
        case .int32: return .int32
        case .int64: return .int64
        case .bool: return .bool
        case .float16: return .float16
        case .double: return .float64
        case .bfloat16: return .bfloat16
        default: return nil
        }
    }

    /// The ONNX type of a checkpoint tensor type.
    public init(_ type: TensorDType) {
        self = ONNXDataType.allCases.first { $0.tensorType == type }!
    }
}
