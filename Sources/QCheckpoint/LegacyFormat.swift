// torch.save's legacy format (torch <= 1.5, or _use_new_zipfile_serialization=False): five pickles in a
// row (magic number, protocol 1001, sys_info, the object, the sorted storage keys), then each storage as
// an int64 element count followed by its raw little-endian bytes. Storages tagged cuda:N load on the CPU.

enum LegacyFormat {
    /// 0x1950a86a20f9469cfc6c, little-endian, as pickled by LONG1.
    static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Whether the bytes start with a pickle whose value is the legacy magic number.
    static func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        // \x80\x02 \x8a\x0a <10 bytes> . — protocol 2 as torch writes it.
        guard bytes.count >= 15, bytes[0] == 0x80, bytes[2] == 0x8A, bytes[3] == 0x0A else { return false }
        return Array(bytes[4..<14]) == magic
    }

    static func read(_ file: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>, limits: ReadLimits) throws -> UnpickledFile {
        let arena = NodeArena()
        var pos = 0
        func next(_ storages: [String: StorageBox] = [:]) throws -> (Item, Unpickler) {
            var u = Unpickler(bytes, at: pos, baseOffset: 0, limits: limits, arena: arena, storages: storages)
            let item = try u.load()
            pos = u.pos
            return (item, u)
        }
        let (magicItem, _) = try next()
        guard case .bigInt(let m) = magicItem, m == magic else {
            throw ReadFailure(0, "not a PyTorch legacy checkpoint (the first pickle is not torch's magic number)")
        }
        let protocolStart = pos
        let (proto, _) = try next()
        guard proto.int == 1001 else {
            throw ReadFailure(protocolStart, "unsupported legacy protocol version \(proto.int.map(String.init) ?? "?") (expected 1001)")
        }
        let infoStart = pos
        let (info, _) = try next()
        if let node = info.node, case .dict = node.kind {
            var i = 0
            while i + 1 < node.items.count {
                if node.items[i].string == "little_endian", case .bool(false) = node.items[i + 1] {
                    throw ReadFailure(infoStart, "big-endian legacy checkpoints are not supported")
                }
                i += 2
            }
        }
        let (root, objectReader) = try next()
        let keysStart = pos
        let (keysItem, _) = try next()
        guard let keyItems = keysItem.sequence else {
            throw ReadFailure(keysStart, "the storage key list is not a list")
        }
        var storages: [String: StorageData] = [:]
        for item in keyItems {
            guard let key = item.string ?? item.int.map({ String($0) }) else {
                throw ReadFailure(keysStart, "a storage key is neither a string nor an integer")
            }
            guard let box = objectReader.storages[key] else {
                throw ReadFailure(keysStart, "storage '\(key)' is listed but no tensor refers to it (its element size is unknown)")
            }
            guard bytes.count - pos >= 8 else {
                throw ReadFailure(pos, "file ends before storage '\(key)' (expected its 8-byte element count)")
            }
            var count: UInt64 = 0
            for i in 0..<8 { count |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
            let start = pos + 8
            let remaining = bytes.count - start
            let size = UInt64(box.dtype.byteSize)
            guard count <= UInt64(remaining) / size else {
                throw ReadFailure(pos, "storage '\(key)' claims \(count) \(box.dtype.rawValue) elements "
                    + "(\(count &* size) bytes) but only \(remaining) bytes remain in the file")
            }
            let n = Int(count) * box.dtype.byteSize
            storages[key] = StorageData(buffer: file, range: start..<(start + n))
            pos = start + n
        }
        return UnpickledFile(root: root, arena: arena, storages: storages, pickleOffset: 0)
    }
}
