// Quantized ONNX in the QDQ form (QuantizeLinear / DequantizeLinear), kept as the file says
// (docs/ONNX.md "Quantized ONNX (QDQ)"):
//  - DequantizeLinear of a constant (int8, uint8, INT4, UINT4, int32 biases, ...; per tensor or per channel,
//    zero point optional) folds to the float constant ONNX defines, (q - zero point) * scale; when that
//    constant is a Conv / Gemm / MatMul weight quantized per tensor or per output channel, the layer keeps
//    the file's integers as its codes and the scales as its channel scales (DeclaredQuantization: no
//    re-quantization); one codes cannot hold keeps its exact floats. QuantizeLinear of a constant
//    (fake-quantized float weights) folds to its integers.
//  - QuantizeLinear -> DequantizeLinear of a run-time tensor (u8, or s8 mapped to u8 with zero point + 128,
//    per tensor) is a clamp to the representable range [scale * (qmin - zp), scale * (qmax - zp)] (a
//    hardtanh node, merged into a ReLU before it, left out where the value is already so quantized), and
//    its output value's u8 activation quantization is the file's scale and zero point. In a u8 graph the
//    next quantized layer quantizes with them, and a quantized conv / linear / add writing the value
//    rounds to them, exactly as the file; between two ops LowBit runs in f32 the clamp stays and the
//    rounding is dropped (at most scale / 2 per value).
//  - QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger, QONNX's Quant / BipolarQuant / Trunc: refused
//    as not supported yet.
import QCheckpoint
import QGraph
import QONNX

/// What the QDQ translations know while the graph is built.
struct ONNXQuantizationState {
    /// Constants the file holds as INT4 / UINT4 (unpacked to int8 / uint8): their ONNX type.
    var fourBit: [String: ONNXDataType] = [:]
    /// DequantizeLinear outputs of constants: the integers they came from.
    var dequantized: [String: DequantizedConstant] = [:]
    /// QuantizeLinear outputs of run-time tensors, read only by a DequantizeLinear: the LowBit value
    /// quantized, its ONNX shape and the quantization.
    var pending: [String: (value: String, shape: [Int], quant: TensorQuantization)] = [:]
    /// The kept weights by LowBit layer, and the file's activation quantization by LowBit value.
    var declared = DeclaredQuantization()
}

/// Per-tensor quantization of a run-time tensor as LowBit runs it: u8 with scale and zero point.
struct TensorQuantization: Equatable {
    var scale: Float
    /// In 0...255 (an s8 zero point z is z + 128).
    var zeroPoint: Int
    /// The file quantized to int8 (the values u8 - 128).
    var signed: Bool

    /// The clamp the quantization applies: scale * (0 - zp) ... scale * (255 - zp).
    var range: (lo: Float, hi: Float) { (scale * Float(0 - zeroPoint), scale * Float(255 - zeroPoint)) }
    var quant: ActivationQuant { .uint8(scale: scale, zeroPoint: zeroPoint) }
}

/// The integers behind a DequantizeLinear'd constant.
struct DequantizedConstant {
    /// The ONNX element type of the integers (INT8, UINT8, INT4, ...).
    var type: ONNXDataType
    var shape: [Int]
    var values: [Int]
    /// One scale and zero point per index of `axis`, or one each when `axis` is nil (per tensor).
    var axis: Int?
    var scales: [Float]
    var zeroPoints: [Int]
    /// The float weight's name it stands for: onnxruntime names the integers `<weight>_quantized` and the
    /// output `<weight>_DequantizeLinear_Output`; else the output's name.
    var weightName: String
}

/// How a layer's ONNX weight is laid out.
enum ONNXWeightLayout {
    /// [N, K...] (Conv, Gemm transB 1): output channels along axis 0.
    case outputFirst
    /// [K, N] (MatMul, Gemm transB 0): output channels along axis 1, transposed to LowBit's [N, K].
    case inputFirst
}

extension ONNXGraphBuilder {
    /// The quantized operators LowBit refuses by name (the QOperator form and QONNX's custom ops).
    static let quantizedOperatorsNotYet: Set<String> = [
        "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool",
        "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "QGemm", "ConvInteger", "MatMulInteger",
        "DynamicQuantizeLinear", "Quant", "BipolarQuant", "Trunc", "MultiThreshold",
    ]

