// What REDUCE, NEWOBJ and persistent ids may build: containers, torch tensors and storages, a few pure
// value constructors. Everything else becomes an opaque node named after its class; nothing is called.

extension Unpickler {
    /// REDUCE: `callable(*args)` for the whitelisted constructors, an opaque node otherwise.
    mutating func call(_ callable: Item, _ args: Item, nesting: Int = 0) throws -> Item {
        let argv = args.sequence ?? [args]
        guard let fn = callable.node, case .global(let name) = fn.kind else {
            let what = callable.node?.className ?? "a non-class value"
            return .node(try makeNode(.opaque("call of \(what)"), argv))
        }
        switch name {
        case "collections.OrderedDict", "builtins.dict", "collections.defaultdict":
            let node = try makeNode(.dict, [])
            // OrderedDict([(k, v), ...]) or dict({...}); defaultdict's first argument is its factory.
            if name != "collections.defaultdict", let source = argv.first {
                if let pairs = source.sequence {
                    for pair in pairs {
                        guard let kv = pair.sequence, kv.count == 2 else { throw fail("\(name) argument is not a list of pairs") }
                        Unpickler.dictSet(node, kv[0], kv[1])
                    }
                } else if let d = source.node, case .dict = d.kind {
                    var i = 0
                    while i + 1 < d.items.count { Unpickler.dictSet(node, d.items[i], d.items[i + 1]); i += 2 }
                }
                node.depth = max(node.depth, 1 + (argv.first?.depth ?? 0))
            }
            return .node(node)
        case "builtins.set", "builtins.frozenset", "builtins.list", "builtins.tuple", "torch.Size":
            let kind: Node.Kind = name.hasSuffix("set") ? .set : name == "builtins.list" ? .list : .tuple
            let elements = argv.first?.sequence ?? (argv.first?.node.map { n -> [Item]? in
                if case .set = n.kind { return n.items } else { return nil } } ?? nil) ?? []
            return .node(try makeNode(kind, elements))
        case "builtins.bytearray", "_codecs.encode", "builtins.bytes":
            if argv.isEmpty { return .bytes([]) }
            if case .bytes(let b) = argv[0] { return .bytes(b) }
            if case .string(let s) = argv[0], argv.count >= 2, let enc = argv[1].string,
               ["latin1", "latin-1", "iso-8859-1"].contains(enc.lowercased()) {
                var out: [UInt8] = []
                for scalar in s.unicodeScalars {
                    guard scalar.value < 256 else { throw fail("\(name): character outside Latin-1") }
                    out.append(UInt8(scalar.value))
                }
                return .bytes(out)
            }
            return .node(try makeNode(.opaque(name), argv))
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return .node(try rebuildTensor(argv, via: name))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = argv.first, let n = data.node, case .tensor = n.kind else {
                throw fail("\(name) without a tensor argument")
            }
            return data
        case "torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_from_type_v2":
            // (func, type, args, state): the tensor subclass and its Python state are dropped.
            guard argv.count >= 3, nesting < 4 else { throw fail("malformed \(name) call") }
            return try call(argv[0], argv[2], nesting: nesting + 1)
        case "copyreg._reconstructor":
            // (cls, base, state): protocol 0/1 object construction; name the object after cls.
            let cls = argv.first?.node?.className ?? "copyreg._reconstructor"
            return .node(try makeNode(.opaque(cls), Array(argv.dropFirst())))
        case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
            if let value = Unpickler.numpyScalar(argv) { return value }
            return .node(try makeNode(.opaque(name), argv))
        default:
            return .node(try makeNode(.opaque(name), argv))
        }
    }

