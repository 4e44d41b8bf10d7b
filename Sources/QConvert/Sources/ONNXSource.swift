// The ONNX graph source: an ONNX model's graph (read and validated by QONNX) translated node by node into
// LowBit's float graph (ONNXGraphBuilder and its op files). Only the nodes the outputs depend on are
// translated; the input's NCHW shape comes from the graph (or --input-size), the preprocessing defaults
// to ImageNet mean/std at the graph's H, W since ONNX carries none. docs/ONNX.md.
import Foundation
import QCheckpoint
import QGraph
import QONNX

/// An ONNX model as a source of float networks.
struct ONNXSource: GraphSource {
    /// The opsets of the default domain LowBit reads.
    static let opsets: ClosedRange<Int64> = 13...21

    let model: ONNXModel
    /// The initializers by name (the model's, or a recipe's view of them: `ConverterInput.checkpoint`).
    let initializers: Checkpoint
    /// --input-size: [H, W] instead of the graph's (needed when the graph leaves H, W open).
    let inputSize: [Int]?

    func floatModel(arch: String?) throws -> (FloatModel, evidence: String) {
        if let arch, arch != "auto" {
            throw ConvertError("--arch \(arch) does not apply to ONNX models: the graph says what the network is")
        }
        guard let opset = model.defaultOpset, Self.opsets.contains(opset) else {
            throw ConvertError("ONNX opset \(model.defaultOpset.map(String.init) ?? "none"): LowBit reads opsets "
                + "\(Self.opsets.lowerBound)-\(Self.opsets.upperBound) (torch.onnx.export(..., opset_version=\(Self.opsets.lowerBound) or later))")
        }
        let graph = model.graph
        guard graph.inputs.count == 1, let input = graph.inputs.first else {
            throw ConvertError("the ONNX graph has \(graph.inputs.count) inputs (\(graph.inputs.map(\.name).joined(separator: ", "))); LowBit runs one image input")
        }
        guard (1...64).contains(graph.outputs.count) else {
            throw ConvertError("the ONNX graph has \(graph.outputs.count) outputs; LowBit runs networks with 1 to 64 outputs")
        }
        let outputNames = graph.outputs.map(\.name)
        let (channels, height, width) = try imageShape(input)
        let nodes = Self.nodesNeeded(for: outputNames, in: graph.nodes)
        var builder = ONNXGraphBuilder(input: input.name, height: height, width: width, channels: channels,
                                       initializers: initializers.tensors, nodes: nodes, outputs: outputNames)
        builder.quantization.fourBit = graph.fourBitInitializers
        for node in nodes { try builder.translate(node) }
        let results = try outputNames.map { name in
            guard case .tensor(let result, _)? = builder.value(name), result != builder.graph.input else {
                throw ConvertError("the ONNX graph's output '\(name)' is a constant or the input itself: nothing to run")
            }
            return result
        }
        for name in outputNames where builder.quantization.pending[name] != nil {
            throw ConvertError("the ONNX graph's output '\(name)' is a QuantizeLinear's integers; LowBit's outputs are float")
        }
        guard Set(results).count == results.count else {
            throw ConvertError("the ONNX graph's outputs \(outputNames) name one tensor twice; LowBit writes each output once")
        }
        builder.graph.setOutputs(results)
        try builder.graph.validate(tensors: builder.tensors)
        let mean: [Float] = channels == 3 ? [0.485, 0.456, 0.406] : [0.449]
        let std: [Float] = channels == 3 ? [0.229, 0.224, 0.225] : [0.226]
        let preprocessing = Preprocessing(inputSize: [height, width], channels: channels, mean: mean, std: std)
        let evidence = "ONNX model, opset \(opset)" + (model.producer.isEmpty ? "" : " from \(model.producer)")
            + ": \(nodes.count) of \(graph.nodes.count) nodes feed output\(outputNames.count == 1 ? "" : "s") "
            + outputNames.map { "'\($0)'" }.joined(separator: ", ") + ", \(builder.graph.nodes.count) LowBit nodes"
        let declared = builder.quantization.declared
        var model = FloatModel(arch: "onnx", graph: builder.graph, tensors: builder.tensors, preprocessing: preprocessing, labels: [],
                               outputNames: outputNames)
        model.declared = declared
        return (model, evidence + (declared.isEmpty ? "" : "; QDQ: \(declared.weights.count) layers' codes and "
            + "\(declared.activations.count) activation quantizations from the file"))
    }

    /// C, H, W of the image input: FLOAT [N, C, H, W] with N 1 or open, C 1 or 3, H and W fixed or given by
    /// --input-size.
    private func imageShape(_ input: ONNXValueInfo) throws -> (Int, Int, Int) {
        let what = "ONNX input '\(input.name)'"
        guard input.elementType == .float else {
            throw ConvertError("\(what) is \(input.elementType?.name ?? "not a typed tensor"); LowBit feeds FLOAT images")
        }
        guard let shape = input.shape, shape.count == 4 else {
            throw ConvertError("\(what) has shape \(input.shape.map { "\($0)" } ?? "unknown"); LowBit feeds [1, C, H, W] images (NCHW)")
        }
        if case .value(let n) = shape[0], n != 1 {
            throw ConvertError("\(what) has batch size \(n); LowBit runs batch 1 (export with a batch of 1 or a dynamic batch axis)")
        }
        guard case .value(let c) = shape[1], c == 1 || c == 3 else {
            throw ConvertError("\(what) has \(shape[1]) channels; LowBit feeds 1 (gray) or 3 (RGB) channels")
        }
        let hw: [Int]
        if let inputSize {
            hw = inputSize
        } else if case .value(let h) = shape[2], case .value(let w) = shape[3] {
            hw = [h, w]
        } else {
            throw ConvertError("\(what) has open height/width (\(shape[2]), \(shape[3])): pass --input-size H,W")
        }
        guard hw.allSatisfy({ (1...16384).contains($0) }) else { throw ConvertError("\(what): input size \(hw) is not within 1...16384") }
        return (c, hw[0], hw[1])
    }

    /// The nodes the `outputs` depend on, in their (execution) order.
    static func nodesNeeded(for outputs: [String], in nodes: [ONNXNode]) -> [ONNXNode] {
        var needed = Set(outputs)
        var keep = [Bool](repeating: false, count: nodes.count)
        for (i, node) in nodes.enumerated().reversed() where node.outputs.contains(where: needed.contains) {
            keep[i] = true
            needed.formUnion(node.inputs.filter { !$0.isEmpty })
        }
        return nodes.indices.filter { keep[$0] }.map { nodes[$0] }
    }
}
