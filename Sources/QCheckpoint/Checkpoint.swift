// A checkpoint file read into named tensors and metadata: format detection, the reading pipeline and the
// public entry point `Checkpoint.load`. No code from the file is ever executed.
import Foundation

/// The file format a checkpoint was read from (`onnx`: an ONNX model's initializers, read by QONNX).
public enum CheckpointFormat: String, Sendable {
    case zip, legacy, safetensors, onnx
}

/// A PyTorch (zip or legacy torch.save) or safetensors checkpoint: its state-dict tensors and metadata.
public struct Checkpoint: Sendable {
    public let url: URL
    public let format: CheckpointFormat
    /// Where the weights were found: "bare", "state_dict", "lightning", "model", "net", "pickled <class>", "none".
    public let wrapper: String
    /// The prefix removed from every tensor name (e.g. "module."), if any.
    public let strippedPrefix: String?
    /// The state dict in file order, prefixes stripped.
    public let tensors: [(name: String, tensor: CheckpointTensor)]
    /// The other top-level entries (epoch, best_prec1, bits, arch, optimizer, ...), in file order.
    public let metadata: [(key: String, value: PickleValue)]
    /// Sorted unique class names that were stubbed as opaque values.
    public let opaqueClasses: [String]
    /// The whole unpickled object (for safetensors: a dict of the tensors plus `__metadata__`).
    public let root: PickleValue
    private let index: [String: Int]

    /// Builds a checkpoint in memory (for tests and tools); `load` is the way to read files.
    public init(url: URL, format: CheckpointFormat, wrapper: String, strippedPrefix: String? = nil,
                tensors: [(name: String, tensor: CheckpointTensor)], metadata: [(key: String, value: PickleValue)] = [],
                opaqueClasses: [String] = [], root: PickleValue = .none) {
        self.url = url
        self.format = format
        self.wrapper = wrapper
        self.strippedPrefix = strippedPrefix
        self.tensors = tensors
        self.metadata = metadata
        self.opaqueClasses = opaqueClasses
        self.root = root
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() where index[t.name] == nil { index[t.name] = i }
        self.index = index
    }

    /// The tensor with this (prefix-stripped) name, or nil.
    public func tensor(_ name: String) -> CheckpointTensor? { index[name].map { tensors[$0].tensor } }

    /// A metadata entry by key, or nil.
    public func metadata(_ key: String) -> PickleValue? { metadata.last(where: { $0.key == key })?.value }

    /// The training epoch, when recorded.
    public var epoch: Int64? { metadata("epoch")?.intValue }

    /// The best accuracy the training code recorded (best_prec1, best_acc1, best_top1, best_acc, acc).
    public var bestAccuracy: Double? {
        for key in ["best_prec1", "best_acc1", "best_top1", "best_acc", "acc", "accuracy"] {
            if let v = metadata(key)?.doubleValue { return v }
        }
        return nil
    }

    /// The bit width recorded by the training code (`bits`, or `wbits`), when it is a single integer.
    public var bits: Int64? { metadata("bits")?.intValue ?? metadata("wbits")?.intValue }

    /// The architecture name recorded by the training code (`arch`, `model_name`, `architecture`).
    public var arch: String? {
        for key in ["arch", "model_name", "architecture", "model"] {
            if let s = metadata(key)?.stringValue { return s }
        }
        return nil
    }

    /// Reads a checkpoint; the format is detected from the content. Throws `CheckpointError` naming the
    /// file, the offset and the problem; never executes anything from the file.
    public static func load(contentsOf url: URL, limits: ReadLimits = .default) throws -> Checkpoint {
        let file = try readFile(url)
        do {
            return try file.withUnsafeBufferPointer { bytes in try parse(url: url, file: file, bytes: bytes, limits: limits) }
        } catch let failure as ReadFailure {
            throw CheckpointError(file: url.path, offset: failure.offset, message: failure.message)
        }
    }

    /// Reads a checkpoint already in memory (`url` names it in messages).
    public static func load(bytes file: [UInt8], url: URL, limits: ReadLimits = .default) throws -> Checkpoint {
        do {
            return try file.withUnsafeBufferPointer { bytes in try parse(url: url, file: file, bytes: bytes, limits: limits) }
        } catch let failure as ReadFailure {
            throw CheckpointError(file: url.path, offset: failure.offset, message: failure.message)
        }
    }

    private static func parse(url: URL, file: [UInt8], bytes: UnsafeBufferPointer<UInt8>, limits: ReadLimits) throws -> Checkpoint {
        let format: CheckpointFormat
        let root: PickleValue
        var opaque: [String] = []
        var safetensorsMetadata: [(key: String, value: PickleValue)] = []
        if looksLikeZip(bytes) {
            format = .zip
            (root, opaque) = try ZipFormat.read(file, bytes, limits: limits).convert(limits: limits, fileSize: bytes.count)
        } else if LegacyFormat.matches(bytes) {
            format = .legacy
            (root, opaque) = try LegacyFormat.read(file, bytes, limits: limits).convert(limits: limits, fileSize: bytes.count)
        } else if SafetensorsFormat.matches(bytes) {
            format = .safetensors
            (root, safetensorsMetadata) = try SafetensorsFormat.read(bytes, limits: limits)
        } else if bytes.count >= 2, bytes[0] == 0x80 {
            throw ReadFailure(0, "a pickle that is not a torch.save checkpoint (no legacy magic number)")
        } else if bytes.count < 16 {
            throw ReadFailure(0, "file of \(bytes.count) bytes is too short to be a checkpoint")
        } else {
            throw ReadFailure(0, "unrecognised format (not a PyTorch zip, a legacy torch.save file or safetensors)")
        }
        if format == .safetensors {
            let tensors = root.dictEntries?.compactMap { e -> (name: String, tensor: CheckpointTensor)? in
                guard let name = e.key.stringValue, let t = e.value.tensorValue else { return nil }
                return (name, t)
            } ?? []
            let (stripped, prefix) = StateDict.stripPrefixes(tensors)
            return Checkpoint(url: url, format: format, wrapper: "bare", strippedPrefix: prefix, tensors: stripped,
                              metadata: safetensorsMetadata, opaqueClasses: [], root: root)
        }
        let location = StateDict.locate(root)
        return Checkpoint(url: url, format: format, wrapper: location.wrapper, strippedPrefix: location.strippedPrefix,
                          tensors: location.tensors, metadata: location.metadata, opaqueClasses: opaque, root: root)
    }

    /// The whole file in one read.
    private static func readFile(_ url: URL) throws -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer (fstat then refuses it); no effect on files.
        let fd = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0, let handle = fdopen(fd, "rb") else {
            let message = "cannot open: \(String(cString: strerror(errno)))"
            if fd >= 0 { close(fd) }
            throw CheckpointError(file: url.path, offset: nil, message: message)
        }
        defer { fclose(handle) }
        var info = stat()
        guard fstat(fileno(handle), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError(file: url.path, offset: nil, message: "not a regular file")
        }
        let size = Int(info.st_size)
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            let n = size == 0 ? 0 : fread(buffer.baseAddress, 1, size, handle)
            failed = n != size
            count = failed ? 0 : size
        }
        if failed { throw CheckpointError(file: url.path, offset: nil, message: "read error") }
        return bytes
    }
}
