// The bytes behind an LBMFile: a read-only private mapping of the file, or a 64-aligned heap copy.
// Owns the memory and releases it (munmap or deallocate) when the last reference goes.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Android)
import Android
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes, valid until deinit, followed by at least `readableTail` readable zero bytes (kernels
/// may read up to QK_EXTRA_BYTES past the weights they use, and the last tensor may end the file exactly
/// on a page boundary). A mapped file must not be truncated by another process while mapped (that is
/// SIGBUS on any platform); LowBit never modifies a file in place, it renames over it.
final class MappedRegion: @unchecked Sendable {
    private enum Owner {
        /// The mapping's whole length: the file, then anonymous zero pages.
        case mapping(length: Int)
        case heap
    }

    /// Zero bytes readable past `bytes` (QK_EXTRA_BYTES).
    static let readableTail = 64

    let bytes: UnsafeRawBufferPointer
    /// True when the bytes are a memory mapping of the file (false after the read fallback or for a copy).
    let isMapped: Bool
    private let owner: Owner

    private init(bytes: UnsafeRawBufferPointer, owner: Owner) {
        self.bytes = bytes
        self.owner = owner
        if case .mapping = owner { self.isMapped = true } else { self.isMapped = false }
    }

    deinit {
        switch owner {
        case .mapping(let length): _ = munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), length)
        case .heap: bytes.baseAddress!.deallocate()
        }
    }

    /// Zeroed memory for `count` bytes and the readable tail, 64-byte aligned.
    private static func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: count + readableTail, alignment: LBMFormat.alignment)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: count + readableTail)
        return memory
    }

    /// A 64-byte-aligned copy of `source`.
    convenience init(copying source: UnsafeRawBufferPointer) {
        let memory = Self.allocate(source.count)
        if let from = source.baseAddress, source.count > 0 {
            memory.copyMemory(from: from, byteCount: source.count)
        }
        self.init(bytes: UnsafeRawBufferPointer(start: memory, count: source.count), owner: .heap)
    }

    /// Maps the file read-only (PROT_READ, MAP_PRIVATE), or reads it into memory when mapping fails.
    convenience init(contentsOf url: URL) throws {
        let path = url.path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (fstat then refuses it); no effect on files.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw LBMError(file: path, message: "cannot open: \(AtomicFile.errnoText(code))")
        }
        defer { _ = close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 {
            let code = errno
            throw LBMError(file: path, message: "cannot stat: \(AtomicFile.errnoText(code))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw LBMError(file: path, message: "not a regular file")
        }
        guard let size = Int(exactly: info.st_size), size >= 0 else {
            throw LBMError(file: path, message: "file size \(info.st_size) cannot be addressed")
        }
        // Reserve the file's pages plus one anonymous zero page, then map the file over the start of the
        // reservation: reads up to `readableTail` past the end hit zeros, even when the file ends on a page.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = (size + Self.readableTail + page - 1) / page * page
        if size > 0, let reserved = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
           reserved != UnsafeMutableRawPointer(bitPattern: -1) {
            if let base = mmap(reserved, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0),
               base == reserved {
                self.init(bytes: UnsafeRawBufferPointer(start: base, count: size), owner: .mapping(length: length))
                return
            }
            _ = munmap(reserved, length)
        }
        // Fallback (empty file, or a file system that cannot map): read everything.
        let memory = Self.allocate(size)
        var done = 0
        while done < size {
            let n = pread(fd, memory + done, size - done, off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let code = errno
                memory.deallocate()
                throw LBMError(file: path, offset: done, message: n == 0
                               ? "file shrank while being read" : "cannot read: \(AtomicFile.errnoText(code))")
            }
            done += n
        }
        self.init(bytes: UnsafeRawBufferPointer(start: memory, count: size), owner: .heap)
    }
}
