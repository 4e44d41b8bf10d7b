// Storage bytes located in a file (or inflated from it), and tensor views copied out of them.

/// The bytes of one storage: a range of a shared buffer (the file itself when stored uncompressed).
struct StorageData {
    var buffer: [UInt8]
    var range: Range<Int>
}

/// Copies tensor views out of storages, enforcing bounds and the total-bytes budget.
struct TensorMaterializer {
    let storages: [String: StorageData]
    let limits: ReadLimits
    let totalBudget: Int
    private(set) var totalBytes = 0
    /// Added to the pickle offsets recorded in tensor references (the pickle's position in the file).
    var offsetBias = 0

    init(storages: [String: StorageData], limits: ReadLimits, fileSize: Int) {
        self.storages = storages
        self.limits = limits
        let (budget, overflow) = max(fileSize, 1 << 20).multipliedReportingOverflow(by: limits.maxTensorBytesPerFileByte)
        totalBudget = overflow ? Int.max : budget
    }

    /// The contiguous tensor a `TensorRef` denotes; views and strided layouts are copied row-major.
    mutating func materialize(_ ref: TensorRef) throws -> CheckpointTensor {
        let key = ref.storage.box.key, dtype = ref.storage.dtype, size = dtype.byteSize
        guard let data = storages[key] else {
            throw ReadFailure(ref.pickleOffset + offsetBias, "tensor refers to storage '\(key)', which the file does not contain")
        }
        // Elements available to this view of the storage.
        var available = data.range.count / size - ref.storage.elementOffset
        if let limit = ref.storage.elementLimit { available = min(available, limit) }
        guard available >= 0 else {
            throw ReadFailure(ref.pickleOffset + offsetBias, "storage view of '\(key)' starts past its end")
        }
        let count = ref.shape.reduce(1, *)  // checked for overflow when the tensor was unpickled
        if count == 0 {
            return CheckpointTensor(dtype: dtype, shape: ref.shape, bytes: [])
        }
        // Highest element index the view touches: offset + sum((size_i - 1) * stride_i), overflow-checked.
        var last = ref.offset
        for (d, s) in zip(ref.shape, ref.stride) {
            let (m, o1) = (d - 1).multipliedReportingOverflow(by: s)
            let (t, o2) = last.addingReportingOverflow(m)
            guard !o1, !o2 else { throw ReadFailure(ref.pickleOffset + offsetBias, "tensor view of '\(key)' overflows") }
            last = t
        }
        guard last < available else {
            throw ReadFailure(ref.pickleOffset + offsetBias, "tensor \(ref.shape) at offset \(ref.offset) needs \(last + 1) elements "
                + "but storage '\(key)' holds \(available) (\(dtype.rawValue))")
        }
        let bytes = count * size
        guard bytes <= limits.maxTensorBytes else {
            throw ReadFailure(ref.pickleOffset + offsetBias, "tensor of \(bytes) bytes exceeds the limit of \(limits.maxTensorBytes)")
        }
        totalBytes += bytes
        guard totalBytes <= totalBudget else {
            throw ReadFailure(ref.pickleOffset + offsetBias, "tensors total more than \(totalBudget) bytes (shared storages copied too often)")
        }
        let base = data.range.lowerBound + (ref.storage.elementOffset + ref.offset) * size
        if isContiguous(ref) {
            return CheckpointTensor(dtype: dtype, shape: ref.shape, bytes: Array(data.buffer[base..<(base + bytes)]))
        }
        let out = [UInt8](unsafeUninitializedCapacity: bytes) { dst, initialized in
            data.buffer.withUnsafeBufferPointer { src in
                gather(src, base: base, shape: ref.shape, stride: ref.stride, size: size, into: dst)
            }
            initialized = bytes
        }
        return CheckpointTensor(dtype: dtype, shape: ref.shape, bytes: out)
    }

    private func isContiguous(_ ref: TensorRef) -> Bool {
        var expected = 1
        for i in stride(from: ref.shape.count - 1, through: 0, by: -1) where ref.shape[i] != 1 {
            if ref.stride[i] != expected { return false }
            expected *= ref.shape[i]
        }
        return true
    }

    /// Row-major copy of a strided view (element strides), one innermost row at a time.
    private func gather(_ src: UnsafeBufferPointer<UInt8>, base: Int, shape: [Int], stride: [Int], size: Int,
                        into dst: UnsafeMutableBufferPointer<UInt8>) {
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var out = 0
        let inner = rank == 0 ? 1 : shape[rank - 1], innerStride = rank == 0 ? 0 : stride[rank - 1] * size
        let rows = rank == 0 ? 1 : shape.dropLast().reduce(1, *)
        for _ in 0..<rows {
            var start = base
            for d in 0..<max(rank - 1, 0) { start += index[d] * stride[d] * size }
            var p = start
            for _ in 0..<inner {
                for b in 0..<size { dst[out + b] = src[p + b] }
                out += size
                p += innerStride
            }
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