    /// Refuses the quantized operators LowBit does not run yet, and any node other than DequantizeLinear that
    /// reads a QuantizeLinear's integer output; called before the op is translated.
    func refuseQuantizedOperators(_ node: ONNXNode) throws {
        if Self.quantizedOperatorsNotYet.contains(node.opType) {
            throw ConvertError("node \(node.label): quantized operator \(node.opType)"
                + (node.domain.isEmpty ? "" : " (domain '\(node.domain)')") + " is not supported yet; LowBit reads quantized ONNX "
                + "in the QDQ form (QuantizeLinear / DequantizeLinear around float ops: onnxruntime's QuantFormat.QDQ)")
        }
        if node.opType != "DequantizeLinear", let read = node.inputs.first(where: { quantization.pending[$0] != nil }) {
            throw ConvertError("node \(node.label): reads the integer output '\(read)' of a QuantizeLinear; LowBit reads "
                + "quantized run-time tensors only through a DequantizeLinear")
        }
    }

    // MARK: QuantizeLinear / DequantizeLinear

    /// QuantizeLinear: of a constant, folded to its integers; of a run-time tensor, u8 or s8 per tensor,
    /// waiting for the DequantizeLinear that reads it.
    mutating func quantizeLinear(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let axis = try a.int("axis", default: 1)
        if try a.int("block_size", default: 0) != 0 { throw a.unsupported("block_size", "(blocked quantization) is not supported yet") }
        a.ignore("saturate")        // float8 outputs only
        let declaredType = try a.int("output_dtype", default: 0)
        switch try input(node, 0) {
        case .constant(let x):
            let (scales, zeroPoints, type) = try parameters(node, shape: x.shape, axis: axis,
                                                            defaultType: declaredType == 0 ? .uint8 : ONNXDataType(rawValue: Int32(clamping: declaredType)))
            if declaredType != 0, Int32(exactly: declaredType) != type.rawValue {
                throw a.unsupported("output_dtype", "= \(declaredType) differs from the zero point's type \(type.name)")
            }
            guard x.dtype.isFloatingPoint else { throw ConvertError("node \(node.label): input is \(x.dtype.rawValue), not float") }
            guard let (lo, hi) = Self.integerRange(type), lo >= -128, hi <= 255 else {
                throw ConvertError("node \(node.label): quantizes to \(type.name); LowBit folds QuantizeLinear of constants to 8 or 4 bits")
            }
            let per = perChannelStride(x.shape, axis: scales.count == 1 ? nil : try normalized(axis, rank: x.shape.count, node))
            let q = x.floatValues().enumerated().map { i, v -> Int in
                let c = per.map { (i / $0.inner) % $0.count } ?? 0
                let r = (v / scales[c]).rounded(.toNearestOrEven)
                guard !r.isNaN else { return zeroPoints[c] }
                return Int(min(max(r, Float(lo - zeroPoints[c])), Float(hi - zeroPoints[c]))) + zeroPoints[c]
            }
            let unpacked: TensorDType = lo < 0 ? .int8 : .uint8
            if type == .int4 || type == .uint4 { quantization.fourBit[node.outputs[0]] = type }
            define(node.outputs[0], .constant(CheckpointTensor(dtype: unpacked, shape: x.shape,
                                                               bytes: q.map { UInt8(truncatingIfNeeded: $0) })))
        case .tensor(let v, let shape):
            if declaredType != 0, declaredType != Int(ONNXDataType.uint8.rawValue), declaredType != Int(ONNXDataType.int8.rawValue) {
                throw a.unsupported("output_dtype", "= \(declaredType): LowBit runs u8 / s8 activations")
            }
            let quant = try activationQuantization(node, defaultSigned: declaredType == Int(ONNXDataType.int8.rawValue))
            quantization.pending[node.outputs[0]] = (v, shape, quant)
            define(node.outputs[0], .tensor(v, shape: shape))
        }
    }

