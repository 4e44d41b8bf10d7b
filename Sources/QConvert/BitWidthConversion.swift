// Conversion of a network whose bit width is chosen at run time (Any-Precision): every width the
// checkpoint has becomes its own graph; all graphs go into one file over one shared tensor set.
import Foundation
import QCheckpoint
import QGraph

extension Converter {
    /// For each width k of the checkpoint: the recipe's width-k checkpoint -> graph -> ReLUs become DoReFa
    /// activations (k < 32) -> BatchNorm folded into the quantized convs' scales -> codes packed (k <= 8;
    /// 32 bits keeps exact f32 weights). Tensors equal in every width are stored once. The default
    /// width (the widest below 32) is the file's main graph.
    static func convertRunTimeBits(_ recipe: AnyPrecisionRecipe, evidence recipeEvidence: String, checkpoint: Checkpoint,
                                   url: URL, to output: URL, options: ConversionOptions, start: Date,
                                   progress: (String, Double) -> Void) throws -> ConversionReport {
        let widths = recipe.bitWidths(checkpoint)
        guard !AnyPrecisionRecipe.switchableBatchNorms(checkpoint).isEmpty else {
            throw ConvertError("any-precision: the checkpoint has no <bn>.bn_dict.<bits>.* keys (not an Any-Precision network)")
        }
        guard let defaultBits = widths.last(where: { $0 < 32 }) ?? widths.last else {
            throw ConvertError("any-precision: the switchable BatchNorms do not share one set of bit widths")
        }
        var variants: [Int: (graph: Graph, tensors: TensorStore)] = [:]
        var reports: [LayerReport] = [], notes: [String] = [], archEvidence = ""
        var model: FloatModel?
        var floatBytes = 0
        for (i, bits) in widths.enumerated() {
            progress("\(bits)-bit graph", 0.1 + 0.8 * Double(i) / Double(widths.count))
            let prepared = try recipe.prepare(checkpoint, bits: bits)
            var (m, evidence) = try Architectures.build(prepared.checkpoint, override: options.arch)
            archEvidence = evidence
            m.preprocessing = recipe.preprocessing(arch: m.arch, familyDefault: m.preprocessing)
            try applyOverrides(&m, options)
            if bits < 32 { useDoReFaActivations(&m.graph, bits: bits) }
            let factors = try foldBatchNorm(&m)
            fuseResidualAdd(&m.graph)
            fuseActivation(&m.graph)
            let layers = try applyMethodLayers(&m, layers: prepared.layers, foldFactors: factors)
            if options.method.activations == .u8 { try integerDoReFaInputs(&m.graph) }
            if bits == widths.last { floatBytes = layers.reduce(0) { $0 + $1.floatBytes } }
            reports += layers.map { var r = $0; r.name += " @\(bits)b"; return r }
            notes += prepared.notes
            variants[bits] = (m.graph, m.tensors)
            model = m
        }
        guard let model else { throw ConvertError("any-precision: no bit widths") }
        let (graphs, tensors) = mergeBitWidthTensors(variants)
        let widthList = widths.map(String.init).joined(separator: ",")
        let activations = options.method.activations == .u8
            ? "DoReFa k-bit as u8 P (scale 1/n) into the integer kernels at 1/2/4 bits; 8-bit codes on f32 (exact levels); ReLU at 32 bits"
            : "DoReFa k-bit (f32, exact), ReLU at 32 bits"
        let precision = "any-precision: bits \(widthList) chosen at run time (default \(defaultBits)); "
            + "stem, skip convs and fc f32; a: " + activations
        let info = ModelInfo(name: url.deletingPathExtension().lastPathComponent, arch: model.arch, recipe: recipe.name,
                             precision: precision, labels: model.labels, preprocessing: model.preprocessing,
                             provenance: ["source": url.lastPathComponent, "source_sha256": try sha256Hex(of: url),
                                          "converter": "qconvert \(LowBitVersion.string)", "recipe": recipe.name,
                                          "recipe_evidence": recipeEvidence, "bits": widthList,
                                          "default_bits": "\(defaultBits)",
                                          "activations": options.method.activations.rawValue,
                                          "notes": notes.joined(separator: "; ")])
        progress("writing", 0.95)
        try ModelArchive.write(graph: graphs[defaultBits]!, info: info, tensors: tensors,
                               bitWidths: BitWidthGraphs(defaultBits: defaultBits, graphs: graphs), to: output)
        progress("done", 1)
        return ConversionReport(
            checkpoint: checkpoint, output: output, arch: model.arch, archEvidence: archEvidence, recipe: recipe.name,
            recipeEvidence: recipeEvidence, recipeNotes: notes, precision: precision, activations: activations,
            calibrationImages: 0, preprocessing: model.preprocessing, labels: model.labels.count, layers: reports,
            floatWeightBytes: floatBytes, weightBytes: tensors.byteCount, start: start)
    }
}

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
/// the only rounding is that final float conversion. Layers with f32 weights keep the f32 input.
func integerDoReFaInputs(_ graph: inout Graph) throws {
    // 1-4-bit codes only: their table 2Q - n is exact; 8-bit codes' int8 bytes are Q - 128, half a step off
    func readsCodes(_ op: Op) -> Bool {
        switch op {
        case .conv2d(let c): return c.weight.scheme != .float32 && c.weight.bits <= 4
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

/// One tensor set for all widths' graphs: a tensor present and equal (dtype, shape, bytes) in every
/// width keeps its name; any other becomes `bits<K>.<name>` in width K, whose graph is renamed to match.
func mergeBitWidthTensors(_ variants: [Int: (graph: Graph, tensors: TensorStore)]) -> ([Int: Graph], TensorStore) {
    let widths = variants.keys.sorted()
    var merged = TensorStore(), graphs: [Int: Graph] = [:]
    var shared = Set<String>()
    if let first = widths.first {
        for name in variants[first]!.tensors.names where widths.allSatisfy({ variants[$0]!.tensors[name] == variants[first]!.tensors[name] }) {
            shared.insert(name)
            merged.set(name, variants[first]!.tensors[name]!)
        }
    }
    for bits in widths {
        let (graph, tensors) = variants[bits]!
        for name in tensors.names where !shared.contains(name) { merged.set("bits\(bits).\(name)", tensors[name]!) }
        graphs[bits] = graph.renamingTensors { shared.contains($0) ? $0 : "bits\(bits).\($0)" }
    }
    return (graphs, merged)
}
