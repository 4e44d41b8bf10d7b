// PIL-style bilinear resampling (Pillow's ImagingResample with the BILINEAR filter), which is what
// torchvision's Resize does to PIL images: antialiased when downscaling. In Float, separable, horizontal
// pass first (as Pillow); Pillow's 8-bit path rounds to uint8 between the passes and at the end, so results
// differ from Pillow's by at most about one 8-bit step (toolchain/imagenet/compare_preprocessing.py).
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
    /// Stride of `weights` per output sample (the most taps any sample has).
    var width: Int

    /// Taps for `outputs` samples starting at resized index `offset`, resampling `source` samples to `resized`.
    init(outputs: Int, offset: Int, resized: Int, source: Int) {
        let scale = Double(source) / Double(resized)
        let filterscale = max(scale, 1)
        let support = filterscale
        width = Int(support.rounded(.up)) * 2 + 1
        start = [Int](repeating: 0, count: outputs)
        count = [Int](repeating: 0, count: outputs)
        weights = [Float](repeating: 0, count: outputs * width)
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
            for k in w.indices { weights[o * width + k] = Float(total != 0 ? w[k] / total : 0) }
        }
    }
}

extension PreprocessPlan {
    /// Fills `output` with the antialiased resize of `image`, cropped and normalised (`count` values).
    func runAntialiased(_ image: Image, _ p: Preprocessing, into output: UnsafeMutableBufferPointer<Float>) {
        let (c, ic) = (outChannels, image.channels)
        let rows = ResampleTaps(outputs: outHeight, offset: top, resized: resizedHeight, source: image.height)
        let cols = ResampleTaps(outputs: outWidth, offset: left, resized: resizedWidth, source: image.width)
        // Source rows any output row reads.
        var firstRow = image.height, lastRow = -1
        for o in 0..<outHeight where rows.count[o] > 0 {
            firstRow = min(firstRow, rows.start[o])
            lastRow = max(lastRow, rows.start[o] + rows.count[o] - 1)
        }
        let usedRows = max(lastRow - firstRow + 1, 0)
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
