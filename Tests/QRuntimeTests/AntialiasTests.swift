// Antialiased (PIL-style) resizing: 8-bit images byte for byte against Pillow, deeper images against torch's
// F.interpolate(antialias=True), the float form of Pillow's bilinear filter; fixture Images/antialias.json
// from toolchain/images/make_antialias_golden.py.
import Foundation
import QGraph
@testable import QRuntime
import XCTest

final class AntialiasTests: XCTestCase {
    private struct Case: Decodable {
        var width, height, channels, resize: Int
        var crop: [Int]
        var values: [Float]
        var pil: [Int]
    }

    private func synthetic(_ c: Case, maxval: Int = 255) -> Image {
        var pixels: [Float] = []
        for y in 0..<c.height {
            for x in 0..<c.width {
                for k in 0..<c.channels { pixels.append(Float((x * 37 + y * 71 + k * 101) % 256) / 255) }
            }
        }
        return Image(width: c.width, height: c.height, channels: c.channels, pixels: pixels, maxval: maxval)
    }

    private func cases() throws -> [Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Images/antialias.json")
        return try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
    }

    private func preprocessing(_ c: Case) -> Preprocessing {
        Preprocessing(inputSize: c.crop, channels: c.channels, mean: Array(repeating: 0, count: c.channels),
                      std: Array(repeating: 1, count: c.channels), resize: c.resize, antialias: true)
    }

    /// 8-bit images: exactly Pillow's bytes.
    func testEightBitMatchesPillowExactly() throws {
        for c in try cases() {
            let ours = try Preprocessor.apply(preprocessing(c), to: synthetic(c)).map { Int(($0 * 255).rounded()) }
            XCTAssertEqual(ours, c.pil, "\(c.width)x\(c.height) resize \(c.resize) crop \(c.crop)")
        }
    }

    /// Deeper images (here the same samples tagged 16-bit): torch's float antialiased resize.
    func testDeeperImagesMatchTorchAntialiasedBilinear() throws {
        let cases = try cases()
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let p = preprocessing(c)
            let ours = try Preprocessor.apply(p, to: synthetic(c, maxval: 65535))
            XCTAssertEqual(ours.count, c.values.count)
            let worst = zip(ours, c.values).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 2e-6, "\(c.width)x\(c.height) resize \(c.resize) crop \(c.crop)")
            // Without antialias the downscaled cases differ (the flag is honoured).
            var plain = p
            plain.antialias = nil
            let differs = zip(try Preprocessor.apply(plain, to: synthetic(c, maxval: 65535)), c.values).contains { abs($0 - $1) > 1e-3 }
            if c.width > 2 * c.resize && c.height > 2 * c.resize { XCTAssertTrue(differs, "\(c.width)x\(c.height)") }
        }
    }

    func testTapsAreNormalisedAndPaddingHasNone() {
        let taps = ResampleTaps(outputs: 6, offset: -1, resized: 4, source: 17)
        XCTAssertEqual(taps.count[0], 0, "index -1 is padding")
        XCTAssertEqual(taps.count[5], 0, "index 4 is padding")
        for o in 1...4 {
            let sum = (0..<taps.count[o]).reduce(Float(0)) { $0 + taps.weights[o * taps.width + $1] }
            XCTAssertEqual(sum, 1, accuracy: 1e-6)
            XCTAssertLessThanOrEqual(taps.count[o], taps.width)
        }
    }

    func testDescribeNamesTheFilter() {
        let p = Preprocessing(inputSize: [2, 2], channels: 1, mean: [0], std: [1], resize: 3, antialias: true)
        let image = Image(width: 9, height: 6, channels: 1, pixels: [Float](repeating: 0.5, count: 54))
        XCTAssertTrue(Preprocessor.describe(p, image: image).contains("resize shorter side to 3: 4x3 (bilinear, antialiased like PIL)"),
                      Preprocessor.describe(p, image: image))
    }

    /// A stored model's preprocessing keeps the flag through the JSON (absent when nil: old files unchanged).
    func testFlagRoundTripsThroughJSON() throws {
        let p = Preprocessing(inputSize: [224, 224], channels: 3, mean: [0, 0, 0], std: [1, 1, 1], resize: 256, antialias: true)
        XCTAssertEqual(try JSONDecoder().decode(Preprocessing.self, from: JSONEncoder().encode(p)), p)
        var old = p
        old.antialias = nil
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(old), as: UTF8.self).contains("antialias"))
    }
}
