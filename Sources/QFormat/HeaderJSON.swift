// A strict, bounded RFC 8259 JSON parser for the .lbm header: byte offsets in every error, duplicate keys
// rejected, nesting limited, numbers kept as text so integers are read exactly (no Double round trip).

/// A parsed JSON value with the file offset of its first byte.
struct JSONNode {
    indirect enum Value {
        case object([JSONMember])
        case array([JSONNode])
        case string(String)
        /// The number's literal text, validated against the JSON grammar.
        case number(String)
        case bool(Bool)
        case null
    }
    let offset: Int
    let value: Value

    /// A short name of the value's JSON type, for error messages.
    var typeName: String {
        switch value {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// One `"key": value` pair of an object, in document order.
struct JSONMember {
    let key: String
    let keyOffset: Int
    let node: JSONNode
}

/// Parses one JSON document from a byte buffer; errors are `LBMError`s with file offsets.
struct HeaderJSONParser {
    /// Deepest nesting accepted; the .lbm schema needs 3 (root, entry, shape array).
    static let maxDepth = 32

    private let bytes: UnsafeRawBufferPointer
    private let file: String
    /// File offset of `bytes[0]`.
    private let base: Int
    private var pos = 0

    init(bytes: UnsafeRawBufferPointer, file: String, fileOffset: Int) {
        self.bytes = bytes
        self.file = file
        self.base = fileOffset
    }

    /// Parses the whole buffer: one value, then only whitespace.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String, fileOffset: Int) throws -> JSONNode {
        var parser = HeaderJSONParser(bytes: bytes, file: file, fileOffset: fileOffset)
        parser.skipWhitespace()
        let node = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.pos != bytes.count {
            throw parser.error("unexpected \(parser.describeByte()) after the end of the JSON header")
        }
        return node
    }

    private func error(_ message: String, at position: Int? = nil) -> LBMError {
        LBMError(file: file, offset: base + (position ?? pos), message: "header JSON: " + message)
    }

    private func describeByte() -> String {
        guard pos < bytes.count else { return "end of header" }
        let b = bytes[pos]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16)
    }

    private mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws -> JSONNode {
        guard pos < bytes.count else { throw error("unexpected end of header, expected a value") }
        let start = pos
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
            return JSONNode(offset: base + start, value: .object(try parseObject(depth: depth + 1)))
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
            return JSONNode(offset: base + start, value: .array(try parseArray(depth: depth + 1)))
        case UInt8(ascii: "\""):
            return JSONNode(offset: base + start, value: .string(try parseString()))
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return JSONNode(offset: base + start, value: .bool(true))
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return JSONNode(offset: base + start, value: .bool(false))
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return JSONNode(offset: base + start, value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(offset: base + start, value: .number(try parseNumber()))
        default:
            throw error("unexpected \(describeByte()), expected a value")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws {
        let start = pos
        for expected in literal.utf8 {
            guard pos < bytes.count, bytes[pos] == expected else {
                throw error("invalid literal, expected \(literal)", at: start)
            }
            pos += 1
        }
    }

    private mutating func parseObject(depth: Int) throws -> [JSONMember] {
        pos += 1  // {
        var members: [JSONMember] = []
        var seen = Set<String>()
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") { pos += 1; return members }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describeByte()), expected a string key")
            }
            let keyOffset = pos
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw error("duplicate key \"\(key)\"", at: keyOffset)
            }
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
                throw error("unexpected \(describeByte()), expected ':' after key \"\(key)\"")
            }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append(JSONMember(key: key, keyOffset: base + keyOffset, node: value))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of header inside an object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return members }
            throw error("unexpected \(describeByte()), expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws -> [JSONNode] {
        pos += 1  // [
        var elements: [JSONNode] = []
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") { pos += 1; return elements }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of header inside an array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return elements }
            throw error("unexpected \(describeByte()), expected ',' or ']'")
        }
    }

    private mutating func hexQuad() throws -> UInt32 {
        guard bytes.count - pos >= 4 else { throw error("unexpected end of header in a \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit \(describeByte()) in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }

    /// Parses a string starting at its opening quote; the bytes must be valid UTF-8.
    private mutating func parseString() throws -> String {
        let start = pos
        pos += 1  // "
        var utf8: [UInt8] = []
        var runStart = pos
        while true {
            guard pos < bytes.count else { throw error("unterminated string", at: start) }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                utf8.append(contentsOf: bytes[runStart..<pos])
                pos += 1
                break
            }
            if b < 0x20 { throw error("unescaped control character 0x\(String(b, radix: 16)) in a string") }
            if b != UInt8(ascii: "\\") { pos += 1; continue }
            utf8.append(contentsOf: bytes[runStart..<pos])
            let escapeStart = pos
            pos += 1
            guard pos < bytes.count else { throw error("unterminated string", at: start) }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): utf8.append(0x22)
            case UInt8(ascii: "\\"): utf8.append(0x5C)
            case UInt8(ascii: "/"): utf8.append(0x2F)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hexQuad()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"),
                          bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw error("lone surrogate in a \\u escape", at: escapeStart)
                    }
                    pos += 2
                    let low = try hexQuad()
                    guard low >= 0xDC00 && low < 0xE000 else {
                        throw error("invalid surrogate pair in a \\u escape", at: escapeStart)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("lone surrogate in a \\u escape", at: escapeStart)
                }
                utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'", at: escapeStart)
            }
            runStart = pos
        }
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw error("string is not valid UTF-8", at: start)
        }
        return string
    }

    /// Parses `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` and returns its text.
    private mutating func parseNumber() throws -> String {
        let start = pos
        func digits() -> Int {
            let from = pos
            while pos < bytes.count && bytes[pos] >= UInt8(ascii: "0") && bytes[pos] <= UInt8(ascii: "9") { pos += 1 }
            return pos - from
        }
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count else { throw error("invalid number", at: start) }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else if digits() == 0 {
            throw error("invalid number", at: start)
        }
        if pos < bytes.count && bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard digits() > 0 else { throw error("invalid number", at: start) }
        }
        if pos < bytes.count && (bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E")) {
            pos += 1
            if pos < bytes.count && (bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-")) { pos += 1 }
            guard digits() > 0 else { throw error("invalid number", at: start) }
        }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }
}
