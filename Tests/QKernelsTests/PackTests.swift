// The packed k-bit layout: C packer vs a Swift packer written from the spec, round trips, row
// sizes and column sums.
import QKernels
import XCTest

/// Packs codes exactly as the layout spec words it (independent of the C code): rows in groups of
/// 16 (padded with zero rows), each group block by block (64 * bits bytes per 32 k), a block as 8
/// sub-steps of 4 k with position j = (row in group) * 4 + k % 4, bits in 64-byte chunks: 8 bits:
/// chunk s; 4/2/1 bits: chunk s / (8/bits) at bit bits * (s % (8/bits)); 3 bits: low two bits as 2
/// bits in chunks 0-1, bit 2 as 1 bit in chunk 2.
func specPack(_ codes: [UInt8], rows: Int, K: Int, bits: Int) -> [UInt8] {
    let rowBytes = (K + 31) / 32 * 4 * bits, groupStride = 16 * rowBytes
    var out = [UInt8](repeating: 0, count: (rows + 15) / 16 * groupStride)
    for r in 0..<rows {
        for k in 0..<K {
            let code = codes[r * K + k] & UInt8(bits == 8 ? 0xFF : (1 << bits) - 1)
            let base = r / 16 * groupStride + k / 32 * 64 * bits
            let s = k % 32 / 4, j = r % 16 * 4 + k % 4
            switch bits {
            case 8: out[base + s * 64 + j] = code
            case 3:
                out[base + s / 4 * 64 + j] |= (code & 3) << (2 * (s % 4))
                out[base + 128 + j] |= (code >> 2) << s
            default:
                let per = 8 / bits
                out[base + s / per * 64 + j] |= code << (bits * (s % per))
            }
        }
    }
    return out
}

final class PackTests: XCTestCase {
    let allBits = [1, 2, 3, 4, 8]

    func testRowBytes() {
        for bits in allBits {
            XCTAssertEqual(qk_packed_row_bytes(0, Int32(bits)), 0)
            XCTAssertEqual(qk_packed_row_bytes(1, Int32(bits)), 4 * bits)
            XCTAssertEqual(qk_packed_row_bytes(32, Int32(bits)), 4 * bits)
            XCTAssertEqual(qk_packed_row_bytes(33, Int32(bits)), 8 * bits)
            XCTAssertEqual(qk_packed_row_bytes(576, Int32(bits)), 18 * 4 * bits)
        }
        XCTAssertEqual(qk_packed_row_bytes(32, 5), 0)
        XCTAssertEqual(qk_packed_rows(1), 16)
        XCTAssertEqual(qk_packed_rows(16), 16)
        XCTAssertEqual(qk_packed_rows(17), 32)
        XCTAssertEqual(qk_packed_bytes(10, 33, 4), 16 * 32)
        XCTAssertEqual(qk_bits_supported(5), 0)
    }

