// Turns the unpickler's shared node graph into the immutable PickleValue tree, materialising tensors,
// bounding depth and total size, cutting cycles, and listing the opaque classes met.

struct PickleConverter {
    let limits: ReadLimits
    var materializer: TensorMaterializer
    private var cache: [ObjectIdentifier: (value: PickleValue, weight: Int)] = [:]
    private var inProgress: Set<ObjectIdentifier> = []
    private(set) var opaqueNames: Set<String> = []

    init(limits: ReadLimits, materializer: TensorMaterializer) {
        self.limits = limits
        self.materializer = materializer
    }

    /// The value tree of `root`; fails when it nests deeper than the limit or expands past `maxValueCount`.
    mutating func convert(_ root: Item) throws -> PickleValue {
        let (value, weight) = try convert(root, depth: 0)
        if weight > limits.maxValueCount { throw tooLarge() }
        return value
    }

    private func tooLarge() -> ReadFailure {
        ReadFailure(nil, "the unpickled object expands to more than \(limits.maxValueCount) values through shared references")
    }

    private mutating func convert(_ item: Item, depth: Int) throws -> (PickleValue, Int) {
        switch item {
        case .none: return (.none, 1)
        case .bool(let b): return (.bool(b), 1)
        case .int(let v): return (.int(v), 1)
        case .bigInt(let b): return (.bigInt(b), 1)
        case .float(let v): return (.float(v), 1)
        case .string(let s): return (.string(s), 1)
        case .bytes(let b): return (.bytes(b), 1)
        case .node(let node):
            let id = ObjectIdentifier(node)
            if let cached = cache[id] { return cached }
            if inProgress.contains(id) { return (.opaque(className: "<recursive reference>", args: [], state: nil), 1) }
            guard depth < limits.maxNesting else { throw ReadFailure(nil, "nesting deeper than \(limits.maxNesting) levels") }
            inProgress.insert(id)
            defer { inProgress.remove(id) }
            let result = try convertNode(node, depth: depth)
            cache[id] = result
            return result
        }
    }

    private mutating func convertAll(_ items: [Item], depth: Int, weight: inout Int) throws -> [PickleValue] {
        var out: [PickleValue] = []
        out.reserveCapacity(items.count)
        for item in items {
            let (v, w) = try convert(item, depth: depth + 1)
            weight = weight &+ w
            if weight > limits.maxValueCount || weight < 0 { throw tooLarge() }
            out.append(v)
        }
        return out
    }

    private mutating func convertNode(_ node: Node, depth: Int) throws -> (PickleValue, Int) {
        var weight = 1
        switch node.kind {
        case .list: return (.list(try convertAll(node.items, depth: depth, weight: &weight)), weight)
        case .tuple: return (.tuple(try convertAll(node.items, depth: depth, weight: &weight)), weight)
        case .set: return (.set(try convertAll(node.items, depth: depth, weight: &weight)), weight)
        case .dict:
            let flat = try convertAll(node.items, depth: depth, weight: &weight)
            var pairs: [(key: PickleValue, value: PickleValue)] = []
            pairs.reserveCapacity(flat.count / 2)
            var i = 0
            while i + 1 < flat.count { pairs.append((flat[i], flat[i + 1])); i += 2 }
            return (.dict(pairs), weight)
        case .opaque(let name):
            opaqueNames.insert(name)
            var args = try convertAll(node.items, depth: depth, weight: &weight)
            if !node.extra.isEmpty {
                let extra = try convertAll(node.extra, depth: depth + 1, weight: &weight)
                if node.extraIsDict {
                    var pairs: [(key: PickleValue, value: PickleValue)] = []
                    var i = 0
                    while i + 1 < extra.count { pairs.append((extra[i], extra[i + 1])); i += 2 }
                    args.append(.dict(pairs))
                } else {
                    args.append(.list(extra))
                }
            }
            var state: PickleValue?
            if let s = node.state {
                let (v, w) = try convert(s, depth: depth + 1)
                weight = weight &+ w
                state = v
            }
            return (.opaque(className: name, args: args, state: state), weight)
        case .global(let name):
            opaqueNames.insert(name)
            return (.opaque(className: name, args: [], state: nil), 1)
        case .storage(let ref):
            let name = "torch.\(ref.dtype.torchStorageName)"
            opaqueNames.insert(name)
            return (.opaque(className: name, args: [.string(ref.box.key)], state: nil), 1)
        case .tensor(let ref):
            return (.tensor(try materializer.materialize(ref)), 1)
        }
    }
}