    /// DequantizeLinear: of a constant, folded ((q - zp) * scale, as ONNX computes it) with its integers
    /// remembered for the layer that reads it; of a QuantizeLinear's output, the activation pair.
    mutating func dequantizeLinear(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let axis = try a.int("axis", default: 1)
        if try a.int("block_size", default: 0) != 0 { throw a.unsupported("block_size", "(blocked quantization) is not supported yet") }
        if case .constant(let x) = try input(node, 0) {
            return try dequantizeConstant(node, x, axis: axis)
        }
        guard let source = quantization.pending[node.inputs[0]] else {
            throw ConvertError("node \(node.label): input '\(node.inputs[0])' is a run-time tensor no QuantizeLinear made; "
                + "LowBit dequantizes run-time tensors only in QuantizeLinear -> DequantizeLinear pairs")
        }
        let quant = try activationQuantization(node, defaultSigned: false)
        guard quant == source.quant else {
            throw ConvertError("node \(node.label): scale / zero point (\(quant.scale), \(quant.zeroPoint)) differ from its QuantizeLinear's "
                + "(\(source.quant.scale), \(source.quant.zeroPoint)); LowBit runs a QuantizeLinear -> DequantizeLinear pair as one quantization")
        }
        define(node.outputs[0], .tensor(try quantizedValue(source.value, quant, for: node), shape: source.shape))
    }

    /// The LowBit value holding `value` after the file's quantization `quant`: `value` itself when it is
    /// already so quantized (directly or through a max pool / flatten), else a clamp to the quantization's
    /// range (merged into a ReLU / ReLU6 / hardtanh node read only here) whose output carries `quant`.
    private mutating func quantizedValue(_ value: String, _ quant: TensorQuantization, for node: ONNXNode) throws -> String {
        var source = value
        while true {
            if quantization.declared.activations[source] == quant.quant {
                quantization.declared.activations[value] = quant.quant
                return value
            }
            guard let p = graph.producer(of: source) else { break }
            switch graph.nodes[p].op {
            case .maxPool, .flatten: source = graph.nodes[p].inputs[0]
            default: break
            }
            if source != graph.nodes[p].inputs[0] { break }
        }
        let (lo, hi) = quant.range
        if let p = graph.producer(of: value), case .activation(let act) = graph.nodes[p].op, let onnx = origin(of: value),
           readerCount(onnx) == 1, readerCount(node.inputs[0]) == 1 {
            let (a, b) = act.clampRange
            if max(a, lo) <= min(b, hi) {
                graph.nodes[p].op = .activation(.hardtanh(min: max(a, lo), max: min(b, hi)))
                quantization.declared.activations[value] = quant.quant
                return value
            }
        }
        let out = try appendOp(.activation(.hardtanh(min: lo, max: hi)), inputs: [value], for: node)
        quantization.declared.activations[out] = quant.quant
        return out
    }

    /// A run-time tensor's quantization from inputs 1 (scale) and 2 (zero point, optional: u8 0, or s8 0
    /// when `defaultSigned`): one positive finite scale, a u8 or s8 zero point.
    private func activationQuantization(_ node: ONNXNode, defaultSigned: Bool) throws -> TensorQuantization {
        let count = try constant(node, 1, "scale").elementCount
        guard count == 1 else {
            throw ConvertError("node \(node.label): \(count) scales on a run-time tensor; LowBit quantizes activations per tensor")
        }
        let (scales, zeroPoints, type) = try parameters(node, shape: [], axis: 0, defaultType: defaultSigned ? .int8 : .uint8)
        guard type == .uint8 || type == .int8 else {
            throw ConvertError("node \(node.label): activations quantized to \(type.name); LowBit runs u8 or s8 activations")
        }
        return TensorQuantization(scale: scales[0], zeroPoint: zeroPoints[0] + (type == .int8 ? 128 : 0), signed: type == .int8)
    }

    /// Folds a DequantizeLinear of the constant `x` and remembers its integers.
    private mutating func dequantizeConstant(_ node: ONNXNode, _ x: CheckpointTensor, axis: Int) throws {
        let type = quantization.fourBit[node.inputs[0]] ?? ONNXDataType(x.dtype)
        guard !x.dtype.isFloatingPoint, x.dtype != .bool else {
            throw ConvertError("node \(node.label): input '\(node.inputs[0])' is \(type.name); DequantizeLinear reads integers")
        }
        let (scales, zeroPoints, zpType) = try parameters(node, shape: x.shape, axis: axis, defaultType: type)
        guard zpType == type else {
            throw ConvertError("node \(node.label): zero point is \(zpType.name), input '\(node.inputs[0])' \(type.name); they must match")
        }
        let per = scales.count == 1 ? nil : perChannelStride(x.shape, axis: try normalized(axis, rank: x.shape.count, node))
        let values = x.int64Values().map { Int($0) }
        let floats = values.enumerated().map { i, q -> Float in
            let c = per.map { (i / $0.inner) % $0.count } ?? 0
            return Float(q - zeroPoints[c]) * scales[c]
        }
        quantization.dequantized[node.outputs[0]] = DequantizedConstant(
            type: type, shape: x.shape, values: values, axis: per == nil ? nil : try normalized(axis, rank: x.shape.count, node),
            scales: scales, zeroPoints: zeroPoints, weightName: Self.floatName(of: node))
        define(node.outputs[0], .constant(CheckpointTensor(shape: x.shape, floats: floats)))
    }

