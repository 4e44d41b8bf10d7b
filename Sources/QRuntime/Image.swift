// The decoded image type that preprocessing consumes, and the error that image reading and preprocessing throw.

/// A decoded image: `height` rows of `width` pixels of `channels` samples (HWC), each sample scaled to
/// [0, 1] as `Float(sample) / Float(maxval)` (what torchvision's `ToTensor` does for 8-bit images).
public struct Image: Sendable {
    /// Pixels per row.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Samples per pixel: 1 (gray) or 3 (RGB).
    public let channels: Int
    /// `height * width * channels` samples in HWC order, values in [0, 1].
    public let pixels: [Float]
    /// The file's maximum sample value (1...65535): 255 for 8-bit images, 65535 for 16-bit PNGs.
    public let maxval: Int
    /// The format it was read from ("JPEG", "PNG", or the NetPBM magic "P2", "P3", "P5", "P6"), or nil for an
    /// image made in memory.
    public let format: String?
    /// Where it came from (a path or the name given to `ImageReader.decode`), used in error messages.
    public let name: String?

    /// Makes an image from HWC samples in [0, 1]. Sizes must agree (a programming error otherwise).
    public init(width: Int, height: Int, channels: Int, pixels: [Float], maxval: Int = 255,
                format: String? = nil, name: String? = nil) {
        precondition(width > 0 && height > 0, "image size \(width)x\(height) must be positive")
        precondition(channels == 1 || channels == 3, "image channels must be 1 or 3, not \(channels)")
        let (pixelCount, o1) = width.multipliedReportingOverflow(by: height)
        let (sampleCount, o2) = pixelCount.multipliedReportingOverflow(by: channels)
        precondition(!o1 && !o2 && sampleCount == pixels.count,
                     "image \(width)x\(height)x\(channels) does not match its \(pixels.count) samples")
        precondition((1...65535).contains(maxval), "maxval \(maxval) outside 1...65535")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.maxval = maxval
        self.format = format
        self.name = name
    }

    /// "RGB" or "gray".
    public var colorName: String { channels == 1 ? "gray" : "RGB" }
}

/// Why an image could not be read or preprocessed: the file (when known) and what was wrong with it.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    /// The file or name the image came from; nil when unknown.
    public let file: String?
    /// What was wrong, e.g. "truncated: expected 3072 bytes of pixel data, found 100".
    public let message: String

    /// Makes an error about `file` (nil when unknown).
    public init(file: String?, _ message: String) {
        self.file = file
        self.message = message
    }

    /// "FILE: MESSAGE", or just the message when the file is unknown.
    public var description: String { file.map { "\($0): \(message)" } ?? message }
}
