// Plan-time fusion of Any-Precision's DoReFa activations on the integer path (issue #16). The stored graph
// keeps the method's form — a layer, then DoReFa(k) in f32, then its exact u8 codes P (scale 1/n, zero 0,
// n = 2^k - 1) — and the planner runs the same arithmetic in fewer passes over memory:
//
// 1. conv / linear on u8 input -> DoReFa(k) -> quantize: the layer writes the codes itself. Its epilogue
//    clamps y to [0, 1] and stores lrintf(y * n) (QK_OUTPUT_U8 with inverse scale exactly n), which is
//    round_half_even(clamp(y, 0, 1) * n), the code the two steps wrote: the same bits (tested).
// 2. BatchNorm -> DoReFa(k) -> quantize (a pre-activation block's entry): one step,
//    qk_affine_dorefa_u8 (the affine and DoReFa arithmetic, then the code directly): the same bits (tested).
//
// Fused-away f32 values are never written, so a run's observer does not see them.
import QGraph

extension Graph {
    /// The DoReFa level count n of a u8 value quantized with scale 1/n, zero point 0 (n = 2^k - 1, k 1...8),
    /// or nil.
    func doReFaLevels(ofCodes value: String) -> Int? {
        guard case .uint8(let scale, 0)? = self.value(value)?.quant else { return nil }
        return (1...8).map { (1 << $0) - 1 }.first { scale == 1 / Float($0) }
    }

    /// Index of the DoReFa(k) node whose output `quantize` node `q` turns into exact codes (scale 1/n,
    /// zero point 0) and nothing else reads; nil otherwise.
    private func soleDoReFa(feeding q: Int) -> (index: Int, bits: Int)? {
        guard nodes[q].op == .quantize, let d = producer(of: nodes[q].inputs[0]),
              case .doReFa(let bits) = nodes[d].op, doReFaLevels(ofCodes: nodes[q].output) == (1 << bits) - 1,
              consumers(of: nodes[d].output) == [q] else { return nil }
        return (d, bits)
    }

    /// The graph with every u8-input conv / linear whose only reader is a DoReFa(k) read only by its
    /// quantize node writing the codes itself (fusion 1 above); everything else unchanged.
    func fusingDoReFaIntoEpilogues() -> Graph {
        var g = self
        var q = 0
        while q < g.nodes.count {
            guard let (d, _) = g.soleDoReFa(feeding: q), let p = g.producer(of: g.nodes[d].inputs[0]),
                  g.consumers(of: g.nodes[p].output) == [d], g.value(g.nodes[p].inputs[0])?.quant.isUInt8 == true
            else { q += 1; continue }
            let clamp = Activation.hardtanh(min: 0, max: 1)
            switch g.nodes[p].op {
            case .conv2d(var c) where c.activation == .none: c.activation = clamp; g.nodes[p].op = .conv2d(c)
            case .linear(var l) where l.activation == .none: l.activation = clamp; g.nodes[p].op = .linear(l)
            default: q += 1; continue
            }
            let (layerOut, doReFaOut) = (g.nodes[p].output, g.nodes[d].output)
            g.nodes[p].output = g.nodes[q].output
            g.nodes.remove(at: max(d, q))
            g.nodes.remove(at: min(d, q))
            g.removeValue(layerOut)
            g.removeValue(doReFaOut)
            q = p + 1
        }
        return g
    }

    /// BatchNorm -> DoReFa(k) -> quantize chains whose BatchNorm and DoReFa outputs have no other reader
    /// (fusion 2 above): BatchNorm index -> (DoReFa index, quantize index, k).
    func affineDoReFaChains() -> [Int: (doReFa: Int, quantize: Int, bits: Int)] {
        var chains: [Int: (Int, Int, Int)] = [:]
        for q in nodes.indices {
            guard let (d, bits) = soleDoReFa(feeding: q), let b = producer(of: nodes[d].inputs[0]),
                  case .batchNorm = nodes[b].op, consumers(of: nodes[b].output) == [d] else { continue }
            chains[b] = (d, q, bits)
        }
        return chains
    }
}

/// 1 / scale, except that a scale that is exactly the float nearest 1/n for an integer n gives n itself
/// (1 / Float(1 / 7) is 7.0000005): an epilogue then quantizes with exactly the multiplier DoReFa's
/// codes were made with.
func inverseScale(_ scale: Float) -> Float {
    let n = (1 / Double(scale)).rounded()
    return n >= 1 && n <= 65_536 && 1 / Float(n) == scale ? Float(n) : 1 / scale
}
