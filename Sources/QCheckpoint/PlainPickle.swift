// Unpickling a stand-alone pickle (no torch storages) with the same restricted machine, for tools and tests.

extension PickleValue {
    /// Unpickles `bytes` (one pickle, protocols 0-5) with the restricted unpickler. Persistent ids (torch
    /// storages) are refused since there is no archive to resolve them; `name` labels error messages.
    public init(unpickling bytes: [UInt8], name: String = "<memory>", limits: ReadLimits = .default) throws {
        do {
            let arena = NodeArena()
            let root = try bytes.withUnsafeBufferPointer { buf -> Item in
                var u = Unpickler(buf, baseOffset: 0, limits: limits, arena: arena)
                return try u.load()
            }
            let file = UnpickledFile(root: root, arena: arena, storages: [:], pickleOffset: 0)
            self = try file.convert(limits: limits, fileSize: bytes.count).0
        } catch let failure as ReadFailure {
            throw CheckpointError(file: name, offset: failure.offset, message: failure.message)
        }
    }
}
