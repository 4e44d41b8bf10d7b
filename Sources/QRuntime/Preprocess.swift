// Image -> network input, as torchvision's tensor transforms compute it: channel adaptation, Resize,
// CenterCrop, Normalize, producing HWC Float.
//
//   1. Channels: gray -> RGB replicates the gray sample; RGB -> gray is refused (no guessing a formula).
//   2. Resize (bilinear, antialias=False; F.interpolate(mode="bilinear", align_corners=False)):
//        resize = r: shorter side -> r, longer side -> int(r * long / short)   (torchvision Resize(int))
//        resize = nil and size != inputSize: straight to inputSize;  same size: the exact pixels, no resampling.
//      Per output index o along an axis (in -> out samples, Float arithmetic as PyTorch's CPU kernel):
//        scale = Float(in) / Float(out);  src = max(scale * (Float(o) + 0.5) - 0.5, 0)
//        i0 = min(floor(src), in - 1);  i1 = min(i0 + 1, in - 1);  w1 = clamp(src - i0, 0, 1);  w0 = 1 - w1
//        (in == out: i0 = i1 = o, w0 = 1, w1 = 0: an exact copy)
//        value = (p[y0][x0] * wx0 + p[y0][x1] * wx1) * wy0 + (p[y1][x0] * wx0 + p[y1][x1] * wx1) * wy1
//      With antialias = true the resize is PIL's bilinear filter instead (antialiased when downscaling, what
//      torchvision's Resize does to PIL images; AntialiasResample.swift). Models stored with resize = nil at
//      their native size are exact either way.
//   3. CenterCrop (only after resize = r): top = int(round((h - ch) / 2.0)) with Python's round
//      (half to even), left likewise; a crop larger than the image zero-pads first (left/top pad
//      (cw - w) // 2), as torchvision does, with 0 then normalised like any sample.
//   4. Normalize: (x - mean[c]) / std[c], in Float, in that order.
// The resized image is never materialised: each output sample reads its (at most) four source samples.
import QGraph

/// Turns a decoded image into a network input with a model's stored `Preprocessing`.
public enum Preprocessor {
    /// The network input for `image`: HWC Float, H = inputSize[0], W = inputSize[1], C = channels.
    public static func apply(_ p: Preprocessing, to image: Image) throws -> [Float] {
        let plan = try PreprocessPlan(p, image)
        return [Float](unsafeUninitializedCapacity: plan.count) { output, initialized in
            plan.run(image, p, into: output)
            initialized = plan.count
        }
    }

    /// Writes the network input for `image` into `output`, which must hold exactly H * W * C values
    /// (allocation-free except for scratch tables when resampling).
    public static func apply(_ p: Preprocessing, to image: Image, into output: UnsafeMutableBufferPointer<Float>) throws {
        let plan = try PreprocessPlan(p, image)
        guard output.count == plan.count else {
            throw ImageError(file: image.name, "input buffer holds \(output.count) values; the preprocessed image "
                             + "has \(plan.outHeight)x\(plan.outWidth)x\(plan.outChannels) = \(plan.count)")
        }
        plan.run(image, p, into: output)
    }

