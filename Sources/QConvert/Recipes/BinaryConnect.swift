// BinaryConnect and stochastic rounding ("Training Quantized Nets", NeurIPS 2017).
import QCheckpoint
import QGraph

/// No official code. Two kinds of checkpoints (SEEDS.md §4):
///  - BinaryConnect: latent float weights, inference with sign(w) (sign(0) = 0, no scale; or, with
///    --binary-channel-scale, alpha[oc] * sign(w) with alpha = mean |w| of the channel) in every conv
///    except the stem (the conv that reads the input); the stem and the linear layers stay float. Not recognisable from the keys:
///    `--recipe binaryconnect`.
///  - Stochastic rounding: weights already on a per-layer grid w = q * delta (q small integers). Recognised
///    when every conv and linear layer has at most 16 distinct values, all integer multiples of its
///    smallest nonzero magnitude: the values are used exactly as codes.
/// Activations are float (exact) or u8 (--activations u8).
struct BinaryConnectRecipe: Recipe {
    let name = "binaryconnect"
    /// Float activations in the method's own inference; the integer kernels with u8 activations are the fast path.
    let defaultActivations = ActivationMode.u8

    func detect(_ checkpoint: Checkpoint) -> String? {
        let all = checkpoint.tensors.filter { $0.name.hasSuffix(".weight") && [2, 4].contains($0.tensor.shape.count) }
        guard !all.isEmpty, all.allSatisfy({ Self.gridCodes($0.tensor.floatValues()) != nil }) else { return nil }
        return "every conv/linear weight (\(all.count) layers) already lies on a grid of <= 16 multiples of one step (stochastic rounding)"
    }

    /// Codes when the weights are <= 16 distinct integer multiples of their smallest nonzero magnitude.
    static func gridCodes(_ w: [Float]) -> MethodLayer? {
        guard let layer = codesForValues(w, maxLevels: 16), layer.levels.count >= 2 else { return nil }
        let step = layer.levels.filter { $0 != 0 }.map(abs).min() ?? 0
        guard step > 0, layer.levels.allSatisfy({ v in
            let q = (v / step).rounded()
            return abs(q) <= 127 && Float(q) * step == v
        }) else { return nil }
        return layer
    }

    /// Stochastic rounding: every layer's grid values are its codes. BinaryConnect: sign(w) (times the
    /// channel's mean |w| with --binary-channel-scale) in every conv but the stem.
    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph] {
        let layers = model.graph.weightLayerIndices.map { model.graph.nodes[$0].name }
        let grid = layers.compactMap { name in model.pytorchWeights(of: name).flatMap { Self.gridCodes($0.values) }.map { (name, $0) } }
        if !grid.isEmpty && grid.count == layers.count {
            return [RecipeGraph(model: model, codes: Dictionary(uniqueKeysWithValues: grid), activations: options.methodActivations,
                                notes: ["stochastic rounding: \(grid.count) layers already on their grids, used exactly"])]
        }
        let stem = model.graph.inputConvs
        let convs = model.graph.weightLayerIndices.filter { if case .conv2d = model.graph.nodes[$0].op { return true } else { return false } }
            .map { model.graph.nodes[$0].name }
        guard convs.count >= 2 else { throw ConvertError("BinaryConnect: needs at least two conv layers, found \(convs.count)") }
        var codes: [String: MethodLayer] = [:]
        for name in convs where !stem.contains(name) {
            guard let (latent, shape) = model.pytorchWeights(of: name) else { continue }
            var layer = codesForValues(latent.map { x -> Float in x > 0 ? 1 : x < 0 ? -1 : 0 })!
            if options.method.binaryChannelScale {
                // alpha[oc] = mean |w| over the channel (XNOR-Net style), W = alpha[oc] * sign(w)
                let rows = shape[0], per = latent.count / rows
                layer.channelScales = (0..<rows).map { r in latent[r * per ..< (r + 1) * per].reduce(Float(0)) { $0 + abs($1) } / Float(per) }
            }
            codes[name] = layer
        }
        var result = model
        try result.setWeights(from: codes)
        return [RecipeGraph(model: result, codes: codes, activations: options.methodActivations,
                            notes: ["BinaryConnect: " + (options.method.binaryChannelScale ? "mean|w| * sign(w) per output channel" : "sign(w)")
                                    + " in \(codes.count) convs; stem '\(stem.sorted().joined(separator: ", "))' and linear layers float"])]
    }
}
