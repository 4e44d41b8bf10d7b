// Equal Bits (AAAI 2022): binary (or ternary, with a prune rate) weights with equal counts per filter.
import Foundation
import QCheckpoint
import QGraph

/// Every binary-activation conv of a Bi-Real network (the block convs, which read a sign node): per output filter the
/// a = Cin*kh*kw latent weights sorted ascending give codes (utils.halfmask): the lowest
/// int((1-k)/2*a) -> -1, the next up to int((1+k)/2*a) -> 0, the rest -> +1 (k = prune rate; k = 0:
/// half -1, half +1). W = float32(sqrt(2) / sqrt(fan_in)) * code: the scale is not saved, it is
/// recomputed. Activations into these convs are sign(x) with sign(0) = 0 (the architecture's sign ops).
/// The prune rate is not in the checkpoint: --prune-rate, else the trainer's file name `model<k>.th`.
struct EqualBitsRecipe: Recipe {
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

    /// The block convs' latent weights become their Equal Bits codes times the recomputed scale.
    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph] {
        let fromName = Self.pruneRate(fromFileName: checkpoint.url)
        let k = options.method.pruneRate ?? fromName ?? 0
        guard (0..<1).contains(k) else { throw ConvertError("Equal Bits prune rate must be in [0, 1), got \(k)") }
        var codes: [String: MethodLayer] = [:]
        for layer in model.graph.signInputConvs.sorted() {
            guard let (latent, shape) = model.pytorchWeights(of: layer) else { continue }
            let rows = shape[0], a = latent.count / rows
            let low = Int((1 - k) / 2 * Double(a)), high = Int((1 + k) / 2 * Double(a))
            var ternary = [Int8](repeating: 0, count: latent.count)
            for r in 0..<rows {
                // ascending rank; equal latents keep their index order (a stable sort, as argsort of distinct values)
                let order = (0..<a).sorted { (x: Int, y: Int) -> Bool in
                    let (lx, ly) = (latent[r * a + x], latent[r * a + y])   // typed: Swift 6.2 times out otherwise
                    return lx < ly || (lx == ly && x < y)
                }
                for (rank, j) in order.enumerated() { ternary[r * a + j] = rank < low ? -1 : rank < high ? 0 : 1 }
            }
            let scale = Float(2.0.squareRoot() / Double(a).squareRoot())
            codes[layer] = codesForValues(ternary.map { scale * Float($0) })
        }
        var result = model
        try result.setWeights(from: codes)
        let source = options.method.pruneRate != nil ? "--prune-rate" : fromName != nil ? "file name" : "default"
        return [RecipeGraph(model: result, codes: codes, activations: options.methodActivations,
                            notes: ["Equal Bits: \(codes.count) block convs, prune rate \(k) (\(source)): "
                                    + (k == 0 ? "binary, half -1 / half +1 per filter" : "ternary")])]
    }
}
