// Named parameter tensors held in memory while a model is built (the converter's side of the file).
import QFormat

/// One parameter tensor: dtype, shape and little-endian bytes.
public struct StoredTensor: Equatable, Sendable {
    public var dtype: LBMDType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(dtype: LBMDType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// An F32 tensor from values (shape product must equal the count).
    public init(floats: [Float], shape: [Int]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) values")
        self.init(dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    /// The values of an F32 tensor.
    public var floats: [Float] {
        precondition(dtype == .f32, "tensor is \(dtype), not F32")
        return bytes.withUnsafeBytes { raw in
            Array(UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: Float.self),
                                      count: raw.count / 4))
        }
    }
}

/// Dtype and shape of a named tensor, from memory or from a model file.
public protocol TensorCatalog {
    func tensorInfo(_ name: String) -> (dtype: LBMDType, shape: [Int])?
}

/// Parameter tensors in insertion order.
public struct TensorStore: TensorCatalog, Sendable {
    public private(set) var names: [String] = []
    private var tensors: [String: StoredTensor] = [:]

    public init() {}

    public subscript(name: String) -> StoredTensor? { tensors[name] }

    /// Adds or replaces a tensor.
    public mutating func set(_ name: String, _ tensor: StoredTensor) {
        if tensors.updateValue(tensor, forKey: name) == nil { names.append(name) }
    }

    /// Removes a tensor (no-op when absent).
    public mutating func remove(_ name: String) {
        if tensors.removeValue(forKey: name) != nil { names.removeAll { $0 == name } }
    }

    public func tensorInfo(_ name: String) -> (dtype: LBMDType, shape: [Int])? {
        tensors[name].map { ($0.dtype, $0.shape) }
    }

    /// Total bytes of all tensors.
    public var byteCount: Int { tensors.values.reduce(0) { $0 + $1.bytes.count } }
}

extension LBMFile: TensorCatalog {
    public func tensorInfo(_ name: String) -> (dtype: LBMDType, shape: [Int])? {
        tensor(name).map { ($0.dtype, $0.shape) }
    }
}
