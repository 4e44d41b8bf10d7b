// A restricted unpickler: runs the pickle stack machine over untrusted bytes, builds plain data and
// torch tensors, and turns every other GLOBAL/REDUCE/NEWOBJ/INST/OBJ/BUILD into an inert opaque node.
// It never imports, looks up or calls anything; a class name is only ever a string.

/// Unpickles one pickle from a byte buffer. `baseOffset` is the buffer's offset in the file (for messages).
struct Unpickler {
    let data: UnsafeBufferPointer<UInt8>
    let baseOffset: Int
    let limits: ReadLimits
    let arena: NodeArena
    /// Storages met through persistent ids, by key (shared between pickles of one file).
    var storages: [String: StorageBox]
    var pos: Int
    private(set) var opStart = 0
    private var stack: [Item] = []
    private var marks: [Int] = []
    private var memo: [Int: Item] = [:]

    init(_ data: UnsafeBufferPointer<UInt8>, at start: Int = 0, baseOffset: Int, limits: ReadLimits,
         arena: NodeArena, storages: [String: StorageBox] = [:]) {
        self.data = data
        self.pos = start
        self.baseOffset = baseOffset
        self.limits = limits
        self.arena = arena
        self.storages = storages
    }

    /// A failure at the current opcode.
    func fail(_ message: String) -> ReadFailure { ReadFailure(baseOffset + opStart, message) }

    // MARK: - Reading

    private var remaining: Int { data.count - pos }

    private mutating func byte() throws -> UInt8 {
        guard pos < data.count else { throw ReadFailure(baseOffset + pos, "pickle truncated (expected 1 more byte)") }
        defer { pos += 1 }
        return data[pos]
    }

    private mutating func uint(_ count: Int) throws -> UInt64 {
        guard remaining >= count else {
            throw ReadFailure(baseOffset + pos, "pickle truncated (expected \(count) bytes, \(remaining) remain)")
        }
        var v: UInt64 = 0
        for i in 0..<count { v |= UInt64(data[pos + i]) << (8 * UInt64(i)) }
        pos += count
        return v
    }

    /// A length field checked against what remains (and the per-value limit) before anything is allocated.
    private mutating func length(_ fieldBytes: Int, what: String) throws -> Int {
        let n = try uint(fieldBytes)
        guard n <= UInt64(remaining) else {
            throw fail("\(what) length \(n) exceeds the \(remaining) bytes that remain")
        }
        guard n <= UInt64(limits.maxPickleValueBytes) else {
            throw fail("\(what) length \(n) exceeds the limit of \(limits.maxPickleValueBytes) bytes")
        }
        return Int(n)
    }

    private mutating func take(_ n: Int) -> UnsafeBufferPointer<UInt8> {
        defer { pos += n }
        return UnsafeBufferPointer(rebasing: data[pos..<(pos + n)])
    }

    /// A text line (without its newline), at most 64 KiB, decoded as UTF-8.
    private mutating func line() throws -> String {
        String(decoding: try lineBytes(), as: UTF8.self)
    }

    /// A text line's raw bytes (without its newline), at most 64 KiB.
    private mutating func lineBytes() throws -> UnsafeBufferPointer<UInt8> {
        let start = pos, end = min(data.count, pos + 65_536)
        var i = start
        while i < end && data[i] != 0x0A { i += 1 }
        guard i < end else {
            throw i == data.count ? ReadFailure(baseOffset + pos, "pickle truncated inside a text line")
                : fail("text line longer than 64 KiB")
        }
        pos = i + 1
        return UnsafeBufferPointer(rebasing: data[start..<i])
    }

    // MARK: - Stack

    private mutating func push(_ item: Item) { stack.append(item) }

    private mutating func pop() throws -> Item {
        guard stack.count > (marks.last ?? 0) else { throw fail("stack underflow") }
        return stack.removeLast()
    }

