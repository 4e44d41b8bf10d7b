// The state of an ONNX -> LowBit graph translation: what each ONNX value is (a run-time tensor with its
// LowBit value and ONNX shape, or a constant), node naming, and the helpers the op translations share.
// The ops themselves: ONNXLayerOps.swift (layers, activations, pools, adds, reshapes) and
// ONNXConstantFolding.swift (Constant, Shape, Gather, Concat, ... on constants).
import QCheckpoint
import QGraph
import QONNX

/// What an ONNX value is during translation.
enum ONNXValue {
    /// A run-time tensor: the LowBit value holding it and its ONNX shape (NCHW, batch 1). LowBit holds a
    /// [1, C, H, W] feature map as [H, W, C], and a vector ([1, N], or [1, C, 1, 1] after a global pool) as [N].
    case tensor(String, shape: [Int])
    /// A value known at conversion time (initializer, Constant node or folded shape computation).
    case constant(CheckpointTensor)
}

/// Translates ONNX nodes, in execution order, into a LowBit float graph and its tensors.
struct ONNXGraphBuilder {
    var graph: Graph
    var tensors = TensorStore()
    /// ONNX value name -> what it is.
    private var values: [String: ONNXValue] = [:]
    /// How many nodes (and graph outputs) read each ONNX value.
    private let readers: [String: Int]
    /// LowBit names in use (values and nodes share names).
    private var names: Set<String>
    /// LowBit value -> the ONNX value first defined as it (later names are aliases: Identity, Dropout, ...).
    private var origins: [String: String] = [:]
    private var counter = 0
    /// The QDQ translations' state (ONNXQuantized.swift).
    var quantization = ONNXQuantizationState()

    /// A builder whose LowBit input `input` ([H, W, C]) stands for the ONNX graph input `onnxInput`
    /// ([1, C, H, W]); the initializers are the constants every node may read.
    init(input onnxInput: String, height: Int, width: Int, channels: Int,
         initializers: [(name: String, tensor: CheckpointTensor)], nodes: [ONNXNode], outputs: [String]) {
        graph = Graph(input: Value(name: "input", shape: [height, width, channels]))
        names = ["input"]
        for (name, tensor) in initializers { values[name] = .constant(tensor) }
        values[onnxInput] = .tensor("input", shape: [1, channels, height, width])
        var readers: [String: Int] = [:]
        for name in nodes.flatMap(\.inputs) + outputs { readers[name, default: 0] += 1 }
        self.readers = readers
    }

    /// The ONNX value `name`.
    func value(_ name: String) -> ONNXValue? { values[name] }

    /// Records what ONNX value `name` is (a node's output).
    mutating func define(_ name: String, _ value: ONNXValue) {
        guard !name.isEmpty else { return }
        values[name] = value
        if case .tensor(let v, _) = value, origins[v] == nil { origins[v] = name }
    }

    /// The ONNX value a LowBit value was first defined as (nil for the graph input).
    func origin(of value: String) -> String? { origins[value] }

    /// How many nodes and graph outputs read ONNX value `name`.
    func readerCount(_ name: String) -> Int { readers[name] ?? 0 }

    /// Appends a LowBit node named `name` (from `reserve`) and returns its output value name. Its output must
    /// fit `Graph.validate`'s bounds (dims 1...2^24, at most 2^28 elements), checked here so that no later
    /// shape arithmetic can overflow on a hostile file's padding or strides.
    mutating func append(_ name: String, _ op: Op, inputs: [String], for node: ONNXNode) throws -> String {
        let out: String
        do {
            out = try graph.append(name, op, inputs: inputs)
        } catch let error as GraphError {
            throw ConvertError("node \(node.label): \(error.description)")
        }
        let shape = graph.value(out)!.shape
        var count = 1
        for d in shape {
            guard (1...(1 << 24)).contains(d) else { throw ConvertError("node \(node.label): output shape \(shape) is not supported") }
            count *= d
            guard count <= 1 << 28 else { throw ConvertError("node \(node.label): output \(shape) is too large") }
        }
        return out
    }