    /// One line saying what `apply` does to `image`, e.g. "32x32 RGB P6 maxval 255 -> no resize ->
    /// normalise mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]". Sizes are written WIDTHxHEIGHT.
    public static func describe(_ p: Preprocessing, image: Image) -> String {
        var steps = ["\(image.width)x\(image.height) \(image.colorName)"
                     + (image.format.map { " \($0)" } ?? "") + " maxval \(image.maxval)"]
        let plan: PreprocessPlan
        do {
            plan = try PreprocessPlan(p, image)
        } catch let error as ImageError {
            return (steps + ["error: \(error.message)"]).joined(separator: " -> ")
        } catch {
            return (steps + ["error: \(error)"]).joined(separator: " -> ")
        }
        if image.channels == 1 && p.channels == 3 { steps.append("gray to RGB (replicated)") }
        let resampled = plan.resizedWidth != image.width || plan.resizedHeight != image.height
        let filter = p.antialias == true ? "bilinear, antialiased like PIL" : "bilinear, no antialias"
        switch (p.resize, resampled) {
        case (nil, false): steps.append("no resize")
        case (nil, true): steps.append("resize to \(plan.resizedWidth)x\(plan.resizedHeight) (\(filter))")
        case (let r?, false): steps.append("shorter side already \(r) (no resampling)")
        case (let r?, true):
            steps.append("resize shorter side to \(r): \(plan.resizedWidth)x\(plan.resizedHeight) (\(filter))")
        }
        if p.resize != nil {
            if plan.outWidth == plan.resizedWidth && plan.outHeight == plan.resizedHeight {
                steps.append("center crop \(plan.outWidth)x\(plan.outHeight) (whole image)")
            } else {
                let padded = plan.top < 0 || plan.left < 0 ? ", zero-padded" : ""
                steps.append("center crop \(plan.outWidth)x\(plan.outHeight) at x \(plan.left), y \(plan.top)\(padded)")
            }
        }
        steps.append("normalise mean \(p.mean) std \(p.std)")
        return steps.joined(separator: " -> ")
    }
}

/// The geometry of one image's preprocessing, validated; `run` then cannot fail.
struct PreprocessPlan {
    let outHeight: Int, outWidth: Int, outChannels: Int
    /// Size after the resize step (the image's own size when nothing is resampled).
    let resizedHeight: Int, resizedWidth: Int
    /// Crop origin in resized coordinates; negative where the crop zero-pads.
    let top: Int, left: Int

    var count: Int { outHeight * outWidth * outChannels }

    init(_ p: Preprocessing, _ image: Image) throws {
        func fail(_ message: String) -> ImageError { ImageError(file: image.name, message) }
        let limit = ImageReader.maxSide
        guard p.inputSize.count == 2, p.inputSize.allSatisfy({ (1...limit).contains($0) }) else {
            throw fail("preprocessing input size \(p.inputSize) is not [H, W] within 1...\(limit)")
        }
        guard p.channels == 1 || p.channels == 3 else {
            throw fail("preprocessing channels must be 1 or 3, not \(p.channels)")
        }
        guard p.mean.count == p.channels, p.std.count == p.channels, !p.std.contains(0) else {
            throw fail("preprocessing mean \(p.mean) / std \(p.std) must have \(p.channels) values, std non-zero")
        }
        guard !(image.channels == 3 && p.channels == 1) else {
            throw fail("model expects 1 channel, image has 3 (convert the image to gray, e.g. ppmtopgm)")
        }
        outHeight = p.inputSize[0]
        outWidth = p.inputSize[1]
        outChannels = p.channels
        let (h, w) = (image.height, image.width)
        if let r = p.resize {
            guard (1...limit).contains(r) else { throw fail("preprocessing resize \(r) is outside 1...\(limit)") }
            // torchvision Resize(int): new_short = r, new_long = int(r * long / short) (true division).
            let (short, long) = (min(w, h), max(w, h))
            let newLong = Int(Double(r * long) / Double(short))  // r, long <= 2^15: exact in Double
            (resizedWidth, resizedHeight) = w <= h ? (r, newLong) : (newLong, r)
            top = Self.cropOrigin(size: resizedHeight, crop: outHeight)
            left = Self.cropOrigin(size: resizedWidth, crop: outWidth)
        } else {
            (resizedHeight, resizedWidth) = (outHeight, outWidth)
            (top, left) = (0, 0)
        }
    }

    /// torchvision CenterCrop along one axis: int(round((size - crop) / 2.0)) (half to even), or, when the
    /// crop is larger, minus the leading zero padding (crop - size) // 2.
    static func cropOrigin(size: Int, crop: Int) -> Int {
        crop > size ? -((crop - size) / 2) : Int((Double(size - crop) / 2.0).rounded(.toNearestOrEven))
    }

