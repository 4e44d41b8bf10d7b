// The .lbm checksum (XXH64, seed 0, through libxxhash) against reference values from the `xxhash` Python
// package, and the streaming path the reader and writer use against the one-shot hash.
import XCTest
@testable import QFormat
import _QTestSupport

final class LBMChecksumTests: XCTestCase {
    func testKnownValues() {
        XCTAssertEqual(LBMChecksum.hash([]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(LBMChecksum.hash(Array("a".utf8)), 0xD24E_C4F1_A98C_6E5B)
        XCTAssertEqual(LBMChecksum.hash(Array("abc".utf8)), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(LBMChecksum.hash(Array("0123456789abcdef0123456789abcdef0".utf8)), 0xE876_84F0_8D6D_0816)
        let long = Array((0..<4).flatMap { _ in (0...255).map { UInt8($0) } }) + Array("xyz".utf8)
        XCTAssertEqual(LBMChecksum.hash(long), 0xE146_CB31_B65B_C21A)
        var streamed = LBMChecksum()
        XCTAssertEqual(streamed.finalize(), 0xEF46_DB37_51D8_E999, "no bytes")
        streamed.update(UnsafeRawBufferPointer(start: nil, count: 0))
        streamed.update(Array("abc".utf8))
        XCTAssertEqual(streamed.finalize(), 0x44BC_2CF5_AD77_0999, "an empty range, then abc")
        XCTAssertEqual(LBMChecksum.tag(0xAB), "xxh64:00000000000000ab")
        XCTAssertEqual(LBMChecksum.tag(0xE146_CB31_B65B_C21A), "xxh64:e146cb31b65bc21a")
    }

    func testStreamingMatchesOneShot() {
        var rng = SeededGenerator(seed: 7)
        for length in [0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 65, 100, 1000] {
            let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = LBMChecksum.hash(data)
            for _ in 0..<5 {
                var hasher = LBMChecksum()
                var start = 0
                while start < length {
                    let end = min(length, start + Int.random(in: 0...40, using: &rng))
                    hasher.update(Array(data[start..<end]))
                    start = end
                }
                XCTAssertEqual(hasher.finalize(), expected, "length \(length), seed 7")
            }
        }
    }
}
