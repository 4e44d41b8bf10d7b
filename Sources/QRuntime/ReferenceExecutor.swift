// The float64 reference executor: one graph of a model evaluated node by node in Double with plain loops
// (ReferenceOps.swift), for validating conversions. Slow by design; docs/METHODS.md "The float64 reference".
import QGraph
import QKernels   // qk_packed_bytes / qk_unpack_codes only: they define the file's packed code layout

/// Runs one graph of a `Model` in float64, independently of the engine's plan and kernels.
///
/// Every value is an array of Double; weights are decoded exactly (f32 tensors as stored; coded weights
/// as Double(scale[oc]) * Double(level of the code), `WeightDescriptor.exactValue`); each node computes
/// what its op means in the graph IR (QGraph/Ops.swift), nothing is fused or reordered beyond what the
/// graph holds. The answer depends on no summation order: it is what the model's constants compute in
/// exact arithmetic up to ~1e-16 relative, which is what float64 PyTorch computes for the same model up
/// to the float32 rounding of the stored constants (which can still move a coarse quantizer's decision:
/// docs/METHODS.md, "The float64 reference"). Graphs with u8 activations are refused. Immutable; safe to
/// share between threads.
public struct ReferenceExecutor: Sendable {
    /// One node: the value indices it reads and writes, its input/output shapes, its op.
    struct Step: Sendable {
        var name: String
        var inputs: [Int]
        var output: Int
        var inShape: [Int]
        var outShape: [Int]
        var op: ReferenceOp
        /// Values whose last reader this step is (freed after it).
        var releases: [Int]
    }

    /// The bit width whose graph this runs (nil: the model's default graph).
    public let bits: Int?
    /// The number of input values ([H, W, C]) `run` takes.
    public let inputElementCount: Int
    let preprocessing: Preprocessing
    let valueNames: [String]
    let inputIndex: Int
    let outputIndex: Int
    let steps: [Step]

    /// Decodes the graph of width `bits` (the default graph when nil) of `model`. Fails for a width the
    /// model lacks and for graphs with u8-quantized activations.
    public init(model: Model, bits: Int? = nil) throws {
        let graph = try model.referenceGraph(bits: bits)
        let what = bits.map { "the \($0)-bit graph of this model" } ?? "this model"
        if let v = graph.values.first(where: { $0.quant.isUInt8 }) {
            throw RuntimeError("the float64 reference runs models with float activations; \(what) has u8-quantized "
                               + "activations (value '\(v.name)'), as models converted with --activations u8 or by "
                               + "post-training quantization have: their meaning is the integer engine's")
        }
        self.bits = bits
        preprocessing = model.info.preprocessing
        inputElementCount = model.inputElementCount
        valueNames = graph.values.map(\.name)
        let index = Dictionary(uniqueKeysWithValues: graph.values.enumerated().map { ($1.name, $0) })
        inputIndex = index[graph.input]!
        outputIndex = index[graph.output]!
        var lastReader = [Int](repeating: -1, count: graph.values.count)
        for (s, node) in graph.nodes.enumerated() { for name in node.inputs { lastReader[index[name]!] = s } }
        steps = try graph.nodes.enumerated().map { s, node in
            let inputs = node.inputs.map { index[$0]! }
            var inShape = graph.values[inputs[0]].shape, outShape = graph.values[index[node.output]!].shape
            if case .linear = node.op { (inShape, outShape) = ([1, 1] + inShape, [1, 1] + outShape) }  // a 1x1 conv
            return Step(name: node.name, inputs: inputs, output: index[node.output]!, inShape: inShape, outShape: outShape,
                        op: try ReferenceOp(node, tensors: model.tensors),
                        releases: Array(Set(inputs.filter { lastReader[$0] == s && $0 != index[graph.output]! })))
        }
    }

    /// The logits for a preprocessed input ([H, W, C] floats, `inputElementCount` of them), in Double.
    public func run(_ input: [Float]) -> [Double] { run(input) { _, _ in } }

    /// Runs and reports every value the graph produces, in execution order, to `observer` (value name,
    /// contents); returns the logits.
    public func run(_ input: [Float], observer: (String, [Double]) throws -> Void) rethrows -> [Double] {
        precondition(input.count == inputElementCount, "input has \(input.count) values, the model needs \(inputElementCount)")
        var values = [[Double]](repeating: [], count: valueNames.count)
        values[inputIndex] = input.map(Double.init)
        for step in steps {
            values[step.output] = evaluate(step, on: step.inputs.map { values[$0] })
            try observer(valueNames[step.output], values[step.output])
            for i in step.releases { values[i] = [] }
        }
        return values[outputIndex]
    }

    /// Preprocesses an image with the model's stored preprocessing (as `Session.classify` does), then runs it.
    public func classify(_ image: Image) throws -> [Double] {
        run(try Preprocessor.apply(preprocessing, to: image))
    }

    /// The output of `step` on the given input values (tests evaluate single nodes on the engine's inputs).
    func evaluate(_ step: Step, on inputs: [[Double]]) -> [Double] {
        step.op.evaluate(inputs, inShape: step.inShape, outShape: step.outShape)
    }
}

extension Model {
    /// Runs a preprocessed input through the float64 reference (`ReferenceExecutor`) of width `bits` (the
    /// default graph when nil) and returns the logits in Double. Decodes the weights on every call: keep a
    /// `ReferenceExecutor` to run many inputs.
    public func referenceRun(_ input: [Float], bits: Int? = nil) throws -> [Double] {
        try ReferenceExecutor(model: self, bits: bits).run(input)
    }

