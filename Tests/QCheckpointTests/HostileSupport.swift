// Builders for hostile inputs: pickle byte snippets, stored zip archives and legacy torch.save files.
import Foundation
import QCheckpoint
import XCTest

/// Small pickle fragments (protocol 2 binary forms unless noted).
enum P {
    static func s(_ text: String) -> [UInt8] {
        let b = Array(text.utf8)
        return [0x58] + le(UInt64(b.count), 4) + b
    }
    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func int(_ v: Int32) -> [UInt8] { [0x4A] + le(UInt64(UInt32(bitPattern: v)), 4) }
    static let proto2: [UInt8] = [0x80, 0x02]
    static let mark: [UInt8] = [0x28], tuple: [UInt8] = [0x74], reduce: [UInt8] = [0x52], stop: [UInt8] = [0x2E]
    static let emptyDict: [UInt8] = [0x7D], setItem: [UInt8] = [0x73], newFalse: [UInt8] = [0x89]

    static func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    /// `_rebuild_tensor_v2(storage('0', FloatStorage, numel), offset, size, stride, False, OrderedDict())`.
    static func tensor(numel: Int32, offset: Int32 = 0, size: [Int32], stride: [Int32], key: String = "0") -> [UInt8] {
        var b = global("torch._utils", "_rebuild_tensor_v2") + mark
        b += mark + s("storage") + global("torch", "FloatStorage") + s(key) + s("cpu") + int(numel) + tuple + [0x51]
        b += int(offset)
        b += mark + size.flatMap { int($0) } + tuple
        b += mark + stride.flatMap { int($0) } + tuple
        b += newFalse + global("collections", "OrderedDict") + [0x29] + reduce
        return b + tuple + reduce
    }

    /// `{name: tensor}` as a whole pickle.
    static func stateDict(_ name: String, _ tensor: [UInt8]) -> [UInt8] {
        proto2 + emptyDict + s(name) + tensor + setItem + stop
    }
}

/// CRC-32 for building test archives.
func testCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }
    return crc ^ 0xFFFF_FFFF
}

/// A stored (uncompressed) zip archive; `declared` overrides an entry's (method, uncompressed size) and
/// `crcs` its CRC-32 (by default that of the bytes stored).
func makeZip(_ entries: [(name: String, data: [UInt8])], declared: [String: (UInt16, UInt32)] = [:],
             crcs: [String: UInt32] = [:]) -> [UInt8] {
    var out: [UInt8] = [], central: [UInt8] = []
    for e in entries {
        let name = Array(e.name.utf8), offset = UInt64(out.count), crc = UInt64(crcs[e.name] ?? testCRC32(e.data))
        let (method, usize) = declared[e.name] ?? (0, UInt32(e.data.count))
        out += P.le(0x0403_4B50, 4) + P.le(20, 2) + P.le(0, 2) + P.le(UInt64(method), 2) + P.le(0, 4)
            + P.le(crc, 4) + P.le(UInt64(e.data.count), 4) + P.le(UInt64(usize), 4)
            + P.le(UInt64(name.count), 2) + P.le(0, 2) + name + e.data
        central += P.le(0x0201_4B50, 4) + P.le(20, 2) + P.le(20, 2) + P.le(0, 2) + P.le(UInt64(method), 2)
            + P.le(0, 4) + P.le(crc, 4) + P.le(UInt64(e.data.count), 4) + P.le(UInt64(usize), 4)
            + P.le(UInt64(name.count), 2) + P.le(0, 2) + P.le(0, 2) + P.le(0, 2) + P.le(0, 2) + P.le(0, 4)
            + P.le(offset, 4) + name
    }
    let cdOffset = out.count
    out += central
    out += P.le(0x0605_4B50, 4) + P.le(0, 2) + P.le(0, 2) + P.le(UInt64(entries.count), 2)
        + P.le(UInt64(entries.count), 2) + P.le(UInt64(central.count), 4) + P.le(UInt64(cdOffset), 4) + P.le(0, 2)
    return out
}

