// Sequential calibration for Hessian-aware rounding: each weight layer's input statistics are measured
// on the network as it will run, with the layers before it already quantized and every u8 activation
// rounded as the runtime rounds it, then the layer is quantized before any later layer is measured.
import Foundation
import QGraph
import QRuntime

/// The network as it will run once quantized, in f32: `assignActivationTypes` types the graph with every
/// layer of `quantizedLayers` quantized, then each value that would be u8 becomes a quantize -> dequantize
/// pair (the runtime's own rounding), so every f32 value equals what the u8 network holds.
struct QuantizationSimulation {
    var graph: Graph
    /// Weight layer name -> the value it reads in `graph` (rounded to u8 and back where the layer reads u8).
    var layerInputs: [String: String] = [:]

    init(graph original: Graph, quantizedLayers: Set<String>, ranges: [String: (min: Float, max: Float)]) throws {
        var typed = original
        for i in typed.nodes.indices where quantizedLayers.contains(typed.nodes[i].name) {
            switch typed.nodes[i].op {
            case .conv2d(var c): c.weight.scheme = .uniform; typed.nodes[i].op = .conv2d(c)
            case .linear(var l): l.weight.scheme = .uniform; typed.nodes[i].op = .linear(l)
            default: break
            }
        }
        try assignActivationTypes(&typed, ranges: ranges)
        var sim = Graph(input: Value(name: typed.input, shape: typed.value(typed.input)!.shape))
        var alias: [String: String] = [:]
        func roundTrip(_ name: String, from source: String, _ quant: ActivationQuant) throws {
            let u8 = try sim.append("\(name).u8", .quantize, inputs: [source], quant: quant)
            try sim.append(name, .dequantize, inputs: [u8])
            // its own node name: the value's name may be its producer's node name too (ONNX graphs name
            // values after nodes), and a second node of a layer's name was quantized again
            sim.nodes[sim.nodes.count - 1].name = "\(name).dequantize"
        }
        for node in typed.nodes {
            let inputs = node.inputs.map { alias[$0] ?? $0 }
            let quant = typed.value(node.output)!.quant
            switch node.op {
            case .dequantize:
                alias[node.output] = inputs[0]
            case .quantize:
                try roundTrip(node.output, from: inputs[0], quant)
            default:
                let raw = quant.isUInt8 ? "\(node.output).f32" : node.output
                try sim.append(raw, node.op, inputs: inputs)
                sim.nodes[sim.nodes.count - 1].name = node.name
                if quant.isUInt8 { try roundTrip(node.output, from: raw, quant) }
                if case .conv2d = node.op { layerInputs[node.name] = inputs[0] }
                if case .linear = node.op { layerInputs[node.name] = inputs[0] }
            }
        }
        sim.output = alias[typed.output] ?? typed.output
        graph = sim
    }

    /// The graph cut where a single f32 [H, W, C] value is all that later nodes read: (node range, the value
    /// it starts from, the value it hands on). Each piece runs alone as a model on the previous one's output.
    func segments() -> [(nodes: Range<Int>, input: String, output: String)] {
        let count = graph.nodes.count
        var lastUse: [String: Int] = [graph.output: count]
        for (i, node) in graph.nodes.enumerated() { for v in node.inputs { lastUse[v] = Swift.max(lastUse[v] ?? i, i) } }
        var produced: [String: Int] = [graph.input: -1]
        for (i, node) in graph.nodes.enumerated() { produced[node.output] = i }
        var cuts: [(Int, String)] = [(0, graph.input)]
        for p in 1..<Swift.max(1, count) {
            let live = lastUse.filter { produced[$0.key, default: count] < p && $0.value >= p }.map(\.key)
            guard live.count == 1, let v = graph.value(live[0]), v.quant == .float32, v.shape.count == 3 else { continue }
            cuts.append((p, live[0]))
        }
        return cuts.indices.map { i in
            let end = i + 1 < cuts.count ? cuts[i + 1].0 : count
            return (cuts[i].0..<end, cuts[i].1, i + 1 < cuts.count ? cuts[i + 1].1 : graph.output)
        }
    }

    /// One segment as a runnable model, with each weight layer's current op from `model` (quantized ones coded).
    func segmentModel(_ nodes: Range<Int>, input: String, output: String, model: FloatModel) throws -> Model {
        var current: [String: Op] = [:]
        for node in model.graph.nodes { current[node.name] = node.op }
        var g = Graph(input: Value(name: input, shape: graph.value(input)!.shape))
        for node in graph.nodes[nodes] {
            var op = node.op
            switch op {
            case .conv2d, .linear: op = current[node.name] ?? op
            default: break
            }
            try g.append(node.output, op, inputs: node.inputs, quant: graph.value(node.output)!.quant)
            g.nodes[g.nodes.count - 1].name = node.name
        }
        g.output = output
        return try inMemoryModel(graph: g, tensors: model.tensors, preprocessing: model.preprocessing)
    }
}

