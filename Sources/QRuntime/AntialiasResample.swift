// PIL-style bilinear resampling (Pillow's ImagingResample with the BILINEAR filter), which is what
// torchvision's Resize does to PIL images: antialiased when downscaling. Separable, horizontal pass first
// (as Pillow), only over the source rows and output columns the crop needs.
//   8-bit images (maxval 255): exactly Pillow's ImagingResample*_8bpc: each weight as a fixed-point integer
//     with 22 fraction bits (rounded half away from zero), sums started at 2^21, shifted right 22 and
//     clamped to 0...255 after each pass; so the result equals Pillow's byte for byte.
//   Other depths (16-bit PNG, NetPBM maxval != 255): the same weights in Float, no rounding between passes
//     (torch's F.interpolate(antialias=True)).
//
// Coefficients per output sample `o` along an axis, `in` source samples resized to `out` (Pillow's
// precompute_coeffs, in Double):
//   scale = in / out;  filterscale = max(scale, 1);  support = 1 * filterscale;  center = (o + 0.5) * scale
//   xmin = max(Int(center - support + 0.5), 0);  xmax = min(Int(center + support + 0.5), in)
//   w[x] = triangle((x - center + 0.5) / filterscale) for x in xmin..<xmax, triangle(t) = max(1 - |t|, 0),
//   then divided by their sum.
// Upscaling (filterscale 1) gives plain bilinear interpolation with edge samples repeated.
import QGraph

/// Filter taps for a range of output samples along one axis: sample `o` reads source samples
/// `start[o] ..< start[o] + count[o]` with weights `weights[o * width ..< o * width + count[o]]`.
/// `count[o] == 0` marks an output outside the resized image (the crop's zero padding).
struct ResampleTaps {
    var start: [Int]
    var count: [Int]
    var weights: [Float]
    /// The weights as Pillow's 8-bit path holds them: round-half-away(weight * 2^22).
    var fixed: [Int32]
    /// Stride of `weights` and `fixed` per output sample (the most taps any sample has).
    var width: Int

    /// Fraction bits of `fixed` (Pillow's PRECISION_BITS, 32 - 8 - 2).
    static let precisionBits = 22

    /// Taps for `outputs` samples starting at resized index `offset`, resampling `source` samples to `resized`.
    init(outputs: Int, offset: Int, resized: Int, source: Int) {
        let scale = Double(source) / Double(resized)
        let filterscale = max(scale, 1)
        let support = filterscale
        width = Int(support.rounded(.up)) * 2 + 1
        start = [Int](repeating: 0, count: outputs)
        count = [Int](repeating: 0, count: outputs)
        weights = [Float](repeating: 0, count: outputs * width)
        fixed = [Int32](repeating: 0, count: outputs * width)
        let one = Double(1 << Self.precisionBits)
        for o in 0..<outputs {
            let r = o + offset
            guard r >= 0 && r < resized else { continue }
            let center = (Double(r) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), source)
            var w = [Double](repeating: 0, count: max(xmax - xmin, 0))
            for x in xmin..<xmax { w[x - xmin] = max(1 - abs((Double(x) - center + 0.5) / filterscale), 0) }
            let total = w.reduce(0, +)
            start[o] = xmin
            count[o] = w.count
            for k in w.indices {
                let normalised = total != 0 ? w[k] / total : 0
                weights[o * width + k] = Float(normalised)
                fixed[o * width + k] = Int32(normalised < 0 ? -0.5 + normalised * one : 0.5 + normalised * one)
            }
        }
    }
}

extension PreprocessPlan {
    /// Fills `output` with the antialiased resize of `image`, cropped and normalised (`count` values).
    func runAntialiased(_ image: Image, _ p: Preprocessing, into output: UnsafeMutableBufferPointer<Float>) {
        let rows = ResampleTaps(outputs: outHeight, offset: top, resized: resizedHeight, source: image.height)
        let cols = ResampleTaps(outputs: outWidth, offset: left, resized: resizedWidth, source: image.width)
        // Source rows any output row reads.
        var firstRow = image.height, lastRow = -1
        for o in 0..<outHeight where rows.count[o] > 0 {
            firstRow = min(firstRow, rows.start[o])
            lastRow = max(lastRow, rows.start[o] + rows.count[o] - 1)
        }
        let used = firstRow..<max(lastRow + 1, firstRow)
        if image.maxval == 255 {
            resample8(image, p, rows, cols, used, into: output)
        } else {
            resampleFloat(image, p, rows, cols, used, into: output)
        }
    }

