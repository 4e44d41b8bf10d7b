@testable import QConvert
import QGraph
import QKernels
import _QTestSupport
import XCTest

final class QuantizerTests: XCTestCase {
    private func randomRows(_ rows: Int, _ k: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<(rows * k)).map { _ in Float.random(in: -1...1, using: &rng) * Float.random(in: 0...1, using: &rng) }
    }

    func testUniformCodesUseTheFullSymmetricGrid() {
        for bits in [2, 3, 4, 8] {
            let w = randomRows(5, 37, seed: UInt64(bits))
            let q = quantizeUniform(rows: w, rows: 5, k: 37, bits: bits, clip: .max)
            let qmax = (1 << (bits - 1)) - 1, qmin = -(1 << (bits - 1))
            let deq = q.dequantized()
            for r in 0..<5 {
                let row = w[(r * 37)..<(r * 37 + 37)]
                let m = row.map(abs).max()!
                XCTAssertEqual(q.scales[r], m / (Float(qmax) + 0.5), accuracy: 1e-7)
                for j in 0..<37 {
                    let v = q.value(q.codes[r * 37 + j])
                    XCTAssertTrue((qmin...qmax).contains(v))
                    // Round to nearest: error at most half a step.
                    XCTAssertLessThanOrEqual(abs(deq[r * 37 + j] - w[r * 37 + j]), q.scales[r] / 2 * 1.0001)
                }
            }
        }
    }

    func testMSEClippingNeverIncreasesWeightError() {
        let w = randomRows(8, 64, seed: 7)
        for bits in [2, 3, 4] {
            let byMax = quantizeUniform(rows: w, rows: 8, k: 64, bits: bits, clip: .max)
            let byMSE = quantizeUniform(rows: w, rows: 8, k: 64, bits: bits, clip: .mse)
            XCTAssertGreaterThanOrEqual(sqnr(w, byMSE.dequantized()), sqnr(w, byMax.dequantized()) - 1e-9)
        }
    }

    func testZeroRowsQuantizeToZero() {
        let q = quantizeUniform(rows: [0, 0, 0, 0], rows: 1, k: 4, bits: 4, clip: .max)
        XCTAssertEqual(q.dequantized(), [0, 0, 0, 0])
    }

    /// Shift weights: the table is 0 / +-2^e, the row peak maps to 2^E, every weight takes the nearest
    /// level, and signs survive.
    func testShiftWeightsArePowersOfTwo() {
        let row: [Float] = [6.4, -6.4, 3.3, -0.04, 0.06, 0.1, -1.4, 0]   // scale 0.1 at 4 bits (E = 6)
        let q = quantizeShift(rows: row, rows: 1, k: row.count, bits: 4)
        XCTAssertEqual(q.scheme, .shift)
        XCTAssertEqual(q.lut!, [0, 1, 2, 4, 8, 16, 32, 64, 0, -1, -2, -4, -8, -16, -32, -64])
        XCTAssertEqual(q.scales[0], 0.1, accuracy: 1e-7)
        XCTAssertEqual(q.dequantized().map { ($0 * 10).rounded() / 10 }, [6.4, -6.4, 3.2, 0, 0.1, 0.1, -1.6, 0])
        for bits in 2...4 {
            let t = quantizeShift(rows: row, rows: 1, k: row.count, bits: bits)
            XCTAssertTrue(t.lut!.allSatisfy { $0 == 0 || abs($0) & (abs($0) - 1) == 0 }, "bits \(bits)")
            XCTAssertEqual(t.lut!.max(), 1 << ((1 << (bits - 1)) - 2))
        }
        let zero = quantizeShift(rows: [0, 0, 0], rows: 1, k: 3, bits: 3)
        XCTAssertEqual(zero.codes, [0, 0, 0]); XCTAssertEqual(zero.scales, [0])
    }

    func testCodebookHasAnExactZeroAndFewLevels() {
        let w = randomRows(4, 100, seed: 3)
        for bits in [2, 3, 4] {
            let q = quantizeCodebook(rows: w, rows: 4, k: 100, bits: bits)
            XCTAssertEqual(q.levels?.count, 1 << bits)
            XCTAssertEqual(q.levels?[0], 0)
            XCTAssertEqual(q.lut?[0], 0)
            XCTAssertLessThanOrEqual(Set(q.codes).count, 1 << bits)
            XCTAssertGreaterThan(sqnr(w, q.dequantized()), Double(bits) * 3)
        }
    }

    func testPackingMatchesTheDocumentedLayout() {
        // The converter packs with QKernels (layout: qk_pack.h, tested in PackTests): size and round trip.
        let codes = (0..<32).map { UInt8($0 % 16) }
        let packed = packCodes(codes, rows: 1, k: 32, bits: 4)
        XCTAssertEqual(packed.count, 256)  // one row, padded to a row group of 16
        XCTAssertEqual(WeightDescriptor.packedRows(rows: 1) * WeightDescriptor.packedRowBytes(k: 32, bits: 4), 256)
        var back = [UInt8](repeating: 0, count: 32)
        qk_unpack_codes(packed, 1, 32, 4, &back)
        XCTAssertEqual(back, codes)
        XCTAssertEqual(packCodes([1, 2, 3], rows: 1, k: 3, bits: 2).count, 16 * 8)
        // grouped: 2 conv groups of 2 rows -> two matrices of one row group each
        let grouped = packCodes([UInt8](repeating: 1, count: 4 * 32), rows: 4, k: 32, bits: 4, groups: 2)
        XCTAssertEqual(grouped.count, 2 * 256)
        XCTAssertEqual(grouped[0], 0x11); XCTAssertEqual(grouped[7], 0x11); XCTAssertEqual(grouped[8], 0)
        XCTAssertEqual(grouped[256], 0x11); XCTAssertEqual(grouped[263], 0x11); XCTAssertEqual(grouped[264], 0)
        XCTAssertEqual(WeightDescriptor.packedRows(rows: 10), 16)
        XCTAssertEqual(WeightDescriptor.packedRows(rows: 32, groups: 32), 512)
    }

    func testSHA256KnownAnswers() {
        func hex(_ s: String) -> String {
            Array(s.utf8).withUnsafeBytes { SHA256.hash($0) }.map { String(format: "%02x", $0) }.joined()
        }
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(String(repeating: "a", count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        // FIPS 180-4's two-block message and one million "a" (NIST's SHA-256 examples).
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hex(String(repeating: "a", count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Around the padding boundary: 55 bytes pad into one block, 56 need a second (Python's hashlib).
        let boundary = [55: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
                        56: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
                        63: "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
                        64: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
                        65: "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"]
        for (count, digest) in boundary { XCTAssertEqual(hex(String(repeating: "a", count: count)), digest, "\(count) bytes") }
    }
}
