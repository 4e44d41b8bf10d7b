// Pass: fold inference BatchNorm into the preceding conv (in float, before any quantization).
import QGraph

/// conv -> bn becomes one conv with  s = gamma / sqrt(var + eps),  W' = W * s[oc],  b' = (b - mean) * s + beta.
/// Applies when the conv's output feeds only the BatchNorm. BatchNorms that follow anything else stay.
/// Returns s per folded conv (node name -> [OC]), for recipes whose weights are codes times a scale.
@discardableResult
func foldBatchNorm(_ model: inout FloatModel) throws -> [String: [Float]] {
    var factors: [String: [Float]] = [:]
    var i = 0
    while i < model.graph.nodes.count {
        let node = model.graph.nodes[i]
        guard case .batchNorm(let bn) = node.op,
              let p = model.graph.producer(of: node.inputs[0]),
              case .conv2d(var conv) = model.graph.nodes[p].op,
              conv.weight.scheme == .float32, !conv.residual, conv.activation == .none,
              model.graph.consumers(of: node.inputs[0]) == [i],
              let wName = conv.weight.values else {
            i += 1
            continue
        }
        let gamma = model.tensors[bn.gamma]!.floats, beta = model.tensors[bn.beta]!.floats
        let mean = model.tensors[bn.mean]!.floats, variance = model.tensors[bn.variance]!.floats
        let w = model.tensors[wName]!
        var rows = w.floats
        let k = w.shape[1]
        var bias = conv.bias.map { model.tensors[$0]!.floats } ?? [Float](repeating: 0, count: conv.outChannels)
        var scales = [Float](repeating: 1, count: conv.outChannels)
        for oc in 0..<conv.outChannels {
            let s = gamma[oc] / (variance[oc] + bn.eps).squareRoot()
            for j in 0..<k { rows[oc * k + j] *= s }
            bias[oc] = (bias[oc] - mean[oc]) * s + beta[oc]
            scales[oc] = s
        }
        factors[model.graph.nodes[p].name] = scales
        model.tensors.set(wName, StoredTensor(floats: rows, shape: w.shape))
        let biasName = conv.bias ?? "\(model.graph.nodes[p].name).bias"
        model.tensors.set(biasName, StoredTensor(floats: bias, shape: [conv.outChannels]))
        conv.bias = biasName
        for t in [bn.gamma, bn.beta, bn.mean, bn.variance] { model.tensors.remove(t) }
        let convOut = model.graph.nodes[p].output
        model.graph.nodes[p].op = .conv2d(conv)
        model.graph.nodes[p].output = node.output
        model.graph.nodes.remove(at: i)
        model.graph.removeValue(convOut)
    }
    return factors
}
