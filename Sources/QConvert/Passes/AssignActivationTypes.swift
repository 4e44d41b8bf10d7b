// Pass: give every activation value its run-time type and insert quantize/dequantize where types meet.
import QGraph

/// Quantized-weight layers read u8; float layers and standalone BatchNorm/activations read f32.
/// With `ranges` (static mode) conv outputs are u8 with scales fitted to the calibrated range; without,
/// conv outputs are f32 and a dynamic quantize precedes each quantized layer. Linear outputs are f32.
/// Pools, flatten and the option-A shortcut keep their input's type; global average pooling gives f32.
/// `fixed` (a quantized source file's own scales and zero points, DeclaredQuantization.swift) gives a value
/// its static u8 quantization before `ranges` are asked, and makes quantized conv / add outputs static
/// u8 where it names them even without `ranges`, and quantized linear outputs static u8 where it names them.
/// With `dynamicWhereUnranged` (data-free ranges, DataFreeStatistics.swift), a value `ranges` does not name
/// is typed as in dynamic mode: a conv or add writing it gives f32 (so does a conv whose residual is
/// quantized dynamically), a quantize of it measures its range at run time.
/// Defined ops (QGraph/Ops/) follow their `typing`: `.float32` ones (hardswish, sigmoid, SiLU, the SE
/// channel multiply, ...) read dequantized inputs and write f32, so u8 graphs keep them in float.
func assignActivationTypes(_ graph: inout Graph, ranges: [String: (min: Float, max: Float)]?,
                           fixed: [String: ActivationQuant] = [:], dynamicWhereUnranged: Bool = false) throws {
    let old = graph
    var new = Graph(input: old.value(old.input)!)
    var converted: [String: String] = [:]   // "value->u8" / "value->f32" -> converted value name

    func staticQuant(_ value: String) throws -> ActivationQuant {
        if let quant = fixed[value] { return quant }
        guard let ranges else { return .dynamicUInt8 }
        guard let r = ranges[value] else {
            if dynamicWhereUnranged { return .dynamicUInt8 }
            throw ConvertError("no calibration range for '\(value)'")
        }
        let (s, z) = ActivationQuant.fit(min: r.min, max: r.max)
        return .uint8(scale: s, zeroPoint: z)
    }
    /// Whether `value` gets a static u8 quantization where it is written.
    func hasStatic(_ value: String) -> Bool {
        fixed[value] != nil || (ranges != nil && (!dynamicWhereUnranged || ranges![value] != nil))
    }
    func asU8(_ value: String) throws -> String {
        if new.value(value)!.quant.isUInt8 { return value }
        if let done = converted["\(value)->u8"] { return done }
        let name = try new.append("\(value).q", .quantize, inputs: [value], quant: staticQuant(value))
        converted["\(value)->u8"] = name
        return name
    }
    func asF32(_ value: String) throws -> String {
        if !new.value(value)!.quant.isUInt8 { return value }
        if let done = converted["\(value)->f32"] { return done }
        let name = try new.append("\(value).dq", .dequantize, inputs: [value])
        converted["\(value)->f32"] = name
        return name
    }
    func append(_ node: Node, _ inputs: [String], _ quant: ActivationQuant) throws {
        try new.append(node.output, node.op, inputs: inputs, quant: quant)
        new.nodes[new.nodes.count - 1].name = node.name
    }

    /// Dynamic mode, a max pool on f32 values read only by quantized layers (as input or residual): it runs on the
    /// codes, quantized before the pool with the pool input's range (the codes of quantizing after it
    /// wherever the windows cover the input and its minimum is at most 0, as after a ReLU).
    func poolsDynamicCodes(_ node: Node) -> Bool {
        let input = node.inputs[0]
        guard !hasStatic(input), fixed[input] == nil, fixed[node.output] == nil, new.value(input)!.quant == .float32,
              !old.outputs.contains(node.output) else { return false }
        let readers = old.consumers(of: node.output)
        return !readers.isEmpty && readers.allSatisfy { readsQuantizedWeights(old.nodes[$0].op) }
    }

    for node in old.nodes {
        switch node.op {
        case .conv2d(let c):
            let quantized = c.weight.scheme != .float32
            let input = quantized ? try asU8(node.inputs[0]) : try asF32(node.inputs[0])
            let dynamicResidual = dynamicWhereUnranged && c.residual && new.value(node.inputs[1])!.quant == .dynamicUInt8
            let outQuant: ActivationQuant = quantized && hasStatic(node.output) && !dynamicResidual ? try staticQuant(node.output) : .float32
            var inputs = [input]
            if c.residual {
                // the integer kernels add a u8 residual to an f32 output as well (no dequantize step)
                let keepsCodes = quantized && new.value(node.inputs[1])!.quant.isUInt8
                inputs.append(outQuant.isUInt8 || keepsCodes ? try asU8(node.inputs[1]) : try asF32(node.inputs[1]))
            }
            try append(node, inputs, outQuant)
        case .linear(let l):
            let quantized = l.weight.scheme != .float32
            // u8 out only where the file quantizes the output (a QDQ file's logits are rounded to its grid)
            try append(node, [quantized ? try asU8(node.inputs[0]) : try asF32(node.inputs[0])],
                       quantized ? fixed[node.output] ?? .float32 : .float32)
        case .add:
            let a = new.value(node.inputs[0])!.quant, b = new.value(node.inputs[1])!.quant
            if hasStatic(node.output), a.isUInt8, b.isUInt8, a != .dynamicUInt8, b != .dynamicUInt8 {
                try append(node, node.inputs, try staticQuant(node.output))
            } else {
                try append(node, [try asF32(node.inputs[0]), try asF32(node.inputs[1])], .float32)
            }
        case .maxPool where poolsDynamicCodes(node):
            // max commutes with the monotonic quantization: the pool reads u8 codes, not floats
            try append(node, [try asU8(node.inputs[0])], .dynamicUInt8)
        case .maxPool, .avgPool, .flatten, .shortcutA:
            try append(node, node.inputs, new.value(node.inputs[0])!.quant)
        case .globalAvgPool:
            try append(node, node.inputs, .float32)
        case .batchNorm, .activation, .prelu, .dequantize, .roundToFixed, .sign, .doReFa:
            try append(node, [try asF32(node.inputs[0])], .float32)
        case .quantize:
            try append(node, node.inputs, new.value(node.output)?.quant ?? old.value(node.output)!.quant)
        case .defined(let d):
            switch d.definition.typing {
            case .float32: try append(node, try node.inputs.map(asF32), .float32)
            }
        }
    }
    new.setOutputs(try old.outputs.map(asF32))
    graph = new
}

/// A conv or linear layer with quantized weights (it reads u8 inputs).
private func readsQuantizedWeights(_ op: Op) -> Bool {
    switch op {
    case .conv2d(let c): return c.weight.scheme != .float32
    case .linear(let l): return l.weight.scheme != .float32
    default: return false
    }
}
