// Where a model's parameter tensors live while it runs: the mapped .lbm file (zero-copy), or one
// aligned copy of an in-memory TensorStore. Plans point into this memory; the Model keeps it alive.
import QFormat
import QGraph

/// Named tensors whose bytes stay valid and unchanged for as long as the source lives; every tensor
/// starts 64-byte aligned.
protocol TensorSource: TensorCatalog, AnyObject, Sendable {
    /// The bytes of tensor `name`, or nil when there is none.
    func bytes(of name: String) -> UnsafeRawBufferPointer?
}

extension TensorSource {
    /// The bytes of a tensor the validated graph names (validation guarantees it exists).
    func pointer(_ name: String) -> UnsafeRawPointer { bytes(of: name)!.baseAddress! }

    /// The elements of a validated F32 tensor, viewed in place.
    func floats(_ name: String) -> UnsafeBufferPointer<Float> { bytes(of: name)!.bindMemory(to: Float.self) }
}

extension LBMFile: TensorSource {
    func bytes(of name: String) -> UnsafeRawBufferPointer? { tensor(name)?.bytes }
}

/// The tensors of a `TensorStore`, copied once into one 64-byte-aligned block owned by this object:
/// each tensor at a multiple of 64 bytes, followed by at least QK_EXTRA_BYTES (64) zero bytes.
final class ResidentTensors: TensorSource, @unchecked Sendable {
    private let block: UnsafeMutableRawPointer
    private let entries: [String: (dtype: LBMDType, shape: [Int], offset: Int, count: Int)]

    /// Copies every tensor of `store`. Fails for a tensor whose byte count does not match its dtype and
    /// shape (the check the .lbm writer and reader make).
    init(_ store: TensorStore) throws {
        var entries: [String: (dtype: LBMDType, shape: [Int], offset: Int, count: Int)] = [:]
        var size = 0
        for name in store.names {
            let t = store[name]!
            guard let needed = t.dtype.byteCount(shape: t.shape), needed == t.bytes.count else {
                throw RuntimeError("tensor '\(name)': \(t.dtype.rawValue)\(t.shape) does not hold its \(t.bytes.count) bytes")
            }
            entries[name] = (t.dtype, t.shape, size, needed)
            size += (needed + 63) / 64 * 64 + 64
        }
        let block = UnsafeMutableRawPointer.allocate(byteCount: max(size, 64), alignment: 64)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: max(size, 64))
        for name in store.names {
            store[name]!.bytes.withUnsafeBytes { source in
                if let from = source.baseAddress { (block + entries[name]!.offset).copyMemory(from: from, byteCount: source.count) }
            }
        }
        self.block = block
        self.entries = entries
    }

    func bytes(of name: String) -> UnsafeRawBufferPointer? {
        entries[name].map { UnsafeRawBufferPointer(start: block + $0.offset, count: $0.count) }
    }

    func tensorInfo(_ name: String) -> (dtype: LBMDType, shape: [Int])? {
        entries[name].map { ($0.dtype, $0.shape) }
    }

    deinit { block.deallocate() }
}
