// Passes: Any-Precision's DoReFa activations, as floats and in integer form.
import QGraph

/// Any-Precision's Activate at k < 32 bits: every ReLU of the graph becomes DoReFa(k), clamp(x, 0, 1) then
/// k-bit rounding (the architectures build ReLU, the 32-bit activation); a ReLU named `*.unquantized`
/// (Activate(quantize=False)) becomes clamp(x, 0, 1) alone.
func useDoReFaActivations(_ graph: inout Graph, bits: Int) {
    for i in graph.nodes.indices where graph.nodes[i].op == .activation(.relu) {
        graph.nodes[i].op = graph.nodes[i].name.hasSuffix(".unquantized") ? .activation(.hardtanh(min: 0, max: 1)) : .doReFa(bits: bits)
    }
}

/// DoReFa activations in integer form: a DoReFa(k) output read by layers with packed codes is quantized
/// to u8 P = round(x * n) with scale 1/n and zero point 0 (exact: x is already P / n), and those layers
/// read it, running the integer kernels. With table unit E / n_w and levels 2Q - n_w (the recipe's
/// MethodLayer.unit; 1-4 bits) their int32 sums are exactly sum (2Q - n_w) * P, and
///     sum W * a = E / (n_w * n_a) * (2 * sum Q * P - n_w * sum P)
/// comes out of the epilogue as acc * (1/n_a) * (s * E / n_w) + bias (s: the folded BatchNorm factor), so
/// the only rounding is that final float conversion. At 8 bits (unit 2E / n_w, levels Q - 127.5) the convs
/// run as half-step weights: acc = 2 * sum (Q - 128) * P + sum P = sum (2Q - 255) * P, exact in int32.
/// Layers with f32 weights keep the f32 input.
func integerDoReFaInputs(_ graph: inout Graph) throws {
    // 1-4-bit codes: their table 2Q - n is exact. 8-bit codes' int8 bytes are Q - 128, half a step below
    // the level Q - 127.5: convs run them exactly as half-step weights (WeightDescriptor.isHalfStep)
    func readsCodes(_ op: Op) -> Bool {
        switch op {
        case .conv2d(let c): return c.weight.scheme != .float32 && (c.weight.bits <= 4 || c.weight.isHalfStep)
        case .linear(let l): return l.weight.scheme != .float32 && l.weight.bits <= 4
        default: return false
        }
    }
    let old = graph
    let wanted = Set(old.nodes.filter { readsCodes($0.op) }.map { $0.inputs[0] })
    var new = Graph(input: old.value(old.input)!), integer: [String: String] = [:]
    for node in old.nodes {
        var inputs = node.inputs
        if readsCodes(node.op), let u8 = integer[inputs[0]] { inputs[0] = u8 }
        try new.append(node.output, node.op, inputs: inputs, quant: old.value(node.output)!.quant)
        new.nodes[new.nodes.count - 1].name = node.name
        if case .doReFa(let bits) = node.op, wanted.contains(node.output) {
            integer[node.output] = try new.append("\(node.output).u8", .quantize, inputs: [node.output],
                                                  quant: .uint8(scale: 1 / Float((1 << bits) - 1), zeroPoint: 0))
        }
    }
    new.output = old.output
    graph = new
}
