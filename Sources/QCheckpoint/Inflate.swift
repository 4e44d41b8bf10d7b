// DEFLATE decompression (RFC 1951) for zip entries, written for hostile input: every read is bounds-checked,
// Huffman tables are validated, and output may not exceed the size the zip directory declares.
// Structure follows Mark Adler's puff.c (canonical codes decoded by count/symbol tables).

enum Inflate {
    struct Failure: Error { let message: String }

    /// Inflates a raw DEFLATE stream to exactly `expectedSize` bytes.
    static func inflate(_ input: UnsafeBufferPointer<UInt8>, expectedSize: Int) throws -> [UInt8] {
        var state = State(input: input, expectedSize: expectedSize)
        try state.run()
        guard state.out.count == expectedSize else {
            throw Failure(message: "inflated to \(state.out.count) bytes, the directory declares \(expectedSize)")
        }
        return state.out
    }

    /// A canonical Huffman code: counts per length (1...15) and symbols in code order.
    struct Huffman {
        var count = [UInt16](repeating: 0, count: 16)
        var symbol: [UInt16]

        /// Builds the code; fails when over-subscribed, or incomplete unless `allowIncomplete`.
        init(lengths: ArraySlice<UInt8>, allowIncomplete: Bool) throws {
            symbol = [UInt16](repeating: 0, count: lengths.count)
            for l in lengths { count[Int(l)] += 1 }
            if Int(count[0]) == lengths.count { return }  // no codes: only valid if never used
            var left = 1
            for len in 1...15 {
                left <<= 1
                left -= Int(count[len])
                if left < 0 { throw Failure(message: "over-subscribed Huffman code") }
            }
            if left > 0 && !allowIncomplete { throw Failure(message: "incomplete Huffman code") }
            var offs = [Int](repeating: 0, count: 16)
            for len in 1..<15 { offs[len + 1] = offs[len] + Int(count[len]) }
            for (sym, l) in lengths.enumerated() where l != 0 {
                symbol[offs[Int(l)]] = UInt16(sym)
                offs[Int(l)] += 1
            }
        }
    }

    struct State {
        let input: UnsafeBufferPointer<UInt8>
        let expectedSize: Int
        var inPos = 0
        var bitBuf: UInt64 = 0
        var bitCount = 0
        var out: [UInt8] = []

        init(input: UnsafeBufferPointer<UInt8>, expectedSize: Int) {
            self.input = input
            self.expectedSize = expectedSize
            out.reserveCapacity(expectedSize)
        }

        mutating func bits(_ need: Int) throws -> Int {
            while bitCount < need {
                guard inPos < input.count else { throw Failure(message: "compressed data ends early") }
                bitBuf |= UInt64(input[inPos]) << UInt64(bitCount)
                inPos += 1
                bitCount += 8
            }
            let v = Int(bitBuf & ((1 << UInt64(need)) - 1))
            bitBuf >>= UInt64(need)
            bitCount -= need
            return v
        }

        mutating func decode(_ h: Huffman) throws -> Int {
            var code = 0, first = 0, index = 0
            for len in 1...15 {
                code |= try bits(1)
                let count = Int(h.count[len])
                if code - count < first { return Int(h.symbol[index + (code - first)]) }
                index += count
                first += count
                first <<= 1
                code <<= 1
            }
            throw Failure(message: "invalid Huffman code")
        }

        mutating func run() throws {
            var last = 0
            repeat {
                last = try bits(1)
                switch try bits(2) {
                case 0: try stored()
                case 1: try codes(Inflate.fixedLength, Inflate.fixedDistance)
                case 2:
                    let (l, d) = try dynamicTables()
                    try codes(l, d)
                default: throw Failure(message: "invalid block type 3")
                }
            } while last == 0
        }

