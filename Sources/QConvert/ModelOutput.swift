// The converter's output: the lowered graphs written as one .lbm file (several run-time widths over one
// shared tensor set), and the report of what the conversion did.
import Foundation
import QCheckpoint
import QGraph

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

/// Writes `graphs` to `output` atomically: one graph, or one per run-time width (the default: the widest
/// below 32 bits) over tensors shared where every width has them equal. Returns the conversion's report.
func writeModel(_ graphs: [LoweredGraph], recipe: Recipe, recipeEvidence: String, archEvidence: String, notes: [String],
                checkpoint: Checkpoint, to output: URL, options: ConversionOptions, start: Date) throws -> ConversionReport {
    guard let first = graphs.first else { throw ConvertError("\(recipe.name): the recipe made no graph") }
    let url = checkpoint.url
    let widths = graphs.compactMap(\.bits)
    let defaultBits = widths.last(where: { $0 < 32 }) ?? widths.last
    let main = graphs.first { $0.bits == defaultBits } ?? first
    var provenance = ["source": url.lastPathComponent, "source_sha256": try sha256Hex(of: url),
                      "converter": "qconvert \(LowBitVersion.string)"]
    provenance.merge(recipe.provenance(evidence: recipeEvidence, widths: widths, notes: notes, options: options)) { $1 }
    let precision = recipe.precision(main, widths: widths, options: options)
    let info = ModelInfo(name: url.deletingPathExtension().lastPathComponent, arch: main.model.arch, recipe: recipe.name,
                         precision: precision, labels: main.model.labels, preprocessing: main.model.preprocessing,
                         provenance: provenance, outputNames: main.model.outputNames)
    var layers = main.layers, floatBytes: Int?, storedBytes: Int?
    if let defaultBits, graphs.count == widths.count {
        let (merged, tensors) = mergeBitWidthTensors(Dictionary(uniqueKeysWithValues: graphs.map { ($0.bits!, ($0.model.graph, $0.model.tensors)) }))
        try ModelArchive.write(graph: merged[defaultBits]!, info: info, tensors: tensors,
                               bitWidths: BitWidthGraphs(defaultBits: defaultBits, graphs: merged), to: output)
        layers = graphs.flatMap { g in g.layers.map { var r = $0; r.name += " @\(g.bits!)b"; return r } }
        floatBytes = graphs.last!.layers.reduce(0) { $0 + $1.floatBytes }
        storedBytes = tensors.byteCount
    } else {
        try ModelArchive.write(graph: main.model.graph, info: info, tensors: main.model.tensors, to: output)
    }
    return ConversionReport(
        checkpoint: checkpoint, output: output, arch: main.model.arch, archEvidence: archEvidence, recipe: recipe.name,
        recipeEvidence: recipeEvidence, recipeNotes: notes, precision: precision, activations: main.activations,
        calibrationImages: main.calibrationImages, preprocessing: main.model.preprocessing, labels: main.model.labels.count,
        layers: layers, floatWeightBytes: floatBytes, weightBytes: storedBytes, start: start)
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
