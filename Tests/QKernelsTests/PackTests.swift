// The packed k-bit layout: C packer vs a Swift packer written from the spec, round trips, row
// sizes and column sums.
import QKernels
import XCTest

/// Packs codes exactly as the layout spec words it (independent of the C code).
/// Rows in groups of 4 (padded with zero rows); group g, block b, row r at
/// g * 4 * rowBytes + (b * 4 + r) * blockBytes; at 8 bits the group's block goes by halves
/// (row r's codes 0-15 at r * 16, codes 16-31 at 64 + r * 16).
func specPack(_ codes: [UInt8], rows: Int, K: Int, bits: Int) -> [UInt8] {
    let rowBytes = (K + 31) / 32 * 4 * bits, blockBytes = 4 * bits
    var out = [UInt8](repeating: 0, count: (rows + 3) / 4 * 4 * rowBytes)
    for r in 0..<rows {
        for k in 0..<K {
            let code = codes[r * K + k] & UInt8(bits == 8 ? 0xFF : (1 << bits) - 1)
            let blk = r / 4 * 4 * rowBytes + (k / 32 * 4 + r % 4) * blockBytes, i = k % 32
            switch bits {
            case 8: out[r / 4 * 4 * rowBytes + k / 32 * 4 * blockBytes + (i < 16 ? r % 4 * 16 + i : 64 + r % 4 * 16 + i - 16)] = code
            case 4: out[blk + i % 16] |= code << (4 * (i / 16))
            case 2: out[blk + i % 8] |= code << (2 * (i / 8))
            case 1: out[blk + i % 4] |= code << (i / 4)
            default:  // 3: low-2-bit plane (8 bytes) then bit-2 plane (4 bytes)
                out[blk + i % 8] |= (code & 3) << (2 * (i / 8))
                out[blk + 8 + i % 4] |= (code >> 2) << (i / 4)
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
        XCTAssertEqual(qk_packed_rows(1), 4)
        XCTAssertEqual(qk_packed_rows(4), 4)
        XCTAssertEqual(qk_packed_rows(10), 12)
        XCTAssertEqual(qk_packed_bytes(10, 33, 4), 12 * 32)
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
                XCTAssertEqual(qk_packed_bytes(rows, K, Int32(bits)), (rows + 3) / 4 * 4 * rowBytes)
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

    /// Hand-checked bytes: the nibble / crumb / bit positions of code i.
    func testKnownBytes() {
        var codes = [UInt8](repeating: 0, count: 32)
        codes[0] = 0x3; codes[16] = 0xA; codes[15] = 0x1; codes[31] = 0xF
        var p4 = [UInt8](repeating: 0, count: 64)
        qk_pack_codes(codes, 1, 32, 4, &p4)
        XCTAssertEqual(p4[0], 0xA3)   // code 0 low nibble, code 16 high nibble
        XCTAssertEqual(p4[15], 0xF1)  // code 15 low, code 31 high
        var c3 = [UInt8](repeating: 0, count: 32)
        c3[0] = 7; c3[9] = 5; c3[31] = 6
        var p3 = [UInt8](repeating: 0, count: 48)
        qk_pack_codes(c3, 1, 32, 3, &p3)
        XCTAssertEqual(p3[0], 0b11)                 // lo2(code0)=3 at byte 0 bits 0-1
        XCTAssertEqual(p3[1], 0b01 << 2)            // lo2(code9)=1 at byte 1 bits 2-3
        XCTAssertEqual(p3[7], 0b10 << 6)            // lo2(code31)=2 at byte 7 bits 6-7
        XCTAssertEqual(p3[8], 0b1)                  // hi(code0)=1 at byte 8 bit 0
        XCTAssertEqual(p3[9], 0b1 << 2)             // hi(code9)=1 at byte 9 bit 2
        XCTAssertEqual(p3[11], 0b1 << 7)            // hi(code31)=1 at byte 11 bit 7
        var c1 = [UInt8](repeating: 0, count: 32)
        c1[5] = 1
        var p1 = [UInt8](repeating: 0xEE, count: 16)
        qk_pack_codes(c1, 1, 32, 1, &p1)
        XCTAssertEqual(p1, [0, 0b10, 0, 0] + [UInt8](repeating: 0, count: 12))  // code 5: byte 1, bit 1; 3 zero rows
        // Row groups interleave blocks: rows 0-3, K = 64, 4 bits: block 0 of rows 0..3, then block 1.
        var c4 = [UInt8](repeating: 0, count: 4 * 64)
        c4[1 * 64 + 0] = 0x5     // row 1, k 0  -> group 0, block 0, row 1: byte 16
        c4[2 * 64 + 32] = 0x7    // row 2, k 32 -> block 1, row 2: byte (1 * 4 + 2) * 16 = 96
        var g4 = [UInt8](repeating: 0xEE, count: 128)
        qk_pack_codes(c4, 4, 64, 4, &g4)
        XCTAssertEqual(g4[16], 0x5)
        XCTAssertEqual(g4[96], 0x7)
        XCTAssertEqual(g4.filter { $0 != 0 }.count, 2)
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
