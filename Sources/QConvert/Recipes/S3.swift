// S3 (sign-sparse-shift reparametrization, NeurIPS 2021): weights in {0, +-1, +-2, +-4}.
import QCheckpoint
import QGraph

/// Every layer with `weight_sign`/`weight` + `weight_val` + `weight_shift` + `weight_shift2` gets, in
/// float32 (SEEDS.md §5):  b01(x) = 1 if x > 0 else 0;  bpm(x) = +1 if x >= 0 else -1 (-0.0 -> +1);
///   p = b01(weight_shift) * (b01(weight_shift2) + 1);  W = bpm(weight_sign) * b01(weight_val) * 2^p.
/// No scale (BatchNorm absorbs it). Released files hold W in `weight` already: every conv whose values
/// are within {0, +-1, +-2, +-4} (and not all 0 / +-1: that is a binary net) is recognised as such.
struct S3Recipe: MethodRecipe {
    let name = "s3"
    private static let values: Set<Float> = [0, 1, -1, 2, -2, 4, -4]

    func detect(_ checkpoint: Checkpoint) -> String? {
        let layers = checkpoint.layers(having: [".weight_shift", ".weight_val"])
        if !layers.isEmpty {
            return "\(layers.count) layers have weight_sign/weight_val/weight_shift/weight_shift2 (S3 reparametrization)"
        }
        let released = Self.releasedLayers(checkpoint)
        guard !released.isEmpty else { return nil }
        return "\(released.count) conv layers hold only values in {0, +-1, +-2, +-4} with some +-2 or +-4 (released S3 weights)"
    }

    /// Conv weights (4-D) whose values all lie in the S3 set and use a magnitude 2 or 4 somewhere.
    static func releasedLayers(_ checkpoint: Checkpoint) -> [String] {
        checkpoint.tensors.filter { $0.name.hasSuffix(".weight") && $0.tensor.shape.count == 4 }.compactMap { item in
            let v = item.tensor.floatValues()
            guard v.allSatisfy({ values.contains($0) }), v.contains(where: { abs($0) > 1 }) else { return nil }
            return String(item.name.dropLast(".weight".count))
        }
    }

    func prepare(_ checkpoint: Checkpoint, options: MethodOptions) throws -> PreparedCheckpoint {
        var set: [String: CheckpointTensor] = [:], removing = Set<String>(), layers: [String: MethodLayer] = [:]
        let reparametrized = checkpoint.layers(having: [".weight_shift", ".weight_val"])
        for layer in reparametrized {
            func values(_ suffix: String) throws -> CheckpointTensor {
                guard let t = checkpoint.tensor(layer + suffix) else { throw ConvertError("S3 layer \(layer) has no \(suffix.dropFirst())") }
                return t
            }
            let signTensor = try checkpoint.tensor(layer + ".weight_sign") ?? values(".weight")
            let val = try values(".weight_val").floatValues(), shift = try values(".weight_shift").floatValues()
            let shift2 = try values(".weight_shift2").floatValues(), sign = signTensor.floatValues()
            guard [val.count, shift.count, shift2.count].allSatisfy({ $0 == sign.count }) else {
                throw ConvertError("S3 layer \(layer): weight_sign/val/shift/shift2 sizes differ")
            }
            func b01(_ x: Float) -> Float { x > 0 ? 1 : 0 }
            func bpm(_ x: Float) -> Float { x >= 0 ? 1 : -1 }
            let w: [Float] = (0..<sign.count).map { i in
                let p = b01(shift[i]) * (b01(shift2[i]) + 1)
                return bpm(sign[i]) * b01(val[i]) * (p == 0 ? 1 : p == 1 ? 2 : 4)
            }
            set[layer + ".weight"] = CheckpointTensor(shape: signTensor.shape, floats: w)
            for s in [".weight_sign", ".weight_val", ".weight_shift", ".weight_shift2"] { removing.insert(layer + s) }
            layers[layer] = codesForValues(w)!
        }
        for layer in reparametrized.isEmpty ? Self.releasedLayers(checkpoint) : [] {
            layers[layer] = codesForValues(checkpoint.tensor(layer + ".weight")!.floatValues())!
        }
        var prepared = PreparedCheckpoint(checkpoint: checkpoint.replacing(set, removing: removing), layers: layers)
        prepared.notes.append("S3: \(layers.count) layers with weights in {0, +-1, +-2, +-4}"
            + (reparametrized.isEmpty ? " (released values)" : " (from sign/val/shift/shift2)"))
        return prepared
    }
}
