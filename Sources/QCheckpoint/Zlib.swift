// Raw DEFLATE decompression and CRC-32 for zip entries, through the system zlib (Sources/CZlib).
// ZipArchive decides what may be inflated (sizes against the file and ReadLimits); this file only asks zlib.
internal import CZlib

enum Zlib {
    /// Why a deflate stream was refused.
    struct Failure: Error { let message: String }

    /// zlib counts bytes in 32-bit fields: it is handed at most this many input or output bytes per call.
    static let chunk = 1 << 30

    /// Inflates the raw DEFLATE stream `input` (RFC 1951, as zip stores it) into exactly `expectedSize`
    /// bytes. Throws when the data is corrupt, when the stream does not end within `expectedSize` bytes
    /// of output (zlib never writes past the buffer), or when it ends early. Bytes after the stream's end
    /// are ignored.
    static func inflate(_ input: UnsafeBufferPointer<UInt8>, expectedSize: Int) throws -> [UInt8] {
        var stream = z_stream()
        let started = czlib_inflate_init_raw(&stream)
        guard started == Z_OK else { throw Failure(message: "zlib could not start (status \(started))") }
        defer { inflateEnd(&stream) }
        // One byte more than needed keeps the buffer's address valid when expectedSize is 0.
        return try [UInt8](unsafeUninitializedCapacity: expectedSize + 1) { out, initialized in
            var consumed = 0, produced = 0
            while true {
                let inCount = min(input.count - consumed, chunk), outCount = min(expectedSize - produced, chunk)
                stream.next_in = input.baseAddress.map { $0 + consumed }
                stream.avail_in = UInt32(inCount)
                stream.next_out = out.baseAddress! + produced
                stream.avail_out = UInt32(outCount)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                consumed += inCount - Int(stream.avail_in)
                produced += outCount - Int(stream.avail_out)
                switch status {
                case Z_OK:
                    continue  // progress was made; go on
                case Z_STREAM_END:
                    guard produced == expectedSize else {
                        throw Failure(message: "inflated to \(produced) bytes, the directory declares \(expectedSize)")
                    }
                    initialized = expectedSize
                    return
                case Z_BUF_ERROR where produced == expectedSize:
                    throw Failure(message: "the stream does not end within the \(expectedSize) bytes the directory declares")
                case Z_BUF_ERROR:
                    throw Failure(message: "compressed data ends early (\(produced) of \(expectedSize) bytes inflated)")
                case Z_DATA_ERROR:
                    throw Failure(message: stream.msg.map { String(cString: $0) } ?? "invalid deflate data")
                case Z_MEM_ERROR:
                    throw Failure(message: "zlib ran out of memory")
                default:
                    throw Failure(message: "zlib status \(status)")
                }
            }
        }
    }

    /// The CRC-32 of `bytes` as zip computes it (reflected polynomial 0xEDB88320, initial and final XOR
    /// with 0xFFFFFFFF).
    static func crc32(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        UInt32(truncatingIfNeeded: crc32_z(0, bytes.baseAddress, bytes.count))
    }
}
