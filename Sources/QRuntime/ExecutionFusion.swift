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
// 3. (any network with static u8 activations) dequantize -> a pointwise activation (SiLU, sigmoid,
//    hardswish, hardsigmoid) -> quantize: one 256-entry table lookup (qk_lookup_u8) tabulated at plan time
//    by the three steps' own kernels, so the same bits (tested) in one pass over bytes; without the
//    quantize (the activation's floats feed a squeeze-excite branch), a lookup into floats (qk_lookup_f32).
// 4. quantize -> max pool of the codes (a dynamically quantized stem, AssignActivationTypes.swift): the pool
//    runs on the floats and writes the codes of each window's maximum (qk_maxpool_f32_u8): the same codes,
//    quantization being monotonic (tested), without writing the codes of the whole input first.
//
// Fused-away f32 values are never written, so a run's observer does not see them.
import QGraph
import QKernels

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

extension Graph {
    /// Fusion 3: dequantize of a fixed u8 scale -> pointwise activation, the dequantize output read by the
    /// activation only and not a graph output: a function of the code, run as one 256-entry table lookup
    /// made at plan time by the steps' own kernels (so the same bits). With a quantize to a fixed u8 scale
    /// as the activation's only reader (and the activation output not a graph output), the table goes to
    /// codes and covers the quantize too (`quantize` set); else it gives the activation's floats.
    /// Dequantize index -> (activation index, quantize index or nil, function).
    func lookupChains() -> [Int: (pointwise: Int, quantize: Int?, function: PointwiseFunction)] {
        var chains: [Int: (Int, Int?, PointwiseFunction)] = [:]
        func fixedU8(_ value: String) -> Bool {
            if case .uint8 = self.value(value)?.quant { return true }
            return false
        }
        for (d, node) in nodes.enumerated() where node.op == .dequantize && fixedU8(node.inputs[0]) {
            guard !outputs.contains(node.output), consumers(of: node.output).count == 1,
                  let p = consumers(of: node.output).first, case .defined(let op) = nodes[p].op,
                  let function = PointwiseFunction(op) else { continue }
            let readers = consumers(of: nodes[p].output)
            if !outputs.contains(nodes[p].output), readers.count == 1, nodes[readers[0]].op == .quantize,
               fixedU8(nodes[readers[0]].output) {
                chains[d] = (p, readers[0], function)
            } else {
                chains[d] = (p, nil, function)
            }
        }
        return chains
    }
}

/// The tables of a lookup chain, through the steps' own kernels: code -> f(dequantize(code)) ...
func lookupTable(input: (scale: Float, zero: Int32), function: PointwiseFunction, memory: OwnedMemory) -> UnsafePointer<Float> {
    let codes = (0..<256).map { UInt8($0) }
    var x = [Float](repeating: 0, count: 256)
    qk_dequantize_u8(256, codes, input.scale, input.zero, &x)
    let table = memory.allocate(256 * 4).bindMemory(to: Float.self, capacity: 256)
    x.withUnsafeBufferPointer { function.run(256, $0.baseAddress!, table) }
    return UnsafePointer(table)
}

/// ... and code -> quantize(f(dequantize(code))).
func lookupTable(input: (scale: Float, zero: Int32), function: PointwiseFunction, output: (scale: Float, zero: Int32),
                 memory: OwnedMemory) -> UnsafePointer<UInt8> {
    let floats = lookupTable(input: input, function: function, memory: memory)
    let table = memory.allocate(256).bindMemory(to: UInt8.self, capacity: 256)
    qk_quantize_u8(256, floats, 1 / output.scale, output.zero, table)   // the quantize step's arithmetic
    return UnsafePointer(table)
}

/// 1 / scale, except that a scale that is exactly the float nearest 1/n for an integer n gives n itself
/// (1 / Float(1 / 7) is 7.0000005): an epilogue then quantizes with exactly the multiplier DoReFa's
/// codes were made with.
func inverseScale(_ scale: Float) -> Float {
    let n = (1 / Double(scale)).rounded()
    return n >= 1 && n <= 65_536 && 1 / Float(n) == scale ? Float(n) : 1 / scale
}

extension Graph {
    /// Fusion 4: a quantize whose codes only a max pool reads (and not a graph output). Quantize index ->
    /// max pool index.
    func poolChains() -> [Int: Int] {
        var chains: [Int: Int] = [:]
        for (q, node) in nodes.enumerated() where node.op == .quantize && !outputs.contains(node.output) {
            let readers = consumers(of: node.output)
            guard readers.count == 1, case .maxPool = nodes[readers[0]].op else { continue }
            chains[q] = readers[0]
        }
        return chains
    }
}
