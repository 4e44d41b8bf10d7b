// The conversion driver: checkpoint -> float graph -> passes -> recipe -> packed .lbm file.
import Foundation
import QCheckpoint
import QGraph

/// Everything `qconvert` can ask for.
public struct ConversionOptions: Sendable {
    public var plain = PlainOptions()
    /// Method recipes (dgms, s3, deepshift, binaryconnect).
    public var method = MethodOptions()
    /// nil or "auto": recognise the training method from key names (or values); else a recipe name.
    public var recipe: String?
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
    /// Why this recipe: the keys that identified the method, or the --recipe flag.
    public var recipeEvidence: String
    /// What the recipe did (e.g. how many weights a rule sent to 0).
    public var recipeNotes: [String]
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

extension ConversionReport {
    /// The report of a conversion whose file is written: its size on disk, the compression of the weights
    /// (float32 bytes / stored bytes, from `layers` unless given) and the time since `start`.
    init(checkpoint: Checkpoint, output: URL, arch: String, archEvidence: String, recipe: String, recipeEvidence: String,
         recipeNotes: [String], precision: String, activations: String, calibrationImages: Int,
         preprocessing: Preprocessing, labels: Int, layers: [LayerReport], floatWeightBytes: Int? = nil,
         weightBytes: Int? = nil, start: Date) {
        let floatBytes = floatWeightBytes ?? layers.reduce(0) { $0 + $1.floatBytes }
        let stored = weightBytes ?? layers.reduce(0) { $0 + $1.bytes }
        self.init(source: checkpoint.url.path, sourceFormat: checkpoint.format.rawValue, wrapper: checkpoint.wrapper,
                  output: output.path, arch: arch, archEvidence: archEvidence, recipe: recipe, recipeEvidence: recipeEvidence,
                  recipeNotes: recipeNotes, precision: precision, activations: activations,
                  calibrationImages: calibrationImages, preprocessing: preprocessing, labels: labels, layers: layers,
                  floatWeightBytes: floatBytes, weightBytes: stored,
                  fileBytes: (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0,
                  compression: stored > 0 ? Double(floatBytes) / Double(stored) : 1,
                  seconds: Date().timeIntervalSince(start))
    }
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
        let (recipe, recipeEvidence) = try MethodRecipes.resolve(options.recipe, checkpoint)
        if let anyPrecision = recipe as? AnyPrecisionRecipe {
            return try convertRunTimeBits(anyPrecision, evidence: recipeEvidence, checkpoint: checkpoint, url: url,
                                          to: output, options: options, start: start, progress: progress)
        }
        if let recipe {
            return try convertMethod(recipe, evidence: recipeEvidence, checkpoint: checkpoint, url: url, to: output,
                                     options: options, start: start, progress: progress)
        }
        var (model, evidence) = try Architectures.build(checkpoint, override: options.arch)
        try applyOverrides(&model, options)

        let foldFactors = try foldBatchNorm(&model)
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
        // ── Value grids (issue #15): layers whose stored weights are already on a low-bit grid are packed
        // exactly and skipped by the plain quantizer; an already-quantized network stays on the exact path.
        // Recipes/PlainValueGrids.swift (wraps applyPlainRecipe), Passes/ValueGrid.swift (the detection).
        let plain = try applyPlainRecipeKeepingValueGrids(&model, checkpoint: checkpoint, foldFactors: foldFactors,
                                                          options: options, calibration: calibration)
        let (layers, activations, precision) = (plain.layers, plain.activations, plain.precision)
        // ──

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
        return ConversionReport(
            checkpoint: checkpoint, output: output, arch: model.arch, archEvidence: evidence, recipe: "plain",
            recipeEvidence: recipeEvidence, recipeNotes: plain.notes, precision: precision, activations: activations,
            calibrationImages: calibration?.imageCount ?? 0, preprocessing: model.preprocessing,
            labels: model.labels.count, layers: layers, start: start)
    }

