// The `plain` recipe: post-training quantization of a float network.
import Foundation
import QCheckpoint
import QGraph
import QRuntime

/// Options of the plain recipe.
public struct PlainOptions: Sendable {
    /// Weight bits of the body layers (2, 3, 4, 8, or 32 for float).
    public var bits: Int = 4
    public var scheme: WeightScheme = .uniform
    /// Bits of the first conv and the last linear (8 or 32).
    public var firstLastBits: Int = 8
    /// nil: `max` (measured on ResNet-20 w4, full CIFAR-10 test set: max 80.08, auto 79.13, float 81.03).
    /// Round-to-nearest only: GPTQ chooses each channel's clip by the calibration output error.
    public var clip: ClipMode?
    /// nil: `gptq` when calibrating and bits <= 4, else `round`.
    public var ptq: PTQMethod?
    /// With calibration: layers whose weight rounding alone moves the network's output more than this
    /// factor x the median layer's stay float (PrecisionFallback.swift); 0: none.
    public var floatFallback: Double = 0
    /// Calibration images the fallback measures on at most (spread over the calibration set).
    public static let fallbackImages = 32

    public init() {}

    /// The method a conversion with (or without) calibration images uses.
    func method(calibrated: Bool) -> PTQMethod {
        ptq ?? (calibrated && bits <= 4 ? .gptq : .round)
    }
}

/// How post-training quantization rounds the weights.
public enum PTQMethod: String, Sendable, CaseIterable {
    /// Hessian-aware rounding (GPTQ.swift) layer by layer through the partially quantized network, then bias
    /// correction against the float network; needs calibration images.
    case gptq
    /// Round to nearest per channel; with calibration, bias correction and `auto` clipping on sampled patches.
    case round
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
        let gptq = p.method(calibrated: options.calibration != nil) == .gptq ? " gptq" : ""
        return "w\(p.bits) \(p.scheme.rawValue)\(gptq) (first/last w\(p.firstLastBits)), a: \(main.activations)"
            + (kept == 0 ? "" : "; kept on value grids: \(kept) of \(main.layers.count) layers")
    }

    func provenance(evidence: String, widths: [Int], notes: [String], options: ConversionOptions) -> [String: String] {
        var entries = ["recipe": "plain", "bits": "\(options.plain.bits)", "scheme": options.plain.scheme.rawValue,
                       "first_last_bits": "\(options.plain.firstLastBits)"]
        if let clip = options.plain.clip { entries["clip"] = clip.rawValue }
        if options.calibration != nil { entries["float_fallback"] = String(format: "%g", options.plain.floatFallback) }
        if options.plain.method(calibrated: options.calibration != nil) == .gptq {
            entries["ptq"] = "gptq"
            entries["calibration_count"] = "\(options.calibrationCount)"
        }
        return entries
    }
}

