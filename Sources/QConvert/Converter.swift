// The converter's one data flow: checkpoint -> (recipe's source view) -> graph source: float graph ->
// recipe pass: one graph per run-time width, with exact codes and activation rewrites -> shared passes
// (Lowering.swift: value grids, BatchNorm folding, fusion, packing, post-training quantization, activation
// types) -> one .lbm file (ModelOutput.swift). docs/ARCHITECTURE.md draws it.
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
    /// A folder of images (PPM/PGM/PNM, JPEG, PNG) or a labels.csv; nil: `uncalibratedRanges`.
    public var calibration: URL?
    public var calibrationCount = 256
    /// Without `calibration`, the plain recipe's u8 activation ranges: data-free (static, from the BatchNorm
    /// statistics where they model a value, DataFreeStatistics.swift; run time elsewhere), or dynamic (all
    /// at run time). docs/PTQ.md "Without calibration" measures both; method recipes stay dynamic.
    public var uncalibratedRanges = UncalibratedRanges.dataFree
    /// Data-free ranges: the standard deviations each side of a channel's mean.
    public var rangeSigmas = DataFreeStatistics.defaultSigmas
    /// Without `calibration`, `round` corrects each layer's bias for its rounding with the input means the
    /// BatchNorm statistics give.
    public var dataFreeBiasCorrection = true
    public var inputSize: [Int]?
    public var mean: [Float]?
    public var std: [Float]?
    /// Shorter-side resize before the center crop; 0 clears the family default.
    public var resize: Int?
    /// true: resample like PIL's bilinear filter (antialiased when downscaling, as torchvision's Resize on PIL
    /// images); false: plain bilinear; nil: the family default (antialiased for ImageNet families).
    public var antialias: Bool?
    /// A text file with one label per line.
    public var labels: URL?

    public init() {}
}

extension ConversionOptions {
    /// The activation typing a method recipe's `--activations` asks for.
    var methodActivations: ActivationTyping { method.activations == .u8 ? .uint8 : .float }
}

/// Converts checkpoints: the recipe the checkpoint's tensors call for (or `--recipe`), else plain
/// post-training quantization.
public enum Converter {
    /// Reads `checkpoint`, converts it and writes `output` atomically. `progress` receives a stage name and
    /// a fraction in [0, 1].
    public static func convert(checkpoint url: URL, to output: URL, options: ConversionOptions,
                               progress: (String, Double) -> Void = { _, _ in }) throws -> ConversionReport {
        let start = Date()
        progress("reading checkpoint", 0)
        let input = try ConverterInput.open(url)
        let checkpoint = input.checkpoint
        let (recipe, recipeEvidence) = try Recipes.resolve(options.recipe, checkpoint)
        var options = options
        if options.method.activations == nil { options.method.activations = recipe.defaultActivations }

        let source = input.graphSource(try recipe.sourceCheckpoint(checkpoint, options: options), options: options)
        var (model, archEvidence) = try source.floatModel(arch: options.arch)
        model.preprocessing = recipe.preprocessing(arch: model.arch, familyDefault: model.preprocessing)
        try applyOverrides(&model, options)

        progress("applying \(recipe.name)", 0.1)
        let graphs = try recipe.apply(model, checkpoint: checkpoint, options: options)
        var lowered: [LoweredGraph] = []
        for (i, graph) in graphs.enumerated() {
            let done = Double(i) / Double(graphs.count), share = 0.8 / Double(graphs.count)
            lowered.append(try lower(graph, options: options) { stage, f in
                progress(graphs.count > 1 ? "\(graph.bits ?? 0)-bit graph: \(stage)" : stage, 0.1 + 0.8 * done + share * f)
            })
        }
        progress("writing", 0.95)
        let report = try writeModel(lowered, recipe: recipe, recipeEvidence: recipeEvidence, archEvidence: archEvidence,
                                    notes: lowered.flatMap(\.notes), checkpoint: checkpoint, to: output, options: options,
                                    start: start)
        progress("done", 1)
        return report
    }

    static func applyOverrides(_ model: inout FloatModel, _ options: ConversionOptions) throws {
        var p = model.preprocessing
        if let size = options.inputSize { p.inputSize = size }
        if let mean = options.mean { p.mean = mean }
        if let std = options.std { p.std = std }
        if let resize = options.resize { p.resize = resize == 0 ? nil : resize }
        if let antialias = options.antialias { p.antialias = antialias }
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
