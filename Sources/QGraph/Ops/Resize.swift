// Spatial resize (ONNX Resize / Upsample, PyTorch F.interpolate / nn.Upsample) of an [H, W, C] map (or a
// [C] vector, a 1x1 map) to [outHeight, outWidth, C]: mode nearest or linear (bilinear), with ONNX's
// coordinate transformations. The source coordinate of each output row / column is one table
// (`sourceTable`) that the float64 reference and the run-time kernel (qk_resize_f32) both read.
import Foundation

/// y[oy, ox, c] = x sampled at the source coordinate of (oy, ox): the nearest pixel, or the bilinear blend
/// of the four around it.
public struct Resize: OpDefinition {
    /// How output pixels are sampled.
    public enum Mode: String, Codable, Sendable { case nearest, linear }

    /// ONNX `coordinate_transformation_mode`: the source coordinate of output coordinate x for input
    /// length `n`, output length `m` and scale s.
    public enum Coordinates: String, Codable, Sendable {
        /// (x + 0.5) / s - 0.5 (PyTorch align_corners=False, opset 11+).
        case halfPixel = "half_pixel"
        /// As half_pixel, but 0 when m == 1.
        case pytorchHalfPixel = "pytorch_half_pixel"
        /// x * (n - 1) / (m - 1), 0 when m == 1 (PyTorch align_corners=True).
        case alignCorners = "align_corners"
        /// x / s (PyTorch mode nearest).
        case asymmetric
    }

    /// ONNX `nearest_mode`: how a nearest source coordinate rounds to a pixel.
    public enum Rounding: String, Codable, Sendable {
        case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
    }

    /// The input's height and width (1, 1 for a vector).
    public var inHeight: Int
    public var inWidth: Int
    public var outHeight: Int
    public var outWidth: Int
    public var mode: Mode
    public var coordinates: Coordinates
    /// Nearest mode only.
    public var rounding: Rounding
    /// The scales [H, W] the coordinates divide by: the file's `scales` when it gives them, else
    /// output / input lengths.
    public var scales: [Double]

    public init(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, mode: Mode, coordinates: Coordinates,
                rounding: Rounding, scales: [Double]) {
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.mode = mode
        self.coordinates = coordinates
        self.rounding = rounding
        self.scales = scales
    }

    public var kind: String { "resize" }
    public var dumpAttributes: String {
        " \(outHeight)x\(outWidth) \(mode.rawValue) \(coordinates.rawValue)" + (mode == .nearest ? " \(rounding.rawValue)" : "")
            + " scales=\(scales.map { String(format: "%g", $0) }.joined(separator: ","))"
    }

    /// Input height, width and channels of an [H, W, C] map or a [C] vector (a 1x1 map).
    private static func dims(_ shape: [Int]) -> (Int, Int, Int)? {
        switch shape.count {
        case 3: return (shape[0], shape[1], shape[2])
        case 1: return (1, 1, shape[0])
        default: return nil
        }
    }

    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count == 1 else { throw OpError("expects 1 input, has \(inputs.count)") }
        guard let (h, w, c) = Self.dims(inputs[0]) else { throw OpError("expects an [H, W, C] map or a [C] vector, got \(inputs[0])") }
        guard (h, w) == (inHeight, inWidth) else { throw OpError("input \(inputs[0]) is not \(inHeight)x\(inWidth)") }
        guard outHeight >= 1, outWidth >= 1 else { throw OpError("output size \(outHeight)x\(outWidth) is empty") }
        return [outHeight, outWidth, c]
    }

    public func validate(tensors: TensorCatalog) throws(OpError) {
        guard scales.count == 2, scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw OpError("scales \(scales) must be two finite positive numbers") }
    }

    /// One output coordinate's source: pixels i0 and i1 and the weight w of i1 (linear: (1 - w) x[i0] +
    /// w x[i1]; nearest: i0 == i1, w == 0).
    public struct Tap: Equatable, Sendable {
        public var i0: Int
        public var i1: Int
        public var w: Double

        public init(i0: Int, i1: Int, w: Double) {
            self.i0 = i0
            self.i1 = i1
            self.w = w
        }
    }

    /// The source taps of each of `outLength` output coordinates along an axis of `inLength` pixels at
    /// scale `scale`, as ONNX Resize defines them (source coordinates clamped to [0, inLength - 1]).
    public func sourceTable(inLength n: Int, outLength m: Int, scale s: Double) -> [Tap] {
        (0..<m).map { x in
            let xo = Double(x)
            var source: Double
            switch coordinates {
            case .halfPixel: source = (xo + 0.5) / s - 0.5
            case .pytorchHalfPixel: source = m > 1 ? (xo + 0.5) / s - 0.5 : 0
            case .alignCorners: source = m > 1 ? xo * Double(n - 1) / Double(m - 1) : 0
            case .asymmetric: source = xo / s
            }
            if mode == .nearest {
                let r: Double
                switch rounding {
                case .floor: r = Foundation.floor(source)
                case .ceil: r = Foundation.ceil(source)
                case .roundPreferFloor: r = source - Foundation.floor(source) == 0.5 ? Foundation.floor(source) : source.rounded()
                case .roundPreferCeil: r = source - Foundation.floor(source) == 0.5 ? Foundation.ceil(source) : source.rounded()
                }
                let i = Int(Swift.min(Swift.max(r, 0), Double(n - 1)))
                return Tap(i0: i, i1: i, w: 0)
            }
            source = Swift.min(Swift.max(source, 0), Double(n - 1))
            let i0 = Int(Foundation.floor(source))
            return Tap(i0: i0, i1: Swift.min(i0 + 1, n - 1), w: source - Double(i0))
        }
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] {
        let x = inputs[0], c = shape.last!    // shape: the input's, [H, W, C] or [C]
        let rows = sourceTable(inLength: inHeight, outLength: outHeight, scale: scales[0])
        let columns = sourceTable(inLength: inWidth, outLength: outWidth, scale: scales[1])
        var y: [Double] = []
        y.reserveCapacity(outHeight * outWidth * c)
        func at(_ r: Int, _ q: Int, _ k: Int) -> Double { x[(r * inWidth + q) * c + k] }
        for r in rows {
            for q in columns {
                for k in 0..<c {
                    let top = (1 - q.w) * at(r.i0, q.i0, k) + q.w * at(r.i0, q.i1, k)
                    let bottom = (1 - q.w) * at(r.i1, q.i0, k) + q.w * at(r.i1, q.i1, k)
                    y.append(mode == .nearest ? at(r.i0, q.i0, k) : (1 - r.w) * top + r.w * bottom)
                }
            }
        }
        return y
    }
}
