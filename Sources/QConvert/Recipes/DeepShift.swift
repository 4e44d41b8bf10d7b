// DeepShift (shift networks): weights sign * 2^p, PS and Q modes, round_to_fixed activations.
import Foundation
import QCheckpoint
import QGraph

/// SEEDS.md "DeepShift", float32 as the public code computes it, with b weight bits:
///   PS (`X.shift`, `X.sign`): W = 2^round(clamp(shift, -(2^(b-1) - 2), 0)) * sign(round(sign))
///      (round half to even; |sign| <= 0.5 rounds to 0 -> weight 0).
///   Q (plain `X.weight`, --recipe deepshift): |w| clamped to [2^-(2^(b-1) - 1), 1] (0 stays 0), then
///      W = 2^round(log(|w|) / log(2)) * sign(w).
/// Every conv and linear is a shift layer. With --fixed-point I,F the input of every shift layer and its
/// bias pass round_to_fixed: clamp(floor(x / 2^-F) * 2^-F, -2^(I-1), 2^(I-1) - 1).
/// BatchNorm stays its own step on the f32 path: shift weights are exact powers of two and round_to_fixed
/// inputs sit on a 2^-F grid, so PyTorch's conv sums of those products are (nearly always) exact and the next
/// round_to_fixed floors them after BatchNorm; folding BatchNorm into the weights would round every product
/// instead, and on coarse grids (4.6) a value one rounding away from a grid line moves a whole step.
struct DeepShiftRecipe: Recipe {
    let name = "deepshift"
    /// Float activations in the method's own inference; the integer kernels with u8 activations are the fast path.
    let defaultActivations = ActivationMode.u8
    /// DeepShift's default --weight-bits.
    static let defaultWeightBits = 5

    func detect(_ checkpoint: Checkpoint) -> String? {
        let layers = checkpoint.layers(having: [".shift", ".sign"])
        guard !layers.isEmpty else { return nil }
        return "\(layers.count) layers have <layer>.shift and <layer>.sign instead of weights (DeepShift PS)"
    }

    private func weightBits(_ options: ConversionOptions) throws -> Int {
        let bits = options.method.weightBits ?? Self.defaultWeightBits
        guard (2...8).contains(bits) else { throw ConvertError("DeepShift weight bits must be 2...8, got \(bits)") }
        return bits
    }

    private func mode(_ checkpoint: Checkpoint, _ options: ConversionOptions) throws -> String {
        let mode = options.method.deepShiftMode ?? (checkpoint.layers(having: [".shift", ".sign"]).isEmpty ? "q" : "ps")
        guard mode == "ps" || mode == "q" else { throw ConvertError("DeepShift mode must be ps or q, got \(mode)") }
        return mode
    }

    /// PS: each shift layer's `.weight` = 2^round(clamp(shift)) * sign(round(sign)).
    func sourceCheckpoint(_ checkpoint: Checkpoint, options: ConversionOptions) throws -> Checkpoint {
        guard try mode(checkpoint, options) == "ps" else { return checkpoint }
        let ps = checkpoint.layers(having: [".shift", ".sign"])
        guard !ps.isEmpty else { throw ConvertError("DeepShift PS: no layer has .shift and .sign tensors") }
        let lo = -Float((1 << (try weightBits(options) - 1)) - 2)
        var set: [String: CheckpointTensor] = [:], removing = Set<String>()
        for layer in ps {
            let shift = checkpoint.tensor(layer + ".shift")!, sign = checkpoint.tensor(layer + ".sign")!.floatValues()
            let s = shift.floatValues()
            guard s.count == sign.count else { throw ConvertError("DeepShift layer \(layer): shift and sign sizes differ") }
            set[layer + ".weight"] = CheckpointTensor(shape: shift.shape, floats: (0..<s.count).map { i in
                let p = min(max(s[i], lo), 0).rounded(.toNearestOrEven)
                let g = sign[i].rounded(.toNearestOrEven)
                return exp2f(p) * (g > 0 ? 1 : g < 0 ? -1 : 0)
            })
            removing.formUnion([layer + ".shift", layer + ".sign"])
        }
        return checkpoint.replacing(set, removing: removing)
    }

