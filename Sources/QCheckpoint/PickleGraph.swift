// The unpickler's working objects: stack items, shared mutable nodes (Python's reference semantics) and torch storage references.

/// A value on the unpickler's stack or in its memo: scalars inline, everything mutable or shared by reference.
enum Item {
    case none
    case bool(Bool)
    case int(Int64)
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case node(Node)

    var node: Node? {
        if case .node(let n) = self { return n }
        return nil
    }

    /// Nesting depth: 0 for scalars.
    var depth: Int { node?.depth ?? 0 }

    var int: Int64? {
        switch self {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Elements of a tuple or list node.
    var sequence: [Item]? {
        guard let n = node else { return nil }
        switch n.kind {
        case .tuple, .list: return n.items
        default: return nil
        }
    }

    /// A hashable key for scalar dict keys and set members (Python's equality for str and int).
    var hashKey: HashKey? {
        switch self {
        case .string(let s): return .string(s)
        case .int(let v): return .int(v)
        case .bool(let b): return .int(b ? 1 : 0)
        default: return nil
        }
    }
}

enum HashKey: Hashable {
    case string(String)
    case int(Int64)
}

/// A PyTorch storage named by its key in the archive (shared by every tensor that views it).
final class StorageBox {
    let key: String
    let dtype: TensorDType
    /// Element count the pickle claims (the file's own count is authoritative).
    let claimedCount: Int
    init(key: String, dtype: TensorDType, claimedCount: Int) {
        self.key = key
        self.dtype = dtype
        self.claimedCount = claimedCount
    }
}

/// A typed reference to (part of) a storage: legacy files may view a root storage at an element offset.
struct StorageRef {
    var box: StorageBox
    var dtype: TensorDType
    var elementOffset: Int
    var elementLimit: Int?
}

/// A tensor that will be materialised once storage bytes are available.
struct TensorRef {
    var storage: StorageRef
    var offset: Int
    var shape: [Int]
    var stride: [Int]
    /// Where the pickle built it (for messages).
    var pickleOffset: Int
}

/// A mutable, shareable unpickled object (list, dict, set, tuple, opaque instance, global, storage, tensor).
final class Node {
    enum Kind {
        case list, tuple, dict, set
        case opaque(String)
        case global(String)
        case storage(StorageRef)
        case tensor(TensorRef)
    }

    var kind: Kind
    /// Elements; a dict alternates key, value; an opaque object holds its constructor arguments.
    var items: [Item]
    /// APPENDS/SETITEMS applied to an opaque object (pairs when `extraIsDict`).
    var extra: [Item] = []
    var extraIsDict = false
    var state: Item?
    var depth: Int
    /// Dict and set de-duplication for scalar keys: key -> index in `items`.
    var keyIndex: [HashKey: Int] = [:]

    init(_ kind: Kind, items: [Item] = [], depth: Int = 1) {
        self.kind = kind
        self.items = items
        self.depth = depth
    }

    var className: String? {
        switch kind {
        case .opaque(let name), .global(let name): return name
        default: return nil
        }
    }
}

/// Owns every node a pickle created and tears the graph down without recursion (a hostile pickle can
/// chain a million nodes; releasing them recursively would overflow the stack).
final class NodeArena {
    private(set) var nodes: [Node] = []

    func make(_ kind: Node.Kind, items: [Item] = [], depth: Int = 1) -> Node {
        let node = Node(kind, items: items, depth: depth)
        nodes.append(node)
        return node
    }

    deinit {
        for node in nodes {
            node.items = []
            node.extra = []
            node.state = nil
        }
    }
}
