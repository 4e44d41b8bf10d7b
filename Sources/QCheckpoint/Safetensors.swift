// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the tensor bytes. The header is bounded and every offset is checked against the data section.
import Foundation

enum SafetensorsFormat {
    /// Whether the bytes look like safetensors (a plausible header length followed by `{`).
    static func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 10 else { return false }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        return bytes[8] == UInt8(ascii: "{") && n >= 2 && n <= UInt64(bytes.count - 8)
    }

    static func read(_ bytes: UnsafeBufferPointer<UInt8>, limits: ReadLimits) throws
        -> (root: PickleValue, metadata: [(key: String, value: PickleValue)]) {
        guard bytes.count >= 8 else { throw ReadFailure(0, "file too short for a safetensors header") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8) else {
            throw ReadFailure(0, "safetensors header claims \(n) bytes but the file has \(bytes.count - 8) after the length")
        }
        guard n <= UInt64(limits.maxHeaderBytes) else {
            throw ReadFailure(0, "safetensors header of \(n) bytes exceeds the limit of \(limits.maxHeaderBytes)")
        }
        let headerEnd = 8 + Int(n)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw ReadFailure(8, "safetensors header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw ReadFailure(8, "safetensors header is not a JSON object") }
        var metadata: [(key: String, value: PickleValue)] = []
        var entries: [(name: String, start: Int, tensor: CheckpointTensor)] = []
        let dataSize = bytes.count - headerEnd
        var total = 0
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value as? [String: Any] else { throw ReadFailure(8, "__metadata__ is not an object") }
                for key in meta.keys.sorted() {
                    guard let s = meta[key] as? String else { throw ReadFailure(8, "__metadata__['\(key)'] is not a string") }
                    metadata.append((key, .string(s)))
                }
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any], let offsetsAny = info["data_offsets"] as? [Any],
                  offsetsAny.count == 2 else {
                throw ReadFailure(8, "tensor '\(name)': header entry lacks dtype, shape or data_offsets")
            }
            guard let dtype = TensorDType(safetensorsName: dtypeName) else {
                throw ReadFailure(8, "tensor '\(name)': unsupported dtype \(dtypeName)")
            }
            var shape: [Int] = [], count = 1
            for d in shapeAny {
                guard let v = (d as? NSNumber)?.int64Value, v >= 0, v <= Int64(Int32.max) * 1024 else {
                    throw ReadFailure(8, "tensor '\(name)': bad shape")
                }
                let (p, o) = count.multipliedReportingOverflow(by: Int(v))
                guard !o, shape.count < 32 else { throw ReadFailure(8, "tensor '\(name)': shape overflows") }
                shape.append(Int(v))
                count = p
            }
            guard let b = (offsetsAny[0] as? NSNumber)?.int64Value, let e = (offsetsAny[1] as? NSNumber)?.int64Value,
                  b >= 0, e >= b, e <= Int64(dataSize) else {
                throw ReadFailure(8, "tensor '\(name)': data_offsets outside the \(dataSize)-byte data section")
            }
            let (bytesNeeded, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !o, Int64(bytesNeeded) == e - b else {
                throw ReadFailure(headerEnd + Int(b), "tensor '\(name)': \(e - b) bytes for shape \(shape) of \(dtype.rawValue)")
            }
            guard bytesNeeded <= limits.maxTensorBytes else {
                throw ReadFailure(headerEnd + Int(b), "tensor '\(name)' exceeds the limit of \(limits.maxTensorBytes) bytes")
            }
            total += bytesNeeded
            guard total <= dataSize * max(1, limits.maxTensorBytesPerFileByte) else {
                throw ReadFailure(headerEnd, "tensors overlap too much")
            }
            let start = headerEnd + Int(b)
            let tensor = CheckpointTensor(dtype: dtype, shape: shape, bytes: Array(bytes[start..<(start + bytesNeeded)]))
            entries.append((name, start, tensor))
        }
        entries.sort { ($0.start, $0.name) < ($1.start, $1.name) }
        var pairs: [(key: PickleValue, value: PickleValue)] = entries.map { (.string($0.name), .tensor($0.tensor)) }
        if !metadata.isEmpty {
            pairs.append((.string("__metadata__"), .dict(metadata.map { (.string($0.key), $0.value) })))
        }
        return (.dict(pairs), metadata)
    }
}