    /// A parameter-free op's node, named `<kind>_<n>` as the state-dict families name them (`hardtanh_<n>`
    /// without the bounds).
    mutating func appendOp(_ op: Op, inputs: [String], for node: ONNXNode) throws -> String {
        counter += 1
        let kind = if case .activation(.hardtanh) = op { "hardtanh" } else { op.kind }
        return try append(reserve("\(kind)_\(counter)"), op, inputs: inputs, for: node)
    }

    /// `base`, or `base_2`, `base_3`, ... when taken; the returned name is reserved.
    mutating func reserve(_ base: String) -> String {
        var name = base, n = 1
        while names.contains(name) {
            n += 1
            name = "\(base)_\(n)"
        }
        names.insert(name)
        return name
    }

    /// The name of a layer node from its weight's initializer name (`layer1.0.conv1.weight` ->
    /// `layer1.0.conv1`), else from the node's scope (`/layer1/layer1.0/conv1/Conv` -> `layer1.0.conv1`, as
    /// torch.onnx's TorchScript exporter names nodes when it renames folded weights `onnx::Conv_193`), else
    /// the node name, else `<kind>_<n>`. `reserve` makes it unique.
    mutating func layerName(weight: String, node: ONNXNode, kind: String) -> String {
        if !weight.contains("::"), !weight.hasPrefix("/"), !weight.isEmpty {
            return weight.hasSuffix(".weight") ? String(weight.dropLast(".weight".count)) : weight
        }
        if let scope = Self.modulePath(ofScope: node.name) { return scope }
        if !node.name.isEmpty, !node.name.hasPrefix("/") { return node.name }
        counter += 1
        return "\(kind)_\(counter)"
    }

    /// The PyTorch module path of a TorchScript-export node name: `/features/features.1/conv/conv.0/
    /// conv.0.0/Conv` -> `features.1.conv.0.0` (a scope that extends its parent's name, `features.1` under
    /// `features`, replaces it); nil for names without a scope.
    static func modulePath(ofScope name: String) -> String? {
        guard name.hasPrefix("/") else { return nil }
        let scopes = name.split(separator: "/").dropLast()
        var path: [Substring] = []
        for scope in scopes {
            if let last = path.last, scope.hasPrefix(last + ".") { path[path.count - 1] = scope } else { path.append(scope) }
        }
        return path.isEmpty ? nil : path.joined(separator: ".")
    }

    // MARK: reading node inputs

    /// Input `i` of `node`, which must be present.
    func input(_ node: ONNXNode, _ i: Int) throws -> ONNXValue {
        guard i < node.inputs.count, !node.inputs[i].isEmpty, let v = values[node.inputs[i]] else {
            throw ConvertError("node \(node.label): input \(i) is missing")
        }
        return v
    }

    /// Input `i` of `node` if present (optional inputs).
    func optionalInput(_ node: ONNXNode, _ i: Int) throws -> ONNXValue? {
        guard i < node.inputs.count, !node.inputs[i].isEmpty else { return nil }
        return try input(node, i)
    }

    /// Input `i` as a run-time tensor: its LowBit value and ONNX shape.
    func tensor(_ node: ONNXNode, _ i: Int) throws -> (value: String, shape: [Int]) {
        guard case .tensor(let v, let shape) = try input(node, i) else {
            throw ConvertError("node \(node.label): input \(i) ('\(node.inputs[i])') is a constant; LowBit runs this op only on run-time tensors")
        }
        return (v, shape)
    }

    /// Input `i` as a feature map ([1, C, H, W], held as [H, W, C]).
    func featureMap(_ node: ONNXNode, _ i: Int) throws -> (value: String, shape: [Int]) {
        let t = try tensor(node, i)
        guard t.shape.count == 4, graph.value(t.value)!.shape.count == 3 else {
            throw ConvertError("node \(node.label): input '\(node.inputs[i])' has shape \(t.shape); LowBit runs "
                + "\(node.opType) only on [1, C, H, W] feature maps (not on pooled or flattened vectors)")
        }
        return t
    }

