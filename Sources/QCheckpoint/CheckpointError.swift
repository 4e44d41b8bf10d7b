// Errors and resource limits for checkpoint reading: every failure names the file, the offset and the reason.

/// A checkpoint that could not be read: the file, the byte offset where reading failed (when known) and why.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let offset: Int?
    public let message: String

    public init(file: String, offset: Int?, message: String) {
        self.file = file
        self.offset = offset
        self.message = message
    }

    /// `FILE: offset N: MESSAGE` (the offset part only when known).
    public var description: String {
        if let offset { return "\(file): offset \(offset): \(message)" }
        return "\(file): \(message)"
    }
}

/// Bounds applied to untrusted input before anything is allocated or traversed.
public struct ReadLimits: Sendable {
    /// Deepest nesting of containers in the unpickled object (and of MARKs on the pickle stack).
    public var maxNesting: Int
    /// Most memo entries one pickle may define.
    public var maxMemoEntries: Int
    /// Largest single tensor, in bytes (it must also fit inside the file's storage).
    public var maxTensorBytes: Int
    /// Total bytes of all materialised tensors, as a multiple of the file size (views sharing a storage
    /// are copied, so a hostile file could otherwise claim the same megabyte a million times).
    public var maxTensorBytesPerFileByte: Int
    /// Most values the unpickled object may expand to when shared references are counted every time
    /// they occur (protects code that walks the result).
    public var maxValueCount: Int
    /// Most entries in a zip central directory.
    public var maxZipEntries: Int
    /// Largest safetensors JSON header, in bytes.
    public var maxHeaderBytes: Int
    /// Most bytes in one LONG, string or bytes value of a pickle.
    public var maxPickleValueBytes: Int

    public init(maxNesting: Int = 200, maxMemoEntries: Int = 1 << 20, maxTensorBytes: Int = 1 << 33,
                maxTensorBytesPerFileByte: Int = 16, maxValueCount: Int = 10_000_000,
                maxZipEntries: Int = 1 << 20, maxHeaderBytes: Int = 100 << 20,
                maxPickleValueBytes: Int = 1 << 30) {
        self.maxNesting = maxNesting
        self.maxMemoEntries = maxMemoEntries
        self.maxTensorBytes = maxTensorBytes
        self.maxTensorBytesPerFileByte = maxTensorBytesPerFileByte
        self.maxValueCount = maxValueCount
        self.maxZipEntries = maxZipEntries
        self.maxHeaderBytes = maxHeaderBytes
        self.maxPickleValueBytes = maxPickleValueBytes
    }

    /// Generous for real checkpoints, tight enough that hostile files fail fast.
    public static let `default` = ReadLimits()
}

/// An internal failure with an absolute file offset; `Checkpoint.load` adds the file name.
struct ReadFailure: Error {
    var offset: Int?
    var message: String
    init(_ offset: Int?, _ message: String) {
        self.offset = offset
        self.message = message
    }
}