/// How many im2col rows per image go into H: about 64 K rows per layer over the set (at least 2,048, at
/// most 65,536), so H and the float target's cross moments are well determined (with 16 K rows GPTQ fitted
/// the sample: ResNet-56's output error on held-out calibration images fell by 5 % at 64 K) while their
/// cost (rows x K^2) stays a few GEMMs.
func hessianRowsPerImage(k: Int, images: Int) -> Int {
    let target = Swift.max(2048, Swift.min(65536, 64 * k))
    return Swift.max(1, (target + images - 1) / Swift.max(1, images))
}

/// Quantizes the weight layers named in `layers`, in dependency order, each after measuring its input
/// statistics on `inputs` (preprocessed calibration images) through the network as it will run
/// (`QuantizationSimulation`): the layers before it already replaced by `quantize`'s result. The network
/// runs piece by piece (`segments`), each piece's output kept for all images as the next piece's input;
/// within a piece, every layer whose input no unquantized layer of the piece feeds is measured in the
/// same pass. With a layer's float-network statistics in `floatStatistics` (its `sampledOutputs`, measured
/// on the same inputs), its statistics include their cross moments with this network's inputs (the same
/// rows are sampled: `statisticsSeed`). `quantize(model, layer, statistics)` must replace the layer's
/// weights in `model`.
func quantizeLayerByLayer(_ model: inout FloatModel, inputs: [[Float]], layers: Set<String>,
                          ranges: [String: (min: Float, max: Float)], floatStatistics: [String: LayerInputStatistics] = [:],
                          quantize: (inout FloatModel, String, LayerInputStatistics) throws -> Void,
                          progress: (Double) -> Void) throws {
    let sim = try QuantizationSimulation(graph: model.graph, quantizedLayers: layers, ranges: ranges)
    let segments = sim.segments()
    var cache = inputs
    var done = 0
    for (index, segment) in segments.enumerated() {
        var pending = sim.graph.nodes[segment.nodes].map(\.name).filter { layers.contains($0) }
        while !pending.isEmpty {
            // values fed (directly or not) by a pending layer of this piece
            var fed: Set<String> = []
            for node in sim.graph.nodes[segment.nodes]
            where pending.contains(node.name) || node.inputs.contains(where: fed.contains) {
                fed.insert(node.output)
            }
            let ready = pending.filter { !fed.contains(sim.layerInputs[$0]!) }
            let runner = Session(model: try sim.segmentModel(segment.nodes, input: segment.input, output: segment.output, model: model))
            var accumulators: [String: [(String, LayerInputAccumulator)]] = [:]
            for name in ready {
                let node = sim.graph.nodes.first { $0.name == name }!
                let input = sim.layerInputs[name]!
                let shape = sim.graph.value(input)!.shape
                let k = LayerInputAccumulator.reductionSize(node.op, inputShape: shape)
                let accumulator = LayerInputAccumulator(op: node.op, inputShape: shape,
                                                        rowsPerImage: hessianRowsPerImage(k: k, images: inputs.count),
                                                        seed: statisticsSeed(layer: name), floatOutputs: floatStatistics[name])
                accumulators[input, default: []].append((name, accumulator))
            }
            // layers that read the piece's input need only the cached inputs, not a run of the piece
            let inputOnly = accumulators.keys.allSatisfy { $0 == segment.input }
            for x in cache {
                guard !inputOnly else {
                    x.withUnsafeBufferPointer { values in for (_, accumulator) in accumulators[segment.input] ?? [] { accumulator.add(values) } }
                    continue
                }
                try observe(runner, x, segment.input) { name, values in
                    for (_, accumulator) in accumulators[name] ?? [] { accumulator.add(values) }
                }
            }
            for name in ready {
                let statistics = accumulators.values.joined().first { $0.0 == name }!.1.finish()
                try quantize(&model, name, statistics)
                done += 1
                progress(Double(done) / Double(Swift.max(1, layers.count)))
            }
            pending.removeAll { ready.contains($0) }
        }
        guard index + 1 < segments.count else { break }
        // the piece's output with its layers quantized: the next piece's input
        let runner = Session(model: try sim.segmentModel(segment.nodes, input: segment.input, output: segment.output, model: model))
        var next: [[Float]] = []
        next.reserveCapacity(cache.count)
        for x in cache {
            var output: [Float]?
            try observe(runner, x, segment.input) { name, values in if name == segment.output { output = Array(values) } }
            guard let output else { throw ConvertError("calibration: the runtime did not report '\(segment.output)'") }
            next.append(output)
        }
        cache = next
    }
}

/// Runs one input through a segment, reporting its input value too (the observer reports produced values only).
private func observe(_ session: Session, _ x: [Float], _ inputName: String,
                     _ body: (String, UnsafeBufferPointer<Float>) -> Void) throws {
    x.withUnsafeBufferPointer { body(inputName, $0) }
    try session.run(input: x) { name, values in body(name, values) }
}
