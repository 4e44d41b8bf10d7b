// The conversion driver: checkpoint -> float graph -> passes -> recipe -> packed .lbm file.
import Foundation
import QCheckpoint
import QGraph

/// Everything `qconvert` can ask for.
public struct ConversionOptions: Sendable {
    public var plain = PlainOptions()
    /// nil or "auto": recognise from key names and shapes.
    public var arch: String?
    /// A folder of PPM/PGM images or a labels.csv; nil: dynamic activation quantization.
    public var calibration: URL?
    public var calibrationCount = 256
    public var inputSize: [Int]?
    public var mean: [Float]?
    public var std: [Float]?
    /// Shorter-side resize before the center crop; 0 clears the family default.
    public var resize: Int?
    /// A text file with one label per line.
    public var labels: URL?

    public init() {}
}

/// What a conversion did, for the per-layer table and `--json`.
public struct ConversionReport: Codable, Sendable {
    public var source: String
    public var sourceFormat: String
    public var wrapper: String
    public var output: String
    public var arch: String
    public var archEvidence: String
    public var recipe: String
    public var precision: String
    public var activations: String
    public var calibrationImages: Int
    public var preprocessing: Preprocessing
    public var labels: Int
    public var layers: [LayerReport]
    public var floatWeightBytes: Int
    public var weightBytes: Int
    public var fileBytes: Int
    public var compression: Double
    public var seconds: Double
}

/// Converts float checkpoints with the plain recipe.
public enum Converter {
    /// Reads `checkpoint`, converts it and writes `output` atomically. `progress` receives a stage name and
    /// a fraction in [0, 1].
    public static func convert(checkpoint url: URL, to output: URL, options: ConversionOptions,
                               progress: (String, Double) -> Void = { _, _ in }) throws -> ConversionReport {
        let start = Date()
        progress("reading checkpoint", 0)
        let checkpoint = try Checkpoint.load(contentsOf: url)
        var (model, evidence) = try Architectures.build(checkpoint, override: options.arch)
        try applyOverrides(&model, options)

        try foldBatchNorm(&model)
        fuseResidualAdd(&model.graph)
        fuseActivation(&model.graph)

        var calibration: CalibrationData?
        if let source = options.calibration, options.plain.bits != 32 || options.plain.firstLastBits != 32 {
            let images = try calibrationImages(source, count: options.calibrationCount)
            let layers = Set(model.graph.nodes.filter { $0.op.biasName != nil || isWeightLayer($0.op) }.map(\.name))
            calibration = try calibrate(graph: model.graph, tensors: model.tensors, preprocessing: model.preprocessing,
                                        images: images, sampledLayers: layers) { done, total in
                progress("calibrating", Double(done) / Double(total) * 0.8)
            }
        }
        progress("quantizing", 0.85)
        let layers = try applyPlainRecipe(&model, options: options.plain, calibration: calibration)
        let quantized = layers.contains { $0.bits != 32 }
        let activations = !quantized ? "f32" : calibration == nil ? "u8 dynamic (per tensor, at run time)"
            : "u8 static (calibrated on \(calibration!.imageCount) images)"
        let precision = quantized
            ? "w\(options.plain.bits) \(options.plain.scheme.rawValue) (first/last w\(options.plain.firstLastBits)), a: \(activations)"
            : "f32"

        var provenance = ["source": url.lastPathComponent, "source_sha256": try sha256Hex(of: url),
                          "converter": "qconvert \(LowBitVersion.string)", "recipe": "plain",
                          "bits": "\(options.plain.bits)", "scheme": options.plain.scheme.rawValue,
                          "first_last_bits": "\(options.plain.firstLastBits)"]
        if let clip = options.plain.clip { provenance["clip"] = clip.rawValue }
        let info = ModelInfo(name: url.deletingPathExtension().lastPathComponent, arch: model.arch, recipe: "plain",
                             precision: precision, labels: model.labels, preprocessing: model.preprocessing,
                             provenance: provenance)
        progress("writing", 0.95)
        try ModelArchive.write(graph: model.graph, info: info, tensors: model.tensors, to: output)
        progress("done", 1)

        let floatBytes = layers.reduce(0) { $0 + $1.floatBytes }, weightBytes = layers.reduce(0) { $0 + $1.bytes }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        return ConversionReport(
            source: url.path, sourceFormat: checkpoint.format.rawValue, wrapper: checkpoint.wrapper, output: output.path,
            arch: model.arch, archEvidence: evidence, recipe: "plain", precision: precision, activations: activations,
            calibrationImages: calibration?.imageCount ?? 0, preprocessing: model.preprocessing,
            labels: model.labels.count, layers: layers, floatWeightBytes: floatBytes, weightBytes: weightBytes,
            fileBytes: fileBytes, compression: weightBytes > 0 ? Double(floatBytes) / Double(weightBytes) : 1,
            seconds: Date().timeIntervalSince(start))
    }

    private static func isWeightLayer(_ op: Op) -> Bool {
        switch op {
        case .conv2d, .linear: return true
        default: return false
        }
    }

    private static func applyOverrides(_ model: inout FloatModel, _ options: ConversionOptions) throws {
        var p = model.preprocessing
        if let size = options.inputSize { p.inputSize = size }
        if let mean = options.mean { p.mean = mean }
        if let std = options.std { p.std = std }
        if let resize = options.resize { p.resize = resize == 0 ? nil : resize }
        try p.validate()
        if p.inputSize != model.preprocessing.inputSize {
            // Re-infer shapes for the new input size.
            var g = Graph(input: Value(name: model.graph.input, shape: p.inputSize + [model.graph.value(model.graph.input)!.shape[2]]))
            for node in model.graph.nodes { try g.append(node.output, node.op, inputs: node.inputs) }
            for i in g.nodes.indices { g.nodes[i].name = model.graph.nodes[i].name }
            model.graph = g
        }
        model.preprocessing = p
        if let labelsURL = options.labels {
            let text: String
            do { text = try String(contentsOf: labelsURL, encoding: .utf8) } catch {
                throw ConvertError("cannot read labels file \(labelsURL.path): \(error.localizedDescription)")
            }
            let labels = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let classes = model.graph.value(model.graph.output)!.elementCount
            guard labels.count == classes else {
                throw ConvertError("labels file \(labelsURL.path) has \(labels.count) labels, the network has \(classes) outputs")
            }
            model.labels = labels
        }
    }
}

/// The LowBit release this build reports.
public enum LowBitVersion {
    public static let string = "0.1.0"
}
