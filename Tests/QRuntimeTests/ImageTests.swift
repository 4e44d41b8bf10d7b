// Tests for NetPBM decoding (all four formats, hostile files) and preprocessing (resize, crop, normalise).
import Foundation
import QGraph
@testable import QRuntime
import XCTest
import _QTestSupport

final class ImageTests: XCTestCase {
    // MARK: helpers

    private func bytes(_ header: String, _ raster: [UInt8] = []) -> [UInt8] { Array(header.utf8) + raster }

    private func decode(_ b: [UInt8], _ name: String = "x.ppm") throws -> Image { try ImageReader.decode(b, name: name) }

    /// Asserts decoding fails with an ImageError whose description contains `fragment`.
    private func assertFails(_ b: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(b), file: file, line: line) { error in
            guard let e = error as? ImageError else {
                return XCTFail("not an ImageError: \(error)", file: file, line: line)
            }
            XCTAssertTrue(e.description.contains(fragment), "'\(e.description)' lacks '\(fragment)'", file: file, line: line)
            XCTAssertEqual(e.file, "x.ppm", file: file, line: line)
        }
    }

    // MARK: formats

    func testP6WithComments() throws {
        let raster: [UInt8] = [0, 1, 2, 127, 128, 129, 200, 254, 255, 10, 20, 30]
        let image = try decode(bytes("P6\n# a comment\n2 # width\n#only comment\n 2\t255\n", raster))
        XCTAssertEqual([image.width, image.height, image.channels, image.maxval], [2, 2, 3, 255])
        XCTAssertEqual(image.format, "P6")
        XCTAssertEqual(image.pixels, raster.map { Float($0) / 255 })
    }

    func testP5() throws {
        let raster: [UInt8] = [0, 50, 100, 150, 200, 250]
        let image = try decode(bytes("P5 3 2 255 ", raster))
        XCTAssertEqual([image.width, image.height, image.channels], [3, 2, 1])
        XCTAssertEqual(image.format, "P5")
        XCTAssertEqual(image.pixels, raster.map { Float($0) / 255 })
    }

    func testP3PlainWithCommentsInRaster() throws {
        let image = try decode(bytes("P3\n# c\n2 1\n15\n0 7 15 # first pixel\n\n 1\t2\r\n3\n"))
        XCTAssertEqual([image.width, image.height, image.channels, image.maxval], [2, 1, 3, 15])
        XCTAssertEqual(image.format, "P3")
        XCTAssertEqual(image.pixels, [0, 7, 15, 1, 2, 3].map { Float($0) / 15 })
    }

    func testP2Plain() throws {
        let image = try decode(bytes("P2 2 2 100 0 25 50 100"))  // no trailing newline needed
        XCTAssertEqual(image.channels, 1)
        XCTAssertEqual(image.format, "P2")
        XCTAssertEqual(image.pixels, [0, 0.25, 0.5, 1])
    }

    func testMaxval65535RawIsTwoByteBigEndian() throws {
        let p6 = try decode(bytes("P6 1 1 65535\n", [0x00, 0x01, 0x80, 0x00, 0xFF, 0xFF]))
        XCTAssertEqual(p6.pixels, [Float(1) / 65535, Float(0x8000) / 65535, 1])
        let p5 = try decode(bytes("P5 2 1 1000\n", [0x03, 0xE8, 0x01, 0xF4]))  // 1000, 500
        XCTAssertEqual(p5.pixels, [1, Float(500) / 1000])
        XCTAssertEqual(p5.maxval, 1000)
        let p2 = try decode(bytes("P2 2 1 65535 65535 1"))
        XCTAssertEqual(p2.pixels, [1, Float(1) / 65535])
    }

    func testMaxval1() throws {
        XCTAssertEqual(try decode(bytes("P5 3 1 1\n", [0, 1, 1])).pixels, [0, 1, 1])
        XCTAssertEqual(try decode(bytes("P2 3 1 1 1 0 1")).pixels, [1, 0, 1])
        assertFails(bytes("P5 3 1 1\n", [0, 2, 1]), "sample 2 at row 0, column 1 exceeds maxval 1")
    }

    func testRasterDelimiterIsExactlyOneWhitespace() throws {
        // The second "\n" is the first sample (10), not more whitespace.
        XCTAssertEqual(try decode(bytes("P5 1 1 255\n\n")).pixels, [Float(10) / 255])
        // A raster starting with a whitespace byte (32) after a space delimiter.
        XCTAssertEqual(try decode(bytes("P5 2 1 255 ", [32, 9])).pixels, [Float(32) / 255, Float(9) / 255])
        // A comment after maxval ends with, and consumes, its newline (libnetpbm's pm_getc).
        XCTAssertEqual(try decode(bytes("P5 1 1 255# c\n", [7])).pixels, [Float(7) / 255])
        // CRLF: CR is the delimiter, LF (10) is the first sample.
        XCTAssertEqual(try decode(bytes("P5 2 1 255\r\n", [3])).pixels, [Float(10) / 255, Float(3) / 255])
        assertFails(bytes("P5 1 1 255X", [7]), "expected one whitespace character after maxval, found 'X'")
    }

    func testTrailingBytesAndSecondImageIgnored() throws {
        let first = bytes("P5 1 1 255\n", [9])
        let image = try decode(first + bytes("P5 1 1 255\n", [200]) + [0, 1, 2])
        XCTAssertEqual(image.pixels, [Float(9) / 255])
        XCTAssertEqual(try decode(bytes("P2 1 1 9 3 garbage")).pixels, [Float(3) / 9])
    }

    // MARK: hostile files

    func testExactErrorMessages() {
        func message(_ b: [UInt8]) -> String {
            do { _ = try decode(b); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message(bytes("P6 32 32 255\n", [UInt8](repeating: 1, count: 100))),
                       "x.ppm: truncated: expected 3072 bytes of pixel data, found 100")
        XCTAssertEqual(message(bytes("GIF89a")),
                       "x.ppm: unsupported image format (looks like GIF); qinfer reads JPEG, PNG and PPM/PGM")
        XCTAssertEqual(message(bytes("GI")), "x.ppm: not a JPEG, PNG or PPM/PGM file (magic 'GI')")
        XCTAssertEqual(message([0, 0xFF, 3]), "x.ppm: not a JPEG, PNG or PPM/PGM file (magic '\\x00\\xFF')")
        XCTAssertEqual(message(bytes("P6 2 2 70000\n")), "x.ppm: unsupported maxval 70000 (1...65535)")
        // JPEG and PNG signatures go to their decoders (ImageCodecTests has the hostile cases).
        XCTAssertEqual(message([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), "x.ppm: corrupt JPEG: Premature end of JPEG file")
        XCTAssertEqual(message([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
                       "x.ppm: corrupt PNG: truncated file (read past the end)")
        XCTAssertEqual(message([]), "x.ppm: empty file")
        XCTAssertEqual(message(bytes("P2 2 1 10 5 11")), "x.ppm: sample 11 at row 0, column 1 exceeds maxval 10")
        XCTAssertEqual(message(bytes("P3 1 1 10 1 2")), "x.ppm: truncated: expected 3 samples of pixel data, found 2")
    }

    func testHostileHeaders() {
        assertFails([], "empty file")
        assertFails(bytes("P"), "magic 'P'")
        assertFails(bytes("P6"), "truncated header: expected width")
        assertFails(bytes("P6 3"), "truncated header: expected height")
        assertFails(bytes("P6 3 3"), "truncated header: expected maxval")
        assertFails(bytes("P6 3 3 255"), "truncated: expected 27 bytes of pixel data, found 0")
        assertFails(bytes("P6 -1 2 255\n"), "expected a decimal number for width, found '-'")
        assertFails(bytes("P6 2 -1 255\n"), "expected a decimal number for height, found '-'")
        assertFails(bytes("P6 +2 2 255\n"), "found '+'")
        assertFails(bytes("P6 a 2 255\n"), "expected a decimal number for width, found 'a'")
        assertFails(bytes("P6 2x2 255\n"), "expected a decimal number for height, found 'x'")
        assertFails(bytes("P6 2 2 1e3\n"), "expected one whitespace character after maxval, found 'e'")
        assertFails(bytes("P6 0 2 255\n"), "width 0 is out of range (1...32768)")
        assertFails(bytes("P6 2 0 255\n"), "height 0 is out of range")
        assertFails(bytes("P6 32769 1 255\n"), "width 32769 is out of range")
        assertFails(bytes("P6 99999999999999999999999999999999 1 255\n"), "width 999999999999999999999999... is out of range")
        assertFails(bytes("P6 9223372036854775807 9223372036854775807 255\n"), "out of range")
        // Within the per-side limit but 2^30 * 3 samples: refused before any allocation.
        assertFails(bytes("P6 32768 32768 255\n", [1, 2, 3]), "image 32768x32768x3 has too many samples (limit 268435456)")
        assertFails(bytes("P2 32768 32768 255\n1 2 3"), "too many samples")
        // Within all limits, a huge claim in a tiny plain file fails as truncated (and allocates little).
        assertFails(bytes("P3 16384 5461 255\n1 2 3"), "truncated: expected 268419072 samples of pixel data, found 3")
        assertFails(bytes("P6 2 2 0\n"), "unsupported maxval 0 (1...65535)")
        assertFails(bytes("P6 2 2 65536\n"), "unsupported maxval 65536")
        assertFails(bytes("P6 2 2 70000\n"), "unsupported maxval 70000 (1...65535)")
        assertFails(bytes("GI"), "not a JPEG, PNG or PPM/PGM file (magic 'GI')")
        assertFails(bytes("BM6\0\0\0"), "looks like BMP")
        assertFails(bytes("P4 1 1\n\0"), "unsupported NetPBM format P4")
        assertFails(bytes("P1 1 1\n0"), "unsupported NetPBM format P1")
        assertFails(bytes("P7\nWIDTH 1\n"), "unsupported NetPBM format P7 (PAM)")
        assertFails(bytes("P8 1 1 255\n0"), "magic 'P8'")
        assertFails(bytes("p6 1 1 255\n000"), "magic 'p6'")
    }

    func testHostileSamples() {
        assertFails(bytes("P2 2 1 10 5 11"), "sample 11 at row 0, column 1 exceeds maxval 10")
        assertFails(bytes("P3 1 1 255 1 2 256"), "sample 256 at row 0, column 0, channel 2 exceeds maxval 255")
        assertFails(bytes("P2 1 1 255 99999999999999999999999999"), "exceeds maxval 255")
        assertFails(bytes("P2 2 1 10 5 x"), "expected a decimal number for sample 1, found 'x'")
        assertFails(bytes("P2 2 1 10 5 -1"), "found '-'")
        assertFails(bytes("P2 3 1 10 5 1.5 2"), "expected a decimal number for sample 2, found '.'")
        assertFails(bytes("P5 2 1 100\n", [100, 101]), "sample 101 at row 0, column 1 exceeds maxval 100")
        assertFails(bytes("P6 1 1 300\n", [0, 1, 0x01, 0x2D, 0, 0]), "sample 301 at row 0, column 0, channel 1 exceeds maxval 300")
    }

    /// Every strict prefix of a raw file is an error (the pixel data is incomplete); of a plain file, an
    /// error until the last sample starts (a cut inside it still reads as a smaller number). Never a crash.
    func testTruncationAtEveryOffset() throws {
        let raws = [bytes("P6\n# c\n3 2\n255\n", (0..<18).map { UInt8($0 * 13) }),
                    bytes("P5 2 3 65535\n", (0..<12).map { UInt8($0 * 21) }),
                    bytes("P5 1 1 1\n", [1])]
        for file in raws {
            XCTAssertNoThrow(try decode(file))
            for cut in 0..<file.count {
                XCTAssertThrowsError(try decode(Array(file[..<cut])), "cut at \(cut)") { XCTAssertTrue($0 is ImageError) }
            }
        }
        let plains = [bytes("P3 # c\n2 1 255\n0 10 20 255 254 1\n"), bytes("P2\n2 2\n9\n1 2\n3 4\n")]
        for file in plains {
            let full = try decode(file)
            let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A }
            var end = file.count
            while isSpace(file[end - 1]) { end -= 1 }
            var lastStart = end  // where the last sample's digits begin
            while !isSpace(file[lastStart - 1]) { lastStart -= 1 }
            for cut in 0..<file.count {
                do {
                    let image = try decode(Array(file[..<cut]))
                    XCTAssertGreaterThan(cut, lastStart, "cut at \(cut) decoded")
                    XCTAssertEqual(image.pixels.count, full.pixels.count)
                } catch {
                    XCTAssertTrue(error is ImageError, "cut at \(cut): \(error)")
                }
            }
        }
    }

    /// Random byte flips, insertions and cuts of valid files: each decodes consistently or throws ImageError.
    func testMutatedFilesNeverCrash() {
        let seeds: [[UInt8]] = [bytes("P6 # c\n4 3 255\n", (0..<36).map { UInt8($0 * 7) }),
                                bytes("P5 3 3 1000\n", (0..<18).map { UInt8($0) }),
                                bytes("P3 2 2 15 1 2 3 4 5 6 7 8 9 10 11 12\n"),
                                bytes("P2 3 1 7 1 2 3")]
        var rng = SeededGenerator(seed: 0x1A6E)
        for iteration in 0..<3000 {
            var file = seeds[iteration % seeds.count]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<file.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: file[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: file[at] = [UInt8(ascii: "0"), UInt8(ascii: "9"), 0x20, UInt8(ascii: "#"), 0x0A].randomElement(using: &rng)!
                case 2: file.insert(UInt8(ascii: "9"), at: at)
                default: file.removeSubrange(at...)
                }
                if file.isEmpty { break }
            }
            do {
                let image = try decode(file)
                XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels)
                XCTAssertTrue(image.pixels.allSatisfy { (0...1).contains($0) }, "seed 0x1A6E iteration \(iteration)")
            } catch {
                XCTAssertTrue(error is ImageError, "seed 0x1A6E iteration \(iteration): \(error)")
            }
        }
    }

    func testReadFromFile() throws {
        let dir = try TestPaths.makeTemporaryDirectory(prefix: "lowbit-image")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.pgm")
        try Data(bytes("P5 2 1 255\n", [0, 255])).write(to: url)
        let image = try ImageReader.read(contentsOf: url)
        XCTAssertEqual(image.pixels, [0, 1])
        XCTAssertEqual(image.name, url.path)
        let missing = dir.appendingPathComponent("nope.ppm")
        XCTAssertThrowsError(try ImageReader.read(contentsOf: missing)) {
            XCTAssertEqual("\($0)", "\(missing.path): no such file")
        }
        XCTAssertThrowsError(try ImageReader.read(contentsOf: dir)) { XCTAssertTrue("\($0)".contains("directory")) }
        let empty = dir.appendingPathComponent("empty.ppm")
        try Data().write(to: empty)
        XCTAssertThrowsError(try ImageReader.read(contentsOf: empty)) { XCTAssertEqual("\($0)", "\(empty.path): empty file") }
    }

    func testRealCIFARImage() throws {
        let relative = "cifar10-test/airplane/0000.ppm"
        guard let url = TestPaths.shared(relative) else { throw XCTSkip(TestPaths.missingSharedMessage(relative)) }
        let raw = try [UInt8](Data(contentsOf: url))
        let image = try ImageReader.read(contentsOf: url)
        XCTAssertEqual([image.width, image.height, image.channels, image.maxval], [32, 32, 3, 255])
        XCTAssertEqual(image.pixels, raw.suffix(3072).map { Float($0) / 255 })
        let p = Preprocessing(inputSize: [32, 32], channels: 3, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.243, 0.261])
        let input = try Preprocessor.apply(p, to: image)
        XCTAssertEqual(input.count, 3072)
        XCTAssertEqual(input[5], (image.pixels[5] - 0.4465) / 0.261)
    }

    // MARK: preprocessing

    private func synthetic(width: Int, height: Int, channels: Int, seed: UInt64) -> Image {
        var rng = SeededGenerator(seed: seed)
        let pixels = (0..<(width * height * channels)).map { _ in Float(UInt8.random(in: 0...255, using: &rng)) / 255 }
        return Image(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Naive torchvision reference in Double: materialise Resize (F.interpolate bilinear, align_corners=False,
    /// no antialias), CenterCrop (Python round, zero padding), then Normalize.
    private func reference(_ p: Preprocessing, _ image: Image) -> [Double] {
        let (h, w, ic) = (image.height, image.width, image.channels)
        var (rh, rw) = (p.inputSize[0], p.inputSize[1])
        if let r = p.resize {
            let (short, long) = (min(w, h), max(w, h))
            let newLong = r * long / short  // int(r * long / short) for positive ints
            (rw, rh) = w <= h ? (r, newLong) : (newLong, r)
        }
        func src(_ y: Int, _ x: Int, _ c: Int) -> Double { Double(image.pixels[(y * w + x) * ic + (ic == 1 ? 0 : c)]) }
        func axis(_ o: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Double) {
            let s = max((Double(o) + 0.5) * Double(inSize) / Double(outSize) - 0.5, 0)
            let i0 = min(Int(s), inSize - 1)
            return (i0, min(i0 + 1, inSize - 1), s - Double(i0))
        }
        var resized = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: p.channels), count: rw), count: rh)
        for y in 0..<rh {
            let (y0, y1, ly) = axis(y, h, rh)
            for x in 0..<rw {
                let (x0, x1, lx) = axis(x, w, rw)
                for c in 0..<p.channels {
                    let top = src(y0, x0, c) * (1 - lx) + src(y0, x1, c) * lx
                    let bottom = src(y1, x0, c) * (1 - lx) + src(y1, x1, c) * lx
                    resized[y][x][c] = top * (1 - ly) + bottom * ly
                }
            }
        }
        func pythonRoundHalf(_ twice: Int) -> Int { twice % 2 == 0 ? twice / 2 : (twice / 2) % 2 == 0 ? twice / 2 : twice / 2 + 1 }
        let (ch, cw) = (p.inputSize[0], p.inputSize[1])
        let top = ch > rh ? -((ch - rh) / 2) : pythonRoundHalf(rh - ch)
        let left = cw > rw ? -((cw - rw) / 2) : pythonRoundHalf(rw - cw)
        var out: [Double] = []
        for y in 0..<ch {
            for x in 0..<cw {
                for c in 0..<p.channels {
                    let (sy, sx) = (y + top, x + left)
                    let v = (0..<rh).contains(sy) && (0..<rw).contains(sx) ? resized[sy][sx][c] : 0
                    out.append((v - Double(p.mean[c])) / Double(p.std[c]))
                }
            }
        }
        return out
    }

    private func assertMatchesReference(_ p: Preprocessing, _ image: Image, file: StaticString = #filePath, line: UInt = #line) throws {
        let got = try Preprocessor.apply(p, to: image)
        let want = reference(p, image)
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        for (i, (g, r)) in zip(got, want).enumerated() where abs(Double(g) - r) > 1e-5 {
            return XCTFail("\(image.width)x\(image.height) -> \(p.inputSize) resize \(String(describing: p.resize)): "
                           + "index \(i): got \(g), reference \(r)", file: file, line: line)
        }
        // The allocation-free variant writes the same values.
        var buffer = [Float](repeating: .nan, count: got.count)
        try buffer.withUnsafeMutableBufferPointer { try Preprocessor.apply(p, to: image, into: $0) }
        XCTAssertEqual(buffer, got, file: file, line: line)
    }

    private func prep(_ h: Int, _ w: Int, channels: Int = 3, resize: Int? = nil) -> Preprocessing {
        Preprocessing(inputSize: [h, w], channels: channels, mean: Array([0.485, 0.456, 0.406].prefix(channels)),
                      std: Array([0.229, 0.224, 0.225].prefix(channels)), resize: resize)
    }

    func testBilinearHandValues() throws {
        // 1 row of 4 -> 2: each output is the mean of a pair; 2 -> 4: [a, .75a+.25b, .25a+.75b, b] (PyTorch's).
        let row = Image(width: 4, height: 1, channels: 1, pixels: [0, 0.5, 0.25, 1])
        let identityNorm = Preprocessing(inputSize: [1, 2], channels: 1, mean: [0], std: [1])
        XCTAssertEqual(try Preprocessor.apply(identityNorm, to: row), [0.25, 0.625])
        let two = Image(width: 2, height: 1, channels: 1, pixels: [0, 1])
        XCTAssertEqual(try Preprocessor.apply(Preprocessing(inputSize: [1, 4], channels: 1, mean: [0], std: [1]), to: two),
                       [0, 0.25, 0.75, 1])
        XCTAssertEqual(try Preprocessor.apply(Preprocessing(inputSize: [2, 1], channels: 1, mean: [0], std: [1]), to: two),
                       [0.5, 0.5])
    }

    func testResizeStraightMatchesReference() throws {
        let image = synthetic(width: 6, height: 4, channels: 3, seed: 1)
        try assertMatchesReference(prep(2, 3), image)
        XCTAssertEqual(Preprocessor.describe(prep(2, 3), image: image),
                       "6x4 RGB maxval 255 -> resize to 3x2 (bilinear, no antialias) -> "
                       + "normalise mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]")
        try assertMatchesReference(prep(5, 7), synthetic(width: 3, height: 2, channels: 3, seed: 2))
        try assertMatchesReference(prep(3, 8), synthetic(width: 5, height: 5, channels: 3, seed: 3))
        try assertMatchesReference(prep(4, 4, channels: 1), synthetic(width: 9, height: 2, channels: 1, seed: 4))
        try assertMatchesReference(prep(1, 1), synthetic(width: 3, height: 3, channels: 3, seed: 5))
    }

    func testResizeShorterSideThenCenterCrop() throws {
        // 7 wide x 5 high, resize 4 -> 5x4 (int(4*7/5) = 5), crop 3x3 at top round(0.5) = 0, left 1.
        let image = synthetic(width: 7, height: 5, channels: 3, seed: 6)
        let p = prep(3, 3, resize: 4)
        try assertMatchesReference(p, image)
        XCTAssertEqual(Preprocessor.describe(p, image: image),
                       "7x5 RGB maxval 255 -> resize shorter side to 4: 5x4 (bilinear, no antialias) -> "
                       + "center crop 3x3 at x 1, y 0 -> normalise mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]")
        try assertMatchesReference(prep(3, 3, resize: 4), synthetic(width: 5, height: 7, channels: 3, seed: 7))
        try assertMatchesReference(prep(4, 2, resize: 4), synthetic(width: 11, height: 6, channels: 3, seed: 8))
        try assertMatchesReference(prep(6, 6, resize: 9), synthetic(width: 4, height: 3, channels: 3, seed: 9))  // upscale
        // Shorter side already the resize: no resampling, just the crop (exact pixels).
        let square = synthetic(width: 6, height: 4, channels: 1, seed: 10)
        let crop = Preprocessing(inputSize: [4, 4], channels: 1, mean: [0], std: [1], resize: 4)
        XCTAssertEqual(try Preprocessor.apply(crop, to: square),
                       (0..<4).flatMap { y in (1..<5).map { x in square.pixels[y * 6 + x] } })
        try assertMatchesReference(crop, square)
        XCTAssertEqual(Preprocessor.describe(crop, image: square),
                       "6x4 gray maxval 255 -> shorter side already 4 (no resampling) -> center crop 4x4 at x 1, y 0 "
                       + "-> normalise mean [0.0] std [1.0]")
    }

    func testCenterCropOriginRoundsHalfToEvenAndPads() throws {
        // Python round(): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4.
        XCTAssertEqual([4, 6, 8, 10, 5].map { PreprocessPlan.cropOrigin(size: $0, crop: 3) }, [0, 2, 2, 4, 1])
        XCTAssertEqual(PreprocessPlan.cropOrigin(size: 3, crop: 6), -1)  // pad (6 - 3) // 2 = 1 before
        XCTAssertEqual(PreprocessPlan.cropOrigin(size: 3, crop: 8), -2)
        // A crop wider than the resized image zero-pads (value 0 normalised).
        let image = synthetic(width: 4, height: 4, channels: 3, seed: 11)
        try assertMatchesReference(prep(3, 7, resize: 3), image)
        let out = try Preprocessor.apply(prep(3, 7, resize: 3), to: image)
        XCTAssertEqual(out[0], (0 - 0.485) / 0.229)
    }

    func testIdentityWhenSizesMatch() throws {
        let image = synthetic(width: 5, height: 3, channels: 3, seed: 12)
        let p = prep(3, 5)
        let out = try Preprocessor.apply(p, to: image)
        let expected = image.pixels.enumerated().map { i, v in (v - p.mean[i % 3]) / p.std[i % 3] }
        XCTAssertEqual(out, expected)  // bit-exact: no resampling, (x - mean) / std in Float
        XCTAssertEqual(Preprocessor.describe(p, image: image),
                       "5x3 RGB maxval 255 -> no resize -> normalise mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]")
        let decoded = try decode(bytes("P6 1 1 255\n", [1, 2, 3]))
        XCTAssertEqual(Preprocessor.describe(prep(1, 1), image: decoded),
                       "1x1 RGB P6 maxval 255 -> no resize -> normalise mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]")
    }

    func testGrayToRGBReplicates() throws {
        let gray = synthetic(width: 3, height: 2, channels: 1, seed: 13)
        let p = prep(2, 3)
        let out = try Preprocessor.apply(p, to: gray)
        XCTAssertEqual(out.count, 18)
        for i in 0..<6 {
            for c in 0..<3 { XCTAssertEqual(out[i * 3 + c], (gray.pixels[i] - p.mean[c]) / p.std[c]) }
        }
        XCTAssertTrue(Preprocessor.describe(p, image: gray).contains("3x2 gray maxval 255 -> gray to RGB (replicated) -> no resize"))
        try assertMatchesReference(prep(2, 2, resize: 2), synthetic(width: 5, height: 3, channels: 1, seed: 14))
        // Gray model, gray image.
        let g = Preprocessing(inputSize: [2, 3], channels: 1, mean: [0.5], std: [0.25])
        XCTAssertEqual(try Preprocessor.apply(g, to: gray), gray.pixels.map { ($0 - 0.5) / 0.25 })
    }

    func testRGBToGrayIsRefused() {
        let rgb = synthetic(width: 2, height: 2, channels: 3, seed: 15)
        let p = Preprocessing(inputSize: [2, 2], channels: 1, mean: [0.5], std: [0.5])
        XCTAssertThrowsError(try Preprocessor.apply(p, to: rgb)) {
            XCTAssertTrue("\($0)".hasPrefix("model expects 1 channel, image has 3"), "\($0)")
        }
        XCTAssertTrue(Preprocessor.describe(p, image: rgb).contains("-> error: model expects 1 channel, image has 3"))
    }

    func testBadPreprocessingAndBufferSize() throws {
        let image = synthetic(width: 2, height: 2, channels: 3, seed: 16)
        for bad in [Preprocessing(inputSize: [2], channels: 3, mean: [0, 0, 0], std: [1, 1, 1]),
                    Preprocessing(inputSize: [0, 2], channels: 3, mean: [0, 0, 0], std: [1, 1, 1]),
                    Preprocessing(inputSize: [2, 2], channels: 2, mean: [0, 0], std: [1, 1]),
                    Preprocessing(inputSize: [2, 2], channels: 3, mean: [0], std: [1, 1, 1]),
                    Preprocessing(inputSize: [2, 2], channels: 3, mean: [0, 0, 0], std: [1, 0, 1]),
                    Preprocessing(inputSize: [2, 2], channels: 3, mean: [0, 0, 0], std: [1, 1, 1], resize: 0)] {
            XCTAssertThrowsError(try Preprocessor.apply(bad, to: image)) { XCTAssertTrue($0 is ImageError, "\($0)") }
        }
        var small = [Float](repeating: 0, count: 11)
        XCTAssertThrowsError(try small.withUnsafeMutableBufferPointer { try Preprocessor.apply(prep(2, 2), to: image, into: $0) }) {
            XCTAssertTrue("\($0)".contains("input buffer holds 11 values; the preprocessed image has 2x2x3 = 12"), "\($0)")
        }
    }
}
