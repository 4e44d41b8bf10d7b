// The float network an architecture builds from a checkpoint, and the builder that binds its keys.
import QCheckpoint
import QGraph

/// A float32 graph (with BatchNorm and activation nodes still separate) and its parameter tensors.
public struct FloatModel: Sendable {
    public var arch: String
    public var graph: Graph
    public var tensors: TensorStore
    /// Preprocessing and labels the family was trained with (overridable from the command line).
    public var preprocessing: Preprocessing
    public var labels: [String]
    /// What a quantized source file fixed (ONNX QDQ): kept weight codes, static activation quantization.
    var declared = DeclaredQuantization()
    /// The source's names of the graph outputs (ONNX output names), nil when it names none.
    public var outputNames: [String]? = nil
}

/// An error in binding checkpoint keys to an architecture.
public struct ConvertError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Builds a float graph layer by layer, reading each layer's tensors from the checkpoint by key and
/// recording which keys were used (so unbound keys can be reported).
struct GraphBuilder {
    let checkpoint: [String: CheckpointTensor]
    var graph: Graph
    var tensors = TensorStore()
    private(set) var usedKeys: Set<String> = []
    private var counter = 0

    init(checkpoint: Checkpoint, inputShape: [Int]) {
        var map: [String: CheckpointTensor] = [:]
        for (name, tensor) in checkpoint.tensors { map[name] = tensor }
        self.checkpoint = map
        graph = Graph(input: Value(name: "input", shape: inputShape))
    }

    /// The float values of a checkpoint tensor with the expected shape.
    mutating func floats(_ key: String, shape: [Int]? = nil) throws -> [Float] {
        guard let t = checkpoint[key] else { throw ConvertError("checkpoint has no tensor '\(key)'") }
        if let shape, t.shape != shape {
            throw ConvertError("tensor '\(key)' has shape \(t.shape), expected \(shape)")
        }
        usedKeys.insert(key)
        return t.floatValues()
    }

    /// Shape of a checkpoint tensor, if present.
    func shape(_ key: String) -> [Int]? { checkpoint[key]?.shape }

    /// Conv2d from `<name>.weight` [OC, Cin/g, kh, kw] (and `<name>.bias` when present), stored as GEMM
    /// rows [OC, kh*kw*Cg] in (ky, kx, c) order to match NHWC im2col.
    @discardableResult
    mutating func conv(_ name: String, _ input: String, stride: Int = 1, padding: Int = 0, groups: Int = 1,
                       dilation: Int = 1) throws -> String {
        guard let s = shape("\(name).weight"), s.count == 4 else {
            throw ConvertError("checkpoint has no 4-D tensor '\(name).weight'")
        }
        let (oc, cg, kh, kw) = (s[0], s[1], s[2], s[3])
        let w = try floats("\(name).weight")
        var rows = [Float](repeating: 0, count: w.count)
        for o in 0..<oc {
            for ky in 0..<kh {
                for kx in 0..<kw {
                    for c in 0..<cg {
                        rows[o * kh * kw * cg + (ky * kw + kx) * cg + c] = w[((o * cg + c) * kh + ky) * kw + kx]
                    }
                }
            }
        }
        tensors.set("\(name).weight", StoredTensor(floats: rows, shape: [oc, kh * kw * cg]))
        var bias: String?
        if shape("\(name).bias") != nil {
            tensors.set("\(name).bias", StoredTensor(floats: try floats("\(name).bias", shape: [oc]), shape: [oc]))
            bias = "\(name).bias"
        }
        let conv = Conv2D(inChannels: cg * groups, outChannels: oc, kernel: [kh, kw], stride: [stride, stride],
                          padding: [padding, padding, padding, padding], dilation: [dilation, dilation],
                          groups: groups, weight: .float32("\(name).weight"), bias: bias)
        return try graph.append(name, .conv2d(conv), inputs: [input])
    }

    /// BatchNorm2d/1d from `<name>.{weight,bias,running_mean,running_var}` (eps 1e-5 as PyTorch's default).
    @discardableResult
    mutating func batchNorm(_ name: String, _ input: String, eps: Float = 1e-5) throws -> String {
        guard let c = shape("\(name).running_mean")?.first else {
            throw ConvertError("checkpoint has no tensor '\(name).running_mean'")
        }
        for part in ["weight", "bias", "running_mean", "running_var"] {
            tensors.set("\(name).\(part)", StoredTensor(floats: try floats("\(name).\(part)", shape: [c]), shape: [c]))
        }
        usedKeys.insert("\(name).num_batches_tracked")
        let bn = BatchNorm(channels: c, gamma: "\(name).weight", beta: "\(name).bias",
                           mean: "\(name).running_mean", variance: "\(name).running_var", eps: eps)
        return try graph.append(name, .batchNorm(bn), inputs: [input])
    }

    /// PReLU with slopes `<name>.weight` ([C] or [1]); `node` names the graph node when one PReLU module is
    /// applied in several places (Bi-Real blocks share one).
    @discardableResult
    mutating func prelu(_ name: String, _ input: String, node: String? = nil) throws -> String {
        guard let s = shape("\(name).weight"), s.count == 1 else {
            throw ConvertError("checkpoint has no 1-D tensor '\(name).weight'")
        }
        tensors.set("\(name).weight", StoredTensor(floats: try floats("\(name).weight"), shape: s))
        return try graph.append(node ?? name, .prelu(slopes: "\(name).weight"), inputs: [input])
    }

    /// Linear from `<name>.weight` [out, in] and optional `<name>.bias`.
    @discardableResult
    mutating func linear(_ name: String, _ input: String) throws -> String {
        guard let s = shape("\(name).weight"), s.count == 2 else {
            throw ConvertError("checkpoint has no 2-D tensor '\(name).weight'")
        }
        tensors.set("\(name).weight", StoredTensor(floats: try floats("\(name).weight"), shape: s))
        var bias: String?
        if shape("\(name).bias") != nil {
            tensors.set("\(name).bias", StoredTensor(floats: try floats("\(name).bias", shape: [s[0]]), shape: [s[0]]))
            bias = "\(name).bias"
        }
        let l = Linear(inFeatures: s[1], outFeatures: s[0], weight: .float32("\(name).weight"), bias: bias)
        return try graph.append(name, .linear(l), inputs: [input])
    }

    /// A parameter-free op with a generated or given name.
    @discardableResult
    mutating func op(_ op: Op, _ inputs: [String], name: String? = nil) throws -> String {
        counter += 1
        return try graph.append(name ?? "\(op.kind)_\(counter)", op, inputs: inputs)
    }

    mutating func relu(_ input: String, name: String? = nil) throws -> String {
        try op(.activation(.relu), [input], name: name)
    }

    /// Keys of the checkpoint that no layer used (ignoring BatchNorm's batch counters).
    var unusedKeys: [String] {
        checkpoint.keys.filter { !usedKeys.contains($0) && !$0.hasSuffix("num_batches_tracked") }.sorted()
    }

    /// The finished model; fails when checkpoint tensors were left unbound (a sign of a wrong architecture).
    func finish(arch: String, preprocessing: Preprocessing, labels: [String]) throws -> FloatModel {
        let unused = unusedKeys
        guard unused.isEmpty else {
            throw ConvertError("\(arch): \(unused.count) checkpoint tensor(s) not used by the architecture: "
                + unused.prefix(8).joined(separator: ", ") + (unused.count > 8 ? ", ..." : ""))
        }
        var g = graph
        g.output = graph.output
        try g.validate(tensors: tensors)
        return FloatModel(arch: arch, graph: g, tensors: tensors, preprocessing: preprocessing, labels: labels)
    }
}
