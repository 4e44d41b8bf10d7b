// ONNX ops of segmentation nets and the remaining activations: Resize (nearest, linear), Pad (a zero pad
// read only by a Conv folds into the conv's padding: `foldZeroPad`), Softmax over channels, PRelu and
// LeakyRelu, and Add / Sub / Div of run-time tensors broadcast per channel. The ops are QGraph/Ops
// definitions (Resize, SpatialPad, ChannelSoftmax, ChannelArithmetic) or the IR's prelu.
// docs/ONNX.md lists them.
import QCheckpoint
import QGraph
import QONNX

extension ONNXGraphBuilder {
    /// Resize (opsets 13-21) of a [1, C, H, W] map (or a pooled [1, C, 1, 1] vector) on H and W: mode
    /// nearest or linear; the output size from constant `sizes` or `scales` (N and C unscaled).
    mutating func resize(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let x = try tensor(node, 0)
        guard x.shape.count == 4, x.shape[0] == 1 else {
            throw ConvertError("node \(node.label): input '\(node.inputs[0])' has shape \(x.shape); LowBit resizes [1, C, H, W] maps")
        }
        let (h, w) = (x.shape[2], x.shape[3])
        guard let mode = Resize.Mode(rawValue: try a.string("mode", default: "nearest")) else {
            throw a.unsupported("mode", "= '\(try a.string("mode", default: ""))': LowBit resizes with nearest or linear")
        }
        let coordinateName = try a.string("coordinate_transformation_mode", default: "half_pixel")
        guard let coordinates = Resize.Coordinates(rawValue: coordinateName) else {
            throw a.unsupported("coordinate_transformation_mode", "= '\(coordinateName)': LowBit reads half_pixel, pytorch_half_pixel, align_corners, asymmetric")
        }
        let roundingName = try a.string("nearest_mode", default: "round_prefer_floor")
        guard let rounding = Resize.Rounding(rawValue: roundingName) else {
            throw a.unsupported("nearest_mode", "= '\(roundingName)' is not an ONNX nearest mode")
        }
        guard try a.int("antialias", default: 0) == 0 else { throw a.unsupported("antialias", "= 1 is not supported") }
        guard try a.int("exclude_outside", default: 0) == 0 else { throw a.unsupported("exclude_outside", "= 1 is not supported") }
        if let axes = try a.ints("axes"), axes.map({ $0 < 0 ? $0 + 4 : $0 }) != [2, 3] {
            throw a.unsupported("axes", "= \(axes): LowBit resizes H and W (axes [2, 3])")
        }
        let policy = try a.string("keep_aspect_ratio_policy", default: "stretch")
        guard policy == "stretch" else { throw a.unsupported("keep_aspect_ratio_policy", "= '\(policy)': only stretch") }
        a.ignore("cubic_coeff_a", "extrapolation_value")   // cubic and tf_crop_and_resize only, both refused
        let axesGiven = node.attributes["axes"] != nil
        // sizes (input 3) or scales (input 2), N and C unchanged; roi (input 1) is read only by tf_crop_and_resize
        let out: [Int], scales: [Double]
        if try optionalInput(node, 3) != nil {
            let sizes = try constant(node, 3, "sizes").int64Values().map(Int.init)
            let hw = axesGiven ? sizes : (sizes.count == 4 && sizes[0] == 1 && sizes[1] == x.shape[1] ? Array(sizes[2...]) : [])
            guard hw.count == 2, hw.allSatisfy({ (1...(1 << 16)).contains($0) }) else {
                throw ConvertError("node \(node.label): sizes \(sizes) for input \(x.shape): LowBit resizes H and W to 1...65536 of a [1, C, H, W] map")
            }
            out = hw
            scales = [Double(hw[0]) / Double(h), Double(hw[1]) / Double(w)]
        } else if try optionalInput(node, 2) != nil {
            let given = try floats(node, 2, "scales").map(Double.init)
            let s = axesGiven ? given : (given.count == 4 && given[0] == 1 && given[1] == 1 ? Array(given[2...]) : [])
            guard s.count == 2, s.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw ConvertError("node \(node.label): scales \(given): LowBit resizes H and W of a [1, C, H, W] map by positive scales")
            }
            out = [Int((Double(h) * s[0]).rounded(.down)), Int((Double(w) * s[1]).rounded(.down))]
            scales = s
            guard out.allSatisfy({ (1...(1 << 16)).contains($0) }) else {
                throw ConvertError("node \(node.label): scales \(given) give an output of \(out); LowBit resizes to 1...65536")
            }
        } else {
            throw ConvertError("node \(node.label): neither scales nor sizes is given")
        }
        let op = Resize(inHeight: h, inWidth: w, outHeight: out[0], outWidth: out[1], mode: mode, coordinates: coordinates,
                        rounding: rounding, scales: scales)
        define(node.outputs[0], .tensor(try appendOp(.defined(.resize(op)), inputs: [x.value], for: node),
                                        shape: [1, x.shape[1], out[0], out[1]]))
    }

    /// Pad (opsets 13-21) of a [1, C, H, W] map on H and W: mode constant (a constant value, 0 by
    /// default), reflect or edge; pads >= 0 (no cropping), none on N and C.
    mutating func pad(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let x = try featureMap(node, 0)
        let modeName = try a.string("mode", default: "constant")
        guard let mode = SpatialPad.Mode(rawValue: modeName) else {
            throw a.unsupported("mode", "= '\(modeName)': LowBit pads with constant, reflect or edge")
        }
        let given = try constant(node, 1, "pads").int64Values().map(Int.init)
        var begin = [0, 0, 0, 0], end = [0, 0, 0, 0]
        let axes = try optionalInput(node, 3) == nil ? [0, 1, 2, 3]
            : try constant(node, 3, "axes").int64Values().map { Int($0) < 0 ? Int($0) + 4 : Int($0) }
        guard given.count == 2 * axes.count, axes.allSatisfy((0..<4).contains) else {
            throw ConvertError("node \(node.label): pads \(given) do not fit axes \(axes) of a rank-4 input")
        }
        for (i, axis) in axes.enumerated() {
            begin[axis] = given[i]
            end[axis] = given[axes.count + i]
        }
        guard begin[0] == 0, end[0] == 0, begin[1] == 0, end[1] == 0, (begin + end).allSatisfy({ $0 >= 0 }) else {
            throw ConvertError("node \(node.label): pads \(given): LowBit pads H and W only, by amounts >= 0 (no cropping)")
        }
        var value: Float = 0
        if try optionalInput(node, 2) != nil {
            let v = try floats(node, 2, "constant_value")
            guard v.count == 1, v[0].isFinite else { throw ConvertError("node \(node.label): constant_value \(v) is not one finite number") }
            value = v[0]
        }
        let op = SpatialPad(pads: [begin[2], begin[3], end[2], end[3]], mode: mode, value: mode == .constant ? value : 0)
        define(node.outputs[0], .tensor(try appendOp(.defined(.pad(op)), inputs: [x.value], for: node),
                                        shape: [1, x.shape[1], x.shape[2] + begin[2] + end[2], x.shape[3] + begin[3] + end[3]]))
    }

    /// When LowBit value `value` (input 0 of Conv `node`) is a constant-zero pad read only by this conv: the
    /// pad node is removed and its amounts added to `padding` ([top, left, bottom, right]); returns the
    /// value the conv reads instead and its padding. Otherwise `value` and `padding` unchanged.
    mutating func foldZeroPad(_ value: String, into padding: [Int], for node: ONNXNode) -> (String, [Int]) {
        guard origin(of: value) == node.inputs[0], readerCount(node.inputs[0]) == 1,
              !graph.nodes.contains(where: { $0.inputs.contains(value) }),   // (graph.output is the last node's until the end)
              let i = graph.producer(of: value), case .defined(.pad(let p)) = graph.nodes[i].op,
              p.mode == .constant, p.value == 0 else { return (value, padding) }
        let source = graph.nodes[i].inputs[0]
        graph.nodes.remove(at: i)
        graph.removeValue(value)
        return (source, zip(padding, p.pads).map { $0 + $1 })
    }

    /// Softmax (opset 13+: along one axis) over the channels: axis 1 (or -3) of a [1, C, H, W] map, axis 1
    /// (or -1) of a [1, N] vector.
    mutating func softmax(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let x = try tensor(node, 0)
        let axis = try a.int("axis", default: -1)
        let rank = x.shape.count
        let lowbitShape = graph.value(x.value)!.shape
        let overChannels = (rank == 4 || rank == 2) && (axis == 1 || axis == 1 - rank)
            || (rank == 4 && lowbitShape.count == 1 && x.shape[2] == 1 && x.shape[3] == 1 && (axis == 1 || axis == -3))
        guard overChannels else {
            throw a.unsupported("axis", "= \(axis) on shape \(x.shape): LowBit computes Softmax over the channels (axis 1 of [1, C, H, W] or [1, N])")
        }
        try pointwise(node, .softmax(ChannelSoftmax()))
    }

    /// PRelu with a constant slope: one value, or one per channel ([C], [C, 1, 1], [1, C, 1, 1]).
    mutating func prelu(_ node: ONNXNode) throws {
        let x = try tensor(node, 0)
        let slope = try constant(node, 1, "slope")
        let values = slope.floatValues(), rank = x.shape.count
        let aligned = [Int](repeating: 1, count: max(0, rank - slope.shape.count)) + slope.shape
        let perChannel = rank >= 2 && aligned == [1, x.shape[1]] + [Int](repeating: 1, count: rank - 2)
        guard slope.dtype.isFloatingPoint, values.count == 1 || perChannel else {
            throw ConvertError("node \(node.label): slope \(slope.dtype.rawValue)\(slope.shape) is neither one value nor one per channel "
                + "of input \(x.shape); LowBit runs PRelu with a shared or per-channel slope")
        }
        try preluNode(node, x, slopes: values, name: layerName(weight: inputName(node, 1), node: node, kind: "prelu"))
    }

    /// LeakyRelu: a PRelu with one slope, `alpha` (default 0.01).
    mutating func leakyRelu(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let alpha = try a.float("alpha", default: 0.01)
        try preluNode(node, try tensor(node, 0), slopes: [alpha], name: layerName(weight: "", node: node, kind: "leakyrelu"))
    }

    /// A prelu node named `base` (made unique) with its slopes tensor `<name>.slopes` ([1] or [C]).
    private mutating func preluNode(_ node: ONNXNode, _ x: (value: String, shape: [Int]), slopes: [Float], name base: String) throws {
        guard slopes.allSatisfy(\.isFinite) else { throw ConvertError("node \(node.label): slopes must be finite") }
        let name = reserve(base)
        tensors.set("\(name).slopes", StoredTensor(floats: slopes, shape: [slopes.count]))
        define(node.outputs[0], .tensor(try append(name, .prelu(slopes: "\(name).slopes"), inputs: [x.value], for: node), shape: x.shape))
    }

    /// Add / Sub / Div of two run-time tensors where one is one value per channel of the other ([1, C, 1, 1],
    /// [C, 1, 1] or [1, C] against a [1, C, H, W] map, either order), and Sub / Div of one shape. Returns false,
    /// translating nothing, for every other case (constants, residual adds, biases: the other translations).
    mutating func channelArithmetic(_ node: ONNXNode, _ operation: ChannelArithmetic.Operation) throws -> Bool {
        guard case .tensor(let a, let sa) = try input(node, 0), case .tensor(let b, let sb) = try input(node, 1) else { return false }
        func perChannel(_ s: [Int], of full: [Int], held value: String) -> Bool {
            guard full.count >= 2, s.count <= full.count, graph.value(value)!.shape.count == 1 else { return false }
            let aligned = [Int](repeating: 1, count: full.count - s.count) + s
            return aligned != full && aligned == [1, full[1]] + [Int](repeating: 1, count: full.count - 2)
        }
        let shape: [Int]
        if sa == sb, operation == .sub || operation == .div {
            shape = sa
        } else if perChannel(sb, of: sa, held: b) {
            shape = sa
        } else if perChannel(sa, of: sb, held: a) {
            shape = sb
        } else {
            return false
        }
        let op = DefinedOp.arithmetic(ChannelArithmetic(operation))
        define(node.outputs[0], .tensor(try appendOp(.defined(op), inputs: [a, b], for: node), shape: shape))
        return true
    }
}
