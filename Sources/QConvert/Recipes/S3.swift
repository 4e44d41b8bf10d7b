// S3 (sign-sparse-shift reparametrization, NeurIPS 2021): weights in {0, +-1, +-2, +-4}.
import QCheckpoint
import QGraph

/// Every layer with `weight_sign`/`weight` + `weight_val` + `weight_shift` + `weight_shift2` gets, in
/// float32 (SEEDS.md §5):  b01(x) = 1 if x > 0 else 0;  bpm(x) = +1 if x >= 0 else -1 (-0.0 -> +1);
///   p = b01(weight_shift) * (b01(weight_shift2) + 1);  W = bpm(weight_sign) * b01(weight_val) * 2^p.
/// No scale (BatchNorm absorbs it). Released files hold W in `weight` already: every conv whose values
/// are within {0, +-1, +-2, +-4} (and not all 0 / +-1: that is a binary net) is recognised as such.
struct S3Recipe: Recipe {
    let name = "s3"
    /// Float activations in the method's own inference; the integer kernels with u8 activations are the fast path.
    let defaultActivations = ActivationMode.u8
    private static let values: Set<Float> = [0, 1, -1, 2, -2, 4, -4]
    private static let parameters = [".weight_sign", ".weight_val", ".weight_shift", ".weight_shift2"]

    func detect(_ checkpoint: Checkpoint) -> String? {
        let layers = checkpoint.layers(having: [".weight_shift", ".weight_val"])
        if !layers.isEmpty {
            return "\(layers.count) layers have weight_sign/weight_val/weight_shift/weight_shift2 (S3 reparametrization)"
        }
        let released = checkpoint.tensors.filter { $0.name.hasSuffix(".weight") && $0.tensor.shape.count == 4 }
            .filter { Self.isReleased($0.tensor.floatValues()) }
        guard !released.isEmpty else { return nil }
        return "\(released.count) conv layers hold only values in {0, +-1, +-2, +-4} with some +-2 or +-4 (released S3 weights)"
    }

    /// Values all in the S3 set, with a magnitude 2 or 4 somewhere.
    static func isReleased(_ v: [Float]) -> Bool { v.allSatisfy { values.contains($0) } && v.contains { abs($0) > 1 } }

    /// Reparametrized layers get W computed from sign/val/shift/shift2 (the type's comment) as `.weight`.
    func sourceCheckpoint(_ checkpoint: Checkpoint, options: ConversionOptions) throws -> Checkpoint {
        var set: [String: CheckpointTensor] = [:], removing = Set<String>()
        for layer in checkpoint.layers(having: [".weight_shift", ".weight_val"]) {
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
            set[layer + ".weight"] = CheckpointTensor(shape: signTensor.shape, floats: (0..<sign.count).map { i in
                let p = b01(shift[i]) * (b01(shift2[i]) + 1)
                return bpm(sign[i]) * b01(val[i]) * (p == 0 ? 1 : p == 1 ? 2 : 4)
            })
            removing.formUnion(Self.parameters.map { layer + $0 })
        }
        return checkpoint.replacing(set, removing: removing)
    }

    /// Codes for the reparametrized layers, or (released files) for every conv whose values are S3's.
    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph] {
        let reparametrized = Set(checkpoint.layers(having: [".weight_shift", ".weight_val"]))
        var codes: [String: MethodLayer] = [:]
        for index in model.graph.weightLayerIndices {
            let node = model.graph.nodes[index]
            guard let w = model.pytorchWeights(of: node.name) else { continue }
            let released: Bool
            if case .conv2d = node.op { released = reparametrized.isEmpty && Self.isReleased(w.values) } else { released = false }
            if reparametrized.contains(node.name) || released { codes[node.name] = codesForValues(w.values) }
        }
        return [RecipeGraph(model: model, codes: codes, activations: options.methodActivations,
                            notes: ["S3: \(codes.count) layers with weights in {0, +-1, +-2, +-4}"
                                    + (reparametrized.isEmpty ? " (released values)" : " (from sign/val/shift/shift2)")])]
    }
}
