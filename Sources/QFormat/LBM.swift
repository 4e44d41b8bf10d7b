// The .lbm container's fixed facts: version, alignment, limits, reserved keys, and the fixed header prefix.
// The byte-level specification is docs/FORMAT.md; change both together.

#if _endian(big)
#error("QFormat reads and writes little-endian tensors in place; big-endian hosts are not supported")
#endif

/// Constants of the .lbm container, version 1 (specified in docs/FORMAT.md).
public enum LBMFormat {
    /// The format version this LowBit writes.
    public static let version = 1
    /// Every tensor (padding entries excepted) starts at a multiple of this many bytes from the file start.
    public static let alignment = 64
    /// The largest JSON header accepted or written, in bytes (64 MiB; safetensors allows 100,000,000).
    public static let maxHeaderLength = 64 << 20
    /// Value of `lowbit.format`.
    public static let formatName = "lbm"

    /// Metadata key naming the container (`"lbm"`); set by the writer.
    public static let formatKey = "lowbit.format"
    /// Metadata key holding the decimal format version; set by the writer.
    public static let versionKey = "lowbit.version"
    /// Metadata key holding `"xxh64:<16 lowercase hex digits>"`; set by the writer.
    public static let checksumKey = "lowbit.checksum"
    /// The keys only QFormat may set; every other `__metadata__` key belongs to the caller.
    public static let reservedKeys: Set<String> = [formatKey, versionKey, checksumKey]

    /// Names of padding entries start with this; such names are not available to callers.
    public static let paddingPrefix = "__pad__"
    /// The safetensors key holding the string-to-string metadata map.
    public static let metadataKey = "__metadata__"

    /// The JSON header must begin with exactly these bytes, followed by 16 lowercase hex digits and `"`.
    static let headerPrefix = Array(#"{"__metadata__":{"lowbit.checksum":"xxh64:"#.utf8)
    /// Length of the checksum's hex digits.
    static let checksumDigits = 16
    /// File offset of the first checksum hex digit: 8 (length field) + 42 (prefix) = 50.
    static let checksumOffset = 8 + headerPrefix.count
    /// What the checksum digits are replaced by while hashing.
    static let checksumPlaceholder = [UInt8](repeating: UInt8(ascii: "0"), count: checksumDigits)
}
