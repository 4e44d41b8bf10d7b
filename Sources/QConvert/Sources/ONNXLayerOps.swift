// ONNX ops that become LowBit graph nodes: Conv, Gemm / MatMul (+ Add as bias) as linear,
// BatchNormalization, Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, ReduceMean over H and W, Add,
// and Identity / Dropout as aliases, and the table of every translation (the mobile ops are in
// ONNXMobileOps.swift, Concat / Split / Slice of run-time tensors in ONNXChannelOps.swift). Every attribute
// is read or refused (ONNXAttributes.finish); a value LowBit cannot run is an error naming the node, the op
// and the attribute. docs/ONNX.md lists them.
import QCheckpoint
import QGraph
import QONNX

extension ONNXGraphBuilder {
    typealias Translation = @Sendable (inout ONNXGraphBuilder, ONNXNode, inout ONNXAttributes) throws -> Void

    /// Every op LowBit translates, by op_type (standard domain).
    static let translations: [String: Translation] = [
        "Conv": { try $0.conv($1, &$2) },
        "Gemm": { try $0.gemm($1, &$2) },
        "MatMul": { b, node, _ in try b.matMul(node) },
        "BatchNormalization": { try $0.batchNormalization($1, &$2) },
        "Relu": { b, node, _ in try b.activation(node, .relu) },
        "Clip": { b, node, _ in try b.clip(node) },
        "MaxPool": { try $0.pool($1, &$2, average: false) },
        "AveragePool": { try $0.pool($1, &$2, average: true) },
        "GlobalAveragePool": { b, node, _ in try b.globalAveragePool(node, keepDims: true) },
        "ReduceMean": { try $0.reduceMean($1, &$2) },
        "Add": { b, node, _ in if try !b.channelArithmetic(node, .add) { try b.add(node) } },
        "Identity": { b, node, _ in b.define(node.outputs.first ?? "", try b.input(node, 0)) },
        "Dropout": { try $0.dropout($1, &$2) },
        "Flatten": { try $0.flatten($1, &$2) },
        "Reshape": { try $0.reshape($1, &$2) },
        "Squeeze": { b, node, _ in try b.squeeze(node) },
        "Unsqueeze": { b, node, _ in try b.unsqueeze(node) },
        "Constant": { try $0.constantNode($1, &$2) },
        "Shape": { try $0.shape($1, &$2) },
        "Gather": { try $0.gather($1, &$2) },
        "Concat": { try $0.concatAny($1, &$2) },
        "Split": { try $0.split($1, &$2) },
        "Cast": { try $0.cast($1, &$2) },
        "ConstantOfShape": { try $0.constantOfShape($1, &$2) },
        "Transpose": { try $0.transpose($1, &$2) },
        "Slice": { b, node, _ in try b.sliceAny(node) },
        "Sub": { b, node, _ in if try !b.channelArithmetic(node, .sub) { try b.arithmetic(node) } },
        "Mul": { b, node, _ in try b.mul(node) },
        "HardSwish": { b, node, _ in try b.pointwise(node, .hardSwish(HardSwish())) },
        "HardSigmoid": { try $0.hardSigmoid($1, &$2) },
        "Sigmoid": { b, node, _ in try b.pointwise(node, .sigmoid(Sigmoid())) },
        "Div": { b, node, _ in if try !b.channelArithmetic(node, .div) { try b.arithmetic(node) } },
        "QuantizeLinear": { try $0.quantizeLinear($1, &$2) },
        "DequantizeLinear": { try $0.dequantizeLinear($1, &$2) },
        "Resize": { try $0.resize($1, &$2) },
        "Pad": { try $0.pad($1, &$2) },
        "Softmax": { try $0.softmax($1, &$2) },
        "PRelu": { b, node, _ in try b.prelu(node) },
        "LeakyRelu": { try $0.leakyRelu($1, &$2) },
    ]

    /// The ops translated only when their inputs are constants (shape computations).
    static let constantOnly: Set<String> = ["Cast", "Constant", "ConstantOfShape", "Gather", "Shape", "Transpose"]