    /// Shift layers (PS: those with shift/sign; Q: every conv and linear, weights rounded to powers of two)
    /// get codes; with --fixed-point their inputs pass round_to_fixed and their biases are rounded.
    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph] {
        let bits = try weightBits(options), mode = try mode(checkpoint, options)
        let ps = Set(checkpoint.layers(having: [".shift", ".sign"]))
        let lo = exp2f(-Float((1 << (bits - 1)) - 1)), ln2 = Float(log(2.0))
        var result = model, codes: [String: MethodLayer] = [:]
        for index in model.graph.weightLayerIndices {
            let layer = model.graph.nodes[index].name
            guard mode == "q" || ps.contains(layer), var w = model.pytorchWeights(of: layer)?.values else { continue }
            if mode == "q" {
                w = w.map { x in
                    let a = abs(x), sgn: Float = x > 0 ? 1 : x < 0 ? -1 : 0
                    let clamped = a > 1 ? sgn : (a > 0 && a < lo ? lo * sgn : x)
                    return exp2f((logf(abs(clamped)) / ln2).rounded(.toNearestOrEven)) * (clamped > 0 ? 1 : clamped < 0 ? -1 : 0)
                }
            }
            codes[layer] = codesForValues(w)
        }
        try result.setWeights(from: codes)
        if let (i, f) = options.method.fixedPoint {
            for layer in codes.keys {
                guard let bias = result.node(layer)?.op.biasName, let b = result.tensors[bias] else { continue }
                result.tensors.set(bias, StoredTensor(floats: b.floats.map { Self.roundToFixed($0, i, f) }, shape: b.shape))
            }
            try insertInputRounding(&result.graph, Set(codes.keys), integerBits: i, fractionBits: f)
        }
        let levels = codes.values.map(\.levels.count).max() ?? 0
        return [RecipeGraph(model: result, codes: codes, foldsBatchNorm: options.method.activations == .u8,
                            activations: options.methodActivations,
                            notes: ["DeepShift \(mode.uppercased()), \(bits)-bit shifts: \(codes.count) shift layers, up to \(levels) distinct weights per layer"
                                    + (options.method.fixedPoint.map { ", round_to_fixed(\($0.0), \($0.1)) on their inputs and biases" } ?? "")])]
    }

    /// clamp(floor(x / 2^-F) * 2^-F, -2^(I-1), 2^(I-1) - 1), float32.
    static func roundToFixed(_ x: Float, _ i: Int, _ f: Int) -> Float {
        let delta = Float(sign: .plus, exponent: -f, significand: 1), bound = Float(sign: .plus, exponent: i - 1, significand: 1)
        return min(max((x / delta).rounded(.down) * delta, -bound), bound - 1)
    }

    func preprocessing(arch: String, familyDefault: Preprocessing) -> Preprocessing {
        guard familyDefault.inputSize == [32, 32] else { return familyDefault }
        var p = familyDefault
        p.mean = [0.4914, 0.4822, 0.4465]   // DeepShift's cifar10.py
        p.std = [0.2023, 0.1994, 0.2010]
        return p
    }
}

/// Inserts round_to_fixed(integerBits, fractionBits) in front of every node in `layers` (DeepShift: the
/// input of each shift conv/linear passes round_to_fixed before the product).
func insertInputRounding(_ graph: inout Graph, _ layers: Set<String>, integerBits: Int, fractionBits: Int) throws {
    guard !layers.isEmpty else { return }
    let old = graph
    var new = Graph(input: old.value(old.input)!)
    for node in old.nodes {
        var inputs = node.inputs
        if layers.contains(node.name) {
            inputs[0] = try new.append("\(node.name).round_to_fixed",
                                       .roundToFixed(integerBits: integerBits, fractionBits: fractionBits), inputs: [inputs[0]])
        }
        try new.append(node.output, node.op, inputs: inputs)
        new.nodes[new.nodes.count - 1].name = node.name
    }
    new.output = old.output
    graph = new
}