/// Quantizes every float conv/linear's weights (first and last at `firstLastBits`; layers already coded,
/// and those in `keeping`, are left as they are) and returns their rows of the per-layer table by name.
/// `round`: each layer alone, with `calibration`'s input patches correcting its bias and choosing `auto`
/// clipping. `gptq` (needs `calibration` and its `images`): layer by layer through the network as it will
/// run (HessianCalibration.swift), each rounded against its inputs' H, then each output channel's mean over
/// the calibration set, and for `batchNormLayers` (BatchNorm folded in) its variance, set to the float
/// network's (`calibration.inputStatistics`, OutputCorrection.swift). `round` without calibration patches
/// corrects the bias of the layers `inputMeans` names with those mean im2col rows (per conv group; data-free,
/// DataFreeStatistics.swift).
func applyPlainRecipe(_ model: inout FloatModel, options: PlainOptions, calibration: CalibrationData?, images: [URL] = [],
                      keeping: Set<String> = [], batchNormLayers: Set<String> = [], inputMeans: [String: [[Double]]] = [:],
                      progress: (Double) -> Void = { _ in }) throws -> [String: LayerReport] {
    let weightNodes = model.graph.weightLayerIndices
    var reports: [String: LayerReport] = [:]
    var targets: [String: (bits: Int, scheme: WeightScheme)] = [:]
    for i in weightNodes where !keeping.contains(model.graph.nodes[i].name) {
        let node = model.graph.nodes[i]
        let edge = i == weightNodes.first || i == weightNodes.last
        let bits = edge ? options.firstLastBits : options.bits
        guard let descriptor = node.op.weightDescriptor, descriptor.scheme == .float32 else { continue }
        if bits == 32 {
            reports[node.name] = layerReport(model, node: node)
        } else {
            targets[node.name] = (bits, edge ? .uniform : options.scheme)
        }
    }
    if calibration != nil, !images.isEmpty, options.floatFallback > 0 {
        let n = min(images.count, PlainOptions.fallbackImages)
        let inputs = try (0..<n).map {
            try Preprocessor.apply(model.preprocessing, to: ImageReader.read(contentsOf: images[$0 * images.count / n]))
        }
        let fallback = FloatFallback(try weightSensitivities(model, bits: targets.mapValues(\.bits), inputs: inputs),
                                     factor: options.floatFallback)
        for name in fallback.layers {
            let i = model.graph.nodes.firstIndex { $0.name == name }!
            var report = layerReport(model, node: model.graph.nodes[i])
            report.note = fallback.note(name, bits: targets[name]!.bits, factor: options.floatFallback)
            reports[name] = report
            targets[name] = nil
        }
    }
    let method = options.method(calibrated: calibration != nil)
    if method == .round {
        for i in weightNodes where targets[model.graph.nodes[i].name] != nil {
            let node = model.graph.nodes[i], target = targets[node.name]!
            let w = model.tensors[node.op.weightDescriptor!.values!]!
            let (q, clipUsed) = quantizeLayer(w.floats, rows: w.shape[0], k: w.shape[1], bits: target.bits, scheme: target.scheme,
                                              clip: options.clip, patches: calibration?.patches[node.name])
            let mean = calibration?.patches[node.name].flatMap(meanPatch)
            let dataFree = mean == nil ? inputMeans[node.name].map {
                weightErrorShift(weights: w.floats, quantized: q.dequantized(), rows: w.shape[0], k: w.shape[1], groupMeans: $0)
            } : nil
            reports[node.name] = storeQuantized(&model, node: i, q, clip: clipUsed,
                                                bias: mean.map { .weightError(mean: $0) } ?? dataFree.map { .shift($0) })
        }
        return reports
    }
    guard let calibration, !images.isEmpty else {
        throw ConvertError("--ptq gptq needs calibration images (--calibrate)")
    }
    let inputs = try images.map { try Preprocessor.apply(model.preprocessing, to: ImageReader.read(contentsOf: $0)) }
    try quantizeLayerByLayer(&model, inputs: inputs, layers: Set(targets.keys), ranges: calibration.ranges,
                             floatStatistics: calibration.inputStatistics, quantize: { model, name, statistics in
        let i = model.graph.nodes.firstIndex { $0.name == name }!
        let target = targets[name]!
        guard let weights = model.graph.nodes[i].op.weightDescriptor?.values, let w = model.tensors[weights] else {
            throw ConvertError("layer \(name): no float weights to quantize (quantized twice?)")
        }
        var q = gptqLayer(w.floats, rows: w.shape[0], k: w.shape[1], bits: target.bits, scheme: target.scheme,
                          statistics: statistics)
        let correction = OutputCorrection(weights: w.floats, quantized: q.dequantized(), rows: w.shape[0], k: w.shape[1],
                                          float: calibration.inputStatistics[name] ?? statistics, quantized: statistics,
                                          variance: batchNormLayers.contains(name))
        q.scales = zip(q.scales, correction.channelScales).map { $0 * $1 }
        reports[name] = storeQuantized(&model, node: i, q, clip: "hessian", bias: .shift(correction.biasShift))
    }, progress: progress)
    return reports
}

