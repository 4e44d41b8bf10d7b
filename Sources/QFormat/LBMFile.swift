// LBMFile: a validated, read-only .lbm file whose tensors are zero-copy views into the mapped bytes.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One tensor of an open `LBMFile`: its bytes point into the file's memory, which the view keeps alive
/// (it holds the mapping), so the bytes stay valid while the view or its file lives. Code that keeps only
/// `bytes` must keep the view or the file alive itself (e.g. `withExtendedLifetime`).
public struct LBMTensorView {
    /// The tensor's name.
    public let name: String
    /// The element type.
    public let dtype: LBMDType
    /// The dimensions (empty for a scalar).
    public let shape: [Int]
    /// The little-endian element bytes; 64-byte aligned in memory; `baseAddress` is never nil.
    public let bytes: UnsafeRawBufferPointer
    /// Where the bytes start, counted from the first byte of the file (a multiple of 64).
    public let fileOffset: Int
    /// The memory behind `bytes`, retained so a view outliving its `LBMFile` still points at live memory.
    let owner: AnyObject

    /// The number of elements (the product of `shape`; 1 for a scalar).
    public var elementCount: Int { bytes.count / dtype.byteSize }
}

/// A validated .lbm file: every structural rule and the checksum are checked before init returns.
///
/// The file is memory-mapped (PROT_READ, MAP_PRIVATE) or, when that fails, read into memory. Tensor views
/// borrow its memory: keep the `LBMFile` alive (e.g. `withExtendedLifetime`) while using them.
/// Immutable after init, hence safe to share between threads.
public final class LBMFile: @unchecked Sendable {
    /// The format versions this reader accepts.
    public static let supportedVersions: [Int] = [LBMFormat.version]

    /// The path or name used in error messages.
    public let name: String
    /// The file's format version (`lowbit.version`).
    public let version: Int
    /// All `__metadata__` entries, including the reserved `lowbit.*` keys.
    public let metadata: [String: String]
    /// Tensor names in file (data offset) order; padding entries are not listed.
    public let tensorNames: [String]
    /// The file's size in bytes.
    public let fileSize: Int
    /// The JSON header's length N (the data buffer starts at byte 8 + N, a multiple of 64).
    public let headerLength: Int
    /// True when the bytes are memory-mapped from the file (false when read or copied into memory).
    public var isMemoryMapped: Bool { region.isMapped }

    private let region: MappedRegion
    private let entries: [String: LBMEntry]

    /// Opens, maps and fully validates the file at `url`.
    public convenience init(contentsOf url: URL) throws {
        try self.init(region: MappedRegion(contentsOf: url), name: url.path)
    }

    /// Validates a file image held in memory (copied into a 64-byte-aligned buffer); `name` labels errors.
    public convenience init(bytes: [UInt8], name: String) throws {
        let region = bytes.withUnsafeBytes { MappedRegion(copying: $0) }
        try self.init(region: region, name: name)
    }

    private init(region: MappedRegion, name: String) throws {
        let header = try LBMValidator.validate(region.bytes, name: name)
        self.region = region
        self.name = name
        self.version = header.version
        self.metadata = header.metadata
        self.fileSize = region.bytes.count
        self.headerLength = header.headerLength
        let tensors = header.entries.filter { !$0.isPadding }
        self.tensorNames = tensors.map(\.name)
        self.entries = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
    }

    /// The tensor called `name`, or nil when there is none.
    public func tensor(_ name: String) -> LBMTensorView? {
        guard let entry = entries[name] else { return nil }
        let start = region.bytes.baseAddress! + entry.offset
        return LBMTensorView(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                             bytes: UnsafeRawBufferPointer(start: start, count: entry.byteCount),
                             fileOffset: entry.offset, owner: region)
    }

    /// All tensors in file order.
    public var tensors: [LBMTensorView] { tensorNames.map { tensor($0)! } }
}
