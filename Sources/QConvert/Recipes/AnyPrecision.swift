// Any-Precision DNNs (Yu et al., AAAI 2021): one network, weight and activation bit width chosen at run
// time, BatchNorm switched per width. The recipe makes one graph per width; the converter puts them all
// into one file over one shared tensor set.
import Foundation
import QCheckpoint
import QGraph

/// Checkpoints with `<bn>.bn_dict.<k>.{weight, bias, running_mean, running_var}` (SwitchBatchNorm2d).
/// For width k (SEEDS.md §2; models/quan_ops.py, float32 as PyTorch computes it):
///   BatchNorm: `<bn>.bn_dict.<k>.*` becomes `<bn>.*`; the other widths' are dropped.
///   weights of every quantized conv (every conv but the stem, which reads the input, and the convs on a
///   residual block's shortcut branch, the training code's plain nn.Conv2d layers; Linear layers stay float):
///     E = mean|W| (whole tensor);  t = tanh(W);  m = max|t|
///     k < 32:  u = t / 2 / m + 0.5;  n = 2^k - 1;  Q = round_half_even(u * n);  W_q = (2 * (Q / n) - 1) * E
///     k = 32:  W_q = t / m * E
///   activations (the architecture's ReLUs): k < 32 DoReFa, round(clamp(x, 0, 1) * n) / n; k = 32 ReLU.
/// Codes are Q with levels (2 * (Q / n) - 1) * E for all Q in 0...n.
struct AnyPrecisionRecipe: Recipe {
    let name = "any-precision"
    /// The DoReFa integers on the integer kernels are the method's own arithmetic, exact at every width < 32.
    let defaultActivations = ActivationMode.u8

    func detect(_ checkpoint: Checkpoint) -> String? {
        let bns = Self.switchableBatchNorms(checkpoint)
        guard !bns.isEmpty else { return nil }
        return "\(bns.count) BatchNorms have <bn>.bn_dict.{\(bitWidths(checkpoint).map(String.init).joined(separator: ","))}.* (Any-Precision: BatchNorm per run-time bit width)"
    }

    /// The widths every switchable BatchNorm has, ascending (empty when they disagree or none exist).
    func bitWidths(_ checkpoint: Checkpoint) -> [Int] {
        var perBN: [String: Set<Int>] = [:]
        for (name, _) in checkpoint.tensors {
            guard let (bn, bits, _) = Self.splitSwitchKey(name) else { continue }
            perBN[bn, default: []].insert(bits)
        }
        guard let first = perBN.values.first, perBN.values.allSatisfy({ $0 == first }) else { return [] }
        return first.sorted()
    }

    /// The widest width's BatchNorms under plain names (the graph source binds them; each width's graph
    /// takes its own), the other widths' dropped.
    func sourceCheckpoint(_ checkpoint: Checkpoint, options: ConversionOptions) throws -> Checkpoint {
        guard !Self.switchableBatchNorms(checkpoint).isEmpty else {
            throw ConvertError("any-precision: the checkpoint has no <bn>.bn_dict.<bits>.* keys (not an Any-Precision network)")
        }
        guard let bits = bitWidths(checkpoint).last else {
            throw ConvertError("any-precision: the switchable BatchNorms do not share one set of bit widths")
        }
        var set: [String: CheckpointTensor] = [:], removing = Set<String>()
        for (name, tensor) in checkpoint.tensors {
            guard let (bn, k, part) = Self.splitSwitchKey(name) else { continue }
            removing.insert(name)
            if k == bits { set["\(bn).\(part)"] = tensor }
        }
        return checkpoint.replacing(set, removing: removing)
    }