/// The table row of a layer left float.
private func layerReport(_ model: FloatModel, node: Node) -> LayerReport {
    let w = model.tensors[node.op.weightDescriptor!.values!]!
    let biasBytes = node.op.biasName.flatMap { model.tensors[$0]?.bytes.count } ?? 0
    return LayerReport(name: node.name, op: node.op.kind, shape: w.shape, format: "f32", bits: 32,
                       bytes: w.bytes.count + biasBytes, floatBytes: w.bytes.count + biasBytes, sqnrDB: nil, clip: nil)
}

/// Bias correction (Nagel et al. 2019, "Data-free quantization", here measured on calibration data): the
/// bias absorbs the mean output shift quantization causes.
private enum BiasCorrection {
    /// b_r += mu . (w_r - q_r), mu the mean input patch: the shift this layer's rounding causes.
    case weightError(mean: [Double])
    /// b_r += shift[r] (OutputCorrection).
    case shift([Float])
}

/// Replaces node `i`'s float weights by `q` (packed codes and per-channel scales), corrects its bias, and
/// returns its table row.
private func storeQuantized(_ model: inout FloatModel, node i: Int, _ q: QuantizedWeights, clip: String?,
                            bias correction: BiasCorrection?) -> LayerReport {
    let node = model.graph.nodes[i]
    let wName = node.op.weightDescriptor!.values!
    let w = model.tensors[wName]!
    let (rows, k) = (w.shape[0], w.shape[1])
    let floats = w.floats
    var report = layerReport(model, node: node)
    var groups = 1
    if case .conv2d(let c) = node.op { groups = c.groups }
    let packed = packCodes(q.codes, rows: rows, k: k, bits: q.bits, groups: groups)
    let packedRows = WeightDescriptor.packedRows(rows: rows, groups: groups)
    model.tensors.remove(wName)
    model.tensors.set("\(node.name).codes", StoredTensor(dtype: .u8, shape: [packedRows, packed.count / packedRows], bytes: packed))
    model.tensors.set("\(node.name).scale", StoredTensor(floats: q.scales, shape: [rows]))
    let descriptor = WeightDescriptor(scheme: q.scheme, bits: q.bits, codes: "\(node.name).codes", lut: q.lut,
                                      scale: "\(node.name).scale", levels: q.levels)
    report.format = descriptor.label
    report.bits = q.bits
    report.bytes += packed.count + rows * 4 + (q.lut?.count ?? 0) - w.bytes.count
    let dequantized = q.dequantized()
    report.sqnrDB = sqnr(floats, dequantized)
    report.clip = clip
    if let correction, let biasName = node.op.biasName, let bias = model.tensors[biasName] {
        var corrected = bias.floats
        for r in 0..<rows {
            var shift = 0.0
            switch correction {
            case .weightError(let mean):
                for j in 0..<k { shift += mean[j] * Double(floats[r * k + j] - dequantized[r * k + j]) }
            case .shift(let shifts):
                shift = Double(shifts[r])
            }
            corrected[r] += Float(shift)
        }
        model.tensors.set(biasName, StoredTensor(floats: corrected, shape: bias.shape))
    }
    switch node.op {
    case .conv2d(var c): c.weight = descriptor; model.graph.nodes[i].op = .conv2d(c)
    case .linear(var l): l.weight = descriptor; model.graph.nodes[i].op = .linear(l)
    default: break
    }
    return report
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

/// The mean of sampled input patches, or nil when there are none.
private func meanPatch(_ patches: [[Float]]) -> [Double]? {
    guard let k = patches.first?.count else { return nil }
    var mean = [Double](repeating: 0, count: k)
    var count = 0
    for p in patches where p.count == k {
        for j in 0..<k { mean[j] += Double(p[j]) }
        count += 1
    }
    return mean.map { $0 / Double(count) }
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
    /// The weights of a conv or linear.
    var weightDescriptor: WeightDescriptor? {
        switch self {
        case .conv2d(let c): return c.weight
        case .linear(let l): return l.weight
        default: return nil
        }
    }

    /// The bias tensor of a conv or linear.
    var biasName: String? {
        switch self {
        case .conv2d(let c): return c.bias
        case .linear(let l): return l.bias
        default: return nil
        }
    }
}
