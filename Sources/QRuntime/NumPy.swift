// NumPy .npy files (format version 1.0) of little-endian float32 arrays in C order: what `qinfer
// --save-outputs` writes and what the fixtures' reference outputs are (numpy.save). The header is a Python
// dict literal padded with spaces to a multiple of 64 bytes, ending in a newline.
import Foundation

/// Encoding and decoding of float32 .npy arrays.
public enum NumPyArray {
    /// The .npy bytes of `values` with shape `shape` (C order, '<f4').
    public static func encode(_ values: [Float], shape: [Int]) -> Data {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The shape and values of a version 1.x or 2.x '<f4' C-order .npy file; throws for anything else.
    public static func decode(_ data: Data) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8), [1, 2].contains(bytes[6]) else {
            throw RuntimeError("not a .npy file (version 1 or 2)")
        }
        let (lengthBytes, start) = bytes[6] == 1 ? (2, 10) : (4, 12)
        guard bytes.count >= start else { throw RuntimeError(".npy header is truncated") }
        let length = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard start + length <= bytes.count, let header = String(bytes: bytes[start..<(start + length)], encoding: .ascii) else {
            throw RuntimeError(".npy header is truncated")
        }
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw RuntimeError(".npy header \(header.trimmingCharacters(in: .whitespacesAndNewlines)) is not a C-order '<f4' array")
        }
        let shape = try header[open.upperBound..<close].split(separator: ",").map { part -> Int in
            guard let d = Int(part.trimmingCharacters(in: .whitespaces)), d >= 0 else { throw RuntimeError(".npy shape is malformed") }
            return d
        }
        let count = shape.reduce(1, *), body = start + length
        guard bytes.count - body == 4 * count else { throw RuntimeError(".npy holds \(bytes.count - body) bytes, its shape \(shape) needs \(4 * count)") }
        let values = (0..<count).map { i in
            Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[body + 4 * i + $1]) << (8 * $1) })
        }
        return (shape, values)
    }

    /// LowBit's layout of an output as the graph's NCHW: an [H, W, C] map becomes [1, C, H, W] (values
    /// transposed), an [N] vector [1, N].
    public static func nchw(_ values: [Float], shape: [Int]) -> (shape: [Int], values: [Float]) {
        guard shape.count == 3 else { return ([1] + shape, values) }
        let (h, w, c) = (shape[0], shape[1], shape[2])
        var out = [Float](repeating: 0, count: values.count)
        for p in 0..<(h * w) {
            for k in 0..<c { out[k * h * w + p] = values[p * c + k] }
        }
        return ([1, c, h, w], out)
    }
}
