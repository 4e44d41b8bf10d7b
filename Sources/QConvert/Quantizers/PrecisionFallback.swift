// Automatic per-layer precision fallback: the layers whose weight rounding alone moves the network's
// output far more than the other layers' stay float (as onnxruntime's nodes_to_exclude, but measured).
import Foundation
import QGraph
import QRuntime

/// How far each layer's weight rounding alone moves the float network's output on calibration inputs:
/// sum ||y_l - y||^2 / sum ||y - mean(y)||^2 over the inputs and every graph output, y the float network's
/// outputs and y_l those with only layer l's weights rounded to `bits[l]` (uniform, per channel, max
/// clip: the round-to-nearest grid, whatever scheme will be used). Costs one network run per layer and input.
func weightSensitivities(_ model: FloatModel, bits: [String: Int], inputs: [[Float]]) throws -> [String: Double] {
    let reference = try outputs(of: model.graph, model.tensors, model.preprocessing, inputs: inputs)
    let spread = outputSpread(reference)
    var result: [String: Double] = [:]
    for node in model.graph.nodes {
        guard let layerBits = bits[node.name], let name = node.op.weightDescriptor?.values,
              let w = model.tensors[name], w.shape.count == 2 else { continue }
        let rounded = quantizeUniform(rows: w.floats, rows: w.shape[0], k: w.shape[1], bits: layerBits, clip: .max)
        var tensors = model.tensors
        tensors.set(name, StoredTensor(floats: rounded.dequantized(), shape: w.shape))
        let moved = try outputs(of: model.graph, tensors, model.preprocessing, inputs: inputs)
        var error = 0.0
        for (a, b) in zip(moved, reference) {
            for (x, y) in zip(a.joined(), b.joined()) { error += Double(x - y) * Double(x - y) }
        }
        result[node.name] = error / max(spread, .leastNormalMagnitude)
    }
    return result
}

/// Which layers stay float: those whose sensitivity is above `factor` x the median of all measured layers'
/// (none when factor <= 0 or fewer than 3 layers are measured, where a median says little).
struct FloatFallback {
    let sensitivities: [String: Double]
    let median: Double
    /// Most sensitive first.
    let layers: [String]

    init(_ sensitivities: [String: Double], factor: Double) {
        self.sensitivities = sensitivities
        let sorted = sensitivities.values.sorted()
        let n = sorted.count
        median = n == 0 ? 0 : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        guard factor > 0, n >= 3 else { layers = []; return }
        let bar = factor * median
        layers = sensitivities.filter { $0.value > bar }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
    }

    /// The table note of a layer kept float.
    func note(_ layer: String, bits: Int, factor: Double) -> String {
        let ratio = median > 0 ? sensitivities[layer]! / median : .infinity
        return String(format: "f32: automatic fallback, %d-bit rounding alone moves the output %.0fx as much as the median layer (--float-fallback %g)",
                      bits, ratio, factor)
    }
}

/// The float network's graph outputs on each input.
private func outputs(of graph: Graph, _ tensors: TensorStore, _ preprocessing: Preprocessing,
                     inputs: [[Float]]) throws -> [[[Float]]] {
    let session = Session(model: try inMemoryModel(graph: graph, tensors: tensors, preprocessing: preprocessing))
    return inputs.map { session.runOutputs($0) }
}

/// sum ||y - mean(y)||^2: each output element's spread over the inputs, summed.
private func outputSpread(_ outputs: [[[Float]]]) -> Double {
    guard !outputs.isEmpty else { return 0 }
    let flat = outputs.map { Array($0.joined()) }
    var spread = 0.0
    for j in 0..<flat[0].count {
        let mean = flat.reduce(0.0) { $0 + Double($1[j]) } / Double(flat.count)
        spread += flat.reduce(0.0) { $0 + (Double($1[j]) - mean) * (Double($1[j]) - mean) }
    }
    return spread
}
