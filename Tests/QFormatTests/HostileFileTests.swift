// Damaged and hostile .lbm files: each one is rejected with an LBMError naming the problem, never a crash.
import XCTest
@testable import QFormat
import _QTestSupport

final class HostileFileTests: XCTestCase {
    private typealias T = LBMTestFiles

    private func sample() throws -> [UInt8] {
        try T.sampleWriter().serialized()
    }

    func testTruncationAtEverySixtyFourth() throws {
        let bytes = try sample()
        for k in 0..<64 {
            let length = bytes.count * k / 64
            XCTAssertThrowsError(try LBMFile(bytes: Array(bytes[..<length]), name: "cut.lbm"),
                                 "truncated to \(length) of \(bytes.count) bytes") { error in
                XCTAssertTrue(error is LBMError, "\(error)")
            }
        }
        for length in 0..<bytes.count {  // and every other length, to be thorough
            XCTAssertThrowsError(try LBMFile(bytes: Array(bytes[..<length]), name: "cut.lbm"))
        }
        XCTAssertThrowsError(try LBMFile(bytes: bytes + [0], name: "long.lbm")) { error in
            XCTAssertTrue("\(error)".contains("after the last tensor"), "\(error)")
        }
    }

    func testThousandSeededByteFlips() throws {
        let bytes = try sample()
        let seed: UInt64 = 0xB17_F11
        var rng = SeededGenerator(seed: seed)
        var byReason: [String: Int] = [:]
        for trial in 0..<1000 {
            var damaged = bytes
            let index = Int.random(in: 0..<bytes.count, using: &rng)
            damaged[index] ^= UInt8.random(in: 1...255, using: &rng)
            do {
                _ = try LBMFile(bytes: damaged, name: "flip.lbm")
                XCTFail("trial \(trial) (seed \(seed)): flip at byte \(index) was accepted")
            } catch let error as LBMError {
                let reason = error.message.contains("checksum") ? "checksum" : "structure"
                byReason[reason, default: 0] += 1
            } catch {
                XCTFail("trial \(trial) (seed \(seed)): \(error) is not an LBMError")
            }
        }
        XCTAssertEqual(byReason.values.reduce(0, +), 1000)
    }