    /// A method recipe's conversion: exact effective weights -> graph -> round_to_fixed inputs -> BatchNorm
    /// folded (unless the recipe keeps it on the f32 path) -> codes packed with the folded scales -> f32 activations (the method's own inference, exact)
    /// or u8 activations (integer kernels; calibrated with --calibrate, else dynamic).
    private static func convertMethod(_ recipe: MethodRecipe, evidence recipeEvidence: String, checkpoint: Checkpoint,
                                      url: URL, to output: URL, options: ConversionOptions, start: Date,
                                      progress: (String, Double) -> Void) throws -> ConversionReport {
        progress("applying \(recipe.name)", 0.1)
        let prepared = try recipe.prepare(checkpoint, options: options.method)
        var (model, evidence) = try Architectures.build(prepared.checkpoint, override: options.arch)
        model.preprocessing = recipe.preprocessing(arch: model.arch, familyDefault: model.preprocessing)
        try applyOverrides(&model, options)
        try insertInputRounding(&model.graph, prepared.roundInputs)
        let keepBatchNorm = options.method.activations == .f32 && !recipe.foldsBatchNormOnFloatPath
        let factors = keepBatchNorm ? [:] : try foldBatchNorm(&model)
        fuseResidualAdd(&model.graph)
        fuseActivation(&model.graph)
        progress("packing", 0.5)
        let layers = try applyMethodLayers(&model, layers: prepared.layers, foldFactors: factors)
        var activations = "f32 (weights-only quantization: exact weights, the method's float inference)"
        var calibrationCount = 0
        if options.method.activations == .u8 {
            var ranges: [String: (min: Float, max: Float)]?
            if let source = options.calibration {
                let images = try calibrationImages(source, count: options.calibrationCount)
                let data = try calibrate(graph: model.graph, tensors: model.tensors, preprocessing: model.preprocessing,
                                         images: images, sampledLayers: []) { done, total in
                    progress("calibrating", 0.5 + Double(done) / Double(total) * 0.4)
                }
                ranges = data.ranges
                calibrationCount = data.imageCount
            }
            try assignActivationTypes(&model.graph, ranges: ranges)
            activations = ranges == nil ? "u8 dynamic (per tensor, at run time)" : "u8 static (calibrated on \(calibrationCount) images)"
        }
        let quantized = layers.filter { $0.bits != 32 }
        let precision = "\(recipe.name): \(quantized.count) of \(layers.count) layers coded ("
            + Set(quantized.map(\.format)).sorted().joined(separator: ", ") + "), a: " + activations
        let info = ModelInfo(name: url.deletingPathExtension().lastPathComponent, arch: model.arch, recipe: recipe.name,
                             precision: precision, labels: model.labels, preprocessing: model.preprocessing,
                             provenance: ["source": url.lastPathComponent, "source_sha256": try sha256Hex(of: url),
                                          "converter": "qconvert \(LowBitVersion.string)", "recipe": recipe.name,
                                          "recipe_evidence": recipeEvidence, "activations": options.method.activations.rawValue,
                                          "notes": prepared.notes.joined(separator: "; ")])
        progress("writing", 0.95)
        try ModelArchive.write(graph: model.graph, info: info, tensors: model.tensors, to: output)
        progress("done", 1)
        return ConversionReport(
            checkpoint: checkpoint, output: output, arch: model.arch, archEvidence: evidence, recipe: recipe.name,
            recipeEvidence: recipeEvidence, recipeNotes: prepared.notes, precision: precision, activations: activations,
            calibrationImages: calibrationCount, preprocessing: model.preprocessing, labels: model.labels.count,
            layers: layers, start: start)
    }

    private static func isWeightLayer(_ op: Op) -> Bool {
        switch op {
        case .conv2d, .linear: return true
        default: return false
        }
    }

    static func applyOverrides(_ model: inout FloatModel, _ options: ConversionOptions) throws {
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