    /// NEWOBJ/INST/OBJ: `cls.__new__(cls, *args)`; containers become containers, anything else opaque.
    mutating func instantiate(_ cls: Item, _ args: [Item]) throws -> Item {
        guard let node = cls.node, case .global(let name) = node.kind else {
            return .node(try makeNode(.opaque("instance of \(cls.node?.className ?? "a non-class value")"), args))
        }
        switch name {
        case "collections.OrderedDict", "builtins.dict", "collections.defaultdict":
            return .node(try makeNode(.dict, []))
        case "builtins.list": return .node(try makeNode(.list, []))
        case "builtins.set": return .node(try makeNode(.set, []))
        default: return .node(try makeNode(.opaque(name), args))
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    private mutating func rebuildTensor(_ argv: [Item], via name: String) throws -> Node {
        guard argv.count >= 4, let s = argv[0].node, case .storage(let storage) = s.kind else {
            throw fail("\(name) without a storage argument")
        }
        guard let offset = argv[1].int, offset >= 0, offset <= Int64(Int32.max) * 1024 else {
            throw fail("\(name): bad storage offset")
        }
        guard let sizeItems = argv[2].sequence, let strideItems = argv[3].sequence,
              sizeItems.count == strideItems.count, sizeItems.count <= 32 else {
            throw fail("\(name): size and stride must be tuples of equal length (at most 32)")
        }
        var shape: [Int] = [], stride: [Int] = []
        for (a, b) in zip(sizeItems, strideItems) {
            guard let d = a.int, let st = b.int, d >= 0, st >= 0, d <= Int64(Int32.max) * 1024, st <= Int64(Int32.max) * 1024
            else { throw fail("\(name): sizes and strides must be non-negative integers") }
            shape.append(Int(d))
            stride.append(Int(st))
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("\(name): element count of shape \(shape) overflows") }
            count = p
        }
        let ref = TensorRef(storage: storage, offset: Int(offset), shape: shape, stride: stride,
                            pickleOffset: baseOffset + opStart)
        return arena.make(.tensor(ref))
    }

    /// BINPERSID: `('storage', storage_type, key, location, numel[, view_metadata])`, as torch.save writes.
    mutating func persistentLoad(_ pid: Item) throws -> Item {
        guard let t = pid.sequence, t.count >= 5, t[0].string == "storage" else {
            throw fail("unsupported persistent id (PyTorch writes ('storage', type, key, location, numel))")
        }
        guard let typeName = t[1].node?.className, typeName.hasPrefix("torch."),
              let dtype = TensorDType(torchStorageName: String(typeName.dropFirst(6))) else {
            throw fail("unsupported storage type \(t[1].node?.className ?? "(not a class)")")
        }
        let key: String
        if let s = t[2].string { key = s } else if let i = t[2].int { key = String(i) } else {
            throw fail("storage key is neither a string nor an integer")
        }
        guard let numel = t[4].int, numel >= 0, numel <= Int64(limits.maxTensorBytes) else {
            throw fail("storage '\(key)' has an invalid element count")
        }
        let box: StorageBox
        if let existing = storages[key] { box = existing } else {
            if storages.count >= limits.maxMemoEntries { throw fail("too many storages") }
            box = StorageBox(key: key, dtype: dtype, claimedCount: Int(numel))
            storages[key] = box
        }
        var ref = StorageRef(box: box, dtype: dtype, elementOffset: 0, elementLimit: nil)
        // Legacy view metadata: (view_key, offset, view_size), offset and size in elements.
        if t.count >= 6, let view = t[5].sequence {
            guard view.count == 3, let off = view[1].int, let size = view[2].int, off >= 0, size >= 0,
                  off <= Int64(limits.maxTensorBytes), size <= Int64(limits.maxTensorBytes) else {
                throw fail("malformed storage view metadata for '\(key)'")
            }
            ref.elementOffset = Int(off)
            ref.elementLimit = Int(size)
        }
        return .node(arena.make(.storage(ref)))
    }

    /// `numpy.core.multiarray.scalar(dtype, bytes)` for plain little-endian numbers (best_acc1 and friends).
    static func numpyScalar(_ argv: [Item]) -> Item? {
        guard argv.count == 2, let dtype = argv[0].node, dtype.className == "numpy.dtype",
              let code = dtype.items.first?.string else { return nil }
        var raw: [UInt8]
        switch argv[1] {
        case .bytes(let b): raw = b
        case .string(let s): raw = s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
        default: return nil
        }
        if let state = dtype.state?.sequence, state.count > 1, state[1].string == ">" { raw.reverse() }
        func load<T>(_ type: T.Type) -> T? {
            guard raw.count == MemoryLayout<T>.size else { return nil }
            return raw.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
        }
        switch code {
        case "f8": return load(Double.self).map { .float($0) }
        case "f4": return load(Float.self).map { .float(Double($0)) }
        case "i8": return load(Int64.self).map { .int($0) }
        case "i4": return load(Int32.self).map { .int(Int64($0)) }
        case "i2": return load(Int16.self).map { .int(Int64($0)) }
        case "i1": return load(Int8.self).map { .int(Int64($0)) }
        case "u1": return load(UInt8.self).map { .int(Int64($0)) }
        case "u2": return load(UInt16.self).map { .int(Int64($0)) }
        case "u4": return load(UInt32.self).map { .int(Int64($0)) }
        case "u8": return load(UInt64.self).flatMap { Int64(exactly: $0) }.map { .int($0) }
        case "b1": return load(UInt8.self).map { .bool($0 != 0) }
        default: return nil
        }
    }
}