    /// One graph per width k: that width's BatchNorms, the quantized convs' weights at k bits (codes for
    /// k < 32), and every ReLU a DoReFa(k) activation (k < 32).
    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph] {
        let quantized = Self.quantizedConvs(model.graph)
        let switchable = Self.switchableBatchNorms(checkpoint)
        return try bitWidths(checkpoint).map { bits in
            var m = model, codes: [String: MethodLayer] = [:]
            for node in m.graph.nodes {
                guard case .batchNorm(let bn) = node.op else { continue }
                for key in [bn.gamma, bn.beta, bn.mean, bn.variance] {
                    let dot = key.lastIndex(of: ".")!
                    guard switchable.contains(String(key[..<dot])) else { continue }
                    let switched = "\(key[..<dot]).bn_dict.\(bits)\(key[dot...])"
                    guard let t = checkpoint.tensor(switched) else {
                        throw ConvertError("Any-Precision checkpoint has no BatchNorm tensor '\(switched)'")
                    }
                    m.tensors.set(key, StoredTensor(floats: t.floatValues(), shape: m.tensors[key]!.shape))
                }
            }
            for layer in quantized {
                let q = Self.quantize(model.pytorchWeights(of: layer)!.values, bits: bits)
                try m.setPytorchWeights(of: layer, q.values)
                // table unit E / n: the integer form of level Q is 2Q - n, an exact int8 table up to 6 bits; at 8
                // bits unit 2E / n: levels Q - 127.5, stored as 8-bit codes (f32 activations use the exact levels)
                let unit = (bits == 8 ? 2 : 1) * q.e / Float((1 << bits) - 1)
                if let c = q.codes { codes[layer] = MethodLayer(codes: c, levels: q.levels, unit: q.e > 0 ? unit : nil) }
            }
            if bits < 32 { useDoReFaActivations(&m.graph, bits: bits) }
            let integer = bits < 32 && options.method.activations == .u8
            return RecipeGraph(bits: bits, model: m, codes: codes, activations: integer ? .doReFaIntegers : .float,
                               activationNote: options.method.activations == .u8
                                   ? "DoReFa k-bit as u8 P (scale 1/n) into the integer kernels (exact; 8 bits as half-step int8); ReLU at 32 bits"
                                   : "DoReFa k-bit (f32, exact), ReLU at 32 bits",
                               notes: ["any-precision \(bits) bits: \(quantized.count) DoReFa convs"
                                       + (bits < 32 ? " (codes 0...\((1 << bits) - 1)), DoReFa activations" : " (tanh-normalized), ReLU activations")])
        }
    }

    func precision(_ main: LoweredGraph, widths: [Int], options: ConversionOptions) -> String {
        "any-precision: bits \(widths.map(String.init).joined(separator: ",")) chosen at run time (default \(main.bits ?? 0)); "
            + "stem, skip convs and fc f32; a: " + main.activations
    }

    func provenance(evidence: String, widths: [Int], notes: [String], options: ConversionOptions) -> [String: String] {
        ["recipe": name, "recipe_evidence": evidence, "activations": (options.method.activations ?? defaultActivations).rawValue,
         "notes": notes.joined(separator: "; "), "bits": widths.map(String.init).joined(separator: ","),
         "default_bits": "\(widths.last(where: { $0 < 32 }) ?? widths.last ?? 0)"]
    }

    /// The convs whose weights pass the DoReFa quantizer, in graph order: every conv but the stem (it reads
    /// the input) and the convs on a shortcut branch (the training code's plain nn.Conv2d layers).
    static func quantizedConvs(_ graph: Graph) -> [String] {
        let skipped = graph.inputConvs.union(graph.shortcutConvs)
        return graph.weightLayerIndices.map { graph.nodes[$0] }
            .filter { if case .conv2d = $0.op { return !skipped.contains($0.name) } else { return false } }.map(\.name)
    }

    /// `<bn>.bn_dict.<k>.<part>` -> (bn, k, part).
    static func splitSwitchKey(_ name: String) -> (String, Int, String)? {
        guard let range = name.range(of: ".bn_dict.") else { return nil }
        let rest = name[range.upperBound...].split(separator: ".", maxSplits: 1)
        guard rest.count == 2, let bits = Int(rest[0]) else { return nil }
        return (String(name[..<range.lowerBound]), bits, String(rest[1]))
    }

    static func switchableBatchNorms(_ checkpoint: Checkpoint) -> Set<String> {
        Set(checkpoint.tensors.compactMap { splitSwitchKey($0.name)?.0 })
    }

    /// One tensor's weights at width `bits` (see the type's comment), with E and max|tanh W| and, for
    /// k < 32, the codes Q and the level of every code.
    static func quantize(_ w: [Float], bits: Int) -> (values: [Float], codes: [UInt8]?, levels: [Float], e: Float, maxTanh: Float) {
        // E: torch.mean(torch.abs(W)) = torch's float32 sum / count. tanh: correctly rounded (double tanh
        // rounded once); PyTorch's Sleef tanhf (1 ulp) differs in the last bit on ~0.05% of weights, which
        // moves a code only if its u * n lies within an ulp of a half-integer (max|tanh W| agrees on every
        // fixture layer, where glibc's tanhf does not).
        let e = torchFloatSum(w.map { abs($0) }) / Float(w.count)
        let t = w.map { Float(tanh(Double($0))) }
        let m = t.reduce(Float(0)) { max($0, abs($1)) }
        guard bits < 32 else { return (t.map { $0 / m * e }, nil, [], e, m) }
        let n = Float((1 << bits) - 1)
        let levels = (0...(1 << bits) - 1).map { (2 * (Float($0) / n) - 1) * e }
        let codes = t.map { UInt8((($0 / 2 / m + 0.5) * n).rounded(.toNearestOrEven)) }
        return (codes.map { levels[Int($0)] }, codes, levels, e, m)
    }
}