        mutating func stored() throws {
            bitBuf = 0
            bitCount = 0
            guard inPos + 4 <= input.count else { throw Failure(message: "stored block header truncated") }
            let len = Int(input[inPos]) | Int(input[inPos + 1]) << 8
            let nlen = Int(input[inPos + 2]) | Int(input[inPos + 3]) << 8
            inPos += 4
            guard len == (~nlen & 0xFFFF) else { throw Failure(message: "stored block length check failed") }
            guard inPos + len <= input.count else { throw Failure(message: "stored block truncated") }
            guard out.count + len <= expectedSize else { throw Failure(message: "output exceeds the declared size") }
            out.append(contentsOf: input[inPos..<(inPos + len)])
            inPos += len
        }

        static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                        35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                         3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        static let distBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                      257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                      8193, 12289, 16385, 24577]
        static let distExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
                                       7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

        mutating func codes(_ lencode: Huffman, _ distcode: Huffman) throws {
            while true {
                let sym = try decode(lencode)
                if sym < 256 {
                    guard out.count < expectedSize else { throw Failure(message: "output exceeds the declared size") }
                    out.append(UInt8(sym))
                } else if sym == 256 {
                    return
                } else {
                    let s = sym - 257
                    guard s < 29 else { throw Failure(message: "invalid length symbol") }
                    let len = State.lengthBase[s] + (try bits(State.lengthExtra[s]))
                    let ds = try decode(distcode)
                    guard ds < 30 else { throw Failure(message: "invalid distance symbol") }
                    let dist = State.distBase[ds] + (try bits(State.distExtra[ds]))
                    guard dist <= out.count else { throw Failure(message: "distance \(dist) reaches before the output start") }
                    guard out.count + len <= expectedSize else { throw Failure(message: "output exceeds the declared size") }
                    var from = out.count - dist
                    for _ in 0..<len {
                        out.append(out[from])
                        from += 1
                    }
                }
            }
        }

        mutating func dynamicTables() throws -> (Huffman, Huffman) {
            let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
            guard nlen <= 286, ndist <= 30 else { throw Failure(message: "bad dynamic block counts") }
            let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
            var lengths = [UInt8](repeating: 0, count: 320)
            for i in 0..<ncode { lengths[order[i]] = UInt8(try bits(3)) }
            let lencode = try Huffman(lengths: lengths[0..<19], allowIncomplete: false)
            var index = 0
            while index < nlen + ndist {
                var sym = try decode(lencode)
                if sym < 16 {
                    lengths[index] = UInt8(sym)
                    index += 1
                } else {
                    var len: UInt8 = 0
                    if sym == 16 {
                        guard index > 0 else { throw Failure(message: "repeat with no previous length") }
                        len = lengths[index - 1]
                        sym = 3 + (try bits(2))
                    } else if sym == 17 {
                        sym = 3 + (try bits(3))
                    } else {
                        sym = 11 + (try bits(7))
                    }
                    guard index + sym <= nlen + ndist else { throw Failure(message: "too many code lengths") }
                    for _ in 0..<sym { lengths[index] = len; index += 1 }
                }
            }
            guard lengths[256] != 0 else { throw Failure(message: "no end-of-block code") }
            let l = try Huffman(lengths: lengths[0..<nlen], allowIncomplete: nlen - Int(lengthsZero(lengths[0..<nlen])) == 1)
            let d = try Huffman(lengths: lengths[nlen..<(nlen + ndist)],
                                allowIncomplete: ndist - Int(lengthsZero(lengths[nlen..<(nlen + ndist)])) <= 1)
            return (l, d)
        }

        private func lengthsZero(_ l: ArraySlice<UInt8>) -> Int { l.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
    }

    static let fixedLength: Huffman = {
        var l = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { l[i] = 9 }
        for i in 256..<280 { l[i] = 7 }
        return try! Huffman(lengths: l[0...], allowIncomplete: false)
    }()

    static let fixedDistance: Huffman = {
        try! Huffman(lengths: [UInt8](repeating: 5, count: 30)[0...], allowIncomplete: true)
    }()
}