/// A raw DEFLATE stream (RFC 1951) written bit by bit, so tests can say exactly which block types,
/// codes and distances it holds: header fields and extra bits go least significant bit first, Huffman
/// codes most significant bit first (section 3.1.1).
struct DeflateBits {
    private(set) var bytes: [UInt8] = []
    private var used = 8  // bits used in the last byte

    /// `count` bits of `value`, least significant first.
    mutating func bits(_ value: Int, _ count: Int) {
        for i in 0..<count {
            if used == 8 { bytes.append(0); used = 0 }
            bytes[bytes.count - 1] |= UInt8((value >> i) & 1) << UInt8(used)
            used += 1
        }
    }

    /// A Huffman code of `length` bits, most significant first.
    mutating func code(_ value: Int, _ length: Int) {
        for i in stride(from: length - 1, through: 0, by: -1) { bits((value >> i) & 1, 1) }
    }

    /// A literal/length symbol (0...285) in the fixed code of section 3.2.6.
    mutating func fixed(_ symbol: Int) {
        switch symbol {
        case 0..<144: code(0x30 + symbol, 8)
        case 144..<256: code(0x190 + symbol - 144, 9)
        case 256..<280: code(symbol - 256, 7)
        default: code(0xC0 + symbol - 280, 8)
        }
    }

    /// A fixed-code block: BFINAL, BTYPE 01.
    mutating func fixedBlock(final: Bool) { bits(final ? 1 : 0, 1); bits(1, 2) }

    /// A match of length 3...10 (symbols 257...264, no extra bits) at distance 1...4 (codes 0...3, no extra bits).
    mutating func match(length: Int, distance: Int) {
        precondition((3...10).contains(length) && (1...4).contains(distance))
        fixed(254 + length)
        code(distance - 1, 5)
    }
}

/// A torch zip checkpoint with one data.pkl and storages.
func makeTorchZip(_ pickle: [UInt8], storages: [String: [UInt8]] = [:]) -> [UInt8] {
    var entries: [(name: String, data: [UInt8])] = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
    for key in storages.keys.sorted() { entries.append(("archive/data/\(key)", storages[key]!)) }
    return makeZip(entries)
}

/// A legacy torch.save file: magic, 1001, sys_info, object, keys, then (count, bytes) per storage.
func makeLegacy(_ object: [UInt8], keys: [String], storages: [(count: UInt64, data: [UInt8])]) -> [UInt8] {
    var b: [UInt8] = P.proto2 + [0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19] + P.stop
    b += P.proto2 + [0x4D, 0xE9, 0x03] + P.stop
    b += P.proto2 + P.emptyDict + P.s("little_endian") + [0x88] + P.setItem + P.stop
    b += object
    b += P.proto2 + P.mark + keys.flatMap { P.s($0) } + [0x6C] + P.stop
    for s in storages { b += P.le(s.count, 8) + s.data }
    return b
}

/// Loads bytes as a checkpoint and returns the error (failing the test if it loads).
func loadError(_ bytes: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
    do {
        _ = try Checkpoint.load(bytes: bytes, url: URL(fileURLWithPath: "/hostile/\(label)"))
        XCTFail("\(label): loaded, expected an error", file: file, line: line)
    } catch let e as CheckpointError {
        XCTAssertEqual(e.file, "/hostile/\(label)", file: file, line: line)
        XCTAssertFalse(e.message.isEmpty, file: file, line: line)
        return e
    } catch {
        XCTFail("\(label): unexpected error type \(error)", file: file, line: line)
    }
    return nil
}

/// Unpickles bytes and returns the error (failing the test if it succeeds).
func unpickleError(_ bytes: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
    do {
        let v = try PickleValue(unpickling: bytes, name: label)
        XCTFail("\(label): unpickled to \(PickleValue.summary(v)), expected an error", file: file, line: line)
    } catch let e as CheckpointError {
        return e
    } catch {
        XCTFail("\(label): unexpected error type \(error)", file: file, line: line)
    }
    return nil
}
