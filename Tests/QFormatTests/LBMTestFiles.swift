// Helpers for QFormat tests: a sample model file, and hand-made files with a chosen header.
import XCTest
@testable import QFormat

enum LBMTestFiles {
    /// A small file with several dtypes, an empty tensor, a scalar and unicode metadata.
    static func sampleWriter() throws -> LBMWriter {
        var writer = LBMWriter()
        writer.metadata["lowbit.graph"] = #"{"ops":[{"op":"conv","in":"x"}]}"#
        writer.metadata["labels"] = "chat\nperro\u{1F415}\t\"q\"\\"
        try writer.addTensor("conv1.weight", dtype: .f32, shape: [2, 3], values: [Float](repeating: 1.5, count: 6))
        try writer.addTensor("conv1.codes", dtype: .i8, shape: [5], values: [Int8](arrayLiteral: -1, 2, -3, 4, -5))
        try writer.addTensor("empty", dtype: .f32, shape: [0, 4], bytes: [])
        try writer.addTensor("scale", dtype: .f64, shape: [], values: [2.5])
        try writer.addTensor("mask", dtype: .bool, shape: [3], values: [true, false, true])
        return writer
    }

    /// A file image from a header JSON text (which should start with the checksum prefix and 16 '0's)
    /// and a data buffer: padded with spaces to 64 alignment, checksum filled in when `fixChecksum`.
    static func craft(_ json: String, data: [UInt8] = [], fixChecksum: Bool = true,
                      align: Bool = true) -> [UInt8] {
        craft(bytes: Array(json.utf8), data: data, fixChecksum: fixChecksum, align: align)
    }

    /// `craft` from raw header bytes (which need not be valid UTF-8).
    static func craft(bytes json: [UInt8], data: [UInt8] = [], fixChecksum: Bool = true,
                      align: Bool = true) -> [UInt8] {
        var header = json
        if align {
            header += repeatElement(UInt8(ascii: " "), count: (64 - (8 + header.count) % 64) % 64)
        }
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file += $0 }
        file += header
        file += data
        if fixChecksum && json.starts(with: LBMFormat.headerPrefix) && file.count >= LBMFormat.checksumOffset + 16 {
            let range = LBMFormat.checksumOffset..<LBMFormat.checksumOffset + 16
            file.replaceSubrange(range, with: LBMFormat.checksumPlaceholder)
            let digits = Array(LBMChecksum.tag(LBMChecksum.hash(file)).utf8.suffix(16))
            file.replaceSubrange(range, with: digits)
        }
        return file
    }

    /// The standard start of a header: checksum placeholder, format and version.
    static func metadataPrefix(version: String = "1", extra: String = "") -> String {
        #"{"__metadata__":{"lowbit.checksum":"xxh64:0000000000000000","lowbit.format":"lbm","lowbit.version":""#
            + version + "\"" + extra + "}"
    }

    /// Asserts that reading `bytes` throws an LBMError whose message contains `fragment`.
    static func assertRejected(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath,
                               line: UInt = #line) {
        do {
            _ = try LBMFile(bytes: bytes, name: "hostile.lbm")
            XCTFail("accepted a file that should fail with \"\(fragment)\"", file: file, line: line)
        } catch let error as LBMError {
            XCTAssertTrue(error.message.contains(fragment), "\(error) does not mention \"\(fragment)\"",
                          file: file, line: line)
            XCTAssertEqual(error.file, "hostile.lbm", file: file, line: line)
        } catch {
            XCTFail("threw \(error), not an LBMError", file: file, line: line)
        }
    }
}
