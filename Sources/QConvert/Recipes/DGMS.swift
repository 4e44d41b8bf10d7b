// DGMS (Differentiable Gaussian Mixture weight Sharing, ICML 2022): hard Gaussian-mixture assignment.
import Foundation
import QCheckpoint
import QGraph

/// Layers with `<layer>.sub_distribution.{mu, pi_k, pi_zero, sigma_zero, sigma, temperature}` get the
/// DGMS inference weights (SEEDS.md §1), in float32 with PyTorch's operation order:
///   pi  = |[pi_zero, pi_k]| / sum |[pi_zero, pi_k]|
///   r_j = (1 / sqrt(2*pi * s_j^2)) * exp(-((w - m_j)^2 / (2 * s_j^2))) * pi_j   (m_0 = 0, s_0 = sigma_zero)
///   r_j = r_j / (sum_j r_j + 1e-11);  p = softmax(r / temperature);  k* = argmax p (first index wins)
///   w_q = 0 if k* = 0 else mu_{k*}
/// A weight far from every component underflows every r_j to 0: p is uniform and k* = 0 (weight 0).
/// Codes are k*, levels [0, mu_1, ..., mu_{K-1}].
struct DGMSRecipe: Recipe {
    let name = "dgms"
    /// Float activations in the method's own inference; the integer kernels with u8 activations are the fast path.
    let defaultActivations = ActivationMode.u8

    func detect(_ checkpoint: Checkpoint) -> String? {
        let layers = checkpoint.layers(having: [".sub_distribution.mu", ".sub_distribution.pi_k"])
        guard let first = layers.first, let mu = checkpoint.tensor(first + ".sub_distribution.mu") else { return nil }
        return "\(layers.count) layers have <layer>.sub_distribution.{mu,pi_k,...} (DGMS Gaussian mixtures, K = \(mu.elementCount + 1))"
    }

    /// The latent weights stay; the mixtures are the recipe's own.
    func sourceCheckpoint(_ checkpoint: Checkpoint, options: ConversionOptions) throws -> Checkpoint {
        checkpoint.replacing([:], removing: Set(checkpoint.tensors.map(\.name).filter { $0.contains(".sub_distribution.") }))
    }

    /// Every layer with a mixture gets its weights assigned to the mixture's components.
    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph] {
        var codes: [String: MethodLayer] = [:], underflow = 0
        for index in model.graph.weightLayerIndices {
            let layer = model.graph.nodes[index].name
            guard checkpoint.tensor("\(layer).sub_distribution.mu") != nil, let weight = model.pytorchWeights(of: layer) else { continue }
            func values(_ part: String) throws -> [Float] {
                guard let t = checkpoint.tensor("\(layer).sub_distribution.\(part)") else {
                    throw ConvertError("DGMS layer \(layer) has no sub_distribution.\(part)")
                }
                return t.floatValues()
            }
            let mu = try values("mu"), piK = try values("pi_k"), piZero = try values("pi_zero")
            let sigmaZero = try values("sigma_zero"), sigma = try values("sigma"), temperature = try values("temperature")
            guard piK.count == mu.count, sigma.count == mu.count, piZero.count == 1, sigmaZero.count == 1,
                  temperature.count == 1 else {
                throw ConvertError("DGMS layer \(layer): sub_distribution sizes do not agree (mu \(mu.count), pi_k \(piK.count), sigma \(sigma.count))")
            }
            let (assigned, zeros) = Self.assign(weight.values, mu: mu, piK: piK, piZero: piZero[0],
                                                sigmaZero: sigmaZero[0], sigma: sigma, temperature: temperature[0])
            underflow += zeros
            codes[layer] = MethodLayer(codes: assigned, levels: [Float(0)] + mu)
        }
        var result = model
        try result.setWeights(from: codes)
        return [RecipeGraph(model: result, codes: codes, activations: options.methodActivations,
                            notes: ["DGMS: \(codes.count) layers assigned to their mixtures; \(underflow) weights underflowed every component (-> 0)"])]
    }

    /// k* per weight (see the type's comment) and how many weights underflowed every component.
    static func assign(_ w: [Float], mu: [Float], piK: [Float], piZero: Float, sigmaZero: Float, sigma: [Float],
                       temperature: Float) -> ([UInt8], Int) {
        let k = mu.count + 1
        let piAbs = ([piZero] + piK).map { abs($0) }
        let piSum = piAbs.reduce(Float(0), +)
        let pi = piAbs.map { $0 / piSum }
        let means = [Float(0)] + mu, sigmas = [sigmaZero] + sigma
        let twoPi = Float(2 * Double.pi)
        let front = sigmas.map { s in 1 / (twoPi * (s * s)).squareRoot() }
        let twoVar = sigmas.map { s in 2 * (s * s) }
        var r = [Float](repeating: 0, count: k), codes = [UInt8](repeating: 0, count: w.count)
        var underflow = 0
        for (i, x) in w.enumerated() {
            var sum: Float = 0
            for j in 0..<k {
                let d = x - means[j]
                r[j] = front[j] * expf(-((d * d) / twoVar[j])) * pi[j]
                sum += r[j]
            }
            if sum == 0 { underflow += 1 }
            // softmax(r / (sum + eps) / T): its argmax is that of exp(x_j - max x), first index on ties
            var best = 0, top = -Float.infinity
            let scaled = (0..<k).map { r[$0] / (sum + 1e-11) / temperature }
            let m = scaled.max()!
            for j in 0..<k {
                let e = expf(scaled[j] - m)
                if e > top { top = e; best = j }
            }
            codes[i] = UInt8(best)
        }
        return (codes, underflow)
    }

    func preprocessing(arch: String, familyDefault: Preprocessing) -> Preprocessing {
        // DGMS trains CIFAR models with mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010)
        guard familyDefault.inputSize == [32, 32] else { return familyDefault }
        var p = familyDefault
        p.mean = [0.4914, 0.4822, 0.4465]
        p.std = [0.2023, 0.1994, 0.2010]
        return p
    }
}
