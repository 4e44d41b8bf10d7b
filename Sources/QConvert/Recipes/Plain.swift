// The `plain` recipe: post-training quantization of a float network.
import QCheckpoint
import QGraph

/// Options of the plain recipe.
public struct PlainOptions: Sendable {
    /// Weight bits of the body layers (2, 3, 4, 8, or 32 for float).
    public var bits: Int = 4
    public var scheme: WeightScheme = .uniform
    /// Bits of the first conv and the last linear (8 or 32).
    public var firstLastBits: Int = 8
    /// nil: `max` (measured on ResNet-20 w4, full CIFAR-10 test set: max 80.08, auto 79.13, float 81.03).
    public var clip: ClipMode?

    public init() {}
}

/// One row of the converter's per-layer table.
public struct LayerReport: Codable, Sendable {
    public var name: String
    public var op: String
    public var shape: [Int]          // [OC, K]
    public var format: String        // "uniform4", "codebook2", "f32"
    public var bits: Int
    public var bytes: Int
    public var floatBytes: Int
    /// Weight SQNR in dB; nil for float layers (exact).
    public var sqnrDB: Double?
    public var clip: String?
    /// Why the layer is as it is when --bits did not decide it, e.g. "kept: uniform 3-bit per channel
    /// (--bits 4 not applied)" for weights already on a value grid (Passes/ValueGrid.swift).
    public var note: String? = nil
}

/// Plain post-training quantization: the float network as the source built it; the converter's shared
/// passes then quantize every layer not already coded (`RecipeGraph.quantizeRest`).
struct PlainRecipe: Recipe {
    let name = "plain"

    func detect(_ checkpoint: Checkpoint) -> String? { nil }

    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph] {
        let quantize = options.plain.bits != 32 || options.plain.firstLastBits != 32
        return [RecipeGraph(model: model, activations: quantize ? .uint8 : options.methodActivations,
                            quantizeRest: quantize ? options.plain : nil, findsValueGrids: quantize)]
    }

    /// "w4 uniform (first/last w8), a: ..." (and how many layers were kept on value grids), "f32", or for a
    /// network already on value grids what was kept.
    func precision(_ main: LoweredGraph, widths: [Int], options: ConversionOptions) -> String {
        let kept = main.valueGrids.grids.count
        if main.valueGrids.alreadyQuantized {
            let coded = main.layers.filter { $0.bits != 32 && main.valueGrids.grids[$0.name] != nil }
            let parts = (coded.isEmpty ? [] : ["\(coded.count) layers coded (" + Set(coded.map(\.format)).sorted().joined(separator: ", ") + ")"])
                + (kept == coded.count ? [] : ["\(kept - coded.count) kept exact f32 (more levels than the kernels take)"])
                + (main.layers.count == kept ? [] : ["\(main.layers.count - kept) float layers f32"])
            return "already quantized: " + parts.joined(separator: ", ") + ", a: " + main.activations
        }
        guard main.layers.contains(where: { $0.bits != 32 }) else { return "f32" }
        let p = options.plain
        return "w\(p.bits) \(p.scheme.rawValue) (first/last w\(p.firstLastBits)), a: \(main.activations)"
            + (kept == 0 ? "" : "; kept on value grids: \(kept) of \(main.layers.count) layers")
    }

    func provenance(evidence: String, widths: [Int], notes: [String], options: ConversionOptions) -> [String: String] {
        var entries = ["recipe": "plain", "bits": "\(options.plain.bits)", "scheme": options.plain.scheme.rawValue,
                       "first_last_bits": "\(options.plain.firstLastBits)"]
        if let clip = options.plain.clip { entries["clip"] = clip.rawValue }
        return entries
    }
}

