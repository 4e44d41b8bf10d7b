// Atomic file replacement: write a temporary file beside the destination, fsync it, rename it over the
// destination, fsync the folder. Readers never see a partial file; on error the temporary is removed.
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

enum AtomicFile {
    /// The text of `errno` (e.g. "No space left on device").
    static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Creates the file at `url` with the bytes `body` emits, atomically.
    /// `expectedSize` is only for messages; `simulatingDiskFullAfter` makes writes fail with ENOSPC
    /// once that many bytes were written (a test hook).
    static func write(to url: URL, expectedSize: Int, simulatingDiskFullAfter limit: Int?,
                      body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let destination = url.path
        guard url.isFileURL, !destination.isEmpty else {
            throw LBMError(file: url.absoluteString, message: "not a file URL")
        }
        let folder = url.deletingLastPathComponent().path
        let tempPath = folder + "/." + url.lastPathComponent + ".tmp-"
            + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            let code = errno
            throw LBMError(file: destination, message: "cannot create a temporary file in the folder \(folder): "
                           + "\(errnoText(code)) (the destination folder must exist and be writable)")
        }
        var isOpen = true
        var renamed = false
        defer {
            if isOpen { _ = close(fd) }
            if !renamed { _ = unlink(tempPath) }
        }

        var written = 0
        try body { chunk in
            guard var p = chunk.baseAddress else { return }
            var remaining = chunk.count
            while remaining > 0 {
                var request = min(remaining, 1 << 30)
                if let limit { request = min(request, max(limit - written, 0)) }
                let n = request == 0 ? -1 : posixWrite(fd, p, request)
                if n < 0 {
                    let code = request == 0 ? ENOSPC : errno
                    if code == EINTR { continue }
                    var message = "cannot write (\(written) of \(expectedSize) bytes written): \(errnoText(code))"
                    if code == ENOSPC || code == EDQUOT { message += "; the disk is full or over quota" }
                    if code == EFBIG { message += "; the file size limit (ulimit -f) or the file system's largest file was reached" }
                    throw LBMError(file: destination, message: message)
                }
                p += n
                remaining -= n
                written += n
            }
        }
        if fsync(fd) != 0 {
            let code = errno
            throw LBMError(file: destination, message: "cannot flush the written data to disk: \(errnoText(code))")
        }
        isOpen = false
        if close(fd) != 0 {
            let code = errno
            throw LBMError(file: destination, message: "cannot close the temporary file: \(errnoText(code))")
        }
        if rename(tempPath, destination) != 0 {
            let code = errno
            throw LBMError(file: destination, message: "cannot move the finished file into place: \(errnoText(code))")
        }
        renamed = true
        // Make the rename itself durable; failure here does not undo a complete, renamed file.
        let dirFD = openDirectory(folder)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            _ = close(dirFD)
        }
    }
}

/// write(2), spelled out so it is not confused with the `write` functions in this module.
@inline(__always)
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.write(fd, p, count)
    #elseif canImport(Glibc)
    return Glibc.write(fd, p, count)
    #elseif canImport(Musl)
    return Musl.write(fd, p, count)
    #else
    return Android.write(fd, p, count)
    #endif
}

/// A read-only descriptor for a folder (for fsync), or -1.
private func openDirectory(_ path: String) -> Int32 {
    open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
}
