// INT4 / UINT4 tensors (opset 21): two values a byte, the first in the low nibble (onnx.proto), in
// raw_data or as one byte per int32_data entry. LowBit holds them unpacked, one int8 / uint8 a value;
// `ONNXGraph.fourBitInitializers` remembers which initializers the file packed.
import QCheckpoint

/// A 4-bit ONNX element type and the byte type LowBit unpacks it to.
struct FourBitType {
    let type: ONNXDataType
    let signed: Bool

    /// nil for the other types.
    init?(_ type: ONNXDataType) {
        guard type == .int4 || type == .uint4 else { return nil }
        self.type = type
        signed = type == .int4
    }

    /// int8 for INT4 (-8...7), uint8 for UINT4 (0...15).
    var unpacked: TensorDType { signed ? .int8 : .uint8 }

    /// The unpacked values of `proto` holding `count` elements: exactly ceil(count / 2) packed bytes, in
    /// raw_data or int32_data (each entry 0...255), no other field.
    func tensor(_ proto: Onnx_TensorProto, count: Int, what: String) throws -> CheckpointTensor {
        let packedCount = (count + 1) / 2
        let claim = "\(what) claims \(count) elements of \(type.name) (dims \(proto.dims)), \(packedCount) packed bytes,"
        let others = [("float_data", proto.floatData.count), ("int64_data", proto.int64Data.count), ("double_data", proto.doubleData.count),
                      ("uint64_data", proto.uint64Data.count), ("string_data", proto.stringData.count)].filter { $0.1 > 0 }
        guard others.isEmpty else { throw ReadFailure("\(what) of type \(type.name) holds data in \(others[0].0), not raw_data or int32_data") }
        let packed: [UInt8]
        if proto.hasRawData {
            guard proto.int32Data.isEmpty else { throw ReadFailure("\(what) has both raw_data and int32_data") }
            guard proto.rawData.count == packedCount else { throw ReadFailure("\(claim) but raw_data holds \(proto.rawData.count) bytes") }
            packed = [UInt8](proto.rawData)
        } else {
            guard proto.int32Data.count == packedCount else {
                throw ReadFailure("\(claim) but int32_data holds \(proto.int32Data.count) values")
            }
            if let bad = proto.int32Data.first(where: { !(0...255).contains($0) }) {
                throw ReadFailure("\(what) of type \(type.name) holds \(bad) in int32_data, not a byte of two packed values")
            }
            packed = proto.int32Data.map { UInt8($0) }
        }
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            let nibble = i % 2 == 0 ? packed[i / 2] & 0x0f : packed[i / 2] >> 4
            // INT4: sign-extend the nibble into the int8's two's complement byte
            bytes[i] = signed && nibble >= 8 ? nibble | 0xf0 : nibble
        }
        return CheckpointTensor(dtype: unpacked, shape: proto.dims.map { Int($0) }, bytes: bytes)
    }
}
