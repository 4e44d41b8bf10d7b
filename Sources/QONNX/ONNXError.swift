// Errors and resource limits for ONNX reading: every failure names the file and what was wrong.

/// An ONNX model that could not be read or is not one LowBit accepts: the file and why.
public struct ONNXError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    /// `FILE: MESSAGE`.
    public var description: String { "\(file): \(message)" }
}

/// Bounds applied to an untrusted ONNX file before anything is allocated from its claims. Every tensor
/// must also hold exactly the bytes its dims and data type call for, so a claim is never allocated
/// beyond the data the file really carries.
public struct ONNXReadLimits: Sendable {
    /// Largest file, in bytes (protobuf's own limit for one message is 2 GiB).
    public var maxFileBytes: Int
    /// Deepest nesting of protobuf messages (attributes hold tensors, graphs hold nodes).
    public var maxMessageDepth: Int
    /// Most nodes in the graph.
    public var maxNodes: Int
    /// Most dimensions of one tensor or value.
    public var maxRank: Int
    /// Largest single dimension.
    public var maxDimension: Int
    /// Largest single tensor, in bytes.
    public var maxTensorBytes: Int

    public init(maxFileBytes: Int = 2 << 30, maxMessageDepth: Int = 32, maxNodes: Int = 1 << 20, maxRank: Int = 8,
                maxDimension: Int = Int(Int32.max), maxTensorBytes: Int = 1 << 31) {
        self.maxFileBytes = maxFileBytes
        self.maxMessageDepth = maxMessageDepth
        self.maxNodes = maxNodes
        self.maxRank = maxRank
        self.maxDimension = maxDimension
        self.maxTensorBytes = maxTensorBytes
    }

    public static let `default` = ONNXReadLimits()
}
