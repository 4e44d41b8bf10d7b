// The plain recipe around weights that are already on a low-bit value grid (Passes/ValueGrid.swift): such
// layers are packed exactly, never re-quantized, and a network that is already quantized runs exactly.
import Foundation
import QCheckpoint
import QGraph

/// What the plain path did, for the report and the file's precision line.
struct PlainConversion {
    /// One row per conv/linear, in graph order.
    var layers: [LayerReport]
    var activations: String
    var precision: String
    var notes: [String]
}

/// The plain recipe, value grids first. Every conv/linear whose stored weights (the checkpoint's
/// `<layer>.weight`, before BatchNorm folding) lie on a value grid is packed exactly with its folded
/// BatchNorm factor (applyMethodLayers, as a method recipe's layers are) or, with more levels than the
/// kernels take, keeps its exact f32 weights; the plain quantizer leaves it alone and its report says
/// "kept: <grid> (--bits B not applied)". When those layers hold more than half of the weights the
/// network is already quantized: the other layers (typically the float first and last) stay f32 and
/// activations stay f32 — the exact path, as the method recipes run — unless `--activations u8`
/// (then the integer kernels, calibrated with --calibrate, else dynamic). Otherwise the plain recipe
/// quantizes the other layers as usual. `--bits 32` (a float file) skips the search.
func applyPlainRecipeKeepingValueGrids(_ model: inout FloatModel, checkpoint: Checkpoint, foldFactors: [String: [Float]],
                                       options: ConversionOptions, calibration: CalibrationData?) throws -> PlainConversion {
    var plain = options.plain
    let grids = plain.bits == 32 ? [:] : findValueGridLayers(model, checkpoint: checkpoint)
    let sizes = weightLayerSizes(model)
    let weightNodes = sizes.map(\.name)
    let flag = { (name: String) in       // the flag that would have decided the layer
        name == weightNodes.first || name == weightNodes.last
            ? "--first-last-bits \(options.plain.firstLastBits)" : "--bits \(options.plain.bits)"
    }
    var kept: [LayerReport] = []
    if !grids.isEmpty {
        for var report in try applyMethodLayers(&model, layers: grids.compactMapValues(\.codes), foldFactors: foldFactors)
        where grids[report.name] != nil {
            report.note = "kept: \(grids[report.name]!.description) (\(flag(report.name)) not applied)"
            kept.append(report)
        }
    }
    let gridWeights = sizes.filter { grids[$0.name] != nil }.reduce(0) { $0 + $1.count }
    let allWeights = sizes.reduce(0) { $0 + $1.count }
    let alreadyQuantized = !kept.isEmpty && 2 * gridWeights > allWeights
    if alreadyQuantized { plain.bits = 32; plain.firstLastBits = 32 }
    var rest = try applyPlainRecipe(&model, options: plain, calibration: calibration, keeping: Set(grids.keys))
    let order = Dictionary(uniqueKeysWithValues: weightNodes.enumerated().map { ($1, $0) })
    let u8 = calibration.map { "u8 static (calibrated on \($0.imageCount) images)" } ?? "u8 dynamic (per tensor, at run time)"
    let quantized = rest.contains { $0.bits != 32 }
    var activations = quantized ? u8 : "f32"
    var precision = quantized
        ? "w\(options.plain.bits) \(options.plain.scheme.rawValue) (first/last w\(options.plain.firstLastBits)), a: \(activations)"
        : "f32"
    var notes: [String] = []
    if !kept.isEmpty {
        notes.append("value grids: \(kept.count) of \(weightNodes.count) layers already on low-bit grids, kept exactly: "
            + summarize(grids.values.map(\.description)))
    }
    if alreadyQuantized {
        for i in rest.indices { rest[i].note = "f32: float layer of an already-quantized network (\(flag(rest[i].name)) not applied)" }
        if options.method.activations == .u8 {
            try assignActivationTypes(&model.graph, ranges: calibration?.ranges)
            activations = u8
        } else {
            activations = "f32 (weights already on value grids: exact weights, the network's float inference)"
        }
        let coded = kept.filter { $0.bits != 32 }, exact = kept.count - coded.count
        let parts = (coded.isEmpty ? [] : ["\(coded.count) layers coded (" + Set(coded.map(\.format)).sorted().joined(separator: ", ") + ")"])
            + (exact == 0 ? [] : ["\(exact) kept exact f32 (more levels than the kernels take)"])
            + (rest.isEmpty ? [] : ["\(rest.count) float layers f32"])
        precision = "already quantized: " + parts.joined(separator: ", ") + ", a: " + activations
        notes.append("already quantized (value-grid layers hold \(gridWeights) of \(allWeights) weights): the other layers stay f32, "
            + "--bits \(options.plain.bits) / --first-last-bits \(options.plain.firstLastBits) not applied")
    } else if !kept.isEmpty {
        precision += "; kept on value grids: \(kept.count) of \(weightNodes.count) layers"
    }
    let layers = (kept + rest).sorted { order[$0.name] ?? 0 < order[$1.name] ?? 0 }
    return PlainConversion(layers: layers, activations: activations, precision: precision, notes: notes)
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

/// The value grid of every conv/linear whose checkpoint weight `<layer>.weight` lies on one (its codes in
/// the checkpoint's layout [OC, Cin/g, kh, kw] or [out, in], as applyMethodLayers takes them).
func findValueGridLayers(_ model: FloatModel, checkpoint: Checkpoint) -> [String: ValueGrid] {
    var grids: [String: ValueGrid] = [:]
    for layer in weightLayerSizes(model) {
        guard let tensor = checkpoint.tensor(layer.name + ".weight"), tensor.shape.first == layer.rows,
              tensor.elementCount == layer.count else { continue }
        if let grid = findValueGrid(tensor.floatValues(), rows: layer.rows, k: layer.count / layer.rows) {
            grids[layer.name] = grid
        }
    }
    return grids
}

/// Every conv/linear in graph order: its name, output channels and number of weights.
private func weightLayerSizes(_ model: FloatModel) -> [(name: String, rows: Int, count: Int)] {
    model.graph.nodes.compactMap { node in
        switch node.op {
        case .conv2d(let c): return (node.name, c.outChannels, c.outChannels * c.reductionSize)
        case .linear(let l): return (node.name, l.outFeatures, l.outFeatures * l.inFeatures)
        default: return nil
        }
    }
}
