// Segmentation outputs as images: the per-pixel argmax over channels of an [H, W, C] output, written as a
// paletted PNG (colour type 3, libpng through QImageCodecs) in the PASCAL VOC colour map (class 0 black,
// 1 dark red, 2 dark green, ...), so a mask file holds the class index of each pixel and shows it in colour.
import Foundation
import QImageCodecs

/// The class index of each pixel of a segmentation output.
public enum SegmentationMask {
    /// The argmax over channels of each pixel of an [H, W, C] output (HWC floats; C 1...256); ties and NaNs
    /// go to the lower index.
    public static func argmax(_ values: [Float], shape: [Int]) -> [UInt8] {
        precondition(shape.count == 3 && (1...256).contains(shape[2]) && values.count == shape.reduce(1, *))
        let c = shape[2]
        return (0..<(shape[0] * shape[1])).map { p in
            var best = 0
            for k in 1..<max(c, 1) where values[p * c + k] > values[p * c + best] { best = k }
            return UInt8(best)
        }
    }

    /// The PASCAL VOC colour map's first `count` entries (RGB bytes): the bits of the class index spread
    /// over the high bits of R, G and B.
    public static func palette(_ count: Int) -> [UInt8] {
        (0..<count).flatMap { index -> [UInt8] in
            var (r, g, b) = (0, 0, 0), i = index
            for shift in stride(from: 7, through: 0, by: -1) {
                r |= (i & 1) << shift
                g |= ((i >> 1) & 1) << shift
                b |= ((i >> 2) & 1) << shift
                i >>= 3
            }
            return [UInt8(r), UInt8(g), UInt8(b)]
        }
    }

    /// A paletted PNG of `mask` (height x width class indices below `classes`) in the VOC colours.
    public static func png(_ mask: [UInt8], height: Int, width: Int, classes: Int) throws -> Data {
        precondition(mask.count == height * width)
        var encoded = qic_encoded()
        defer { qic_encoded_free(&encoded) }
        let colors = palette(classes)
        guard qic_png_encode_palette(mask, Int32(width), Int32(height), colors, Int32(classes), &encoded) == 0,
              let bytes = encoded.bytes else {
            let message = withUnsafeBytes(of: &encoded.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw RuntimeError(message.isEmpty ? "cannot encode the mask as PNG" : message)
        }
        return Data(bytes: bytes, count: encoded.count)
    }
}
