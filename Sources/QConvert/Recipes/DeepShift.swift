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
struct DeepShiftRecipe: MethodRecipe {
    /// Shift weights are exact powers of two, and round_to_fixed inputs sit on a 2^-F grid: PyTorch's
    /// conv sums of those products are (nearly always) exact, and the next round_to_fixed floors them
    /// after BatchNorm. Folding BatchNorm into the weights would round every product instead, and on
    /// coarse grids (4.6) a value one rounding away from a grid line moves a whole step.
    var foldsBatchNormOnFloatPath: Bool { false }
    let name = "deepshift"
    /// DeepShift's default --weight-bits.
    static let defaultWeightBits = 5

    func detect(_ checkpoint: Checkpoint) -> String? {
        let layers = checkpoint.layers(having: [".shift", ".sign"])
        guard !layers.isEmpty else { return nil }
        return "\(layers.count) layers have <layer>.shift and <layer>.sign instead of weights (DeepShift PS)"
    }

    func prepare(_ checkpoint: Checkpoint, options: MethodOptions) throws -> PreparedCheckpoint {
        let bits = options.weightBits ?? Self.defaultWeightBits
        guard (2...8).contains(bits) else { throw ConvertError("DeepShift weight bits must be 2...8, got \(bits)") }
        var set: [String: CheckpointTensor] = [:], removing = Set<String>(), layers: [String: MethodLayer] = [:]
        let ps = checkpoint.layers(having: [".shift", ".sign"])
        let mode = options.deepShiftMode ?? (ps.isEmpty ? "q" : "ps")
        if mode == "ps" {
            guard !ps.isEmpty else { throw ConvertError("DeepShift PS: no layer has .shift and .sign tensors") }
            let lo = -Float((1 << (bits - 1)) - 2)
            for layer in ps {
                let shift = checkpoint.tensor(layer + ".shift")!, sign = checkpoint.tensor(layer + ".sign")!.floatValues()
                let s = shift.floatValues()
                guard s.count == sign.count else { throw ConvertError("DeepShift layer \(layer): shift and sign sizes differ") }
                let w: [Float] = (0..<s.count).map { i in
                    let p = min(max(s[i], lo), 0).rounded(.toNearestOrEven)
                    let g = sign[i].rounded(.toNearestOrEven)
                    return exp2f(p) * (g > 0 ? 1 : g < 0 ? -1 : 0)
                }
                set[layer + ".weight"] = CheckpointTensor(shape: shift.shape, floats: w)
                removing.formUnion([layer + ".shift", layer + ".sign"])
                layers[layer] = codesForValues(w)
            }
        } else {
            guard mode == "q" else { throw ConvertError("DeepShift mode must be ps or q, got \(mode)") }
            let lo = exp2f(-Float((1 << (bits - 1)) - 1))
            let ln2 = Float(log(2.0))
            for item in checkpoint.tensors where item.name.hasSuffix(".weight") && [2, 4].contains(item.tensor.shape.count) {
                let layer = String(item.name.dropLast(".weight".count))
                let w: [Float] = item.tensor.floatValues().map { x in
                    let a = abs(x), sgn: Float = x > 0 ? 1 : x < 0 ? -1 : 0
                    let clamped = a > 1 ? sgn : (a > 0 && a < lo ? lo * sgn : x)
                    return exp2f((logf(abs(clamped)) / ln2).rounded(.toNearestOrEven)) * (clamped > 0 ? 1 : clamped < 0 ? -1 : 0)
                }
                set[item.name] = CheckpointTensor(shape: item.tensor.shape, floats: w)
                layers[layer] = codesForValues(w)
            }
        }
        var rounds: [String: (Int, Int)] = [:]
        if let (i, f) = options.fixedPoint {
            for layer in layers.keys {
                rounds[layer] = (i, f)
                if let bias = checkpoint.tensor(layer + ".bias") {
                    set[layer + ".bias"] = CheckpointTensor(shape: bias.shape, floats: bias.floatValues().map { Self.roundToFixed($0, i, f) })
                }
            }
        }
        var prepared = PreparedCheckpoint(checkpoint: checkpoint.replacing(set, removing: removing), layers: layers,
                                          roundInputs: rounds)
        let levels = layers.values.map(\.levels.count).max() ?? 0
        prepared.notes.append("DeepShift \(mode.uppercased()), \(bits)-bit shifts: \(layers.count) shift layers, up to \(levels) distinct weights per layer"
            + (options.fixedPoint.map { ", round_to_fixed(\($0.0), \($0.1)) on their inputs and biases" } ?? ""))
        return prepared
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
