// One op, one definition (issue #17 item 0, ncnn's one-Layer-per-op): an op of the IR that conforms to
// `OpDefinition` states its shape rule, validation, text-dump attributes, activation typing and float64
// reference math in its own file under QGraph/Ops/, and `DefinedOp` lists it once. Graph.inferShape,
// Graph.validate, textDump, AssignActivationTypes and the float64 reference ask the definition; only the
// run-time kernel call lives elsewhere (QRuntime/DefinedOpSteps.swift, a C kernel). docs/ARCHITECTURE.md,
// "Adding an op".

/// The activation types an op accepts and produces.
public enum ActivationTyping: Sendable {
    /// Every input and the output are f32: the converter dequantizes u8 inputs before the op
    /// (AssignActivationTypes), so `--bits 8` graphs keep the op in float between integer layers.
    case float32
}

/// The definition of one IR op (a value type: its attributes; tensors it names are its own fields).
public protocol OpDefinition: Codable, Equatable, Sendable {
    /// The op's name in dumps and profiles.
    var kind: String { get }
    /// The output shape for these input shapes (LowBit's NHWC shapes: [H, W, C] maps, [N] vectors);
    /// throws `OpError` saying why the inputs do not fit.
    func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int]
    /// Checks the op's attributes (and the tensors it names) beyond its shape rule; throws why not.
    func validate(tensors: TensorCatalog) throws(OpError)
    /// The text-dump attributes after `kind(inputs)` (" alpha=0.2"), empty when none.
    var dumpAttributes: String { get }
    /// Which activation types the op runs on.
    var typing: ActivationTyping { get }
    /// The float64 reference: the output for `inputs` (flattened NHWC; the first of shape `shape`) in
    /// exact arithmetic as the IR defines the op (no fusing, no reordering beyond what the formula says).
    func reference(_ inputs: [[Double]], shape: [Int]) -> [Double]
}

extension OpDefinition {
    public func validate(tensors: TensorCatalog) throws(OpError) {}
    public var dumpAttributes: String { "" }
    public var typing: ActivationTyping { .float32 }
}

/// Why an op's inputs or attributes do not fit (the graph adds the node's name and kind).
public struct OpError: Error, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// A pointwise op of one input: y[i] = f(x[i]) on any shape.
public protocol UnaryPointwiseOp: OpDefinition {
    /// f in float64, the reference of the op.
    func apply(_ x: Double) -> Double
}

extension UnaryPointwiseOp {
    public func outputShape(_ inputs: [[Int]]) throws(OpError) -> [Int] {
        guard inputs.count == 1 else { throw OpError("expects 1 input, has \(inputs.count)") }
        return inputs[0]
    }

    public func reference(_ inputs: [[Double]], shape: [Int]) -> [Double] { inputs[0].map(apply) }
}

/// Every op defined by an `OpDefinition`: one case per op (the IR's Codable form), one line each in
/// `definition`.
public enum DefinedOp: Codable, Equatable, Sendable {
    case hardSwish(HardSwish)
    case hardSigmoid(HardSigmoid)
    case sigmoid(Sigmoid)
    case silu(SiLU)
    case channelMul(ChannelMul)
    case concat(ChannelConcat)
    case slice(ChannelSlice)
    case resize(Resize)
    case pad(SpatialPad)
    case softmax(ChannelSoftmax)
    case arithmetic(ChannelArithmetic)

    /// The op's definition.
    public var definition: any OpDefinition {
        switch self {
        case .hardSwish(let op): return op
        case .hardSigmoid(let op): return op
        case .sigmoid(let op): return op
        case .silu(let op): return op
        case .channelMul(let op): return op
        case .concat(let op): return op
        case .slice(let op): return op
        case .resize(let op): return op
        case .pad(let op): return op
        case .softmax(let op): return op
        case .arithmetic(let op): return op
        }
    }
}
