// BinaryConnect and stochastic rounding ("Training Quantized Nets", NeurIPS 2017).
import QCheckpoint
import QGraph

/// No official code. Two kinds of checkpoints (SEEDS.md §4):
///  - BinaryConnect: latent float weights, inference with sign(w) (sign(0) = 0, no scale; or, with
///    --binary-channel-scale, alpha[oc] * sign(w) with alpha = mean |w| of the channel) in every conv
///    except the first; the first conv and the linear layers stay float. Not recognisable from the keys:
///    `--recipe binaryconnect`.
///  - Stochastic rounding: weights already on a per-layer grid w = q * delta (q small integers). Recognised
///    when every conv and linear layer has at most 16 distinct values, all integer multiples of its
///    smallest nonzero magnitude: the values are used exactly as codes.
/// Activations are float (exact) or u8 (--activations u8).
struct BinaryConnectRecipe: MethodRecipe {
    let name = "binaryconnect"

    func detect(_ checkpoint: Checkpoint) -> String? {
        let grid = Self.gridLayers(checkpoint)
        guard !grid.isEmpty, grid.count == Self.weightLayers(checkpoint).count else { return nil }
        return "every conv/linear weight (\(grid.count) layers) already lies on a grid of <= 16 multiples of one step (stochastic rounding)"
    }

    static func weightLayers(_ checkpoint: Checkpoint) -> [(name: String, tensor: CheckpointTensor)] {
        checkpoint.tensors.filter { $0.name.hasSuffix(".weight") && [2, 4].contains($0.tensor.shape.count) }
    }

    /// Layers whose weights are <= 16 distinct integer multiples of their smallest nonzero magnitude.
    static func gridLayers(_ checkpoint: Checkpoint) -> [String: MethodLayer] {
        var out: [String: MethodLayer] = [:]
        for item in weightLayers(checkpoint) {
            let w = item.tensor.floatValues()
            guard let layer = codesForValues(w, maxLevels: 16), layer.levels.count >= 2 else { continue }
            let step = layer.levels.filter { $0 != 0 }.map(abs).min() ?? 0
            guard step > 0, layer.levels.allSatisfy({ v in
                let q = (v / step).rounded()
                return abs(q) <= 127 && Float(q) * step == v
            }) else { continue }
            out[String(item.name.dropLast(".weight".count))] = layer
        }
        return out
    }

    func prepare(_ checkpoint: Checkpoint, options: MethodOptions) throws -> PreparedCheckpoint {
        let grid = Self.gridLayers(checkpoint)
        let all = Self.weightLayers(checkpoint)
        if !grid.isEmpty && grid.count == all.count {
            var prepared = PreparedCheckpoint(checkpoint: checkpoint, layers: grid)
            prepared.notes.append("stochastic rounding: \(grid.count) layers already on their grids, used exactly")
            return prepared
        }
        // BinaryConnect: sign(w) in every conv but the first (in checkpoint order)
        let convs = all.filter { $0.tensor.shape.count == 4 }
        guard convs.count >= 2 else { throw ConvertError("BinaryConnect: needs at least two conv layers, found \(convs.count)") }
        var set: [String: CheckpointTensor] = [:], layers: [String: MethodLayer] = [:]
        for item in convs.dropFirst() {
            let latent = item.tensor.floatValues()
            let signs = latent.map { x -> Float in x > 0 ? 1 : x < 0 ? -1 : 0 }
            var layer = codesForValues(signs)!
            var w = signs
            if options.binaryChannelScale {
                // alpha[oc] = mean |w| over the channel (XNOR-Net style), W = alpha[oc] * sign(w)
                let rows = item.tensor.shape[0], per = latent.count / rows
                let alpha = (0..<rows).map { r in latent[r * per ..< (r + 1) * per].reduce(Float(0)) { $0 + abs($1) } / Float(per) }
                for i in w.indices { w[i] = alpha[i / per] * signs[i] }
                layer.channelScales = alpha
            }
            set[item.name] = CheckpointTensor(shape: item.tensor.shape, floats: w)
            layers[String(item.name.dropLast(".weight".count))] = layer
        }
        var prepared = PreparedCheckpoint(checkpoint: checkpoint.replacing(set), layers: layers)
        prepared.notes.append("BinaryConnect: " + (options.binaryChannelScale ? "mean|w| * sign(w) per output channel" : "sign(w)")
            + " in \(layers.count) convs; first conv '\(convs[0].name)' and linear layers float")
        return prepared
    }
}