    /// Translates one node (its inputs already translated): LowBit nodes appended, outputs defined.
    mutating func translate(_ node: ONNXNode) throws {
        try refuseQuantizedOperators(node)
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw ConvertError("node \(node.label): op domain '\(node.domain)' is not supported (only the standard ONNX operators)")
        }
        guard let translation = Self.translations[node.opType] else {
            let ops = Self.translations.keys.sorted()
            throw ConvertError("node \(node.label): op \(node.opType) is not supported; LowBit runs "
                + ops.filter { !Self.constantOnly.contains($0) }.joined(separator: ", ")
                + " (and folds " + ops.filter(Self.constantOnly.contains).joined(separator: ", ") + " of constants)")
        }
        var attributes = ONNXAttributes(node)
        try translation(&self, node, &attributes)
        try attributes.finish()
    }

    // MARK: layers

    /// Conv: 2-D, any group (depthwise included), strides, dilations, pads or auto_pad. A 1x1 conv on a
    /// pooled [1, C, 1, 1] vector (squeeze-excite's reduce and expand convs) is a linear layer.
    mutating func conv(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let x = try tensor(node, 0)
        let onVector = graph.value(x.value)!.shape.count == 1 && x.shape.count == 4
        if !onVector { _ = try featureMap(node, 0) }
        let w = try constant(node, 1, "weight")
        guard w.shape.count == 4, w.dtype.isFloatingPoint else {
            throw ConvertError("node \(node.label): weight is \(w.dtype.rawValue)\(w.shape); LowBit runs 2-D convolutions with float [OC, C/group, kh, kw] weights")
        }
        let (oc, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let group = try a.int("group", default: 1)
        guard group >= 1, cg * group == x.shape[1], oc > 0, oc % group == 0 else {
            throw a.unsupported("group", "= \(group) does not fit input channels \(x.shape[1]), weight \(w.shape)")
        }
        if let kernel = try a.ints("kernel_shape"), kernel != [kh, kw] {
            throw a.unsupported("kernel_shape", "= \(kernel) differs from the weight's \([kh, kw])")
        }
        let strides = try a.window("strides"), dilations = try a.window("dilations")
        let padding = try a.padding(size: [x.shape[2], x.shape[3]], kernel: [kh, kw], strides: strides, dilations: dilations)
        let bias = try optionalInput(node, 2) == nil ? nil : try floats(node, 2, "bias", shape: [oc])
        if onVector {
            guard kh == 1, kw == 1, group == 1, padding == [0, 0, 0, 0] else {
                throw ConvertError("node \(node.label): a \(kh)x\(kw) conv (group \(group), pads \(padding)) on the pooled vector "
                    + "'\(node.inputs[0])' \(x.shape); LowBit runs only 1x1 convs without padding or groups on [1, C, 1, 1] vectors")
            }
            return try linear(node, weight: w.floatValues(), outFeatures: oc, bias: bias, layout: .outputFirst)
        }
        let name = reserve(layerName(weight: inputName(node, 1), node: node, kind: "conv2d"))
        keepFileCodes(node, layer: name, layout: .outputFirst)
        tensors.set("\(name).weight", StoredTensor(floats: gemmRows(ofConvWeight: w.floatValues(), shape: w.shape), shape: [oc, kh * kw * cg]))
        if let bias { tensors.set("\(name).bias", StoredTensor(floats: bias, shape: [oc])) }
        let (source, folded) = foldZeroPad(x.value, into: padding, for: node)
        let op = Conv2D(inChannels: x.shape[1], outChannels: oc, kernel: [kh, kw], stride: strides, padding: folded,
                        dilation: dilations, groups: group, weight: .float32("\(name).weight"), bias: bias == nil ? nil : "\(name).bias")
        let out = try append(name, .conv2d(op), inputs: [source], for: node)
        let (oh, ow) = (graph.value(out)!.shape[0], graph.value(out)!.shape[1])
        define(node.outputs[0], .tensor(out, shape: [1, oc, oh, ow]))
    }

    /// Gemm: Y = alpha * A B' + beta * C with A a [1, K] vector, B constant (transB either way), C a
    /// constant broadcast over the N outputs.
    mutating func gemm(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        guard try a.int("transA", default: 0) == 0 else { throw a.unsupported("transA", "= 1 is not supported") }
        let transB = try a.int("transB", default: 0) != 0
        let alpha = try a.float("alpha", default: 1), beta = try a.float("beta", default: 1)
        let b = try constant(node, 1, "B")
        guard b.shape.count == 2 else { throw ConvertError("node \(node.label): B has shape \(b.shape), expected 2-D") }
        let n = transB ? b.shape[0] : b.shape[1]
        var weight = try floats(node, 1, "B")
        if !transB { weight = transposed(weight, rows: b.shape[0], columns: b.shape[1]) }
        if alpha != 1 { weight = weight.map { $0 * alpha } }
        var bias: [Float]?
        if try optionalInput(node, 2) != nil {
            bias = try broadcastPerChannel(try constant(node, 2, "C"), channels: n, rank: 2, node).map { $0 * beta }
        }
        try linear(node, weight: weight, outFeatures: n, bias: bias, layout: transB ? .outputFirst : .inputFirst)
    }

    /// MatMul of a [1, K] vector and a constant [K, N] matrix: a linear without bias (a following Add
    /// of a constant becomes its bias).
    mutating func matMul(_ node: ONNXNode) throws {
        let b = try constant(node, 1, "B")
        guard b.shape.count == 2 else { throw ConvertError("node \(node.label): B has shape \(b.shape); LowBit runs MatMul only as a [1, K] x [K, N] linear") }
        let weight = transposed(try floats(node, 1, "B"), rows: b.shape[0], columns: b.shape[1])
        try linear(node, weight: weight, outFeatures: b.shape[1], bias: nil, layout: .inputFirst)
    }

    /// A linear layer on input 0 (a [1, K] vector, or a [1, K, 1, 1] pooled map held as one) with `weight`
    /// [outFeatures, K] as LowBit stores it; the output keeps the input's rank. `layout`: how the ONNX weight
    /// (input 1) is laid out, for keeping a DequantizeLinear'd weight's codes.
    private mutating func linear(_ node: ONNXNode, weight: [Float], outFeatures n: Int, bias: [Float]?,
                                 layout: ONNXWeightLayout) throws {
        let x = try tensor(node, 0)
        let k = weight.count / max(n, 1)
        let vector = x.shape.count == 2 || (x.shape.count == 4 && x.shape[2] == 1 && x.shape[3] == 1)
        guard vector, x.shape[0] == 1, graph.value(x.value)!.shape == [x.shape[1]], k == x.shape[1], n > 0 else {
            throw ConvertError("node \(node.label): input '\(node.inputs[0])' has shape \(x.shape); LowBit runs \(node.opType) "
                + "as a linear layer on a [1, \(k)] vector")
        }
        let name = reserve(layerName(weight: inputName(node, 1), node: node, kind: "linear"))
        keepFileCodes(node, layer: name, layout: layout)
        tensors.set("\(name).weight", StoredTensor(floats: weight, shape: [n, k]))
        if let bias { tensors.set("\(name).bias", StoredTensor(floats: bias, shape: [n])) }
        let op = Linear(inFeatures: k, outFeatures: n, weight: .float32("\(name).weight"), bias: bias == nil ? nil : "\(name).bias")
        define(node.outputs[0], .tensor(try append(name, .linear(op), inputs: [x.value], for: node),
                                        shape: x.shape.count == 4 ? [1, n, 1, 1] : [1, n]))
    }

    /// BatchNormalization (inference): a batchNorm node, folded into the conv before it by the converter.
    mutating func batchNormalization(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let x = try tensor(node, 0)
        guard x.shape.count >= 2 else { throw ConvertError("node \(node.label): input has shape \(x.shape), no channel axis") }
        let c = x.shape[1]
        let eps = try a.float("epsilon", default: 1e-5)
        guard eps >= 0 else { throw a.unsupported("epsilon", "= \(eps) is negative") }
        guard try a.int("training_mode", default: 0) == 0 else { throw a.unsupported("training_mode", "= 1: only inference") }
        a.ignore("momentum")
        try requireOnlyFirstOutputRead(node)
        let name = reserve(layerName(weight: inputName(node, 1), node: node, kind: "batchnorm"))
        for (i, part) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
            tensors.set("\(name).\(part)", StoredTensor(floats: try floats(node, i + 1, part, shape: [c]), shape: [c]))
        }
        let op = BatchNorm(channels: c, gamma: "\(name).weight", beta: "\(name).bias", mean: "\(name).running_mean",
                           variance: "\(name).running_var", eps: eps)
        define(node.outputs[0], .tensor(try append(name, .batchNorm(op), inputs: [x.value], for: node), shape: x.shape))
    }

    // MARK: activations, pools, adds

    mutating func activation(_ node: ONNXNode, _ activation: Activation) throws {
        let x = try tensor(node, 0)
        define(node.outputs[0], .tensor(try appendOp(.activation(activation), inputs: [x.value], for: node), shape: x.shape))
    }

    /// Clip with constant bounds: [0, inf) is ReLU, [0, 6] ReLU6, any other finite [lo, hi] hardtanh, no
    /// bounds an identity.
    mutating func clip(_ node: ONNXNode) throws {
        func bound(_ i: Int, _ role: String) throws -> Float? {
            guard try optionalInput(node, i) != nil else { return nil }
            let v = try floats(node, i, role)
            guard v.count == 1, !v[0].isNaN else { throw ConvertError("node \(node.label): \(role) must be one number, is \(v)") }
            return v[0]
        }
        let (lo, hi) = (try bound(1, "min"), try bound(2, "max"))
        switch (lo, hi) {
        case (nil, nil): define(node.outputs[0], try input(node, 0))
        case (0?, nil): try activation(node, .relu)
        case (0?, 6?): try activation(node, .relu6)
        case (let lo?, let hi?) where lo.isFinite && hi.isFinite && lo <= hi: try activation(node, .hardtanh(min: lo, max: hi))
        default:
            throw ConvertError("node \(node.label): Clip to [\(lo.map { "\($0)" } ?? "-inf"), \(hi.map { "\($0)" } ?? "inf")] is not supported "
                + "(LowBit clips to [0, inf), [0, 6] or a finite [min, max])")
        }
    }

    /// MaxPool / AveragePool (2-D, floor mode; ceil_mode only where it gives the same size). LowBit's average
    /// pool divides by the whole window (count_include_pad = 1, PyTorch's default), so count_include_pad = 0
    /// is refused when there is padding.
    mutating func pool(_ node: ONNXNode, _ a: inout ONNXAttributes, average: Bool) throws {
        let x = try featureMap(node, 0)
        guard let kernel = try a.ints("kernel_shape"), kernel.count == 2, kernel.allSatisfy({ $0 >= 1 }) else {
            throw a.unsupported("kernel_shape", "must be two sizes >= 1")
        }
        let strides = try a.window("strides")
        guard try a.window("dilations") == [1, 1] else { throw a.unsupported("dilations", "other than 1 are not supported") }
        let size = [x.shape[2], x.shape[3]]
        let padding = try a.padding(size: size, kernel: kernel, strides: strides, dilations: [1, 1])
        if try a.int("ceil_mode", default: 0) != 0 {
            for axis in 0..<2 {
                let span = size[axis] + padding[axis] + padding[axis + 2] - kernel[axis]
                var ceilSize = (span + strides[axis] - 1) / strides[axis] + 1
                if (ceilSize - 1) * strides[axis] >= size[axis] + padding[axis] { ceilSize -= 1 }
                guard ceilSize == span / strides[axis] + 1 else {
                    throw a.unsupported("ceil_mode", "= 1 changes the output size here; LowBit pools in floor mode")
                }
            }
        }
        if average {
            if try a.int("count_include_pad", default: 0) == 0, padding.contains(where: { $0 > 0 }) {
                throw a.unsupported("count_include_pad", "= 0 with padding: LowBit's average pool counts the padding (count_include_pad = 1)")
            }
        } else {
            a.ignore("storage_order")
            try requireOnlyFirstOutputRead(node)
            guard padding[0] < kernel[0], padding[2] < kernel[0], padding[1] < kernel[1], padding[3] < kernel[1] else {
                throw a.unsupported("pads", "= \(padding) reach a whole kernel \(kernel): windows of padding only")
            }
        }
        let p = Pool(kernel: kernel, stride: strides, padding: padding)
        let out = try appendOp(average ? .avgPool(p) : .maxPool(p), inputs: [x.value], for: node)
        let (oh, ow) = (graph.value(out)!.shape[0], graph.value(out)!.shape[1])
        define(node.outputs[0], .tensor(out, shape: [1, x.shape[1], oh, ow]))
    }

    /// The mean over H and W: LowBit's global average pool, a [C] vector ([1, C, 1, 1] with keepDims).
    mutating func globalAveragePool(_ node: ONNXNode, keepDims: Bool) throws {
        let x = try featureMap(node, 0)
        let out = try appendOp(.globalAvgPool, inputs: [x.value], for: node)
        define(node.outputs[0], .tensor(out, shape: keepDims ? [1, x.shape[1], 1, 1] : [1, x.shape[1]]))
    }

    /// ReduceMean over axes {2, 3} of a feature map (axes an attribute before opset 18, an input since).
    mutating func reduceMean(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        var axes = try a.ints("axes")
        if try optionalInput(node, 1) != nil { axes = try constant(node, 1, "axes").int64Values().map { Int($0) } }
        guard try a.int("noop_with_empty_axes", default: 0) == 0 || axes?.isEmpty == false else {
            throw a.unsupported("noop_with_empty_axes", "= 1 without axes is not supported")
        }
        let keepDims = try a.int("keepdims", default: 1) != 0
        guard let axes, Set(axes.map { $0 < 0 ? $0 + 4 : $0 }) == [2, 3], axes.count == 2 else {
            throw ConvertError("node \(node.label): ReduceMean over axes \(axes.map { "\($0)" } ?? "all"); LowBit runs it only over H and W (axes 2, 3)")
        }
        try globalAveragePool(node, keepDims: keepDims)
    }

    /// Add: two run-time tensors of one shape (a residual add), a constant added to the output of the conv
    /// or linear before it (its bias), or two constants (folded).
    mutating func add(_ node: ONNXNode) throws {
        let (x, y) = (try input(node, 0), try input(node, 1))
        switch (x, y) {
        case (.constant, .constant): try arithmetic(node)
        case (.tensor(let a, let sa), .tensor(let b, let sb)):
            guard sa == sb else {
                throw ConvertError("node \(node.label): shapes \(sa) and \(sb) differ; LowBit adds tensors of one shape (no broadcasting)")
            }
            define(node.outputs[0], .tensor(try appendOp(.add(.none), inputs: [a, b], for: node), shape: sa))
        case (.tensor(let value, let shape), .constant(let c)):
            try addBias(node, to: value, shape: shape, layerOutput: node.inputs[0], c)
        case (.constant(let c), .tensor(let value, let shape)):
            try addBias(node, to: value, shape: shape, layerOutput: node.inputs[1], c)
        }
    }

    /// Folds constant `c` into the bias of the conv or linear that writes `value` (read by this Add only).
    private mutating func addBias(_ node: ONNXNode, to value: String, shape: [Int], layerOutput: String, _ c: CheckpointTensor) throws {
        guard readerCount(layerOutput) == 1, origin(of: value) == layerOutput, shape.count >= 2,
              let i = graph.nodes.lastIndex(where: { $0.output == value }) else {
            throw ConvertError("node \(node.label): adds a constant to '\(layerOutput)', which is not the output of a conv or linear "
                + "read only here; LowBit runs a constant Add only as a layer's bias")
        }
        let layer = graph.nodes[i]
        let isLayer = switch layer.op { case .conv2d, .linear: true; default: false }
        guard isLayer else {
            throw ConvertError("node \(node.label): adds a constant to the output of \(layer.op.kind) '\(layer.name)'; "
                + "LowBit runs a constant Add only as the bias of a conv or linear")
        }
        let biasName = layer.op.biasName ?? "\(layer.name).bias"
        let extra = try broadcastPerChannel(c, channels: shape[1], rank: shape.count, node)
        let old = tensors[biasName]?.floats ?? [Float](repeating: 0, count: shape[1])
        tensors.set(biasName, StoredTensor(floats: zip(old, extra).map { $0 + $1 }, shape: [shape[1]]))
        switch layer.op {
        case .conv2d(var op): op.bias = biasName; graph.nodes[i].op = .conv2d(op)
        case .linear(var op): op.bias = biasName; graph.nodes[i].op = .linear(op)
        default: break
        }
        define(node.outputs[0], .tensor(value, shape: shape))
    }

    /// The per-channel values of constant `c` broadcast (numpy rules, shapes aligned at the right) over an
    /// output of `rank` dims with `channels` at axis 1: a scalar, or [C] / [1, C] for rank 2, [C, 1, 1] /
    /// [1, C, 1, 1] for rank 4.
    func broadcastPerChannel(_ c: CheckpointTensor, channels: Int, rank: Int, _ node: ONNXNode) throws -> [Float] {
        let v = c.floatValues()
        guard c.dtype.isFloatingPoint, c.shape.count <= rank else {
            throw ConvertError("node \(node.label): constant \(c.dtype.rawValue)\(c.shape) is not a float bias for \(channels) channels")
        }
        if v.count == 1 { return [Float](repeating: v[0], count: channels) }
        let aligned = [Int](repeating: 1, count: rank - c.shape.count) + c.shape
        guard aligned == [1, channels] + [Int](repeating: 1, count: rank - 2) else {
            throw ConvertError("node \(node.label): constant of shape \(c.shape) is not a per-channel bias for \(channels) channels")
        }
        return v
    }

    /// Dropout in inference: its input (ratio does not matter; training_mode must be off, the mask unread).
    mutating func dropout(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        a.ignore("seed", "ratio")
        if try optionalInput(node, 2) != nil, try constant(node, 2, "training_mode").int64Values().contains(where: { $0 != 0 }) {
            throw ConvertError("node \(node.label): training_mode is true; LowBit runs inference only")
        }
        try requireOnlyFirstOutputRead(node)
        define(node.outputs[0], try input(node, 0))
    }
}

