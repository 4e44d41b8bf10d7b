// XXH64 against reference values (from the `xxhash` Python package, which wraps the C library).
import XCTest
@testable import QFormat
import _QTestSupport

final class XXH64Tests: XCTestCase {
    func testKnownValues() {
        XCTAssertEqual(XXH64.hash([]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(XXH64.hash(Array("a".utf8)), 0xD24E_C4F1_A98C_6E5B)
        XCTAssertEqual(XXH64.hash(Array("abc".utf8)), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(XXH64.hash(Array("0123456789abcdef0123456789abcdef0".utf8)), 0xE876_84F0_8D6D_0816)
        let long = Array((0..<4).flatMap { _ in (0...255).map { UInt8($0) } }) + Array("xyz".utf8)
        XCTAssertEqual(XXH64.hash(long), 0xE146_CB31_B65B_C21A)
        XCTAssertEqual(XXH64.hash(Array("abc".utf8), seed: 0x9E37_79B9_7F4A_7C15), 0x2ED0_F59D_6B43_AC8B)
        XCTAssertEqual(XXH64.tag(0xAB), "xxh64:00000000000000ab")
    }

    func testStreamingMatchesOneShot() {
        var rng = SeededGenerator(seed: 7)
        for length in [0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 65, 100, 1000] {
            let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = XXH64.hash(data)
            for _ in 0..<5 {
                var hasher = XXH64()
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
