// TensorProto -> CheckpointTensor: the data type, dims and data checked against each other before any
// element is copied. External data is refused; raw_data is little-endian; the typed fields follow
// onnx.proto (float_data for FLOAT; int32_data for the 8/16-bit integers, BOOL and the 16-bit floats as
// bit patterns; int64_data; double_data). INT4 / UINT4 are unpacked to int8 / uint8 (FourBitTensors.swift).
import QCheckpoint

extension Onnx_TensorProto {
    /// The tensor's values; `what` names it in messages ("initializer 'conv1.weight'").
    func checkpointTensor(limits: ONNXReadLimits, what: String) throws -> CheckpointTensor {
        guard dataLocation != .external, externalData.isEmpty else {
            throw ReadFailure("\(what) keeps its data in an external file: external data is refused "
                + "(save the model with its weights inside: onnx.save(model, path, save_as_external_data=False))")
        }
        guard !hasSegment else { throw ReadFailure("\(what) is a segment of a larger tensor: segments are not supported") }
        guard let type = ONNXDataType(rawValue: dataType) else {
            throw ReadFailure("\(what) has unknown data type \(dataType)")
        }
        let fourBit = FourBitType(type)
        guard let dtype = fourBit?.unpacked ?? type.tensorType else {
            throw ReadFailure("\(what) has data type \(type.name), which LowBit does not read")
        }
        guard dims.count <= limits.maxRank else {
            throw ReadFailure("\(what) has \(dims.count) dimensions, more than \(limits.maxRank)")
        }
        var count = 1
        for d in dims {
            guard d >= 0, d <= limits.maxDimension else {
                throw ReadFailure("\(what) has dimension \(d), outside 0...\(limits.maxDimension)")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= limits.maxTensorBytes else {
                throw ReadFailure("\(what) claims dims \(dims): more than \(limits.maxTensorBytes) elements")
            }
            count = product
        }
        if let fourBit { return try fourBit.tensor(self, count: count, what: what) }
        let byteCount = count * dtype.byteSize
        let claim = "\(what) claims \(count) elements of \(type.name) (dims \(dims))"
        guard byteCount <= limits.maxTensorBytes else {
            throw ReadFailure("\(claim): \(byteCount) bytes, more than the \(limits.maxTensorBytes)-byte limit")
        }
        let shape = dims.map { Int($0) }
        let typedFields = [("float_data", floatData.count), ("int32_data", int32Data.count), ("int64_data", int64Data.count),
                           ("double_data", doubleData.count), ("uint64_data", uint64Data.count), ("string_data", stringData.count)]
        let used = typedFields.filter { $0.1 > 0 }
        if hasRawData {
            guard used.isEmpty else { throw ReadFailure("\(what) has both raw_data and \(used[0].0)") }
            guard rawData.count == byteCount else {
                throw ReadFailure("\(claim), \(byteCount) bytes, but raw_data holds \(rawData.count) bytes")
            }
            return CheckpointTensor(dtype: dtype, shape: shape, bytes: [UInt8](rawData))
        }
        let field = Self.typedField(of: dtype)
        guard used.allSatisfy({ $0.0 == field }) else {
            throw ReadFailure("\(what) of type \(type.name) holds its data in \(used.first { $0.0 != field }!.0), not \(field)")
        }
        let held = used.first?.1 ?? 0
        guard held == count else { throw ReadFailure("\(claim) but \(field) holds \(held) values") }
        switch dtype {
        case .float32: return CheckpointTensor(dtype: dtype, shape: shape, bytes: littleEndianBytes(floatData))
        case .float64: return CheckpointTensor(dtype: dtype, shape: shape, bytes: littleEndianBytes(doubleData))
        case .int64: return CheckpointTensor(dtype: dtype, shape: shape, bytes: littleEndianBytes(int64Data))
        case .int32: return CheckpointTensor(dtype: dtype, shape: shape, bytes: littleEndianBytes(int32Data))
        case .int8, .uint8, .bool, .int16, .float16, .bfloat16:
            // Each value of int32_data carries one element in its low byteSize bytes; anything outside the
            // element type's range is a corrupt file.
            let range: ClosedRange<Int32> = switch dtype {
            case .int8: -128...127
            case .uint8: 0...255
            case .bool: 0...1
            case .int16: -32768...32767
            default: 0...65535
            }
            if let bad = int32Data.first(where: { !range.contains($0) }) {
                throw ReadFailure("\(what) of type \(type.name) holds \(bad) in int32_data, outside \(range)")
            }
            var bytes = [UInt8](repeating: 0, count: byteCount)
            for (i, v) in int32Data.enumerated() {
                for b in 0..<dtype.byteSize { bytes[i * dtype.byteSize + b] = UInt8(truncatingIfNeeded: v >> (8 * b)) }
            }
            return CheckpointTensor(dtype: dtype, shape: shape, bytes: bytes)
        }
    }

    /// The typed field onnx.proto stores elements of `dtype` in.
    private static func typedField(of dtype: TensorDType) -> String {
        switch dtype {
        case .float32: return "float_data"
        case .float64: return "double_data"
        case .int64: return "int64_data"
        default: return "int32_data"
        }
    }
}

/// The little-endian bytes of fixed-width values.
private func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
    for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    return bytes
}

private func littleEndianBytes(_ values: [Float]) -> [UInt8] { littleEndianBytes(values.map(\.bitPattern)) }
private func littleEndianBytes(_ values: [Double]) -> [UInt8] { littleEndianBytes(values.map(\.bitPattern)) }