    /// Bilinear taps for one output index along an axis; `i0 < 0` marks zero padding.
    struct Tap {
        var i0: Int, i1: Int, w0: Float, w1: Float
    }

    /// Taps for `count` outputs starting at resized index `offset`, resampling `source` samples to `resized`.
    static func taps(count: Int, offset: Int, resized: Int, source: Int, into taps: UnsafeMutableBufferPointer<Tap>) {
        let scale = Float(source) / Float(resized)
        for o in 0..<count {
            let r = o + offset
            let tap: Tap
            if r < 0 || r >= resized {
                tap = Tap(i0: -1, i1: -1, w0: 0, w1: 0)
            } else if resized == source {
                tap = Tap(i0: r, i1: r, w0: 1, w1: 0)
            } else {
                let real = max(scale * (Float(r) + 0.5) - 0.5, 0)
                let i0 = min(Int(real.rounded(.down)), source - 1)
                let w1 = min(max(real - Float(i0), 0), 1)
                tap = Tap(i0: i0, i1: i0 < source - 1 ? i0 + 1 : i0, w0: 1 - w1, w1: w1)
            }
            taps.initializeElement(at: o, to: tap)
        }
    }

    /// Fills `output` (exactly `count` values).
    func run(_ image: Image, _ p: Preprocessing, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count == count)
        let (c, ic) = (outChannels, image.channels)
        let exact = resizedHeight == image.height && resizedWidth == image.width && top == 0 && left == 0
            && outHeight == image.height && outWidth == image.width
        if !exact && p.antialias == true {
            runAntialiased(image, p, into: output)
            return
        }
        image.pixels.withUnsafeBufferPointer { src in
            p.mean.withUnsafeBufferPointer { mean in
                p.std.withUnsafeBufferPointer { std in
                    if exact {
                        for ch in 0..<c {
                            let (sc, m, s) = (ic == 1 ? 0 : ch, mean[ch], std[ch])
                            for px in 0..<(outHeight * outWidth) { output[px * c + ch] = (src[px * ic + sc] - m) / s }
                        }
                        return
                    }
                    withUnsafeTemporaryAllocation(of: Tap.self, capacity: outHeight) { rows in
                        withUnsafeTemporaryAllocation(of: Tap.self, capacity: outWidth) { cols in
                            Self.taps(count: outHeight, offset: top, resized: resizedHeight, source: image.height, into: rows)
                            Self.taps(count: outWidth, offset: left, resized: resizedWidth, source: image.width, into: cols)
                            let rowStride = image.width * ic
                            for y in 0..<outHeight {
                                let ty = rows[y]
                                for x in 0..<outWidth {
                                    let tx = cols[x]
                                    let o = (y * outWidth + x) * c
                                    if ty.i0 < 0 || tx.i0 < 0 {
                                        for ch in 0..<c { output[o + ch] = (0 - mean[ch]) / std[ch] }
                                        continue
                                    }
                                    let r0 = ty.i0 * rowStride, r1 = ty.i1 * rowStride
                                    let c0 = tx.i0 * ic, c1 = tx.i1 * ic
                                    for ch in 0..<c {
                                        let sc = ic == 1 ? 0 : ch
                                        let top = src[r0 + c0 + sc] * tx.w0 + src[r0 + c1 + sc] * tx.w1
                                        let bottom = src[r1 + c0 + sc] * tx.w0 + src[r1 + c1 + sc] * tx.w1
                                        let v = top * ty.w0 + bottom * ty.w1
                                        output[o + ch] = (v - mean[ch]) / std[ch]
                                    }
                                }
                            }
                            rows.deinitialize()
                            cols.deinitialize()
                        }
                    }
                }
            }
        }
    }
}
