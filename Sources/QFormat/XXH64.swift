// XXH64 (Yann Collet's xxHash, 64-bit variant): the .lbm checksum. Streaming, seed 0 in the format.
// Reference: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md, "XXH64 algorithm description".

/// Incremental XXH64 hasher: `update` any number of times, then `finalize`.
public struct XXH64: Sendable {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1, v2, v3, v4: UInt64
    private let seed: UInt64
    private var totalLength: UInt64 = 0
    /// Up to 31 bytes not yet consumed as a whole 32-byte stripe.
    private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var pendingCount = 0

    /// A hasher with the given seed (the .lbm checksum uses 0).
    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.p1 &+ Self.p2
        v2 = seed &+ Self.p2
        v3 = seed
        v4 = seed &- Self.p1
    }

    /// The XXH64 of `bytes` in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var hasher = XXH64(seed: seed)
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The XXH64 of an array's bytes.
    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    @inline(__always)
    static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        var acc = acc &+ input &* p2
        acc = (acc << 31) | (acc >> 33)
        return acc &* p1
    }

    @inline(__always)
    static func mergeRound(_ acc: UInt64, _ value: UInt64) -> UInt64 {
        (acc ^ round(0, value)) &* p1 &+ p4
    }

    @inline(__always)
    static func load64(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Consumes whole 32-byte stripes from `p`; returns how many bytes were consumed.
    @inline(__always)
    private mutating func consumeStripes(_ p: UnsafeRawPointer, _ count: Int) -> Int {
        var a = v1, b = v2, c = v3, d = v4
        var offset = 0
        while offset + 32 <= count {
            a = Self.round(a, Self.load64(p, offset))
            b = Self.round(b, Self.load64(p, offset + 8))
            c = Self.round(c, Self.load64(p, offset + 16))
            d = Self.round(d, Self.load64(p, offset + 24))
            offset += 32
        }
        v1 = a; v2 = b; v3 = c; v4 = d
        return offset
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        totalLength &+= UInt64(bytes.count)
        var input = base
        var remaining = bytes.count
        if pendingCount > 0 {
            let take = min(32 - pendingCount, remaining)
            withUnsafeMutableBytes(of: &pending) { buffer in
                buffer.baseAddress!.advanced(by: pendingCount).copyMemory(from: input, byteCount: take)
            }
            pendingCount += take
            input += take
            remaining -= take
            if pendingCount < 32 { return }
            withUnsafeBytes(of: pending) { buffer in _ = consumeStripes(buffer.baseAddress!, 32) }
            pendingCount = 0
        }
        let consumed = consumeStripes(input, remaining)
        input += consumed
        remaining -= consumed
        if remaining > 0 {
            withUnsafeMutableBytes(of: &pending) { buffer in
                buffer.baseAddress!.copyMemory(from: input, byteCount: remaining)
            }
            pendingCount = remaining
        }
    }

    /// Adds an array's bytes to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The hash of everything added so far (the hasher may keep being updated).
    public func finalize() -> UInt64 {
        var h: UInt64
        if totalLength >= 32 {
            h = ((v1 << 1) | (v1 >> 63)) &+ ((v2 << 7) | (v2 >> 57))
                &+ ((v3 << 12) | (v3 >> 52)) &+ ((v4 << 18) | (v4 >> 46))
            h = Self.mergeRound(h, v1)
            h = Self.mergeRound(h, v2)
            h = Self.mergeRound(h, v3)
            h = Self.mergeRound(h, v4)
        } else {
            h = seed &+ Self.p5
        }
        h &+= totalLength
        withUnsafeBytes(of: pending) { buffer in
            let p = buffer.baseAddress!
            var offset = 0
            while offset + 8 <= pendingCount {
                h ^= Self.round(0, Self.load64(p, offset))
                h = ((h << 27) | (h >> 37)) &* Self.p1 &+ Self.p4
                offset += 8
            }
            if offset + 4 <= pendingCount {
                let k = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                h ^= k &* Self.p1
                h = ((h << 23) | (h >> 41)) &* Self.p2 &+ Self.p3
                offset += 4
            }
            while offset < pendingCount {
                h ^= UInt64(p.load(fromByteOffset: offset, as: UInt8.self)) &* Self.p5
                h = ((h << 11) | (h >> 53)) &* Self.p1
                offset += 1
            }
        }
        h ^= h >> 33
        h &*= Self.p2
        h ^= h >> 29
        h &*= Self.p3
        h ^= h >> 32
        return h
    }

    /// `"xxh64:"` followed by the 16 lowercase hex digits of `value`, as stored in `lowbit.checksum`.
    static func tag(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        return "xxh64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