    /// Scales (input 1) and zero points (input 2, optional, else 0 of `defaultType`) of a Quantize- /
    /// DequantizeLinear over a tensor of `shape`: one each, or one per index of `axis` (a 1-D scale whose
    /// length is that dimension). Every scale positive and finite; the zero points' type and range.
    private func parameters(_ node: ONNXNode, shape: [Int], axis: Int, defaultType: ONNXDataType?) throws
        -> (scales: [Float], zeroPoints: [Int], type: ONNXDataType) {
        let scale = try constant(node, 1, "scale")
        guard scale.dtype.isFloatingPoint else { throw ConvertError("node \(node.label): scale is \(scale.dtype.rawValue), not float") }
        let scales = scale.floatValues()
        if let bad = scales.first(where: { !($0.isFinite && $0 > 0) }) {
            throw ConvertError("node \(node.label): scale \(bad) is not a positive finite number")
        }
        if scale.shape.count > 1 || (scale.shape.count == 1 && scales.count > 1) {
            let a = try normalized(axis, rank: shape.count, node)
            guard scale.shape.count == 1, scales.count == shape[a] else {
                throw ConvertError("node \(node.label): scale has shape \(scale.shape), expected [\(shape[a])] for axis \(axis) of input shape \(shape) "
                    + "(per tensor: one scale; per channel: one per index of the axis)")
            }
        } else if scales.isEmpty {
            throw ConvertError("node \(node.label): scale is empty")
        }
        guard try optionalInput(node, 2) != nil else {
            guard let defaultType else { throw ConvertError("node \(node.label): no zero point to give the output type") }
            return (scales, [Int](repeating: 0, count: scales.count), defaultType)
        }
        let zero = try constant(node, 2, "zero point")
        let type = quantization.fourBit[node.inputs[2]] ?? ONNXDataType(zero.dtype)
        guard zero.shape == scale.shape || (zero.elementCount == 1 && scales.count == 1) else {
            throw ConvertError("node \(node.label): zero point has shape \(zero.shape), scale \(scale.shape); they must match")
        }
        guard let (lo, hi) = Self.integerRange(type) else {
            throw ConvertError("node \(node.label): zero point is \(type.name); LowBit reads int8, uint8, INT4, UINT4, int16 and int32 quantization")
        }
        let zeroPoints = zero.int64Values().map { Int($0) }
        if let bad = zeroPoints.first(where: { !(lo...hi).contains($0) }) {
            throw ConvertError("node \(node.label): zero point \(bad) is outside \(type.name)'s \(lo)...\(hi)")
        }
        return (scales, zeroPoints, type)
    }

    /// The float tensor a DequantizeLinear stands for, by onnxruntime's names (`conv1.weight_quantized` ->
    /// `conv1.weight_DequantizeLinear_Output`), else its output's name.
    private static func floatName(of node: ONNXNode) -> String {
        let output = node.outputs[0], input = node.inputs[0]
        for suffix in ["_DequantizeLinear_Output", "_dequantized"] where output.hasSuffix(suffix) {
            return String(output.dropLast(suffix.count))
        }
        if input.hasSuffix("_quantized") { return String(input.dropLast("_quantized".count)) }
        return output
    }

    /// The integers an ONNX quantized type holds; nil for the types LowBit does not read as quantized.
    static func integerRange(_ type: ONNXDataType) -> (Int, Int)? {
        switch type {
        case .int8: return (-128, 127)
        case .uint8: return (0, 255)
        case .int4: return (-8, 7)
        case .uint4: return (0, 15)
        case .int16: return (-32768, 32767)
        case .int32: return (Int(Int32.min), Int(Int32.max))
        default: return nil
        }
    }

