// Validation of a whole .lbm file image, in the order docs/FORMAT.md ("Validation") lists: sizes, JSON,
// format and version, checksum field, tensor entries, data layout, checksum, padding and BOOL contents.

/// One tensor entry after validation; `offset` counts from the file start.
struct LBMEntry {
    let name: String
    let dtype: LBMDType
    let shape: [Int]
    let offset: Int
    let byteCount: Int
    let isPadding: Bool
}

/// Everything LBMFile exposes, proven consistent with the bytes.
struct LBMValidatedHeader {
    let version: Int
    let metadata: [String: String]
    let headerLength: Int
    /// All entries in data order, padding included.
    let entries: [LBMEntry]
}

enum LBMValidator {
    static func validate(_ file: UnsafeRawBufferPointer, name: String) throws -> LBMValidatedHeader {
        func fail(_ offset: Int?, _ message: String) -> LBMError {
            LBMError(file: name, offset: offset, message: message)
        }
        let size = file.count

        // 1. Length field and header bounds.
        guard size >= 8 else {
            throw fail(nil, "file is \(size) bytes, too short for the 8-byte header length (not an .lbm file)")
        }
        let rawLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard rawLength <= UInt64(LBMFormat.maxHeaderLength) else {
            throw fail(0, "header length \(rawLength) exceeds the limit of \(LBMFormat.maxHeaderLength) bytes "
                       + "(not an .lbm file, or corrupt)")
        }
        let headerLength = Int(rawLength)
        let dataStart = 8 + headerLength
        guard dataStart <= size else {
            throw fail(0, "header length \(headerLength) runs past the end of the file (\(size) bytes; truncated?)")
        }
        guard dataStart % LBMFormat.alignment == 0 else {
            throw fail(0, "the data buffer starts at byte \(dataStart), not a multiple of \(LBMFormat.alignment) "
                       + "(the header must be padded with spaces)")
        }

        // 2. JSON structure.
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<dataStart])
        let root = try HeaderJSONParser.parse(headerBytes, file: name, fileOffset: 8)
        guard case .object(let members) = root.value else {
            throw fail(root.offset, "the header must be a JSON object, found \(root.typeName)")
        }

        // 3. Metadata, format and version (before anything a later version might lay out differently).
        guard let metaMember = members.first(where: { $0.key == LBMFormat.metadataKey }) else {
            throw fail(8, "no \"__metadata__\" in the header: not a LowBit .lbm file (a plain safetensors file?)")
        }
        guard case .object(let metaMembers) = metaMember.node.value else {
            throw fail(metaMember.node.offset, "\"__metadata__\" must be an object, found \(metaMember.node.typeName)")
        }
        var metadata: [String: String] = [:]
        for member in metaMembers {
            guard case .string(let value) = member.node.value else {
                throw fail(member.node.offset, "metadata \"\(member.key)\" must be a string, found \(member.node.typeName)")
            }
            metadata[member.key] = value
        }
        guard let format = metadata[LBMFormat.formatKey] else {
            throw fail(metaMember.node.offset, "metadata has no \"\(LBMFormat.formatKey)\": not a LowBit .lbm file")
        }
        guard format == LBMFormat.formatName else {
            throw fail(metaMember.node.offset, "\"\(LBMFormat.formatKey)\" is \"\(format)\", expected \"\(LBMFormat.formatName)\"")
        }
        guard let versionText = metadata[LBMFormat.versionKey] else {
            throw fail(metaMember.node.offset, "metadata has no \"\(LBMFormat.versionKey)\"")
        }
        let supported = LBMFile.supportedVersions
        let readsText = supported.count == 1 ? "version \(supported[0])"
            : "versions " + supported.map(String.init).joined(separator: ", ")
        guard let version = parseCanonicalInt(versionText), version > 0 else {
            throw fail(metaMember.node.offset, "unsupported .lbm version \(versionText); this LowBit reads \(readsText)")
        }
        guard supported.contains(version) else {
            throw fail(metaMember.node.offset, "unsupported .lbm version \(version); this LowBit reads \(readsText)")
        }

        // 4. The checksum field sits at a fixed place: the header starts with the fixed prefix.
        let prefix = LBMFormat.headerPrefix
        let digitsEnd = LBMFormat.checksumOffset + LBMFormat.checksumDigits
        guard headerLength >= prefix.count + LBMFormat.checksumDigits + 1,
              file[8..<LBMFormat.checksumOffset].elementsEqual(prefix),
              file[LBMFormat.checksumOffset..<digitsEnd].allSatisfy(isLowerHex),
              file[digitsEnd] == UInt8(ascii: "\"")
        else {
            throw fail(8, "the header must begin with {\"__metadata__\":{\"lowbit.checksum\":\"xxh64:"
                       + "<16 lowercase hex digits>\" (checksum field missing or misplaced)")
        }
        let storedChecksum = UInt64(String(decoding: file[LBMFormat.checksumOffset..<digitsEnd], as: UTF8.self),
                                    radix: 16)!

        // 5. Tensor entries.
        var entries: [(entry: LBMEntry, begin: Int, end: Int, jsonOffset: Int)] = []
        let dataLength = size - dataStart
        for member in members where member.key != LBMFormat.metadataKey {
            let tensorName = member.key
            func bad(_ offset: Int, _ message: String) -> LBMError {
                fail(offset, "tensor \"\(tensorName)\": " + message)
            }
            guard !tensorName.isEmpty else { throw fail(member.keyOffset, "empty tensor name") }
            guard case .object(let fields) = member.node.value else {
                throw bad(member.node.offset, "entry must be an object, found \(member.node.typeName)")
            }
            var dtypeNode: JSONNode?, shapeNode: JSONNode?, offsetsNode: JSONNode?
            for field in fields {
                switch field.key {
                case "dtype": dtypeNode = field.node
                case "shape": shapeNode = field.node
                case "data_offsets": offsetsNode = field.node
                default: throw bad(field.keyOffset, "unexpected field \"\(field.key)\" (expected dtype, shape, data_offsets)")
                }
            }
            guard let dtypeNode, let shapeNode, let offsetsNode else {
                let missing = [("dtype", dtypeNode), ("shape", shapeNode), ("data_offsets", offsetsNode)]
                    .first { $0.1 == nil }!.0
                throw bad(member.node.offset, "missing field \"\(missing)\"")
            }
            guard case .string(let dtypeText) = dtypeNode.value else {
                throw bad(dtypeNode.offset, "dtype must be a string, found \(dtypeNode.typeName)")
            }
            guard let dtype = LBMDType(rawValue: dtypeText) else {
                throw bad(dtypeNode.offset, "unknown dtype \"\(dtypeText)\" (LowBit reads "
                          + LBMDType.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            guard case .array(let dimNodes) = shapeNode.value else {
                throw bad(shapeNode.offset, "shape must be an array, found \(shapeNode.typeName)")
            }
            let shape = try dimNodes.map { try nonNegativeInt($0, what: "shape dimension", fail: bad) }
            guard case .array(let offsetNodes) = offsetsNode.value, offsetNodes.count == 2 else {
                throw bad(offsetsNode.offset, "data_offsets must be an array of two integers [begin, end]")
            }
            let begin = try nonNegativeInt(offsetNodes[0], what: "data_offsets begin", fail: bad)
            let end = try nonNegativeInt(offsetNodes[1], what: "data_offsets end", fail: bad)
            guard begin <= end else {
                throw bad(offsetsNode.offset, "data_offsets [\(begin), \(end)] end before they begin")
            }
            guard end <= dataLength else {
                throw bad(offsetsNode.offset, "data_offsets [\(begin), \(end)] run past the end of the data buffer "
                          + "(\(dataLength) bytes; file truncated?)")
            }
            guard let needed = dtype.byteCount(shape: shape) else {
                throw bad(shapeNode.offset, "shape \(shape) of \(dtype.rawValue) overflows a byte count")
            }
            guard needed == end - begin else {
                throw bad(offsetsNode.offset, "shape \(shape) of \(dtype.rawValue) needs \(needed) bytes but "
                          + "data_offsets [\(begin), \(end)] hold \(end - begin)")
            }
            let isPadding = tensorName.hasPrefix(LBMFormat.paddingPrefix)
            if isPadding {
                let suffix = tensorName.dropFirst(LBMFormat.paddingPrefix.count)
                guard suffix.first == ".", parseCanonicalInt(String(suffix.dropFirst())) != nil else {
                    throw bad(member.keyOffset, "names starting with \"\(LBMFormat.paddingPrefix)\" are reserved "
                              + "for padding entries \"\(LBMFormat.paddingPrefix).<n>\"")
                }
                guard dtype == .u8, shape.count == 1, (1..<LBMFormat.alignment).contains(shape[0]) else {
                    throw bad(member.node.offset, "a padding entry must be U8 of shape [n], 1 <= n < \(LBMFormat.alignment)")
                }
            }
            let entry = LBMEntry(name: tensorName, dtype: dtype, shape: shape, offset: dataStart + begin,
                                 byteCount: needed, isPadding: isPadding)
            entries.append((entry, begin, end, member.keyOffset))
        }

        // 6. Layout: entries tile the data buffer in offset order (safetensors' rule), tensors 64-aligned.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        var previous: String?
        for item in entries {
            if item.begin != cursor {
                let after = previous.map { " after \"\($0)\"" } ?? " at the start of the data buffer"
                throw fail(item.jsonOffset, "tensor \"\(item.entry.name)\": data_offsets begin at \(item.begin), "
                           + (item.begin < cursor
                              ? "overlapping the data before it (which ends at \(cursor))"
                              : "leaving a hole of \(item.begin - cursor) bytes\(after)")
                           + "; tensors must tile the data buffer contiguously")
            }
            if !item.entry.isPadding && item.entry.offset % LBMFormat.alignment != 0 {
                throw fail(item.jsonOffset, "tensor \"\(item.entry.name)\" starts at file byte \(item.entry.offset), "
                           + "not a multiple of \(LBMFormat.alignment)")
            }
            cursor = item.end
            previous = item.entry.name
        }
        guard cursor == dataLength else {
            throw fail(dataStart + cursor, "\(dataLength - cursor) bytes after the last tensor; the data buffer must "
                       + "end exactly where the last tensor ends")
        }

        // 7. Checksum over the whole file with the 16 digits replaced by '0'.
        var hasher = LBMChecksum()
        hasher.update(UnsafeRawBufferPointer(rebasing: file[0..<LBMFormat.checksumOffset]))
        LBMFormat.checksumPlaceholder.withUnsafeBytes { hasher.update($0) }
        hasher.update(UnsafeRawBufferPointer(rebasing: file[digitsEnd...]))
        let actual = hasher.finalize()
        guard actual == storedChecksum else {
            throw fail(LBMFormat.checksumOffset, "checksum mismatch: the header says \(LBMChecksum.tag(storedChecksum)) but the "
                       + "contents hash to \(LBMChecksum.tag(actual)); the file is corrupt or was modified")
        }

        // 8. Contents the type system relies on: zero padding, BOOL bytes 0 or 1.
        for item in entries where item.entry.isPadding || item.entry.dtype == .bool {
            let range = item.entry.offset..<item.entry.offset + item.entry.byteCount
            let allowedMax: UInt8 = item.entry.isPadding ? 0 : 1
            if let bad = range.first(where: { file[$0] > allowedMax }) {
                throw fail(bad, "tensor \"\(item.entry.name)\": byte \(file[bad]) where "
                           + (item.entry.isPadding ? "padding must be 0" : "BOOL values must be 0 or 1"))
            }
        }

        return LBMValidatedHeader(version: version, metadata: metadata, headerLength: headerLength,
                                  entries: entries.map(\.entry))
    }

    private static func isLowerHex(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f"))
    }

    /// `0` or `[1-9][0-9]*` that fits in Int; nil otherwise.
    static func parseCanonicalInt(_ text: String) -> Int? {
        let utf8 = Array(text.utf8)
        guard let first = utf8.first, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              first != UInt8(ascii: "0") || utf8.count == 1 else { return nil }
        var value = 0
        for digit in utf8 {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    private static func nonNegativeInt(_ node: JSONNode, what: String,
                                       fail: (Int, String) -> LBMError) throws -> Int {
        guard case .number(let text) = node.value else {
            throw fail(node.offset, "\(what) must be an integer, found \(node.typeName)")
        }
        if text.hasPrefix("-") {
            throw fail(node.offset, "\(what) \(text) is negative")
        }
        guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw fail(node.offset, "\(what) \(text) is not an integer")
        }
        guard let value = parseCanonicalInt(text) else {
            throw fail(node.offset, "\(what) \(text) is too large")
        }
        return value
    }
}
