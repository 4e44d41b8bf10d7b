// Any-Precision DNNs (Yu et al., AAAI 2021): one network, weight and activation bit width chosen at run
// time, BatchNorm switched per width. The recipe prepares one width at a time; BitWidthConversion.swift
// puts every width's graph into one file.
import Foundation
import QCheckpoint
import QGraph

/// Checkpoints with `<bn>.bn_dict.<k>.{weight, bias, running_mean, running_var}` (SwitchBatchNorm2d).
/// For width k (SEEDS.md §2; models/quan_ops.py, float32 as PyTorch computes it):
///   BatchNorm: `<bn>.bn_dict.<k>.*` becomes `<bn>.*`; the other widths' are dropped.
///   weights of every quantized conv (all 4-D weights except the stem = the first one, `skip_conv` and
///   `downsample`; Linear layers stay float):
///     E = mean|W| (whole tensor);  t = tanh(W);  m = max|t|
///     k < 32:  u = t / 2 / m + 0.5;  n = 2^k - 1;  Q = round_half_even(u * n);  W_q = (2 * (Q / n) - 1) * E
///     k = 32:  W_q = t / m * E
///   activations (the architecture's ReLUs): k < 32 DoReFa, round(clamp(x, 0, 1) * n) / n; k = 32 ReLU.
/// Codes are Q with levels (2 * (Q / n) - 1) * E for all Q in 0...n.
struct AnyPrecisionRecipe: MethodRecipe {
    let name = "any-precision"

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

    func prepare(_ checkpoint: Checkpoint, options: MethodOptions) throws -> PreparedCheckpoint {
        guard let bits = bitWidths(checkpoint).last(where: { $0 < 32 }) ?? bitWidths(checkpoint).last else {
            throw ConvertError("Any-Precision checkpoint: the switchable BatchNorms do not share one set of bit widths")
        }
        return try prepare(checkpoint, bits: bits)
    }

    /// The checkpoint as the network runs at width `bits`: that width's BatchNorms under plain names and
    /// the quantized convs' effective weights (with codes and levels for k < 32).
    func prepare(_ checkpoint: Checkpoint, bits: Int) throws -> PreparedCheckpoint {
        guard bitWidths(checkpoint).contains(bits) else {
            throw ConvertError("Any-Precision checkpoint has no BatchNorms for \(bits) bits (it has \(bitWidths(checkpoint)))")
        }
        var set: [String: CheckpointTensor] = [:], removing = Set<String>(), layers: [String: MethodLayer] = [:]
        for (name, tensor) in checkpoint.tensors {
            guard let (bn, k, part) = Self.splitSwitchKey(name) else { continue }
            removing.insert(name)
            if k == bits { set["\(bn).\(part)"] = tensor }
        }
        let quantized = Self.quantizedConvs(checkpoint)
        for layer in quantized {
            let weight = checkpoint.tensor(layer + ".weight")!
            let q = Self.quantize(weight.floatValues(), bits: bits)
            set[layer + ".weight"] = CheckpointTensor(shape: weight.shape, floats: q.values)
            // table unit E / n: the integer form of level Q is 2Q - n, an exact int8 table up to 6 bits; at 8
            // bits unit 2E / n: levels Q - 127.5, stored as 8-bit codes (f32 activations use the exact levels)
            let unit = (bits == 8 ? 2 : 1) * q.e / Float((1 << bits) - 1)
            if let codes = q.codes { layers[layer] = MethodLayer(codes: codes, levels: q.levels, unit: q.e > 0 ? unit : nil) }
        }
        var prepared = PreparedCheckpoint(checkpoint: checkpoint.replacing(set, removing: removing), layers: layers)
        prepared.notes.append("any-precision \(bits) bits: \(quantized.count) DoReFa convs"
            + (bits < 32 ? " (codes 0...\((1 << bits) - 1)), DoReFa activations" : " (tanh-normalized), ReLU activations"))
        return prepared
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

    /// Layers whose weights pass the DoReFa quantizer: every 4-D `.weight` but the stem (the first conv
    /// in the file), skip convs (`skip_conv`, `downsample`) — the training code's plain nn.Conv2d layers.
    static func quantizedConvs(_ checkpoint: Checkpoint) -> [String] {
        let convs = checkpoint.tensors.filter { $0.name.hasSuffix(".weight") && $0.tensor.shape.count == 4 }
            .map { String($0.name.dropLast(".weight".count)) }
        return convs.dropFirst().filter { !$0.contains("skip_conv") && !$0.contains("downsample") }
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
