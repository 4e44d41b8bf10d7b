// The one error type QFormat throws: which file, where in it, and what was wrong.

/// A problem reading or writing an .lbm file.
public struct LBMError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file's path (or the name given to `LBMFile(bytes:name:)`).
    public let file: String
    /// The byte offset from the file start where the problem was found, when known.
    public let offset: Int?
    /// What was wrong, in words.
    public let message: String

    /// Makes an error; `offset` counts from the first byte of the file.
    public init(file: String, offset: Int? = nil, message: String) {
        self.file = file
        self.offset = offset
        self.message = message
    }

    /// `file: byte N: message`, or `file: message` without an offset.
    public var description: String {
        if let offset { return "\(file): byte \(offset): \(message)" }
        return "\(file): \(message)"
    }
}