    /// Pillow's 8-bit arithmetic; samples are recovered as bytes (they were byte / 255).
    private func resample8(_ image: Image, _ p: Preprocessing, _ rows: ResampleTaps, _ cols: ResampleTaps,
                           _ used: Range<Int>, into output: UnsafeMutableBufferPointer<Float>) {
        let (c, ic) = (outChannels, image.channels)
        let shift = ResampleTaps.precisionBits
        let half: Int32 = 1 << (shift - 1)
        @inline(__always) func clip8(_ v: Int32) -> UInt8 { v <= 0 ? 0 : UInt8(min(v >> shift, 255)) }
        let bytes = image.pixels.map { UInt8(($0 * 255).rounded()) }
        var horizontal = [UInt8](repeating: 0, count: used.count * outWidth * ic)
        for y in 0..<used.count {
            let srcRow = (used.lowerBound + y) * image.width * ic
            for x in 0..<outWidth where cols.count[x] > 0 {
                let (s, n, wBase) = (cols.start[x], cols.count[x], x * cols.width)
                for ch in 0..<ic {
                    var sum = half
                    for k in 0..<n { sum &+= Int32(bytes[srcRow + (s + k) * ic + ch]) &* cols.fixed[wBase + k] }
                    horizontal[(y * outWidth + x) * ic + ch] = clip8(sum)
                }
            }
        }
        for y in 0..<outHeight {
            let (s, n, wBase) = (rows.start[y], rows.count[y], y * rows.width)
            for x in 0..<outWidth {
                let o = (y * outWidth + x) * c
                for ch in 0..<c {
                    let sc = ic == 1 ? 0 : ch
                    var value: UInt8 = 0
                    if cols.count[x] > 0 && n > 0 {
                        var sum = half
                        for k in 0..<n {
                            sum &+= Int32(horizontal[((s + k - used.lowerBound) * outWidth + x) * ic + sc]) &* rows.fixed[wBase + k]
                        }
                        value = clip8(sum)
                    }
                    output[o + ch] = (Float(value) / 255 - p.mean[ch]) / p.std[ch]
                }
            }
        }
    }

    /// The same filter in Float with no intermediate rounding.
    private func resampleFloat(_ image: Image, _ p: Preprocessing, _ rows: ResampleTaps, _ cols: ResampleTaps,
                               _ used: Range<Int>, into output: UnsafeMutableBufferPointer<Float>) {
        let (c, ic) = (outChannels, image.channels)
        let (firstRow, usedRows) = (used.lowerBound, used.count)
        // Horizontal pass: used source rows x output columns x image channels.
        var horizontal = [Float](repeating: 0, count: usedRows * outWidth * ic)
        image.pixels.withUnsafeBufferPointer { src in
            horizontal.withUnsafeMutableBufferPointer { tmp in
                for y in 0..<usedRows {
                    let srcRow = (firstRow + y) * image.width * ic
                    for x in 0..<outWidth where cols.count[x] > 0 {
                        let (s, n, wBase) = (cols.start[x], cols.count[x], x * cols.width)
                        for ch in 0..<ic {
                            var sum: Float = 0
                            for k in 0..<n { sum += src[srcRow + (s + k) * ic + ch] * cols.weights[wBase + k] }
                            tmp[(y * outWidth + x) * ic + ch] = sum
                        }
                    }
                }
            }
        }
        // Vertical pass, then normalise; padding (no taps in either direction) is 0 before normalising.
        for y in 0..<outHeight {
            let (s, n, wBase) = (rows.start[y], rows.count[y], y * rows.width)
            for x in 0..<outWidth {
                let o = (y * outWidth + x) * c
                for ch in 0..<c {
                    let sc = ic == 1 ? 0 : ch
                    var sum: Float = 0
                    if cols.count[x] > 0 {
                        for k in 0..<n { sum += horizontal[((s + k - firstRow) * outWidth + x) * ic + sc] * rows.weights[wBase + k] }
                    }
                    output[o + ch] = (sum - p.mean[ch]) / p.std[ch]
                }
            }
        }
    }
}
