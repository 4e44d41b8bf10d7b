// Equal Bits (AAAI 2022): binary (or ternary, with a prune rate) weights with equal counts per filter.
import Foundation
import QCheckpoint
import QGraph

/// Every block conv (`layer<L>.<B>.conv1/conv2`) of a Bi-Real network: per output filter the
/// a = Cin*kh*kw latent weights sorted ascending give codes (utils.halfmask): the lowest
/// int((1-k)/2*a) -> -1, the next up to int((1+k)/2*a) -> 0, the rest -> +1 (k = prune rate; k = 0:
/// half -1, half +1). W = float32(sqrt(2) / sqrt(fan_in)) * code: the scale is not saved, it is
/// recomputed. Activations into these convs are sign(x) with sign(0) = 0 (the architecture's sign ops).
/// The prune rate is not in the checkpoint: --prune-rate, else the trainer's file name `model<k>.th`.
struct EqualBitsRecipe: MethodRecipe {
    let name = "equal-bits"

    func detect(_ checkpoint: Checkpoint) -> String? {
        guard checkpoint.tensor("prelu.weight") != nil, checkpoint.tensor("layer1.0.nonlinear.weight") != nil,
              checkpoint.tensor("layer1.0.conv1.weight") != nil else { return nil }
        return "Bi-Real blocks with a shared PReLU 'layer<L>.<B>.nonlinear' and a stem 'prelu' (Equal Bits)"
    }

    /// The prune rate the trainer encodes in its file name (model0.5.th -> 0.5), if any.
    static func pruneRate(fromFileName url: URL) -> Double? {
        var name = url.lastPathComponent
        for ext in [".th", ".pth.tar", ".pth", ".pt", ".tar"] where name.hasSuffix(ext) { name = String(name.dropLast(ext.count)) }
        guard name.hasPrefix("model"), let k = Double(name.dropFirst("model".count)), (0..<1).contains(k) else { return nil }
        return k
    }

    func prepare(_ checkpoint: Checkpoint, options: MethodOptions) throws -> PreparedCheckpoint {
        let k = options.pruneRate ?? Self.pruneRate(fromFileName: checkpoint.url) ?? 0
        guard (0..<1).contains(k) else { throw ConvertError("Equal Bits prune rate must be in [0, 1), got \(k)") }
        var set: [String: CheckpointTensor] = [:], layers: [String: MethodLayer] = [:]
        let convs = checkpoint.tensors.map(\.name).filter {
            $0.hasPrefix("layer") && ($0.hasSuffix(".conv1.weight") || $0.hasSuffix(".conv2.weight"))
        }
        for key in convs {
            let t = checkpoint.tensor(key)!
            guard t.shape.count == 4 else { throw ConvertError("Equal Bits conv \(key) is not 4-D: \(t.shape)") }
            let rows = t.shape[0], a = t.elementCount / rows
            let latent = t.floatValues()
            let low = Int((1 - k) / 2 * Double(a)), high = Int((1 + k) / 2 * Double(a))
            var codes = [Int8](repeating: 0, count: latent.count)
            for r in 0..<rows {
                // ascending rank; equal latents keep their index order (a stable sort, as argsort of distinct values)
                let order = (0..<a).sorted { (x: Int, y: Int) -> Bool in
                    let (lx, ly) = (latent[r * a + x], latent[r * a + y])   // typed: Swift 6.2 times out otherwise
                    return lx < ly || (lx == ly && x < y)
                }
                for (rank, j) in order.enumerated() { codes[r * a + j] = rank < low ? -1 : rank < high ? 0 : 1 }
            }
            let scale = Float(2.0.squareRoot() / Double(a).squareRoot())
            let w = codes.map { scale * Float($0) }
            set[key] = CheckpointTensor(shape: t.shape, floats: w)
            layers[String(key.dropLast(".weight".count))] = codesForValues(w)
        }
        var prepared = PreparedCheckpoint(checkpoint: checkpoint.replacing(set), layers: layers)
        let source = options.pruneRate != nil ? "--prune-rate" : Self.pruneRate(fromFileName: checkpoint.url) != nil ? "file name" : "default"
        prepared.notes.append("Equal Bits: \(layers.count) block convs, prune rate \(k) (\(source)): "
            + (k == 0 ? "binary, half -1 / half +1 per filter" : "ternary"))
        return prepared
    }
}