/// Quantizes every float conv/linear's weights (first and last at `firstLastBits`; layers already coded,
/// and those in `keeping`, are left as they are) and returns their rows of the per-layer table by name.
/// With `calibration`, its input patches correct each layer's bias and choose `auto` clipping.
func applyPlainRecipe(_ model: inout FloatModel, options: PlainOptions, calibration: CalibrationData?,
                      keeping: Set<String> = []) throws -> [String: LayerReport] {
    let weightNodes = model.graph.weightLayerIndices
    var reports: [String: LayerReport] = [:]
    for i in weightNodes where !keeping.contains(model.graph.nodes[i].name) {
        let node = model.graph.nodes[i]
        let edge = i == weightNodes.first || i == weightNodes.last
        let bits = edge ? options.firstLastBits : options.bits
        let scheme: WeightScheme = edge ? .uniform : options.scheme
        var descriptor: WeightDescriptor
        switch node.op {
        case .conv2d(let c): descriptor = c.weight
        case .linear(let l): descriptor = l.weight
        default: continue
        }
        guard descriptor.scheme == .float32 else { continue }
        let w = model.tensors[descriptor.values!]!
        let (rows, k) = (w.shape[0], w.shape[1])
        let floats = w.floats
        var report = LayerReport(name: node.name, op: node.op.kind, shape: w.shape, format: "f32", bits: 32,
                                 bytes: w.bytes.count, floatBytes: w.bytes.count, sqnrDB: nil, clip: nil)
        if bits != 32 {
            let (q, clipUsed) = quantizeLayer(floats, rows: rows, k: k, bits: bits, scheme: scheme,
                                              clip: options.clip, patches: calibration?.patches[node.name])
            let name = node.name
            var groups = 1
            if case .conv2d(let c) = node.op { groups = c.groups }
            let packed = packCodes(q.codes, rows: rows, k: k, bits: bits, groups: groups)
            let packedRows = WeightDescriptor.packedRows(rows: rows, groups: groups)
            model.tensors.remove(descriptor.values!)
            model.tensors.set("\(name).codes", StoredTensor(dtype: .u8, shape: [packedRows, packed.count / packedRows], bytes: packed))
            model.tensors.set("\(name).scale", StoredTensor(floats: q.scales, shape: [rows]))
            descriptor = WeightDescriptor(scheme: q.scheme, bits: bits, codes: "\(name).codes", lut: q.lut,
                                          scale: "\(name).scale", levels: q.levels)
            report.format = descriptor.label
            report.bits = bits
            report.bytes = packed.count + rows * 4 + (q.lut?.count ?? 0)
            let dequantized = q.dequantized()
            report.sqnrDB = sqnr(floats, dequantized)
            report.clip = clipUsed
            if let patches = calibration?.patches[node.name], !patches.isEmpty, let biasName = node.op.biasName,
               let bias = model.tensors[biasName] {
                let corrected = correctBias(bias.floats, weights: floats, quantized: dequantized, rows: rows, k: k, patches: patches)
                model.tensors.set(biasName, StoredTensor(floats: corrected, shape: bias.shape))
            }
            switch node.op {
            case .conv2d(var c): c.weight = descriptor; model.graph.nodes[i].op = .conv2d(c)
            case .linear(var l): l.weight = descriptor; model.graph.nodes[i].op = .linear(l)
            default: break
            }
        }
        if let bias = (node.op.biasName) { report.bytes += model.tensors[bias]?.bytes.count ?? 0; report.floatBytes += model.tensors[bias]?.bytes.count ?? 0 }
        reports[node.name] = report
    }
    return reports
}

/// Quantizes one layer; resolves `auto` clipping by comparing layer-output error on calibration patches.
private func quantizeLayer(_ w: [Float], rows: Int, k: Int, bits: Int, scheme: WeightScheme, clip: ClipMode?,
                           patches: [[Float]]?) -> (QuantizedWeights, String?) {
    if scheme == .codebook { return (quantizeCodebook(rows: w, rows: rows, k: k, bits: bits), nil) }
    if scheme == .shift { return (quantizeShift(rows: w, rows: rows, k: k, bits: bits), nil) }
    let mode = clip ?? .max
    guard mode == .auto else { return (quantizeUniform(rows: w, rows: rows, k: k, bits: bits, clip: mode), mode.rawValue) }
    let byMax = quantizeUniform(rows: w, rows: rows, k: k, bits: bits, clip: .max)
    let byMSE = quantizeUniform(rows: w, rows: rows, k: k, bits: bits, clip: .mse)
    guard let patches, !patches.isEmpty else { return (byMax, "max") }
    let errorMax = outputError(w, byMax.dequantized(), rows: rows, k: k, patches: patches)
    let errorMSE = outputError(w, byMSE.dequantized(), rows: rows, k: k, patches: patches)
    return errorMSE < errorMax ? (byMSE, "mse") : (byMax, "max")
}

/// Bias correction (Nagel et al. 2019, "Data-free quantization"): quantizing W shifts the expected output
/// by E[x] . (q_r - w_r); adding mu . (w_r - q_r) to the bias, with mu the mean calibration input patch,
/// removes that shift.
private func correctBias(_ bias: [Float], weights w: [Float], quantized q: [Float], rows: Int, k: Int,
                         patches: [[Float]]) -> [Float] {
    var mean = [Double](repeating: 0, count: k)
    var count = 0
    for p in patches where p.count == k {
        for j in 0..<k { mean[j] += Double(p[j]) }
        count += 1
    }
    guard count > 0 else { return bias }
    var out = bias
    for r in 0..<rows {
        var shift = 0.0
        for j in 0..<k { shift += mean[j] / Double(count) * Double(w[r * k + j] - q[r * k + j]) }
        out[r] += Float(shift)
    }
    return out
}

/// sum over patches p and rows r of (p . (w_r - q_r))^2.
private func outputError(_ w: [Float], _ q: [Float], rows: Int, k: Int, patches: [[Float]]) -> Double {
    let diff = zip(w, q).map { $0 - $1 }
    var total = 0.0
    for p in patches where p.count == k {
        for r in 0..<rows {
            var dot: Float = 0
            for j in 0..<k { dot += p[j] * diff[r * k + j] }
            total += Double(dot * dot)
        }
    }
    return total
}

extension Op {
    /// The bias tensor of a conv or linear.
    var biasName: String? {
        switch self {
        case .conv2d(let c): return c.bias
        case .linear(let l): return l.bias
        default: return nil
        }
    }
}
