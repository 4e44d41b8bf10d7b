// Pass: weights already on a low-bit value grid (ValueGrid.swift) are kept exactly, whatever the recipe:
// such layers get exact codes (or keep their exact f32 weights) and post-training quantization leaves
// them alone; a network that is mostly on grids is taken as already quantized and runs exactly.
import QGraph

/// What the value-grid pass kept in one graph.
struct KeptValueGrids: Sendable {
    /// Layer name -> its grid (codes, or exact f32 when it has more levels than the kernels take).
    var grids: [String: ValueGrid] = [:]
    /// Grid layers hold more than half of the weights: the network was quantized before, so its other
    /// layers stay f32 (no post-training quantization) and activations follow `--activations`.
    var alreadyQuantized = false
    /// For the report.
    var notes: [String] = []
}

/// The grid of every float conv/linear of `model` not in `skipping`, read in PyTorch's layout before
/// BatchNorm folding (the codes' layout, as applyMethodLayers takes them).
func findValueGridLayers(_ model: FloatModel, skipping: Set<String> = []) -> [String: ValueGrid] {
    var grids: [String: ValueGrid] = [:]
    for index in model.graph.weightLayerIndices {
        let name = model.graph.nodes[index].name
        guard !skipping.contains(name), let (w, shape) = model.pytorchWeights(of: name) else { continue }
        if let grid = findValueGrid(w, rows: shape[0], k: w.count / shape[0]) { grids[name] = grid }
    }
    return grids
}

/// Finds the grid layers among the layers `graph`'s recipe left float, adds their codes to the graph's,
/// and, when they hold most of the weights, turns post-training quantization off (the exact path).
func keepValueGrids(_ graph: inout RecipeGraph, options: ConversionOptions) -> KeptValueGrids {
    guard graph.findsValueGrids else { return KeptValueGrids() }
    let declared = graph.model.declared
    var kept = KeptValueGrids(grids: findValueGridLayers(graph.model, skipping: Set(graph.codes.keys).union(declared.weights.keys)))
    guard !kept.grids.isEmpty || !declared.weights.isEmpty else { return kept }
    let found = kept.grids.count
    kept.grids.merge(declared.weights) { _, file in file }
    graph.codes.merge(kept.grids.compactMapValues(\.codes)) { recipe, _ in recipe }
    let sizes = graph.model.graph.weightLayerIndices.map { i -> (String, Int) in
        let name = graph.model.graph.nodes[i].name
        return (name, graph.model.pytorchWeights(of: name)?.values.count ?? 0)
    }
    let gridWeights = sizes.filter { kept.grids[$0.0] != nil }.reduce(0) { $0 + $1.1 }
    let allWeights = sizes.reduce(0) { $0 + $1.1 }
    if !declared.weights.isEmpty {
        kept.notes.append("quantized in the file: \(declared.weights.count) of \(sizes.count) layers keep the file's codes and scales: "
            + summarize(declared.weights.values.map(\.description)))
    }
    if found > 0 {
        let grids = kept.grids.filter { declared.weights[$0.key] == nil }
        kept.notes.append("value grids: \(found) of \(sizes.count) layers already on low-bit grids, kept exactly: "
            + summarize(grids.values.map(\.description)))
    }
    if graph.quantizeRest != nil && 2 * gridWeights > allWeights {
        kept.alreadyQuantized = true
        graph.quantizeRest = nil
        // the file's own activation quantization (QDQ) makes the graph u8; else --activations decides
        graph.activations = declared.activations.isEmpty ? options.methodActivations : .uint8
        kept.notes.append("already quantized (kept layers hold \(gridWeights) of \(allWeights) weights): the other layers stay f32, "
            + "--bits \(options.plain.bits) / --first-last-bits \(options.plain.firstLastBits) not applied")
    }
    return kept
}

/// Counts of grid descriptions that differ only in their first number word, with that number as a range:
/// ["exact f32, 20 levels", "exact f32, 31 levels", "uniform 3-bit per channel"] -> "2 x exact f32, 20-31
/// levels; 1 x uniform 3-bit per channel".
func summarize(_ descriptions: [String]) -> String {
    var groups: [String: (count: Int, numbers: [Int])] = [:]
    for text in descriptions {
        let start = text.indices.first { $0 > text.startIndex && text[$0].isNumber && text[text.index(before: $0)] == " " }
        let digits = start.map { text[$0...].prefix { $0.isNumber } } ?? text[text.endIndex...]
        let key = digits.isEmpty ? text : text.replacingCharacters(in: digits.startIndex..<digits.endIndex, with: "#")
        groups[key, default: (0, [])].count += 1
        if let n = Int(digits) { groups[key]!.numbers.append(n) }
    }
    return groups.sorted { $0.key < $1.key }.map { key, group in
        let (lo, hi) = (group.numbers.min(), group.numbers.max())
        let number = lo == nil ? "" : lo == hi ? "\(lo!)" : "\(lo!)-\(hi!)"
        return "\(group.count) x " + key.replacingOccurrences(of: "#", with: number)
    }.joined(separator: "; ")
}
