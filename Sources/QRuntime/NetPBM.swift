// NetPBM decoding: PPM (P6 raw, P3 plain) and PGM (P5 raw, P2 plain), checked so hostile files fail cleanly.
//
// Grammar (netpbm.sourceforge.net/doc/ppm.html, pgm.html), as libnetpbm reads it:
//   magic "P2"|"P3"|"P5"|"P6", then width, height, maxval as unsigned ASCII decimals separated by
//   whitespace (space, TAB, CR, LF, VT, FF); "#" up to the next CR or LF is a comment wherever
//   whitespace may appear in the header.
//   Raw (P5/P6): exactly one whitespace character after maxval (a comment there ends with, and consumes, its
//   CR or LF, which then counts as that character), then the raster: 1 byte per sample when maxval < 256,
//   else 2 bytes, big-endian. Plain (P2/P3): ASCII decimal samples separated by whitespace or comments.
//   Samples above maxval are rejected. Bytes after the first image are ignored (multi-image files).
// Limits, checked with overflow-safe arithmetic before anything is allocated: each side 1...2^15,
// width * height * channels <= 2^28, maxval 1...65535.
import Foundation

/// Reads JPEG, PNG and PPM/PGM images (P2, P3, P5, P6) into `Image`s, choosing the decoder by the file's
/// signature (never its name).
public enum ImageReader {
    /// Largest accepted width or height.
    public static let maxSide = 1 << 15
    /// Largest accepted width * height * channels.
    public static let maxSamples = 1 << 28

    /// Reads a JPEG, PNG or PPM/PGM file (the first image of a multi-image NetPBM file); errors name `url.path`.
    public static func read(contentsOf url: URL) throws -> Image {
        let name = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory) else {
            throw ImageError(file: name, "no such file")
        }
        guard !isDirectory.boolValue else { throw ImageError(file: name, "is a directory, not an image file") }
        // A FIFO, socket or device would block or never end: only regular files are read.
        let type = (try? FileManager.default.attributesOfItem(atPath: name)[.type]) as? FileAttributeType
        guard type == .typeRegular else { throw ImageError(file: name, "not a regular file") }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageError(file: name, "cannot read: \(error.localizedDescription)")
        }
        return try data.withUnsafeBytes { raw in try decode(raw.bindMemory(to: UInt8.self), name: name) }
    }

    /// Decodes JPEG, PNG or PPM/PGM bytes; `name` is used in error messages.
    public static func decode(_ bytes: [UInt8], name: String) throws -> Image {
        try bytes.withUnsafeBufferPointer { try decode($0, name: name) }
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, name: String) throws -> Image {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF {
            return try ImageCodecs.decodeJPEG(bytes, name: name)
        }
        if bytes.count >= 4, bytes[0] == 0x89, bytes[1] == 0x50, bytes[2] == 0x4E, bytes[3] == 0x47 {
            return try ImageCodecs.decodePNG(bytes, name: name)
        }
        var decoder = NetPBMDecoder(bytes: bytes, name: name)
        return try decoder.decode()
    }
}

