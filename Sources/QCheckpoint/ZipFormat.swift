// torch.save's zip format (torch >= 1.6): `<folder>/data.pkl` with storages in `<folder>/data/<key>`.

enum ZipFormat {
    /// Reads the object pickled in a PyTorch zip archive and the storages it references.
    static func read(_ file: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>, limits: ReadLimits) throws -> UnpickledFile {
        let zip = try ZipArchive(bytes, limits: limits)
        guard let pkl = zip.entries.first(where: { e in
            e.name == "data.pkl" || (e.name.hasSuffix("/data.pkl") && e.name.split(separator: "/").count == 2)
        }) else {
            throw ReadFailure(nil, "zip archive has no <folder>/data.pkl: not a PyTorch checkpoint "
                + "(entries: \(zip.entries.prefix(5).map(\.name).joined(separator: ", ")))")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        if let order = zip.entry(named: prefix + "byteorder") {
            let data = try zip.read(order, owner: file, limits: limits)
            let text = String(decoding: data.buffer[data.range], as: UTF8.self)
            guard text == "little" else {
                throw ReadFailure(order.dataOffset, "byte order '\(text.prefix(16))' is not supported (only little-endian)")
            }
        }
        let pickle = try zip.read(pkl, owner: file, limits: limits)
        let arena = NodeArena()
        var unpickler: Unpickler
        let root: Item
        do {
            (root, unpickler) = try pickle.buffer.withUnsafeBufferPointer { buf in
                var u = Unpickler(UnsafeBufferPointer(rebasing: buf[pickle.range]), baseOffset: 0, limits: limits, arena: arena)
                let r = try u.load()
                return (r, u)
            }
        } catch var failure as ReadFailure {
            // Offsets inside data.pkl: absolute when stored, relative to the inflated entry otherwise.
            if pkl.method == 0 {
                failure.offset = failure.offset.map { $0 + pkl.dataOffset }
            } else {
                failure.message = "\(pkl.name) (deflated) byte \(failure.offset ?? 0): \(failure.message)"
                failure.offset = pkl.dataOffset
            }
            throw failure
        }
        var storages: [String: StorageData] = [:]
        for key in unpickler.storages.keys.sorted() {
            guard let entry = zip.entry(named: prefix + "data/" + key) else {
                throw ReadFailure(nil, "storage '\(key)' is referenced by \(pkl.name) but \(prefix)data/\(key) is missing")
            }
            storages[key] = try zip.read(entry, owner: file, limits: limits)
        }
        return UnpickledFile(root: root, arena: arena, storages: storages,
                             pickleOffset: pkl.method == 0 ? pkl.dataOffset : 0)
    }
}

/// An unpickled object graph with the bytes of every storage it references, ready to convert.
struct UnpickledFile {
    var root: Item
    var arena: NodeArena
    var storages: [String: StorageData]
    /// Added to tensor offsets recorded relative to the pickle.
    var pickleOffset: Int

    /// The value tree and the opaque classes met (anywhere in the pickle, reachable or not).
    func convert(limits: ReadLimits, fileSize: Int) throws -> (PickleValue, [String]) {
        var materializer = TensorMaterializer(storages: storages, limits: limits, fileSize: fileSize)
        materializer.offsetBias = pickleOffset
        var converter = PickleConverter(limits: limits, materializer: materializer)
        let value = try converter.convert(root)
        var names = converter.opaqueNames
        for node in arena.nodes {
            if case .opaque(let name) = node.kind { names.insert(name) }
        }
        return (value, names.sorted())
    }
}