    func testPackMatchesSpecAndRoundTrips() {
        let seed = testSeed(11)
        var rng = SeededGenerator(seed: seed)
        for bits in allBits {
            for K in [1, 7, 31, 32, 33, 64, 95, 200] {
                let rows = Int.random(in: 1...5, using: &rng)
                // codes beyond 2^bits must be masked by the packer
                let codes = (0..<(rows * K)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let masked = codes.map { $0 & UInt8(bits == 8 ? 0xFF : (1 << bits) - 1) }
                let rowBytes = qk_packed_row_bytes(K, Int32(bits))
                XCTAssertEqual(qk_packed_bytes(rows, K, Int32(bits)), (rows + 15) / 16 * 16 * rowBytes)
                var packed = [UInt8](repeating: 0xEE, count: qk_packed_bytes(rows, K, Int32(bits)))
                qk_pack_codes(codes, rows, K, Int32(bits), &packed)
                XCTAssertEqual(packed, specPack(codes, rows: rows, K: K, bits: bits),
                               "seed \(seed) bits \(bits) K \(K): layout differs from the spec")
                var back = [UInt8](repeating: 0xEE, count: rows * K)
                qk_unpack_codes(packed, rows, K, Int32(bits), &back)
                XCTAssertEqual(back, masked, "seed \(seed) bits \(bits) K \(K): round trip")
            }
        }
    }

    /// Hand-checked bytes: where (row, k) lands at every width.
    func testKnownBytes() {
        // one row, K = 32, 4 bits: sub-step s = k / 4 at chunk s / 2, nibble s % 2, byte k % 4
        var codes = [UInt8](repeating: 0, count: 32)
        codes[0] = 0x3; codes[4] = 0xA; codes[9] = 0x1; codes[31] = 0xF
        var p4 = [UInt8](repeating: 0xEE, count: 16 * 16)
        qk_pack_codes(codes, 1, 32, 4, &p4)
        XCTAssertEqual(p4[0], 0xA3)        // k 0 (s 0, low nibble), k 4 (s 1, high nibble) at byte 0
        XCTAssertEqual(p4[64 + 1], 0x01)   // k 9: s 2 -> chunk 1, low nibble, byte 1
        XCTAssertEqual(p4[192 + 3], 0xF0)  // k 31: s 7 -> chunk 3, high nibble, byte 3
        XCTAssertEqual(p4.filter { $0 != 0 }.count, 3)
        // row 5 of a group, k 2, 8 bits: chunk 0, byte 5 * 4 + 2
        var c8 = [UInt8](repeating: 0, count: 6 * 32)
        c8[5 * 32 + 2] = 0x7F
        var p8 = [UInt8](repeating: 0xEE, count: 16 * 32)
        qk_pack_codes(c8, 6, 32, 8, &p8)
        XCTAssertEqual(p8[22], 0x7F)
        XCTAssertEqual(p8.filter { $0 != 0 }.count, 1)
        // 3 bits, row 0: k 13 (s 3) code 7 -> low bits 3 at chunk 0 bits 6-7 of byte 1, bit 2 at chunk 2 bit 3
        var c3 = [UInt8](repeating: 0, count: 32)
        c3[13] = 7
        var p3 = [UInt8](repeating: 0xEE, count: 16 * 12)
        qk_pack_codes(c3, 1, 32, 3, &p3)
        XCTAssertEqual(p3[1], 0b11 << 6)
        XCTAssertEqual(p3[128 + 1], 1 << 3)
        XCTAssertEqual(p3.filter { $0 != 0 }.count, 2)
        // 1 bit: k 5 (s 1) of row 1 -> chunk 0, byte 1 * 4 + 1, bit 1
        var c1 = [UInt8](repeating: 0, count: 2 * 32)
        c1[32 + 5] = 1
        var p1 = [UInt8](repeating: 0xEE, count: 16 * 4)
        qk_pack_codes(c1, 2, 32, 1, &p1)
        XCTAssertEqual(p1[5], 0b10)
        XCTAssertEqual(p1.filter { $0 != 0 }.count, 1)
    }

    func testColumnSums() {
        let seed = testSeed(12)
        var rng = SeededGenerator(seed: seed)
        for bits in allBits {
            let rows = 6, K = 77
            let lut = (0..<16).map { _ in Int8.random(in: -128...127, using: &rng) }
            let maxCode = bits == 8 ? 255 : (1 << bits) - 1
            let codes = (0..<(rows * K)).map { _ in UInt8(Int.random(in: 0...maxCode, using: &rng)) }
            var packed = [UInt8](repeating: 0, count: qk_packed_bytes(rows, K, Int32(bits)))
            qk_pack_codes(codes, rows, K, Int32(bits), &packed)
            var sums = [Int32](repeating: 0, count: rows)
            qk_weight_colsums(packed, rows, K, Int32(bits), lut, &sums)
            for r in 0..<rows {
                let want = (0..<K).reduce(Int32(0)) { s, k in
                    let c = codes[r * K + k]
                    return s + (bits == 8 ? Int32(Int8(bitPattern: c)) : Int32(lut[Int(c)]))
                }
                XCTAssertEqual(sums[r], want, "seed \(seed) bits \(bits) row \(r)")
            }
        }
    }
}