/// A one-shot cursor over the bytes of one NetPBM image.
struct NetPBMDecoder {
    let bytes: UnsafeBufferPointer<UInt8>
    let name: String
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>, name: String) {
        self.bytes = bytes
        self.name = name
    }

    private func error(_ message: String) -> ImageError { ImageError(file: name, message) }

    mutating func decode() throws -> Image {
        let (channels, plain, format) = try magic()
        let width = try headerNumber("width")
        guard (1...ImageReader.maxSide).contains(width.value) else {
            throw error("width \(width.text) is out of range (1...\(ImageReader.maxSide))")
        }
        let height = try headerNumber("height")
        guard (1...ImageReader.maxSide).contains(height.value) else {
            throw error("height \(height.text) is out of range (1...\(ImageReader.maxSide))")
        }
        let (pixelCount, o1) = width.value.multipliedReportingOverflow(by: height.value)
        let (sampleCount, o2) = pixelCount.multipliedReportingOverflow(by: channels)
        guard !o1, !o2, sampleCount <= ImageReader.maxSamples else {
            throw error("image \(width.value)x\(height.value)x\(channels) has too many samples "
                        + "(limit \(ImageReader.maxSamples))")
        }
        let maxval = try headerNumber("maxval")
        guard (1...65535).contains(maxval.value) else { throw error("unsupported maxval \(maxval.text) (1...65535)") }

        let pixels: [Float]
        if plain {
            pixels = try plainRaster(count: sampleCount, width: width.value, channels: channels, maxval: maxval.value)
        } else {
            try rasterDelimiter()
            pixels = try rawRaster(count: sampleCount, width: width.value, channels: channels, maxval: maxval.value)
        }
        return Image(width: width.value, height: height.value, channels: channels, pixels: pixels,
                     maxval: maxval.value, format: format, name: name)
    }

    // MARK: header

    /// The two magic bytes: (channels, plain?, "P6") or an error saying what the file looks like instead.
    private mutating func magic() throws -> (Int, Bool, String) {
        guard !bytes.isEmpty else { throw error("empty file") }
        let b = bytes
        if b.count >= 2, b[0] == UInt8(ascii: "P") {
            switch b[1] {
            case UInt8(ascii: "2"): position = 2; return (1, true, "P2")
            case UInt8(ascii: "3"): position = 2; return (3, true, "P3")
            case UInt8(ascii: "5"): position = 2; return (1, false, "P5")
            case UInt8(ascii: "6"): position = 2; return (3, false, "P6")
            case UInt8(ascii: "1"), UInt8(ascii: "4"):
                throw error("unsupported NetPBM format P\(Character(UnicodeScalar(b[1]))) (PBM bitmap); "
                            + "qinfer reads PPM/PGM (P2, P3, P5, P6)")
            case UInt8(ascii: "7"):
                throw error("unsupported NetPBM format P7 (PAM); qinfer reads PPM/PGM (P2, P3, P5, P6)")
            default: break
            }
        }
        if let kind = Self.knownFormat(b) {
            throw error("unsupported image format (looks like \(kind)); qinfer reads JPEG, PNG and PPM/PGM")
        }
        let shown = b.prefix(2).map(Self.printable).joined()
        throw error("not a JPEG, PNG or PPM/PGM file (magic '\(shown)')")
    }

    /// Names common non-NetPBM image formats from their signatures.
    private static func knownFormat(_ b: UnsafeBufferPointer<UInt8>) -> String? {
        func starts(_ sig: [UInt8]) -> Bool { b.count >= sig.count && zip(b, sig).allSatisfy { $0 == $1 } }
        if starts(Array("GIF8".utf8)) { return "GIF" }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if starts(Array("RIFF".utf8)), b.count >= 12, Array(b[8..<12]) == Array("WEBP".utf8) { return "WebP" }
        if starts(Array("BM".utf8)) { return "BMP" }
        return nil
    }

    /// A byte as it appears in a message: ASCII printable as itself, anything else as \xNN.
    private static func printable(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16, uppercase: true)
            .leftPadded(to: 2)
    }

    @inline(__always) private static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (0x09...0x0D).contains(c)  // space, TAB, LF, VT, FF, CR
    }

    @inline(__always) private static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

    /// Skips whitespace and "#" comments (to the next CR or LF).
    private mutating func skipSpaceAndComments() {
        while position < bytes.count {
            let c = bytes[position]
            if Self.isSpace(c) {
                position += 1
            } else if c == UInt8(ascii: "#") {
                while position < bytes.count, bytes[position] != 0x0A, bytes[position] != 0x0D { position += 1 }
            } else {
                return
            }
        }
    }

    /// An unsigned decimal at the cursor (whitespace and comments already skipped), or nil when the cursor is
    /// not on a digit. Values saturate at 2^40 so huge claims are reported, never overflowed; `start` lets
    /// a message quote the digits (`digits(from:)`).
    @inline(__always) private mutating func unsignedDecimal() -> (value: Int, start: Int)? {
        let start = position
        var value = 0
        while position < bytes.count, Self.isDigit(bytes[position]) {
            value = min(value &* 10 &+ Int(bytes[position] &- 0x30), 1 << 40)
            position += 1
        }
        return position > start ? (value, start) : nil
    }

    /// The digits read since `start`, for a message (long runs shortened).
    private func digits(from start: Int) -> String {
        String(decoding: bytes[start..<min(position, start + 24)], as: UTF8.self) + (position - start > 24 ? "..." : "")
    }

    /// A header field: width, height or maxval, with its digits for messages.
    private mutating func headerNumber(_ what: String) throws -> (value: Int, text: String) {
        skipSpaceAndComments()
        guard position < bytes.count else { throw error("truncated header: expected \(what), found end of file") }
        guard let number = unsignedDecimal() else {
            throw error("expected a decimal number for \(what), found '\(Self.printable(bytes[position]))'")
        }
        return (number.value, digits(from: number.start))
    }

    /// Consumes the single whitespace character that separates maxval from a raw raster.
    private mutating func rasterDelimiter() throws {
        guard position < bytes.count else { return }  // reported as truncated pixel data
        let c = bytes[position]
        if Self.isSpace(c) {
            position += 1
        } else if c == UInt8(ascii: "#") {
            // libnetpbm's pm_getc: a comment reads as the CR or LF that ends it (consumed with it).
            while position < bytes.count, bytes[position] != 0x0A, bytes[position] != 0x0D { position += 1 }
            if position < bytes.count { position += 1 }
        } else {
            throw error("expected one whitespace character after maxval, found '\(Self.printable(c))'")
        }
    }

    // MARK: raster

    /// Raw samples: 1 byte each (maxval < 256) or 2 bytes big-endian.
    private func rawRaster(count: Int, width: Int, channels: Int, maxval: Int) throws -> [Float] {
        let bytesPerSample = maxval < 256 ? 1 : 2
        let needed = count * bytesPerSample  // count <= 2^28: no overflow
        let available = bytes.count - position
        guard available >= needed else {
            throw error("truncated: expected \(needed) bytes of pixel data, found \(available)")
        }
        let base = bytes.baseAddress! + position
        // Largest sample, to reject values above maxval (skipped when the sample width cannot exceed it).
        var largest = 0
        if bytesPerSample == 1 {
            if maxval < 255 {
                var m: UInt8 = 0
                for i in 0..<count { m = max(m, base[i]) }
                largest = Int(m)
            }
        } else if maxval < 65535 {
            var m: UInt16 = 0
            for i in 0..<count { m = max(m, UInt16(base[2 * i]) << 8 | UInt16(base[2 * i + 1])) }
            largest = Int(m)
        }
        if largest > maxval {
            var index = 0
            while sample(base, index, bytesPerSample) <= maxval { index += 1 }
            throw error(Self.overMaxval(sample(base, index, bytesPerSample), index: index, width: width,
                                        channels: channels, maxval: maxval))
        }
        let scale = Float(maxval)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            if bytesPerSample == 1 {
                for i in 0..<count { out[i] = Float(base[i]) / scale }
            } else {
                for i in 0..<count { out[i] = Float(UInt16(base[2 * i]) << 8 | UInt16(base[2 * i + 1])) / scale }
            }
            initialized = count
        }
    }

    @inline(__always) private func sample(_ base: UnsafePointer<UInt8>, _ i: Int, _ size: Int) -> Int {
        size == 1 ? Int(base[i]) : Int(base[2 * i]) << 8 | Int(base[2 * i + 1])
    }

    /// Plain samples: ASCII decimals separated by whitespace (comments allowed, as libnetpbm allows).
    private mutating func plainRaster(count: Int, width: Int, channels: Int, maxval: Int) throws -> [Float] {
        var samples = [UInt16](repeating: 0, count: 0)
        // Reserve only what the file could hold (>= 2 bytes per sample), so a huge claim in a tiny file
        // allocates nothing big before it is found truncated.
        samples.reserveCapacity(min(count, (bytes.count - position) / 2 + 1))
        while samples.count < count {
            skipSpaceAndComments()
            guard position < bytes.count else {
                throw error("truncated: expected \(count) samples of pixel data, found \(samples.count)")
            }
            guard let s = unsignedDecimal() else {
                throw error("expected a decimal number for sample \(samples.count), "
                            + "found '\(Self.printable(bytes[position]))'")
            }
            guard s.value <= maxval else {
                throw error(Self.overMaxval(s.value, text: digits(from: s.start), index: samples.count, width: width,
                                            channels: channels, maxval: maxval))
            }
            samples.append(UInt16(s.value))
        }
        let scale = Float(maxval)
        return samples.map { Float($0) / scale }
    }

    private static func overMaxval(_ value: Int, text: String? = nil, index: Int, width: Int, channels: Int,
                                   maxval: Int) -> String {
        let pixel = index / channels
        return "sample \(text ?? String(value)) at row \(pixel / width), column \(pixel % width)"
            + (channels > 1 ? ", channel \(index % channels)" : "") + " exceeds maxval \(maxval)"
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
