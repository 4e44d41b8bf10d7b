// LBMWriter: collects metadata and tensors and lays them out as an .lbm file (header, padding, checksum).
// The layout rules are docs/FORMAT.md's; the atomic file replacement lives in AtomicFile.swift.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Builds an .lbm file: set `metadata`, add tensors, then `write(to:)` (atomic) or `serialized()`.
///
/// Output is deterministic: the same inputs give the same bytes. Tensors are stored in the order they
/// were added; caller metadata keys are written in UTF-8 byte order after the reserved `lowbit.*` keys.
public struct LBMWriter {
    /// A tensor waiting to be written.
    private struct Pending {
        let name: String
        let dtype: LBMDType
        let shape: [Int]
        let bytes: [UInt8]
    }

    /// The caller's metadata (string to string). The reserved keys `lowbit.format`, `lowbit.version` and
    /// `lowbit.checksum` are set by the writer; putting one here makes `write`/`serialized` throw.
    public var metadata: [String: String] = [:]
    private var tensors: [Pending] = []
    private var names = Set<String>()

    /// An empty writer.
    public init() {}

    /// The names of the tensors added so far, in order.
    public var tensorNames: [String] { tensors.map(\.name) }

    /// Adds a tensor from its raw little-endian bytes; throws if the name is taken or reserved, a
    /// dimension is negative, or `bytes.count` is not the shape's element count times `dtype.byteSize`.
    public mutating func addTensor(_ name: String, dtype: LBMDType, shape: [Int], bytes: [UInt8]) throws {
        func fail(_ message: String) -> LBMError {
            LBMError(file: "LBMWriter", message: "tensor \"\(name)\": " + message)
        }
        if name.isEmpty { throw LBMError(file: "LBMWriter", message: "tensor names must not be empty") }
        if name == LBMFormat.metadataKey || name.hasPrefix(LBMFormat.paddingPrefix) {
            throw fail("names \"\(LBMFormat.metadataKey)\" and \"\(LBMFormat.paddingPrefix)*\" are reserved by the format")
        }
        if names.contains(name) { throw fail("a tensor with this name was already added") }
        if let bad = shape.first(where: { $0 < 0 }) {
            throw fail("shape \(shape) has a negative dimension \(bad)")
        }
        guard let needed = dtype.byteCount(shape: shape) else {
            throw fail("shape \(shape) of \(dtype.rawValue) is too large (byte count overflows)")
        }
        guard needed == bytes.count else {
            throw fail("shape \(shape) of \(dtype.rawValue) needs \(needed) bytes, got \(bytes.count)")
        }
        names.insert(name)
        tensors.append(Pending(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds a tensor from typed values (copied as their in-memory, little-endian bytes); `T`'s stride must
    /// equal `dtype.byteSize` and `values.count` the shape's element count (e.g. `[Float]` as `.f32`,
    /// `[Int8]` as `.i8`, `[UInt16]` holding half-float bits as `.f16`).
    public mutating func addTensor<T: BitwiseCopyable>(_ name: String, dtype: LBMDType, shape: [Int],
                                                       values: [T]) throws {
        guard MemoryLayout<T>.stride == dtype.byteSize else {
            throw LBMError(file: "LBMWriter", message: "tensor \"\(name)\": \(T.self) values are "
                           + "\(MemoryLayout<T>.stride) bytes each but \(dtype.rawValue) elements are \(dtype.byteSize)")
        }
        let bytes = values.withUnsafeBytes { Array($0) }
        try addTensor(name, dtype: dtype, shape: shape, bytes: bytes)
    }

    /// The exact bytes `write(to:)` would write.
    public func serialized() throws -> [UInt8] {
        let layout = try makeLayout(file: "(serialized)")
        var out = layout.header
        out.reserveCapacity(layout.totalSize)
        for segment in layout.segments {
            switch segment {
            case .tensor(let index): out.append(contentsOf: tensors[index].bytes)
            case .zeros(let count): out.append(contentsOf: repeatElement(0, count: count))
            }
        }
        return out
    }

    /// Writes the file atomically: to a temporary file in the destination's folder, fsync, rename.
    /// On error the temporary file is removed and an existing destination is left untouched.
    public func write(to url: URL) throws {
        try write(to: url, simulatingDiskFullAfter: nil)
    }

    /// `write(to:)`, with a test hook that fails like ENOSPC once `limit` bytes have been written.
    func write(to url: URL, simulatingDiskFullAfter limit: Int?) throws {
        let layout = try makeLayout(file: url.path)
        let zeros = [UInt8](repeating: 0, count: LBMFormat.alignment)
        try AtomicFile.write(to: url, expectedSize: layout.totalSize, simulatingDiskFullAfter: limit) { emit in
            try layout.header.withUnsafeBytes { try emit($0) }
            for segment in layout.segments {
                switch segment {
                case .tensor(let index): try tensors[index].bytes.withUnsafeBytes { try emit($0) }
                case .zeros(let count): try zeros.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                }
            }
        }
    }

    // MARK: Layout

    private enum Segment {
        case tensor(Int)
        case zeros(Int)
    }

    /// The 8-byte length, the padded JSON header with its checksum filled in, and the data segments.
    private struct Layout {
        var header: [UInt8]
        var segments: [Segment]
        var totalSize: Int
    }

    private func makeLayout(file: String) throws -> Layout {
        for key in metadata.keys where LBMFormat.reservedKeys.contains(key) {
            throw LBMError(file: file, message: "metadata key \"\(key)\" is reserved; the writer sets it")
        }
        // Data layout: each tensor at the next multiple of 64 (relative to the data buffer, which itself
        // starts 64-aligned in the file), gaps filled by zero U8 padding entries so the buffer has no holes.
        var json = LBMFormat.headerPrefix
        json += LBMFormat.checksumPlaceholder
        json += Array("\",\"\(LBMFormat.formatKey)\":\"\(LBMFormat.formatName)\",\"\(LBMFormat.versionKey)\":\"\(LBMFormat.version)\"".utf8)
        let callerKeys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for key in callerKeys {
            json.append(UInt8(ascii: ","))
            Self.appendJSONString(key, to: &json)
            json.append(UInt8(ascii: ":"))
            Self.appendJSONString(metadata[key]!, to: &json)
        }
        json.append(UInt8(ascii: "}"))

        var segments: [Segment] = []
        var cursor = 0
        var padIndex = 0
        func appendEntry(_ name: String, _ dtype: LBMDType, _ shape: [Int], _ begin: Int, _ end: Int) {
            json.append(UInt8(ascii: ","))
            Self.appendJSONString(name, to: &json)
            let dims = shape.map(String.init).joined(separator: ",")
            json += Array(":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(dims)],\"data_offsets\":[\(begin),\(end)]}".utf8)
        }
        for (index, tensor) in tensors.enumerated() {
            let gap = (LBMFormat.alignment - cursor % LBMFormat.alignment) % LBMFormat.alignment
            if gap > 0 {
                appendEntry("\(LBMFormat.paddingPrefix).\(padIndex)", .u8, [gap], cursor, cursor + gap)
                segments.append(.zeros(gap))
                padIndex += 1
                cursor += gap
            }
            appendEntry(tensor.name, tensor.dtype, tensor.shape, cursor, cursor + tensor.bytes.count)
            segments.append(.tensor(index))
            cursor += tensor.bytes.count
        }
        json.append(UInt8(ascii: "}"))
        // Pad with spaces so the data buffer starts at a multiple of 64 from the file start.
        let spaces = (LBMFormat.alignment - (8 + json.count) % LBMFormat.alignment) % LBMFormat.alignment
        json += repeatElement(UInt8(ascii: " "), count: spaces)
        guard json.count <= LBMFormat.maxHeaderLength else {
            throw LBMError(file: file, message: "header is \(json.count) bytes; the limit is "
                           + "\(LBMFormat.maxHeaderLength) (is a metadata value unexpectedly large?)")
        }

        var header = [UInt8]()
        header.reserveCapacity(8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { header += $0 }
        header += json

        var hasher = LBMChecksum()
        hasher.update(header)  // checksum digits are still the placeholder here
        let zeros = [UInt8](repeating: 0, count: LBMFormat.alignment)
        for segment in segments {
            switch segment {
            case .tensor(let index): hasher.update(tensors[index].bytes)
            case .zeros(let count): zeros.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            }
        }
        let digits = Array(LBMChecksum.tag(hasher.finalize()).utf8.dropFirst("xxh64:".count))
        header.replaceSubrange(LBMFormat.checksumOffset..<LBMFormat.checksumOffset + LBMFormat.checksumDigits,
                               with: digits)
        return Layout(header: header, segments: segments, totalSize: header.count + cursor)
    }

    /// Appends `string` as a JSON string: `"` and `\` escaped, control characters as `\u00XX`, all else
    /// as raw UTF-8.
    static func appendJSONString(_ string: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0..<0x20:
                out += Array("\\u00".utf8)
                out += [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
