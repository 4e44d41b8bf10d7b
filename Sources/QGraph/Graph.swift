// The graph: values, nodes in execution order, shape inference and validation.

/// A straight-line dataflow graph (nodes are stored in a valid execution order), batch 1, NHWC.
public struct Graph: Codable, Equatable, Sendable {
    public var input: String
    /// The (first) output: the logits of a classifier. Every output is f32.
    public var output: String
    /// Further outputs after `output` (a segmentation net's auxiliary head), nil for one-output graphs (so
    /// their JSON, and every older .lbm file, has no such key).
    public var extraOutputs: [String]?
    public var values: [Value]
    public var nodes: [Node]

    public init(input: Value) {
        self.input = input.name
        self.output = input.name
        self.values = [input]
        self.nodes = []
    }

    /// Every output, `output` first.
    public var outputs: [String] { [output] + (extraOutputs ?? []) }

    /// Sets the outputs (at least one; `output` is the first).
    public mutating func setOutputs(_ names: [String]) {
        output = names[0]
        extraOutputs = names.count > 1 ? Array(names.dropFirst()) : nil
    }

    /// The value with this name.
    public func value(_ name: String) -> Value? { values.first { $0.name == name } }

    /// Index of the value with this name.
    public func valueIndex(_ name: String) -> Int? { values.firstIndex { $0.name == name } }

    /// Appends a node producing a new value named after the node; its shape is inferred. Returns the
    /// output value's name. Throws when inputs are missing or shapes do not fit.
    @discardableResult
    public mutating func append(_ name: String, _ op: Op, inputs: [String],
                                quant: ActivationQuant = .float32) throws -> String {
        guard value(name) == nil else { throw GraphError("duplicate value name '\(name)'") }
        let shapes = try inputs.map { input -> [Int] in
            guard let v = value(input) else { throw GraphError("node '\(name)' reads unknown value '\(input)'") }
            return v.shape
        }
        let shape = try Graph.inferShape(op, inputs: shapes, node: name)
        values.append(Value(name: name, shape: shape, quant: quant))
        nodes.append(Node(name: name, op: op, inputs: inputs, output: name))
        output = name
        return name
    }

    /// The output shape of `op` given its input shapes (PyTorch floor-mode arithmetic).
    public static func inferShape(_ op: Op, inputs: [[Int]], node: String) throws -> [Int] {
        func fail(_ why: String) -> GraphError { GraphError("node '\(node)' (\(op.kind)): \(why)") }
        func need(_ count: Int) throws {
            guard inputs.count == count else { throw fail("expects \(count) input(s), has \(inputs.count)") }
        }
        func map(_ shape: [Int]) throws -> [Int] {
            guard shape.count == 3 else { throw fail("expects an [H, W, C] input, got \(shape)") }
            return shape
        }
        func window(_ size: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int, _ d: Int) throws -> Int {
            guard k > 0, s > 0, d > 0, p0 >= 0, p1 >= 0 else { throw fail("bad window k=\(k) s=\(s) d=\(d)") }
            let span = d * (k - 1) + 1
            guard size + p0 + p1 >= span else { throw fail("window \(span) larger than padded input \(size + p0 + p1)") }
            return (size + p0 + p1 - span) / s + 1
        }
        switch op {
        case .defined(let d):
            do { return try d.definition.outputShape(inputs) } catch { throw fail(error.reason) }
        case .conv2d(let c):
            try need(c.residual ? 2 : 1)
            let x = try map(inputs[0])
            guard c.kernel.count == 2, c.stride.count == 2, c.padding.count == 4, c.dilation.count == 2 else {
                throw fail("kernel/stride/padding/dilation have wrong arity")
            }
            guard c.groups > 0, c.inChannels % c.groups == 0, c.outChannels % c.groups == 0, c.outChannels > 0 else {
                throw fail("channels \(c.inChannels)->\(c.outChannels) not divisible by groups \(c.groups)")
            }
            guard x[2] == c.inChannels else { throw fail("input has \(x[2]) channels, conv expects \(c.inChannels)") }
            let out = [try window(x[0], c.kernel[0], c.stride[0], c.padding[0], c.padding[2], c.dilation[0]),
                       try window(x[1], c.kernel[1], c.stride[1], c.padding[1], c.padding[3], c.dilation[1]),
                       c.outChannels]
            if c.residual, inputs[1] != out { throw fail("residual \(inputs[1]) does not match output \(out)") }
            return out
        case .linear(let l):
            try need(1)
            guard inputs[0] == [l.inFeatures] else { throw fail("input \(inputs[0]) is not [\(l.inFeatures)]") }
            guard l.outFeatures > 0 else { throw fail("no outputs") }
            return [l.outFeatures]
        case .batchNorm(let b):
            try need(1)
            guard inputs[0].last == b.channels else { throw fail("input \(inputs[0]) has not \(b.channels) channels") }
            return inputs[0]
        case .prelu, .activation, .quantize, .dequantize, .roundToFixed, .sign, .doReFa:
            try need(1)
            return inputs[0]
        case .add:
            try need(2)
            guard inputs[0] == inputs[1] else { throw fail("shapes \(inputs[0]) and \(inputs[1]) differ") }
            return inputs[0]
        case .maxPool(let p), .avgPool(let p):
            try need(1)
            let x = try map(inputs[0])
            guard p.kernel.count == 2, p.stride.count == 2, p.padding.count == 4 else { throw fail("bad pool arity") }
            return [try window(x[0], p.kernel[0], p.stride[0], p.padding[0], p.padding[2], 1),
                    try window(x[1], p.kernel[1], p.stride[1], p.padding[1], p.padding[3], 1), x[2]]
        case .globalAvgPool:
            try need(1)
            return [try map(inputs[0])[2]]
        case .flatten:
            try need(1)
            return [inputs[0].reduce(1, *)]
        case .shortcutA(let pad):
            try need(1)
            let x = try map(inputs[0])
            guard pad >= 0 else { throw fail("negative channel padding") }
            return [(x[0] + 1) / 2, (x[1] + 1) / 2, x[2] + 2 * pad]
        }
    }
}

/// A structural error in a graph (unknown value, shape mismatch, missing tensor, ...).
public struct GraphError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