    private func top() throws -> Item {
        guard stack.count > (marks.last ?? 0) else { throw fail("stack underflow") }
        return stack[stack.count - 1]
    }

    private mutating func popMark() throws -> [Item] {
        guard let m = marks.popLast() else { throw fail("no MARK on the stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func memoPut(_ index: Int, _ item: Item) throws {
        if memo[index] == nil && memo.count >= limits.maxMemoEntries {
            throw fail("more than \(limits.maxMemoEntries) memo entries")
        }
        memo[index] = item
    }

    private func memoGet(_ index: Int) throws -> Item {
        guard let item = memo[index] else { throw fail("memo index \(index) is not defined") }
        return item
    }

    // MARK: - Containers

    /// Checks a nesting depth against the limit.
    func checkDepth(_ depth: Int) throws {
        if depth > limits.maxNesting { throw fail("nesting deeper than \(limits.maxNesting) levels") }
    }

    mutating func makeNode(_ kind: Node.Kind, _ items: [Item]) throws -> Node {
        let depth = 1 + (items.lazy.map(\.depth).max() ?? 0)
        try checkDepth(depth)
        return arena.make(kind, items: items, depth: depth)
    }

    private func grow(_ node: Node, by child: Item) throws {
        let d = child.depth + 1
        if d > node.depth {
            try checkDepth(d)
            node.depth = d
        }
    }

    /// APPEND/APPENDS onto a list (or set, or opaque object).
    private mutating func appendItems(_ items: [Item], to target: Item) throws {
        guard let node = target.node else { throw fail("APPEND to a non-list value") }
        for item in items { try grow(node, by: item) }
        switch node.kind {
        case .list: node.items.append(contentsOf: items)
        case .set: for item in items { addToSet(node, item) }
        case .opaque:
            node.extra.append(contentsOf: items)
        default: throw fail("APPEND to a \(kindName(node))")
        }
    }

    private func addToSet(_ node: Node, _ item: Item) {
        if let key = item.hashKey {
            if node.keyIndex[key] != nil { return }
            node.keyIndex[key] = node.items.count
        }
        node.items.append(item)
    }

    /// SETITEM/SETITEMS onto a dict (or an opaque object, kept as extra pairs).
    private mutating func setItems(_ pairs: [Item], on target: Item) throws {
        guard pairs.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        guard let node = target.node else { throw fail("SETITEM on a non-dict value") }
        for item in pairs { try grow(node, by: item) }
        switch node.kind {
        case .dict:
            var i = 0
            while i < pairs.count {
                Unpickler.dictSet(node, pairs[i], pairs[i + 1])
                i += 2
            }
        case .opaque:
            node.extra.append(contentsOf: pairs)
            node.extraIsDict = true
        default: throw fail("SETITEM on a \(kindName(node))")
        }
    }

    static func dictSet(_ node: Node, _ key: Item, _ value: Item) {
        if let h = key.hashKey {
            if let index = node.keyIndex[h] {
                node.items[index + 1] = value
                return
            }
            node.keyIndex[h] = node.items.count
        }
        node.items.append(key)
        node.items.append(value)
    }

    func kindName(_ node: Node) -> String {
        switch node.kind {
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .set: return "set"
        case .opaque(let name): return "\(name) object"
        case .global(let name): return "global \(name)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    // MARK: - The machine

    /// Runs until STOP and returns the unpickled object; `pos` is then just past the STOP opcode.
    mutating func load() throws -> Item {
        while true {
            opStart = pos
            let op = try byte()
            switch op {
            case Opcode.proto:
                let version = try byte()
                if version > 5 { throw fail("unsupported pickle protocol \(version)") }
            case Opcode.frame:
                let n = try uint(8)
                if n > UInt64(remaining) { throw fail("FRAME length \(n) exceeds the \(remaining) bytes that remain") }
            case Opcode.stop:
                let result = try pop()
                return result
            case Opcode.mark:
                if marks.count >= limits.maxNesting { throw fail("more than \(limits.maxNesting) nested MARKs") }
                marks.append(stack.count)
            case Opcode.pop:
                if stack.count > (marks.last ?? 0) { stack.removeLast() } else { _ = try popMark() }
            case Opcode.popMark: _ = try popMark()
            case Opcode.dup: push(try top())

            // Numbers
            case Opcode.none: push(.none)
            case Opcode.newTrue: push(.bool(true))
            case Opcode.newFalse: push(.bool(false))
            case Opcode.binInt: push(.int(Int64(Int32(truncatingIfNeeded: try uint(4)))))
            case Opcode.binInt1: push(.int(Int64(try uint(1))))
            case Opcode.binInt2: push(.int(Int64(try uint(2))))
            case Opcode.binFloat:
                let bits = try uint(8)
                push(.float(Double(bitPattern: bits.byteSwapped)))
            case Opcode.float:
                let text = try line()
                guard let v = Double(text.trimmingSpaces) else { throw fail("bad FLOAT literal '\(text.prefix(40))'") }
                push(.float(v))
            case Opcode.int:
                let text = try line().trimmingSpaces
                if text == "00" { push(.bool(false)) } else if text == "01" { push(.bool(true)) } else {
                    push(try textInteger(text))
                }
            case Opcode.long:
                var text = try line().trimmingSpaces
                if text.hasSuffix("L") { text.removeLast() }
                push(try textInteger(text))
            case Opcode.long1, Opcode.long4:
                let n = try length(op == Opcode.long1 ? 1 : 4, what: "LONG")
                push(Unpickler.decodeLong(take(n)))

            // Strings and bytes
            case Opcode.binUnicode, Opcode.shortBinUnicode, Opcode.binUnicode8:
                let field = op == Opcode.shortBinUnicode ? 1 : op == Opcode.binUnicode ? 4 : 8
                let n = try length(field, what: "string")
                push(.string(String(decoding: take(n), as: UTF8.self)))
            case Opcode.binString, Opcode.shortBinString:
                let n = try length(op == Opcode.shortBinString ? 1 : 4, what: "string")
                push(.string(String(decoding: take(n), as: UTF8.self)))
            case Opcode.binBytes, Opcode.shortBinBytes, Opcode.binBytes8, Opcode.byteArray8:
                let field = op == Opcode.shortBinBytes ? 1 : op == Opcode.binBytes ? 4 : 8
                let n = try length(field, what: "bytes")
                push(.bytes(Array(take(n))))
            case Opcode.string:
                let text = try line()
                guard let bytes = PickleText.unquote(text) else { throw fail("bad STRING literal") }
                push(.string(String(decoding: bytes, as: UTF8.self)))
            case Opcode.unicode:
                push(.string(PickleText.rawUnicodeEscape(try lineBytes())))

            // Containers
            case Opcode.emptyTuple: push(.node(arena.make(.tuple)))
            case Opcode.tuple: push(.node(try makeNode(.tuple, try popMark())))
            case Opcode.tuple1, Opcode.tuple2, Opcode.tuple3:
                let n = Int(op - Opcode.tuple1) + 1
                var items: [Item] = []
                for _ in 0..<n { items.append(try pop()) }
                push(.node(try makeNode(.tuple, items.reversed())))
            case Opcode.emptyList: push(.node(arena.make(.list)))
            case Opcode.list: push(.node(try makeNode(.list, try popMark())))
            case Opcode.emptyDict: push(.node(arena.make(.dict)))
            case Opcode.dict:
                let items = try popMark()
                let node = try makeNode(.dict, [])
                try setItems(items, on: .node(node))
                push(.node(node))
            case Opcode.emptySet: push(.node(arena.make(.set)))
            case Opcode.frozenSet:
                let items = try popMark()
                let node = try makeNode(.set, [])
                try appendItems(items, to: .node(node))
                push(.node(node))
            case Opcode.append:
                let item = try pop()
                try appendItems([item], to: try top())
            case Opcode.appends, Opcode.addItems:
                let items = try popMark()
                try appendItems(items, to: try top())
            case Opcode.setItem:
                let value = try pop(), key = try pop()
                try setItems([key, value], on: try top())
            case Opcode.setItems:
                let items = try popMark()
                try setItems(items, on: try top())

            // Memo
            case Opcode.put: try memoPut(try textIndex(), try top())
            case Opcode.binPut: try memoPut(Int(try uint(1)), try top())
            case Opcode.longBinPut: try memoPut(Int(try uint(4)), try top())
            case Opcode.memoize: try memoPut(memo.count, try top())
            case Opcode.get: push(try memoGet(try textIndex()))
            case Opcode.binGet: push(try memoGet(Int(try uint(1))))
            case Opcode.longBinGet: push(try memoGet(Int(try uint(4))))

            // Objects: names and calls stay inert
            case Opcode.global:
                let module = try line(), name = try line()
                push(.node(arena.make(.global(Unpickler.qualifiedName(module, name)))))
            case Opcode.stackGlobal:
                let name = try pop(), module = try pop()
                guard let n = name.string, let m = module.string else { throw fail("STACK_GLOBAL needs two strings") }
                push(.node(arena.make(.global(Unpickler.qualifiedName(m, n)))))
            case Opcode.ext1, Opcode.ext2, Opcode.ext4:
                let code = try uint(op == Opcode.ext1 ? 1 : op == Opcode.ext2 ? 2 : 4)
                push(.node(arena.make(.global("copyreg.extension[\(code)]"))))
            case Opcode.reduce:
                let args = try pop(), callable = try pop()
                push(try call(callable, args))
            case Opcode.newObj:
                let args = try pop(), cls = try pop()
                push(try instantiate(cls, args.sequence ?? [args]))
            case Opcode.newObjEx:
                let kwargs = try pop(), args = try pop(), cls = try pop()
                var all = args.sequence ?? [args]
                if let k = kwargs.node, case .dict = k.kind, !k.items.isEmpty { all.append(kwargs) }
                push(try instantiate(cls, all))
            case Opcode.inst:
                let module = try line(), name = try line()
                let args = try popMark()
                let cls = arena.make(.global(Unpickler.qualifiedName(module, name)))
                push(try instantiate(.node(cls), args))
            case Opcode.obj:
                let items = try popMark()
                guard let cls = items.first else { throw fail("OBJ without a class") }
                push(try instantiate(cls, Array(items.dropFirst())))
            case Opcode.build:
                let state = try pop()
                let target = try top()
                if let node = target.node, case .opaque = node.kind {
                    try grow(node, by: state)
                    node.state = state
                }
                // BUILD on dicts (OrderedDict._metadata), lists and tensors sets Python attributes: ignored.
            case Opcode.persId:
                _ = try line()
                throw fail("text persistent ids are not used by PyTorch; refusing")
            case Opcode.binPersId:
                push(try persistentLoad(try pop()))
            case Opcode.nextBuffer:
                throw fail("out-of-band buffers (NEXT_BUFFER) are not supported")
            case Opcode.readonlyBuffer:
                break
            default:
                throw fail("unknown pickle opcode 0x" + String(op, radix: 16))
            }
        }
    }

    /// A decimal integer of protocol 0 (INT, LONG): Int64 when it fits, else little-endian two's complement.
    /// At most 4300 digits (CPython's own limit), so conversion stays cheap.
    private func textInteger(_ text: String) throws -> Item {
        if let v = Int64(text) { return .int(v) }
        var digits = Substring(text)
        let negative = digits.hasPrefix("-")
        if negative || digits.hasPrefix("+") { digits.removeFirst() }
        guard !digits.isEmpty, digits.count <= 4300, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw fail("bad integer literal '\(text.prefix(40))'")
        }
        var magnitude: [UInt8] = []  // little-endian base 256
        for d in digits.utf8 {
            var carry = Int(d - 48)
            for i in magnitude.indices {
                let v = Int(magnitude[i]) * 10 + carry
                magnitude[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
            while carry > 0 { magnitude.append(UInt8(carry & 0xFF)); carry >>= 8 }
        }
        magnitude.append(0)  // room for the sign bit
        if negative {
            var carry = 1
            for i in magnitude.indices {
                let v = Int(~magnitude[i]) + carry
                magnitude[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
        }
        // Minimal form, as LONG1 writes it: drop redundant sign-extension bytes.
        while magnitude.count > 1, let last = magnitude.last,
              (last == 0 && magnitude[magnitude.count - 2] & 0x80 == 0) || (last == 0xFF && magnitude[magnitude.count - 2] & 0x80 != 0) {
            magnitude.removeLast()
        }
        return .bigInt(magnitude)
    }

    private mutating func textIndex() throws -> Int {
        let text = try line().trimmingSpaces
        guard let v = Int(text), v >= 0 else { throw fail("bad memo index '\(text.prefix(40))'") }
        return v
    }

    /// Python 3's fix_imports renames for names written by Python 2.
    static func qualifiedName(_ module: String, _ name: String) -> String {
        let m: String
        switch module {
        case "__builtin__": m = "builtins"
        case "copy_reg": m = "copyreg"
        default: m = module
        }
        return "\(m).\(name)"
    }

    /// LONG1/LONG4 payload: little-endian two's complement.
    static func decodeLong(_ bytes: UnsafeBufferPointer<UInt8>) -> Item {
        if bytes.isEmpty { return .int(0) }
        if bytes.count <= 8 {
            var v: UInt64 = 0
            for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
            let shift = UInt64(64 - 8 * bytes.count)
            return .int(Int64(bitPattern: v << shift) >> Int64(shift))
        }
        return .bigInt(Array(bytes))
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\r" || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\r" || c == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Decoders for the protocol-0 text forms of strings.
enum PickleText {
    /// A Python 2 `repr` of a str ('...' or "..." with backslash escapes) to its bytes.
    static func unquote(_ line: String) -> [UInt8]? {
        var text = Array(line.trimmingSpaces.utf8)
        guard text.count >= 2, let q = text.first, (q == 0x27 || q == 0x22), text.last == q else { return nil }
        text = Array(text[1..<(text.count - 1)])
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let c = text[i]
            i += 1
            guard c == 0x5C, i < text.count else { out.append(c); continue }
            let e = text[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "x"):
                guard i + 2 <= text.count, let v = UInt8(String(decoding: text[i..<(i + 2)], as: UTF8.self), radix: 16)
                else { return nil }
                out.append(v)
                i += 2
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = Int(e - 0x30), digits = 1
                while digits < 3, i < text.count, (0x30...0x37).contains(text[i]) {
                    v = v * 8 + Int(text[i] - 0x30)
                    i += 1
                    digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: v))
            default: out.append(e)
            }
        }
        return out
    }

    /// Python's raw-unicode-escape: `\uXXXX` and `\UXXXXXXXX` escapes, every other byte is Latin-1.
    static func rawUnicodeEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x5C, i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") || bytes[i + 1] == UInt8(ascii: "U") {
                let width = bytes[i + 1] == UInt8(ascii: "u") ? 4 : 8
                if i + 2 + width <= bytes.count,
                   let v = UInt32(String(decoding: bytes[(i + 2)..<(i + 2 + width)], as: UTF8.self), radix: 16),
                   let scalar = Unicode.Scalar(v) {
                    scalars.append(scalar)
                    i += 2 + width
                    continue
                }
            }
            scalars.append(Unicode.Scalar(bytes[i]))
            i += 1
        }
        return String(scalars)
    }
}