    func testEverySingleBitFlip() throws {
        let bytes = try sample()
        for index in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= UInt8(1) << bit
                XCTAssertThrowsError(try LBMFile(bytes: damaged, name: "bit.lbm"), "bit \(bit) of byte \(index)")
            }
        }
    }

    func testChecksumMismatchIsReported() throws {
        var bytes = try sample()
        bytes[bytes.count - 1] ^= 1
        T.assertRejected(bytes, "checksum mismatch")
    }

    func testUnknownVersion() {
        let file = T.craft(T.metadataPrefix(version: "2") + "}")
        do {
            _ = try LBMFile(bytes: file, name: "future.lbm")
            XCTFail("accepted version 2")
        } catch {
            XCTAssertTrue("\(error)".contains("unsupported .lbm version 2; this LowBit reads version 1"), "\(error)")
        }
        T.assertRejected(T.craft(T.metadataPrefix(version: "01") + "}"), "unsupported .lbm version 01")
        T.assertRejected(T.craft(T.metadataPrefix(version: "one") + "}"), "unsupported .lbm version one")
    }

    func testMinimalCraftedFileIsAccepted() throws {
        // Guards the helper: hostile variants below differ from this only in the named way.
        let json = T.metadataPrefix() + #","w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        let file = try LBMFile(bytes: T.craft(json, data: [3, 4]), name: "ok.lbm")
        XCTAssertEqual(Array(file.tensor("w")!.bytes), [3, 4])
    }

    func testHostileLengthsAndTopLevel() {
        var huge = [UInt8](repeating: 0, count: 64)
        withUnsafeBytes(of: UInt64.max.littleEndian) { huge.replaceSubrange(0..<8, with: $0) }
        T.assertRejected(huge, "exceeds the limit")
        withUnsafeBytes(of: UInt64(1 << 20).littleEndian) { huge.replaceSubrange(0..<8, with: $0) }
        T.assertRejected(huge, "runs past the end of the file")
        T.assertRejected([1, 2, 3], "too short")
        T.assertRejected(T.craft("[1,2]"), "must be a JSON object")
        T.assertRejected(T.craft("\"just a string\""), "must be a JSON object")
        T.assertRejected(T.craft("{\"a\":"), "header JSON")
        T.assertRejected(T.craft("{} x"), "after the end")
        T.assertRejected(T.craft(String(repeating: "[", count: 100)), "nesting deeper")
        T.assertRejected(T.craft("{}"), "not a LowBit .lbm file")
        T.assertRejected(T.craft(#"{"__metadata__":{"lowbit.format":"gguf"}}"#), "expected \"lbm\"")
        T.assertRejected(T.craft(#"{"__metadata__":{"lowbit.format":"lbm","lowbit.version":"1",  "#
                                 + #""lowbit.checksum":"xxh64:0000000000000000"}}"#), "must begin with")
        T.assertRejected(T.craft(T.metadataPrefix() + "}", align: false), "not a multiple of 64")
        T.assertRejected(T.craft(#"{"__metadata__":{"lowbit.checksum":"xxh64:0000000000000000","#
                                 + #""lowbit.format":"lbm","lowbit.version":"1","n":7}}"#), "must be a string")
        T.assertRejected(T.craft(#"{"__metadata__":{"lowbit.checksum":"xxh64:0000000000000000","#
                                 + #""lowbit.format":"lbm","lowbit.version":"1","lowbit.version":"1"}}"#),
                         "duplicate key")
        var invalidUTF8 = Array((T.metadataPrefix(extra: #","k":"\#u{1}""#) + "}").utf8)
        invalidUTF8[invalidUTF8.count - 4] = 0xFF  // replaces the control character inside "k"'s value
        T.assertRejected(T.craft(bytes: invalidUTF8), "not valid UTF-8")
    }

    func testHostileTensorEntries() {
        func entry(_ body: String, data: [UInt8] = [], _ fragment: String, line: UInt = #line) {
            T.assertRejected(T.craft(T.metadataPrefix() + "," + body + "}", data: data), fragment, line: line)
        }
        let ok = #""dtype":"U8","shape":[2],"data_offsets":[0,2]"#
        entry(#""w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}"#, data: [0, 0], "unknown dtype \"F8_E4M3\"")
        entry(#""w":{"dtype":"u8","shape":[2],"data_offsets":[0,2]}"#, data: [0, 0], "unknown dtype")
        entry(#""w":{"dtype":8,"shape":[2],"data_offsets":[0,2]}"#, data: [0, 0], "dtype must be a string")
        entry(#""w":{"shape":[2],"data_offsets":[0,2]}"#, data: [0, 0], "missing field \"dtype\"")
        entry(#""w":{\#(ok),"extra":1}"#, data: [0, 0], "unexpected field \"extra\"")
        entry(#""w":[1]"#, "entry must be an object")
        entry(#""w":{"dtype":"U8","shape":[-2],"data_offsets":[0,2]}"#, data: [0, 0], "is negative")
        entry(#""w":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}"#, data: [0, 0], "not an integer")
        entry(#""w":{"dtype":"U8","shape":"2","data_offsets":[0,2]}"#, data: [0, 0], "shape must be an array")
        entry(#""w":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,2]}"#, data: [0, 0], "too large")
        entry(#""w":{"dtype":"U8","shape":[1099511627776,1099511627776],"data_offsets":[0,0]}"#, "overflows")
        entry(#""w":{"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,0]}"#, "overflows")
        entry(#""w":{"dtype":"U8","shape":[3],"data_offsets":[0,2]}"#, data: [0, 0], "needs 3 bytes")
        entry(#""w":{"dtype":"U8","shape":[2],"data_offsets":[0,2,4]}"#, data: [0, 0], "two integers")
        entry(#""w":{"dtype":"U8","shape":[2],"data_offsets":[2,0]}"#, data: [0, 0], "end before they begin")
        entry(#""w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}"#, data: [0], "run past the end")
        entry(#""w":{"dtype":"U8","shape":[2],"data_offsets":[9223372036854775806,9223372036854775808]}"#, "too large")
        entry(#""w":{\#(ok)},"v":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}"#, data: [0, 0, 0], "overlapping")
        entry(#""w":{\#(ok)},"w":{\#(ok)}"#, data: [0, 0], "duplicate key \"w\"")
        entry(#""w":{"dtype":"U8","shape":[2],"data_offsets":[64,66]}"#, data: [UInt8](repeating: 0, count: 66), "hole of 64 bytes")
        entry(#""w":{\#(ok)},"v":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}"#, data: [0, 0, 0], "not a multiple of 64")
        entry(#""":{\#(ok)}"#, data: [0, 0], "empty tensor name")
        entry(#""__pad__x":{\#(ok)}"#, data: [0, 0], "reserved for padding")
        entry(#""__pad__.0":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}"#, data: [0, 5], "padding must be 0")
        entry(#""__pad__.0":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}"#, data: [0, 0], "padding entry must be U8")
        entry(#""b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}"#, data: [1, 2], "BOOL values must be 0 or 1")
        // Unordered but tiling offsets are fine (safetensors sorts by offset); file order is offset order.
        let json = T.metadataPrefix() + #","b":{"dtype":"U8","shape":[1],"data_offsets":[64,65]},"#
            + #""__pad__.0":{"dtype":"U8","shape":[63],"data_offsets":[1,64]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        let data = [UInt8(5)] + [UInt8](repeating: 0, count: 63) + [6]
        XCTAssertEqual(try LBMFile(bytes: T.craft(json, data: data), name: "unordered").tensorNames, ["a", "b"])
    }
}
