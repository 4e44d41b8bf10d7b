// The passes every recipe's graph goes through: value grids kept, BatchNorm folded, epilogues fused,
// exact codes packed, the remaining float layers quantized (plain recipe), activations typed.
import Foundation
import QGraph

/// A recipe's graph ready to write.
struct LoweredGraph {
    /// The run-time bit width (Any-Precision); nil for a file's only graph.
    var bits: Int?
    var model: FloatModel
    /// One row per conv/linear.
    var layers: [LayerReport]
    /// How activations run, in words.
    var activations: String
    var calibrationImages: Int
    /// The layers the value-grid pass kept.
    var valueGrids: KeptValueGrids
    /// The recipe's notes and the passes'.
    var notes: [String]
}

/// Runs the shared passes over `recipeGraph` (the file comment's order). `progress` gets a stage name and
/// a fraction of this graph's work.
func lower(_ recipeGraph: RecipeGraph, options: ConversionOptions,
           progress: (String, Double) -> Void) throws -> LoweredGraph {
    var recipeGraph = recipeGraph
    let plainBits = recipeGraph.quantizeRest   // what --bits would have done, for the kept layers' notes
    let kept = keepValueGrids(&recipeGraph, options: options)
    var model = recipeGraph.model
    // without calibration images, what the BatchNorm statistics say (before folding takes them away)
    let dataFree = options.calibration == nil && recipeGraph.quantizeRest != nil && recipeGraph.activations == .uint8
        ? DataFreeStatistics(model, sigmas: options.rangeSigmas) : nil
    let factors = recipeGraph.foldsBatchNorm ? try foldBatchNorm(&model) : [:]
    fuseResidualAdd(&model.graph)
    fuseActivation(&model.graph)
    progress("packing", 0.2)
    var layers = try applyMethodLayers(&model, layers: recipeGraph.codes, foldFactors: factors)
    let weightLayers = model.graph.weightLayerIndices.map { model.graph.nodes[$0].name }
    /// The flag that would have decided a layer's bits.
    func flag(_ name: String) -> String {
        guard let p = plainBits else { return "" }
        return name == weightLayers.first || name == weightLayers.last ? "--first-last-bits \(p.firstLastBits)" : "--bits \(p.bits)"
    }
    for i in layers.indices {
        if let grid = kept.grids[layers[i].name] {
            layers[i].note = "kept: \(grid.description)" + (plainBits == nil ? "" : " (\(flag(layers[i].name)) not applied)")
        } else if kept.alreadyQuantized && layers[i].bits == 32 {
            layers[i].note = "f32: float layer of an already-quantized network (\(flag(layers[i].name)) not applied)"
        }
    }

    var calibration: CalibrationData?
    var images: [URL] = []
    let gptq = recipeGraph.quantizeRest?.method(calibrated: options.calibration != nil) == .gptq
    if let source = options.calibration, recipeGraph.quantizeRest != nil || recipeGraph.activations == .uint8 {
        images = try calibrationImages(source, count: options.calibrationCount)
        // the layers post-training quantization will round: round-to-nearest takes input patches (bias
        // correction, clip choice), GPTQ the float network's input statistics (output correction)
        let rounded = recipeGraph.quantizeRest == nil ? [] : Set(model.graph.nodes.filter { node in
            node.op.weightDescriptor?.scheme == .float32
        }.map(\.name))
        calibration = try calibrate(graph: model.graph, tensors: model.tensors, preprocessing: model.preprocessing,
                                    images: images, sampledLayers: gptq ? [] : rounded, statisticsLayers: gptq ? rounded : []) { done, total in
            progress("calibrating", 0.2 + (gptq ? 0.1 : 0.6) * Double(done) / Double(total))
        }
    }
    let inputMeans = options.dataFreeBiasCorrection ? dataFree?.layerInputMeans(model.graph) ?? [:] : [:]
    if let plain = recipeGraph.quantizeRest {
        progress("quantizing", gptq ? 0.3 : 0.85)
        let quantized = try applyPlainRecipe(&model, options: plain, calibration: calibration, images: images,
                                             keeping: Set(kept.grids.keys), batchNormLayers: Set(factors.keys),
                                             inputMeans: inputMeans) { f in
            progress("quantizing (gptq)", 0.3 + 0.65 * f)
        }
        layers = layers.map { quantized[$0.name] ?? $0 }
    }

    if recipeGraph.activations != .float {
        // u8 activations: a method layer with more levels than the 1-4-bit tables take (DeepShift's 5-bit
        // shifts, up to 31 powers of two) runs as 8-bit per-channel codes of its exact weights
        let wide = Set(layers.filter { recipeGraph.codes[$0.name] != nil && $0.bits == 32 }.map(\.name))
        if !wide.isEmpty {
            var eight = PlainOptions()
            eight.bits = 8
            eight.firstLastBits = 8
            let quantized = try applyPlainRecipe(&model, options: eight, calibration: nil,
                                                 keeping: Set(weightLayers).subtracting(wide))
            layers = layers.map { old in
                guard var q = quantized[old.name] else { return old }
                q.note = "8-bit per channel: \(recipeGraph.codes[old.name]!.levels.count) levels are more than the 1-4-bit tables take "
                    + "(--activations f32 keeps the exact weights)"
                return q
            }
        }
        for i in layers.indices where layers[i].bits == 32 && layers[i].note == nil {
            layers[i].note = "f32 weights: the method keeps this layer float (f32 input, f32 GEMM)"
        }
    }
    let coded = layers.contains { $0.bits != 32 }
    // exact weights: the recipe's codes, packed or (more levels than the kernels take) kept as exact floats
    var activations = kept.alreadyQuantized ? "f32 (weights already on value grids: exact weights, the network's float inference)"
        : coded || !recipeGraph.codes.isEmpty ? "f32 (weights-only quantization: exact weights, the method's float inference)" : "f32"
    switch recipeGraph.activations {
    case .float: break
    case .uint8:
        let fixed = model.declared.activations
        let dataFreeRanges = options.uncalibratedRanges == .dataFree && fixed.isEmpty ? dataFree?.ranges : nil
        try assignActivationTypes(&model.graph, ranges: calibration?.ranges ?? dataFreeRanges, fixed: fixed,
                                  dynamicWhereUnranged: calibration == nil)
        activations = calibration.map { "u8 static (calibrated on \($0.imageCount) images)" }
            ?? (dataFreeRanges == nil ? nil : dataFree?.rangeSummary(model.graph)) ?? "u8 dynamic (per tensor, at run time)"
        if !fixed.isEmpty {
            let dynamic = model.graph.values.filter { $0.quant == .dynamicUInt8 }.count
            activations = "u8 static (\(fixed.count) scales and zero points from the file's QuantizeLinear"
                + (calibration.map { "; the others calibrated on \($0.imageCount) images" } ?? "")
                + (dynamic > 0 ? "; \(dynamic) values without one quantized dynamically" : "") + ")"
        }
    case .doReFaIntegers:
        try integerDoReFaInputs(&model.graph)
    }
    return LoweredGraph(bits: recipeGraph.bits, model: model, layers: layers,
                        activations: recipeGraph.activationNote ?? activations,
                        calibrationImages: calibration?.imageCount ?? 0, valueGrids: kept,
                        notes: recipeGraph.notes + kept.notes + (dataFree?.notes(biasCorrected: layers.filter {
                            inputMeans[$0.name] != nil && $0.bits != 32 && kept.grids[$0.name] == nil
                        }.count) ?? []))
}
