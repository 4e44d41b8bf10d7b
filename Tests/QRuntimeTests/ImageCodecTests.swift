// JPEG and PNG decoding (through libjpeg-turbo and libpng): every PNG colour type and depth, EXIF orientation,
// agreement with Pillow's JPEG decode, and hostile files (truncated, corrupted, huge claims) failing cleanly.
// Fixtures: Tests/QRuntimeTests/Images, written by toolchain/images/make_test_images.py.
import Foundation
@testable import QRuntime
import XCTest

final class ImageCodecTests: XCTestCase {
    private static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Images")

    private func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(name)))
    }

    private func read(_ name: String) throws -> Image {
        try ImageReader.read(contentsOf: Self.folder.appendingPathComponent(name))
    }

    /// The fixtures' 8-bit and 16-bit PNG sample formulas (5x3 images).
    private func sample8(_ x: Int, _ y: Int, _ c: Int) -> Float { Float((x * 37 + y * 71 + c * 101) % 256) / 255 }
    private func sample16(_ x: Int, _ y: Int, _ c: Int) -> Float { Float((x * 9001 + y * 7919 + c * 3) % 65536) / 65535 }

    private func expected(channels: Int, _ f: (Int, Int, Int) -> Float) -> [Float] {
        var v: [Float] = []
        for y in 0..<3 { for x in 0..<5 { for c in 0..<channels { v.append(f(x, y, c)) } } }
        return v
    }

    /// Asserts decoding `bytes` throws an ImageError naming the file and containing `fragment`.
    private func assertFails(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ImageReader.decode(bytes, name: "bad"), file: file, line: line) { error in
            guard let e = error as? ImageError else { return XCTFail("not an ImageError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.file, "bad", file: file, line: line)
            XCTAssertTrue(e.message.contains(fragment), "'\(e.message)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    // MARK: PNG

    func testPNGColourTypesAndDepths() throws {
        let rgb = try read("rgb.png")
        XCTAssertEqual([rgb.width, rgb.height, rgb.channels, rgb.maxval], [5, 3, 3, 255])
        XCTAssertEqual(rgb.format, "PNG")
        XCTAssertEqual(rgb.pixels, expected(channels: 3, sample8))
        XCTAssertEqual(try read("rgba.png").pixels, rgb.pixels, "alpha dropped")
        let gray = try read("gray.png")
        XCTAssertEqual([gray.channels, gray.maxval], [1, 255])
        XCTAssertEqual(gray.pixels, expected(channels: 1, sample8))
        XCTAssertEqual(try read("gray-alpha.png").pixels, gray.pixels, "gray + alpha: alpha dropped")
        let gray16 = try read("gray16.png")
        XCTAssertEqual([gray16.channels, gray16.maxval], [1, 65535])
        XCTAssertEqual(gray16.pixels, expected(channels: 1, sample16))
        let rgb16 = try read("rgb16.png")
        XCTAssertEqual([rgb16.channels, rgb16.maxval], [3, 65535])
        XCTAssertEqual(rgb16.pixels, expected(channels: 3, sample16))
        // Palette with tRNS: RGB, transparency dropped; entry (x + y) % 4.
        let palette: [[Float]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]
        XCTAssertEqual(try read("palette.png").pixels, expected(channels: 3) { x, y, c in palette[(x + y) % 4][c] / 255 })
        // 1-bit gray expands to 0 / 255.
        XCTAssertEqual(try read("bits1.png").pixels, expected(channels: 1) { x, y, _ in Float((x + y) % 2) })
    }

    func testHostilePNG() throws {
        let good = try fixture("rgb.png")
        // Every truncation fails cleanly (none decodes a partial image).
        for n in 0..<good.count - 12 {  // the last 12 bytes are IEND, which the decoder does not need
            XCTAssertThrowsError(try ImageReader.decode(Array(good.prefix(n)), name: "bad"), "prefix \(n)")
        }
        assertFails(Array(good.prefix(good.count / 2)), "corrupt PNG")
        // A damaged IDAT checksum.
        var crc = good
        let idat = try XCTUnwrap(indexOf(Array("IDAT".utf8), in: good))
        crc[idat + 5] ^= 0x40
        assertFails(crc, "corrupt PNG")
        // Huge size claims, with valid IHDR checksums: refused before pixel memory is allocated.
        assertFails(withIHDR(good, width: 40000, height: 1), "corrupt PNG")
        assertFails(withIHDR(good, width: 0x7FFF_FFFF, height: 0x7FFF_FFFF), "corrupt PNG")
        assertFails(withIHDR(good, width: 20000, height: 20000), "too many samples")
        assertFails(withIHDR(good, width: 0, height: 3), "corrupt PNG")
        // A signature and nothing usable.
        assertFails(Array(good.prefix(8)) + [UInt8](repeating: 0xAB, count: 64), "corrupt PNG")
        try flipBytes(good)
    }

    // MARK: JPEG

    func testJPEGMatchesPillow() throws {
        let image = try read("blocks.jpg")
        XCTAssertEqual([image.width, image.height, image.channels, image.maxval], [32, 16, 3, 255])
        XCTAssertEqual(image.format, "JPEG")
        let pillow = try JSONDecoder().decode([Int].self, from: Data(try fixture("blocks.jpg.json")))
        let ours = image.pixels.map { Int(($0 * 255).rounded()) }
        let worst = zip(ours, pillow).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1, "largest difference from Pillow's decode, in 8-bit steps")
        let progressive = try read("progressive.jpg")
        XCTAssertEqual([progressive.width, progressive.height, progressive.channels], [32, 16, 3])
        XCTAssertEqual(try read("gray.jpg").channels, 1)
        XCTAssertEqual(try read("gray.jpg").pixels.allSatisfy { abs($0 - 200.0 / 255) < 2.0 / 255 }, true)
    }

    /// The fixtures store red left / blue right (32x16); EXIF says how to turn them upright.
    func testEXIFOrientation() throws {
        func color(_ image: Image, _ x: Int, _ y: Int) -> String {
            let i = (y * image.width + x) * 3
            return image.pixels[i] > 0.5 ? "red" : image.pixels[i + 2] > 0.5 ? "blue" : "other"
        }
        let plain = try read("blocks.jpg")
        XCTAssertEqual([color(plain, 4, 8), color(plain, 28, 8)], ["red", "blue"])
        let r6 = try read("orient6.jpg")  // rotate 90 clockwise: left (red) goes to the top
        XCTAssertEqual([r6.width, r6.height], [16, 32])
        XCTAssertEqual([color(r6, 8, 4), color(r6, 8, 28)], ["red", "blue"])
        let r8 = try read("orient8.jpg")  // rotate 90 counter-clockwise: left (red) goes to the bottom
        XCTAssertEqual([r8.width, r8.height], [16, 32])
        XCTAssertEqual([color(r8, 8, 4), color(r8, 8, 28)], ["blue", "red"])
        let r3 = try read("orient3.jpg")  // rotate 180
        XCTAssertEqual([r3.width, r3.height], [32, 16])
        XCTAssertEqual([color(r3, 4, 8), color(r3, 28, 8)], ["blue", "red"])
        XCTAssertEqual(try fixture("orient6.jpg").withUnsafeBufferPointer { ExifOrientation.read(jpeg: $0) }, 6)
    }

    /// Every orientation moves pixels as PIL's exif_transpose does (checked on a 3x2 image, exactly).
    func testOrientationTransforms() {
        // Pixels 0 1 2 / 3 4 5 (gray).
        let image = Image(width: 3, height: 2, channels: 1, pixels: [0, 1, 2, 3, 4, 5])
        let expected: [Int: (Int, Int, [Float])] = [
            2: (3, 2, [2, 1, 0, 5, 4, 3]), 3: (3, 2, [5, 4, 3, 2, 1, 0]), 4: (3, 2, [3, 4, 5, 0, 1, 2]),
            5: (2, 3, [0, 3, 1, 4, 2, 5]), 6: (2, 3, [3, 0, 4, 1, 5, 2]), 7: (2, 3, [5, 2, 4, 1, 3, 0]),
            8: (2, 3, [2, 5, 1, 4, 0, 3]),
        ]
        for (o, (w, h, pixels)) in expected {
            let turned = ExifOrientation.apply(o, to: image)
            XCTAssertEqual([turned.width, turned.height], [w, h], "orientation \(o)")
            XCTAssertEqual(turned.pixels, pixels, "orientation \(o)")
        }
    }

    func testHostileJPEG() throws {
        let good = try fixture("blocks.jpg")
        for n in 0..<good.count - 2 {  // without its EOI marker a JPEG still decodes (libjpeg warns: an error here)
            XCTAssertThrowsError(try ImageReader.decode(Array(good.prefix(n)), name: "bad"), "prefix \(n)")
        }
        assertFails(Array(good.prefix(good.count - 100)), "corrupt JPEG: Premature end of JPEG file")
        let sof = try XCTUnwrap(indexOf([0xFF, 0xC0], in: good))
        var huge = good
        huge[sof + 5...sof + 8] = [0x00, 0x01, 0x9C, 0x40]  // 40000 wide, 1 high
        assertFails(huge, "JPEG size 40000x1 exceeds the limit (each side at most 32768)")
        huge[sof + 5...sof + 8] = [0xFF, 0xFF, 0xFF, 0xFF]  // beyond JPEG's own 65500
        assertFails(huge, "corrupt JPEG: Maximum supported image dimension is 65500 pixels")
        var many = good
        many[sof + 5...sof + 8] = [0x4E, 0x20, 0x4E, 0x20]  // 20000 x 20000 x 3
        assertFails(many, "too many samples")
        var zero = good
        zero[sof + 7...sof + 8] = [0, 0]
        assertFails(zero, "corrupt JPEG")
        assertFails([0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0x11, count: 40), "corrupt JPEG")
        assertFails(try fixture("cmyk.jpg"), "unsupported JPEG colour space (CMYK/YCCK)")
        try flipBytes(good)
        // Stray bytes between segments (written by some cameras) are tolerated: same pixels.
        XCTAssertEqual(Array(good[20..<22]), [0xFF, 0xDB], "DQT after the 16-byte APP0")
        let stray = Array(good[..<20]) + [0x00, 0x11, 0x22] + Array(good[20...])
        XCTAssertEqual(try ImageReader.decode(stray, name: "x").pixels, try ImageReader.decode(good, name: "x").pixels)
        // A damaged EXIF block is ignored, not fatal.
        var exif = try fixture("orient6.jpg")
        let tiff = try XCTUnwrap(indexOf(Array("Exif".utf8), in: exif)) + 6
        exif[tiff] = 0x00  // byte order mark destroyed
        XCTAssertEqual(try ImageReader.decode(exif, name: "x").width, 32)
    }

    // MARK: helpers

    /// Seeded single-byte corruptions: each either decodes or throws an ImageError (never crashes or hangs).
    private func flipBytes(_ good: [UInt8]) throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<300 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            var bad = good
            let at = Int(state >> 33) % bad.count
            bad[at] ^= UInt8(truncatingIfNeeded: state >> 13) | 1
            do { _ = try ImageReader.decode(bad, name: "bad") } catch is ImageError {} catch {
                XCTFail("byte \(at): not an ImageError: \(error)")
            }
        }
    }

    private func indexOf(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        return (0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle }
    }

    /// `png` with its IHDR width and height replaced and the chunk's CRC recomputed.
    private func withIHDR(_ png: [UInt8], width: UInt32, height: UInt32) -> [UInt8] {
        var b = png
        for (i, v) in [width, height].enumerated() {
            for k in 0..<4 { b[16 + 4 * i + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * k)) }
        }
        let crc = crc32(b[12..<29])
        for k in 0..<4 { b[29 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
        return b
    }

    private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
}
