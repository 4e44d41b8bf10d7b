// Padding of an [H, W, C] map on its H and W borders (ONNX Pad on axes 2, 3 of [1, C, H, W]; PyTorch
// F.pad / nn.ZeroPad2d / ReflectionPad2d / ReplicationPad2d): a constant value, the mirror image without
// the border pixel (reflect) or the border pixel repeated (edge). A zero pad read only by a conv is folded
// into the conv's padding by the ONNX source instead.

/// y[oy, ox, c] = x[map(oy - top), map(ox - left), c], or `value` where a constant pad maps outside.
public struct SpatialPad: OpDefinition {
    /// What the border holds.
    public enum Mode: String, Codable, Sendable { case constant, reflect, edge }

    /// [top, left, bottom, right], each >= 0.
    public var pads: [Int]
    public var mode: Mode
    /// Constant mode only.
    public var value: Float

    public init(pads: [Int], mode: Mode, value: Float = 0) {
        self.pads = pads
        self.mode = mode
        self.value = value
    }

    public var kind: String { "pad" }
    public var dumpAttributes: String {
        " pads=\(pads.map(String.init).joined(separator: ",")) \(mode.rawValue)" + (mode == .constant ? " value=\(value)" : "")
    }

    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count == 1 else { throw OpError("expects 1 input, has \(inputs.count)") }
        guard inputs[0].count == 3 else { throw OpError("expects an [H, W, C] map, got \(inputs[0])") }
        guard pads.count == 4, pads.allSatisfy({ (0...(1 << 16)).contains($0) }) else { throw OpError("pads \(pads) are not 4 values in 0...65536") }
        let (h, w) = (inputs[0][0], inputs[0][1])
        if mode == .reflect, max(pads[0], pads[2]) >= h || max(pads[1], pads[3]) >= w {
            throw OpError("reflect pads \(pads) must be smaller than the input's \(h)x\(w)")
        }
        return [h + pads[0] + pads[2], w + pads[1] + pads[3], inputs[0][2]]
    }

    public func validate(tensors: TensorCatalog) throws(OpError) {
        guard value.isFinite else { throw OpError("pad value \(value) must be finite") }
    }

    /// The source index of padded coordinate `i` (already shifted by the leading pad) on an axis of `n`
    /// pixels, nil where a constant pad holds `value`.
    public func source(_ i: Int, _ n: Int) -> Int? {
        if (0..<n).contains(i) { return i }
        switch mode {
        case .constant: return nil
        case .edge: return Swift.min(Swift.max(i, 0), n - 1)
        case .reflect: return i < 0 ? -i : 2 * (n - 1) - i
        }
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] {
        let x = inputs[0], (h, w, c) = (shape[0], shape[1], shape[2])   // shape: the input's
        let (oh, ow) = (h + pads[0] + pads[2], w + pads[1] + pads[3])
        var y: [Double] = []
        y.reserveCapacity(oh * ow * c)
        for oy in 0..<oh {
            for ox in 0..<ow {
                if let sy = source(oy - pads[0], h), let sx = source(ox - pads[1], w) {
                    y += x[((sy * w + sx) * c)..<((sy * w + sx + 1) * c)]
                } else {
                    y += [Double](repeating: Double(value), count: c)
                }
            }
        }
        return y
    }
}