    /// Preprocesses an image with the model's stored preprocessing and runs it through the float64
    /// reference of width `bits` (nil: the default graph); the logits in Double.
    public func referenceClassify(_ image: Image, bits: Int? = nil) throws -> [Double] {
        try ReferenceExecutor(model: self, bits: bits).classify(image)
    }

    /// The graph of width `bits`, or the default graph; the errors of `Session.setBits` for a width the
    /// model lacks.
    func referenceGraph(bits: Int?) throws -> Graph {
        guard let bits else { return graph }
        _ = try plan(bits: bits)
        return bitWidthGraphs!.graph(bits: bits)!
    }
}

extension ReferenceOp {
    /// The op of `node` with its tensors read from `tensors` and converted to Double. Fails for
    /// quantize/dequantize (u8 activations).
    init(_ node: Node, tensors: TensorSource) throws {
        func doubles(_ tensor: String) -> [Double] { tensors.floats(tensor).map(Double.init) }
        func clampRange(_ a: Activation) -> (lo: Double, hi: Double) { (Double(a.clampRange.lo), Double(a.clampRange.hi)) }
        switch node.op {
        case .conv2d(let c):
            self = .conv(ReferenceConv(c, tensors: tensors), residual: c.residual)
        case .linear(let l):
            let conv = Conv2D(inChannels: l.inFeatures, outChannels: l.outFeatures, kernel: [1, 1], weight: l.weight,
                              bias: l.bias, activation: l.activation)
            self = .conv(ReferenceConv(conv, tensors: tensors), residual: false)
        case .batchNorm(let b):
            // eps as written in the model (1e-5, not Float(1e-5) widened): PyTorch float64 adds the Python float
            let eps = Double(String(b.eps)) ?? Double(b.eps)
            self = .batchNorm(mean: doubles(b.mean), denominator: doubles(b.variance).map { ($0 + eps).squareRoot() },
                              gamma: doubles(b.gamma), beta: doubles(b.beta))
        case .activation(let a):
            let r = clampRange(a)
            self = .clamp(lo: r.lo, hi: r.hi)
        case .prelu(let slopes):
            self = .prelu(slopes: doubles(slopes))
        case .sign:
            self = .sign
        case .roundToFixed(let integerBits, let fractionBits):
            let bound = Double(sign: .plus, exponent: integerBits - 1, significand: 1)
            self = .roundToFixed(delta: Double(sign: .plus, exponent: -fractionBits, significand: 1), lo: -bound, hi: bound - 1)
        case .doReFa(let bits):
            self = .doReFa(levels: Double((1 << bits) - 1))
        case .add(let a):
            let r = clampRange(a)
            self = .add(lo: r.lo, hi: r.hi)
        case .maxPool(let p):
            self = .maxPool(p)
        case .avgPool(let p):
            self = .avgPool(p)
        case .globalAvgPool:
            self = .globalAvgPool
        case .flatten:
            self = .flatten
        case .shortcutA(let pad):
            self = .shortcutA(pad: pad)
        case .quantize, .dequantize:
            throw RuntimeError("the float64 reference runs models with float activations; node '\(node.name)' is \(node.op.kind)")
        }
    }
}

extension ReferenceConv {
    /// The conv's geometry, its exact weights in Double (`referenceWeights`), bias and clamp.
    init(_ c: Conv2D, tensors: TensorSource) {
        kernel = (c.kernel[0], c.kernel[1])
        stride = (c.stride[0], c.stride[1])
        padding = (c.padding[0], c.padding[1])
        dilation = (c.dilation[0], c.dilation[1])
        groups = c.groups
        weights = referenceWeights(c, tensors: tensors)
        bias = c.bias.map { tensors.floats($0).map(Double.init) }
            ?? [Double](repeating: 0, count: c.outChannels)
        clamp = (Double(c.activation.clampRange.lo), Double(c.activation.clampRange.hi))
    }
}

/// The exact weight rows [OC][K] of a conv in Double: an f32 tensor as stored; coded weights as
/// Double(scale[oc]) * Double(exactValue(code)) (a product of two floats, exact in Double), each conv
/// group's rows unpacked from its own packed matrix (docs/FORMAT.md).
func referenceWeights(_ c: Conv2D, tensors: TensorSource) -> [Double] {
    let k = c.reductionSize, oc = c.outChannels, w = c.weight
    if w.scheme == .float32 { return tensors.floats(w.values!).map(Double.init) }
    let packed = tensors.pointer(w.codes!).assumingMemoryBound(to: UInt8.self)
    let scale = tensors.floats(w.scale!)
    let levels = (0..<(1 << w.bits)).map { Double(w.exactValue(code: $0)) }
    let perGroup = oc / c.groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(w.bits))
    var codes = [UInt8](repeating: 0, count: perGroup * k)
    var rows = [Double](repeating: 0, count: oc * k)
    for g in 0..<c.groups {
        qk_unpack_codes(packed + g * groupBytes, perGroup, k, Int32(w.bits), &codes)
        for r in 0..<perGroup {
            let row = g * perGroup + r
            for j in 0..<k { rows[row * k + j] = Double(scale[row]) * levels[Int(codes[r * k + j])] }
        }
    }
    return rows
}