    /// `axis` in 0..<rank (ONNX allows -rank..<rank).
    private func normalized(_ axis: Int, rank: Int, _ node: ONNXNode) throws -> Int {
        guard (-rank..<rank).contains(axis) else {
            throw ConvertError("node \(node.label): attribute 'axis' = \(axis) is out of range for a rank-\(rank) input")
        }
        return axis < 0 ? axis + rank : axis
    }

    /// For a row-major tensor of `shape`, element i's index along `axis` is (i / inner) % count.
    private func perChannelStride(_ shape: [Int], axis: Int?) -> (inner: Int, count: Int)? {
        guard let axis else { return nil }
        return (shape[(axis + 1)...].reduce(1, *), shape[axis])
    }

    // MARK: keeping the codes of a layer

    /// When input 1 of `node` (the weight of LowBit layer `layer`, laid out as `layout`) is a DequantizeLinear'd
    /// constant quantized per tensor or per output channel, records the file's integers as the layer's codes:
    /// INT4 / UINT4 with one zero point as 4-bit codes (the code is the file's nibble, the table its value
    /// minus the zero point), else 8-bit codes of q - zp when those fit int8 (int8 with zero point 0: the
    /// code byte is the file's byte). Scales become the channel scales; the codes decode to the float weight
    /// bit for bit (checked). A DequantizeLinear'd weight that codes cannot hold (scales along another axis,
    /// q - zp outside int8, int32 weights, a Gemm's alpha != 1) keeps its exact float weights: never
    /// re-quantized either.
    mutating func keepFileCodes(_ node: ONNXNode, layer: String, layout: ONNXWeightLayout) {
        guard node.inputs.count > 1, let d = quantization.dequantized[node.inputs[1]], d.shape.count >= 2 else { return }
        let scope = d.axis == nil ? "per tensor" : "per channel"
        let zeros = d.zeroPoints.allSatisfy { $0 == 0 } ? "" : ", zero point" + (Set(d.zeroPoints).count == 1 ? " \(d.zeroPoints[0])" : "s")
        let exact = ValueGrid(codes: nil, description: "file's \(d.type.name) values \(scope)\(zeros) as exact f32 (LowBit's codes cannot "
            + "hold them), not re-quantized")
        quantization.declared.weights[layer] = exact
        if case .float(let alpha)? = node.attributes["alpha"], alpha != 1 { return }
        let outAxis = layout == .outputFirst ? 0 : 1
        guard d.axis == nil || d.axis == outAxis, layout == .outputFirst || d.shape.count == 2 else { return }
        let rows = d.shape[outAxis], k = d.values.count / max(rows, 1)
        guard rows > 0, k > 0 else { return }
        // [rows][k] in LowBit's order (the checkpoint layout applyMethodLayers takes)
        var q = d.values
        if layout == .inputFirst {
            for r in 0..<rows { for j in 0..<k { q[r * k + j] = d.values[j * rows + r] } }
        }
        let zero = { (r: Int) in d.zeroPoints.count == 1 ? d.zeroPoints[0] : d.zeroPoints[r] }
        let scales = (0..<rows).map { d.scales.count == 1 ? d.scales[0] : d.scales[$0] }
        var codes: MethodLayer
        if d.type == .int4 || d.type == .uint4, Set(d.zeroPoints).count == 1 {
            let z = d.zeroPoints[0], signed = d.type == .int4
            codes = MethodLayer(codes: q.map { UInt8($0 & 0x0f) },
                                levels: (0..<16).map { Float((signed && $0 >= 8 ? $0 - 16 : $0) - z) })
        } else {
            var n = [UInt8](repeating: 0, count: q.count)
            for r in 0..<rows {
                for j in (r * k)..<((r + 1) * k) {
                    let v = q[j] - zero(r)
                    guard (-128...127).contains(v), d.type != .int32 else { return }
                    n[j] = UInt8(v + 128)
                }
            }
            codes = MethodLayer(codes: n, levels: (0..<256).map { Float($0 - 128) })
        }
        codes.unit = 1
        codes.channelScales = scales
        let floats = zip(q.indices, q).map { j, v in Float(v - zero(j / k)) * scales[j / k] }
        guard decodesExactly(codes, floats, rows: rows, k: k) else { return }
        quantization.declared.weights[layer] = ValueGrid(
            codes: codes,  description: "file's \(d.type.name) codes \(scope)\(zeros), not re-quantized")
    }
}