extension ONNXAttributes {
    /// strides / dilations of a 2-D window: two values >= 1, default [1, 1].
    mutating func window(_ name: String) throws -> [Int] {
        let v = try ints(name) ?? [1, 1]
        guard v.count == 2, v.allSatisfy({ $0 >= 1 }) else { throw unsupported(name, "= \(v): expected two values >= 1 (2-D only)") }
        return v
    }

    /// [top, left, bottom, right] from `pads` (ONNX orders them [y0, x0, y1, x1] too) or `auto_pad`:
    /// SAME_UPPER / SAME_LOWER pad to ceil(size / stride) outputs, the odd pixel at the end / the start.
    mutating func padding(size: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws -> [Int] {
        let pads = try ints("pads")
        if let pads, pads.count != 4 || pads.contains(where: { $0 < 0 }) {
            throw unsupported("pads", "= \(pads): expected four values >= 0 (2-D only)")
        }
        let mode = try string("auto_pad", default: "NOTSET")
        switch mode {
        case "NOTSET": return pads ?? [0, 0, 0, 0]
        case "VALID": return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            var begin = [0, 0], end = [0, 0]
            for axis in 0..<2 {
                let out = (size[axis] + strides[axis] - 1) / strides[axis]
                let total = max(0, (out - 1) * strides[axis] + (kernel[axis] - 1) * dilations[axis] + 1 - size[axis])
                (begin[axis], end[axis]) = mode == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            return begin + end
        default: throw unsupported("auto_pad", "= '\(mode)' is not an ONNX padding mode")
        }
    }
}

/// A [rows, columns] matrix transposed.
func transposed(_ m: [Float], rows: Int, columns: Int) -> [Float] {
    var out = [Float](repeating: 0, count: m.count)
    for r in 0..<rows {
        for c in 0..<columns { out[c * rows + r] = m[r * columns + c] }
    }
    return out
}

/// Conv weights [OC, C/g, kh, kw] as GEMM rows [OC, kh*kw*C/g] in (ky, kx, c) order, matching NHWC im2col.
func gemmRows(ofConvWeight w: [Float], shape: [Int]) -> [Float] {
    let (oc, cg, kh, kw) = (shape[0], shape[1], shape[2], shape[3])
    var rows = [Float](repeating: 0, count: w.count)
    for o in 0..<oc {
        for c in 0..<cg {
            for tap in 0..<(kh * kw) { rows[(o * kh * kw + tap) * cg + c] = w[(o * cg + c) * kh * kw + tap] }
        }
    }
    return rows
}
