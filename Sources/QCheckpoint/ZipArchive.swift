// A read-only zip reader for untrusted files: the central directory (ZIP64 aware) is the index, each
// local header is checked against it, stored and deflated entries are read with their CRC-32 verified.

struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc32: UInt32
        var compressedSize: Int
        var uncompressedSize: Int
        var localHeaderOffset: Int
        /// Offset of the entry's first data byte (after the local header), filled in by `open`.
        var dataOffset: Int
    }

    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var entries: [Entry] = []
    private(set) var index: [String: Int] = [:]

    /// Parses the central directory and validates every local header against it.
    init(_ bytes: UnsafeBufferPointer<UInt8>, limits: ReadLimits) throws {
        self.bytes = bytes
        let eocd = try findEndOfCentralDirectory()
        var count = Int(u16(eocd + 10)), cdSize = Int(u32(eocd + 12)), cdOffset = Int(u32(eocd + 16))
        // ZIP64: the locator sits just before the classic record.
        if eocd >= 20, u32(eocd - 20) == 0x0706_4B50 {
            let z = try checkedInt(u64(eocd - 12), "ZIP64 end record offset", at: eocd - 12)
            guard z >= 0, z + 56 <= bytes.count, u32(z) == 0x0606_4B50 else {
                throw ReadFailure(eocd - 20, "ZIP64 locator points to no ZIP64 end record")
            }
            count = try checkedInt(u64(z + 32), "ZIP64 entry count", at: z + 32)
            cdSize = try checkedInt(u64(z + 40), "ZIP64 directory size", at: z + 40)
            cdOffset = try checkedInt(u64(z + 48), "ZIP64 directory offset", at: z + 48)
        }
        guard count <= limits.maxZipEntries else {
            throw ReadFailure(eocd, "zip directory claims \(count) entries (limit \(limits.maxZipEntries))")
        }
        guard cdOffset <= bytes.count, cdSize <= bytes.count - cdOffset, count <= cdSize / 46 + 1 else {
            throw ReadFailure(eocd, "zip central directory (offset \(cdOffset), \(cdSize) bytes, \(count) entries) "
                + "does not fit in the file")
        }
        var p = cdOffset
        let end = cdOffset + cdSize
        entries.reserveCapacity(count)
        for _ in 0..<count {
            guard p + 46 <= end, u32(p) == 0x0201_4B50 else {
                throw ReadFailure(p, "broken zip central directory (expected an entry header)")
            }
            let nameLen = Int(u16(p + 28)), extraLen = Int(u16(p + 30)), commentLen = Int(u16(p + 32))
            guard p + 46 + nameLen + extraLen + commentLen <= end else {
                throw ReadFailure(p, "zip directory entry runs past the directory end")
            }
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[(p + 46)..<(p + 46 + nameLen)]), as: UTF8.self)
            var entry = Entry(name: name, method: u16(p + 10), flags: u16(p + 8), crc32: u32(p + 16),
                              compressedSize: Int(u32(p + 20)), uncompressedSize: Int(u32(p + 24)),
                              localHeaderOffset: Int(u32(p + 42)), dataOffset: 0)
            try applyZip64(&entry, extra: p + 46 + nameLen, length: extraLen)
            if index[name] == nil { index[name] = entries.count }
            entries.append(entry)
            p += 46 + nameLen + extraLen + commentLen
        }
        for i in entries.indices { try locate(&entries[i]) }
    }

    /// Finds the end-of-central-directory record by scanning back over at most a 64 KiB comment.
    private func findEndOfCentralDirectory() throws -> Int {
        guard bytes.count >= 22 else { throw ReadFailure(0, "file too short to be a zip archive") }
        var p = bytes.count - 22
        let stop = max(0, bytes.count - 22 - 65_535)
        while p >= stop {
            if bytes[p] == 0x50, u32(p) == 0x0605_4B50, p + 22 + Int(u16(p + 20)) == bytes.count { return p }
            p -= 1
        }
        throw ReadFailure(nil, "no zip end-of-central-directory record (truncated or not a zip file)")
    }

    /// Replaces 0xFFFFFFFF fields with their ZIP64 extra-field values (tag 0x0001).
    private func applyZip64(_ e: inout Entry, extra: Int, length: Int) throws {
        var p = extra
        let end = extra + length
        while p + 4 <= end {
            let tag = u16(p), size = Int(u16(p + 2))
            guard p + 4 + size <= end else { throw ReadFailure(p, "zip extra field runs past its entry") }
            if tag == 0x0001 {
                var q = p + 4
                func next() throws -> Int {
                    guard q + 8 <= p + 4 + size else { throw ReadFailure(q, "ZIP64 extra field too short") }
                    defer { q += 8 }
                    return try checkedInt(u64(q), "ZIP64 size", at: q)
                }
                if e.uncompressedSize == 0xFFFF_FFFF { e.uncompressedSize = try next() }
                if e.compressedSize == 0xFFFF_FFFF { e.compressedSize = try next() }
                if e.localHeaderOffset == 0xFFFF_FFFF { e.localHeaderOffset = try next() }
            }
            p += 4 + size
        }
    }

    /// Checks the local header against the directory entry and records where the data starts.
    private func locate(_ e: inout Entry) throws {
        let h = e.localHeaderOffset
        guard h <= bytes.count - 30, u32(h) == 0x0403_4B50 else {
            throw ReadFailure(h, "zip entry '\(e.name)': no local header where the directory points")
        }
        let nameLen = Int(u16(h + 26)), extraLen = Int(u16(h + 28))
        guard h + 30 + nameLen <= bytes.count,
              String(decoding: UnsafeBufferPointer(rebasing: bytes[(h + 30)..<(h + 30 + nameLen)]), as: UTF8.self) == e.name
        else { throw ReadFailure(h, "zip entry '\(e.name)': local header name differs from the directory") }
        guard u16(h + 8) == e.method else {
            throw ReadFailure(h, "zip entry '\(e.name)': local header method differs from the directory")
        }
        e.dataOffset = h + 30 + nameLen + extraLen
        guard e.dataOffset <= bytes.count, e.compressedSize <= bytes.count - e.dataOffset else {
            throw ReadFailure(h, "zip entry '\(e.name)' claims \(e.compressedSize) bytes past the end of the file")
        }
        if e.flags & 1 != 0 { throw ReadFailure(h, "zip entry '\(e.name)' is encrypted") }
        if e.method != 0 && e.method != 8 {
            throw ReadFailure(h, "zip entry '\(e.name)' uses compression method \(e.method) (only stored and deflate)")
        }
        if e.method == 0 && e.compressedSize != e.uncompressedSize {
            throw ReadFailure(h, "stored zip entry '\(e.name)' has different compressed and uncompressed sizes")
        }
    }

    /// The entry's bytes: a range of the archive when stored, an inflated copy when deflated; CRC-checked.
    func read(_ e: Entry, owner: [UInt8], limits: ReadLimits) throws -> StorageData {
        let raw = UnsafeBufferPointer(rebasing: bytes[e.dataOffset..<(e.dataOffset + e.compressedSize)])
        let data: StorageData
        if e.method == 0 {
            data = StorageData(buffer: owner, range: e.dataOffset..<(e.dataOffset + e.compressedSize))
        } else {
            // DEFLATE cannot expand more than 1032:1; a larger claim is a lie.
            guard e.uncompressedSize <= limits.maxTensorBytes,
                  e.uncompressedSize / 1032 <= e.compressedSize + 1 else {
                throw ReadFailure(e.localHeaderOffset, "zip entry '\(e.name)' claims an impossible "
                    + "\(e.uncompressedSize) bytes from \(e.compressedSize) compressed")
            }
            do {
                let out = try Zlib.inflate(raw, expectedSize: e.uncompressedSize)
                data = StorageData(buffer: out, range: 0..<out.count)
            } catch let f as Zlib.Failure {
                throw ReadFailure(e.dataOffset, "zip entry '\(e.name)': corrupt deflate data: \(f.message)")
            }
        }
        let crc = data.buffer.withUnsafeBufferPointer { Zlib.crc32(UnsafeBufferPointer(rebasing: $0[data.range])) }
        guard crc == e.crc32 else {
            throw ReadFailure(e.dataOffset, "zip entry '\(e.name)': CRC-32 mismatch (data is corrupt)")
        }
        return data
    }

    func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    private func checkedInt(_ v: UInt64, _ what: String, at offset: Int) throws -> Int {
        guard v <= UInt64(Int.max / 2) else { throw ReadFailure(offset, "\(what) \(v) is out of range") }
        return Int(v)
    }

    func u16(_ p: Int) -> UInt16 { UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8 }
    func u32(_ p: Int) -> UInt32 { UInt32(u16(p)) | UInt32(u16(p + 2)) << 16 }
    func u64(_ p: Int) -> UInt64 { UInt64(u32(p)) | UInt64(u32(p + 4)) << 32 }
}

/// Whether the bytes start like a zip archive (a local file header).
func looksLikeZip(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04
}
