// JPEG and PNG decoding into `Image`s (through QImageCodecs: libjpeg-turbo and libpng), with the EXIF
// orientation of JPEGs applied so the pixels stand the way a photo viewer shows them.
//
//   JPEG: gray or RGB 8-bit (YCbCr converted by libjpeg, ISLOW DCT, as PIL decodes); CMYK refused; a
//         libjpeg warning about damaged data (truncated file, corrupt entropy data) is an error, stray bytes
//         between segments are not. EXIF orientation 2...8 (APP1
//         "Exif", IFD0 tag 0x0112) is applied as PIL's ImageOps.exif_transpose does; a damaged EXIF block
//         is ignored (orientation 1), the pixels are what matter.
//   PNG:  every colour type and depth; palette -> RGB, 1/2/4-bit gray -> 8-bit, alpha (and tRNS) dropped,
//         16-bit samples kept (maxval 65535); gAMA/iCCP ignored (as PIL does); CRC errors and truncation fail.
// Both share NetPBM's limits (ImageReader.maxSide, maxSamples), checked before pixel memory is allocated.
import QImageCodecs

enum ImageCodecs {
    /// Decodes JPEG bytes (signature FF D8 FF) into an upright 8-bit image.
    static func decodeJPEG(_ bytes: UnsafeBufferPointer<UInt8>, name: String) throws -> Image {
        let decoded = try decode(bytes, name: name, format: "JPEG", qic_jpeg_decode)
        let orientation = ExifOrientation.read(jpeg: bytes)
        return orientation == 1 ? decoded : ExifOrientation.apply(orientation, to: decoded)
    }

    /// Decodes PNG bytes (signature 89 'PNG') into an 8- or 16-bit gray or RGB image.
    static func decodePNG(_ bytes: UnsafeBufferPointer<UInt8>, name: String) throws -> Image {
        try decode(bytes, name: name, format: "PNG", qic_png_decode)
    }

    private typealias Decoder = (UnsafePointer<UInt8>?, Int, Int32, Int, UnsafeMutablePointer<qic_image>?) -> Int32

    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, name: String, format: String,
                               _ decoder: Decoder) throws -> Image {
        var image = qic_image()
        defer { qic_image_free(&image) }
        guard decoder(bytes.baseAddress, bytes.count, Int32(ImageReader.maxSide), ImageReader.maxSamples, &image) == 0,
              let pixels = image.pixels else {
            let message = withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw ImageError(file: name, message.isEmpty ? "cannot decode \(format)" : message)
        }
        let (width, height, channels) = (Int(image.width), Int(image.height), Int(image.channels))
        let count = width * height * channels  // <= maxSamples, checked in C
        let wide = image.bits_per_sample == 16
        let maxval = wide ? 65535 : 255
        let scale = Float(maxval)
        let samples = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            if wide {
                for i in 0..<count { out[i] = Float(UInt16(pixels[2 * i]) << 8 | UInt16(pixels[2 * i + 1])) / scale }
            } else {
                for i in 0..<count { out[i] = Float(pixels[i]) / scale }
            }
            initialized = count
        }
        return Image(width: width, height: height, channels: channels, pixels: samples, maxval: maxval,
                     format: format, name: name)
    }
}

/// The EXIF orientation tag of a JPEG and the flips/rotations that make its pixels upright.
enum ExifOrientation {
    /// The orientation (1...8) stored in the first APP1 "Exif" segment before the scan; 1 when absent,
    /// out of range or unreadable.
    static func read(jpeg b: UnsafeBufferPointer<UInt8>) -> Int {
        var p = 2  // after SOI
        while p + 4 <= b.count {
            guard b[p] == 0xFF else { return 1 }
            let marker = b[p + 1]
            if marker == 0xFF { p += 1; continue }  // fill byte
            if marker == 0xDA || marker == 0xD9 { return 1 }  // start of scan / end of image: no EXIF
            if (0xD0...0xD7).contains(marker) || marker == 0x01 { p += 2; continue }  // no length field
            let length = Int(b[p + 2]) << 8 | Int(b[p + 3])
            guard length >= 2, p + 2 + length <= b.count else { return 1 }
            if marker == 0xE1, length >= 8 + 6,
               Array(b[(p + 4)..<(p + 10)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {  // "Exif\0\0"
                return tiffOrientation(UnsafeBufferPointer(rebasing: b[(p + 10)..<(p + 2 + length)])) ?? 1
            }
            p += 2 + length
        }
        return 1
    }

    /// Tag 0x0112 of IFD0 in a TIFF header + IFD (either byte order), or nil.
    static func tiffOrientation(_ t: UnsafeBufferPointer<UInt8>) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let entries = u16(ifd) else { return nil }
        for e in 0..<entries {
            let entry = ifd + 2 + 12 * e
            guard let tag = u16(entry) else { return nil }
            if tag == 0x0112 {
                guard u16(entry + 2) == 3, let value = u16(entry + 8), (1...8).contains(value) else { return nil }
                return value
            }
        }
        return nil
    }

    /// `image` turned upright for `orientation` (2...8), as PIL's exif_transpose: 2 mirror left-right,
    /// 3 rotate 180, 4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
    /// counter-clockwise. 5...8 swap width and height.
    static func apply(_ orientation: Int, to image: Image) -> Image {
        let (w, h, c) = (image.width, image.height, image.channels)
        let swaps = orientation >= 5
        let (ow, oh) = swaps ? (h, w) : (w, h)
        /// Source (x, y) of output pixel (x', y').
        func source(_ x: Int, _ y: Int) -> (Int, Int) {
            switch orientation {
            case 2: return (w - 1 - x, y)
            case 3: return (w - 1 - x, h - 1 - y)
            case 4: return (x, h - 1 - y)
            case 5: return (y, x)
            case 6: return (y, h - 1 - x)
            case 7: return (w - 1 - y, h - 1 - x)
            case 8: return (w - 1 - y, x)
            default: return (x, y)
            }
        }
        let pixels = [Float](unsafeUninitializedCapacity: image.pixels.count) { out, initialized in
            image.pixels.withUnsafeBufferPointer { src in
                for y in 0..<oh {
                    for x in 0..<ow {
                        let (sx, sy) = source(x, y)
                        for ch in 0..<c { out[(y * ow + x) * c + ch] = src[(sy * w + sx) * c + ch] }
                    }
                }
            }
            initialized = image.pixels.count
        }
        return Image(width: ow, height: oh, channels: c, pixels: pixels, maxval: image.maxval,
                     format: image.format, name: image.name)
    }
}