    /// Input `i` as a constant tensor (an initializer, Constant node or folded value).
    func constant(_ node: ONNXNode, _ i: Int, _ role: String) throws -> CheckpointTensor {
        guard case .constant(let t) = try input(node, i) else {
            throw ConvertError("node \(node.label): \(role) ('\(node.inputs[i])') is computed at run time; LowBit needs it constant")
        }
        return t
    }

    /// A constant input's float values with an expected shape (any shape when nil).
    func floats(_ node: ONNXNode, _ i: Int, _ role: String, shape: [Int]? = nil) throws -> [Float] {
        let t = try constant(node, i, role)
        guard t.dtype.isFloatingPoint else { throw ConvertError("node \(node.label): \(role) is \(t.dtype.rawValue), not a float tensor") }
        if let shape, t.shape != shape { throw ConvertError("node \(node.label): \(role) has shape \(t.shape), expected \(shape)") }
        return t.floatValues()
    }

    /// The ONNX initializer (or value) name of input `i`, for naming layers (a DequantizeLinear'd weight's:
    /// the float weight's it stands for, ONNXQuantized.swift).
    func inputName(_ node: ONNXNode, _ i: Int) -> String {
        guard i < node.inputs.count else { return "" }
        return quantization.dequantized[node.inputs[i]]?.weightName ?? node.inputs[i]
    }

    /// Marks every output of `node` but the first as one nothing reads (Dropout's mask, MaxPool's
    /// indices, BatchNormalization's training statistics), else throws.
    func requireOnlyFirstOutputRead(_ node: ONNXNode) throws {
        for (i, output) in node.outputs.enumerated().dropFirst() where !output.isEmpty && readerCount(output) > 0 {
            throw ConvertError("node \(node.label): output \(i) ('\(output)') is read; LowBit computes only the first output of \(node.opType)")
        }
    }
}

/// Typed access to a node's attributes; `finish` refuses any attribute no translation asked for.
struct ONNXAttributes {
    let node: ONNXNode
    private var asked: Set<String> = []

    init(_ node: ONNXNode) { self.node = node }

    private func fail(_ name: String, _ why: String) -> ConvertError {
        ConvertError("node \(node.label): attribute '\(name)' \(why)")
    }

    mutating func int(_ name: String, default value: Int) throws -> Int {
        asked.insert(name)
        switch node.attributes[name] {
        case nil: return value
        case .int(let v)?:
            guard let i = Int(exactly: v), abs(i) <= 1 << 30 else { throw fail(name, "= \(v) is out of range") }
            return i
        case let other?: throw fail(name, "is \(other.typeName), expected INT")
        }
    }

    mutating func ints(_ name: String) throws -> [Int]? {
        asked.insert(name)
        switch node.attributes[name] {
        case nil: return nil
        case .ints(let v)?:
            guard v.count <= 16, v.allSatisfy({ abs($0) <= 1 << 30 }) else { throw fail(name, "= \(v) is out of range") }
            return v.map { Int($0) }
        case let other?: throw fail(name, "is \(other.typeName), expected INTS")
        }
    }

    mutating func float(_ name: String, default value: Float) throws -> Float {
        asked.insert(name)
        switch node.attributes[name] {
        case nil: return value
        case .float(let v)?:
            guard v.isFinite else { throw fail(name, "= \(v) is not finite") }
            return v
        case let other?: throw fail(name, "is \(other.typeName), expected FLOAT")
        }
    }

    mutating func string(_ name: String, default value: String) throws -> String {
        asked.insert(name)
        switch node.attributes[name] {
        case nil: return value
        case .string(let v)?: return v
        case let other?: throw fail(name, "is \(other.typeName), expected STRING")
        }
    }

    /// Marks attributes whose value does not matter for inference (e.g. BatchNormalization's momentum).
    mutating func ignore(_ names: String...) { asked.formUnion(names) }

    /// An error naming the attribute and why its value cannot run.
    func unsupported(_ name: String, _ why: String) -> ConvertError { fail(name, why) }

    /// Throws for the first attribute the translation did not read.
    func finish() throws {
        if let extra = node.attributes.keys.sorted().first(where: { !asked.contains($0) }) {
            throw fail(extra, "is not supported for \(node.opType)")
        }
    }
}
