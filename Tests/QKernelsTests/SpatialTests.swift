// qk_spatial.c (resize nearest / bilinear, border padding, channel softmax) against naive Swift loops on
// generated shapes: odd channel counts (1, 3, 17, 69), 1-pixel edges, up- and downscaling, random source
// tables, every pad mode, and maps large enough to run on the thread team (the same bits with 1 and 2
// threads).
import Foundation
import QKernels
import XCTest

final class SpatialTests: XCTestCase {
    private static let channelCounts = [1, 3, 17, 69]

    /// Random source tables for `out` coordinates over `n` input pixels (i1 = min(i0 + 1, n - 1), any w).
    private static func table(_ out: Int, _ n: Int, _ rng: inout SeededGenerator) -> ([Int32], [Int32], [Float]) {
        let i0 = (0..<out).map { _ in Int32.random(in: 0..<Int32(n), using: &rng) }
        return (i0, i0.map { min($0 + 1, Int32(n - 1)) }, (0..<out).map { _ in Float.random(in: 0..<1, using: &rng) })
    }

    private static func resize(_ x: [Float], h: Int, w: Int, c: Int, oh: Int, ow: Int, linear: Bool,
                               threads: Int32, seed: UInt64) -> (got: [Float], want: [Float]) {
        var rng = SeededGenerator(seed: seed)
        let (r0, r1, rw) = table(oh, h, &rng), (c0, c1, cw) = table(ow, w, &rng)
        var want: [Float] = []
        for oy in 0..<oh {
            for ox in 0..<ow {
                for k in 0..<c {
                    func at(_ r: Int32, _ q: Int32) -> Float { x[(Int(r) * w + Int(q)) * c + k] }
                    if !linear { want.append(at(r0[oy], c0[ox])); continue }
                    let (wy, wx) = (rw[oy], cw[ox])
                    let top = (1 - wx) * at(r0[oy], c0[ox]) + wx * at(r0[oy], c1[ox])
                    let bottom = (1 - wx) * at(r1[oy], c0[ox]) + wx * at(r1[oy], c1[ox])
                    want.append((1 - wy) * top + wy * bottom)
                }
            }
        }
        var got = [Float](repeating: .nan, count: oh * ow * c)
        r0.withUnsafeBufferPointer { r0 in r1.withUnsafeBufferPointer { r1 in rw.withUnsafeBufferPointer { rw in
            c0.withUnsafeBufferPointer { c0 in c1.withUnsafeBufferPointer { c1 in cw.withUnsafeBufferPointer { cw in
                var g = qk_resize_geom(in_h: Int32(h), in_w: Int32(w), channels: Int32(c), out_h: Int32(oh), out_w: Int32(ow),
                                       row0: r0.baseAddress, row1: r1.baseAddress, row_w: rw.baseAddress,
                                       col0: c0.baseAddress, col1: c1.baseAddress, col_w: cw.baseAddress)
                withThreads(threads) {
                    if linear { qk_resize_bilinear_f32(&g, x, &got) } else { qk_resize_nearest_f32(&g, x, &got) }
                }
            } } }
        } } }
        return (got, want)
    }

    func testResizeMatchesNaiveLoops() {
        var rng = SeededGenerator(seed: testSeed(61))
        for c in Self.channelCounts {
            for (h, w, oh, ow) in [(1, 1, 5, 3), (4, 4, 16, 16), (7, 5, 3, 2), (3, 9, 11, 1), (16, 16, 64, 64)] {
                let x = (0..<(h * w * c)).map { _ in Float.random(in: -4...4, using: &rng) }
                for linear in [false, true] {
                    let one = Self.resize(x, h: h, w: w, c: c, oh: oh, ow: ow, linear: linear, threads: 1, seed: UInt64(h * 31 + c))
                    let two = Self.resize(x, h: h, w: w, c: c, oh: oh, ow: ow, linear: linear, threads: 2, seed: UInt64(h * 31 + c))
                    XCTAssertEqual(one.got.map(\.bitPattern), one.want.map(\.bitPattern), "c=\(c) \(h)x\(w)->\(oh)x\(ow) linear=\(linear)")
                    XCTAssertEqual(two.got.map(\.bitPattern), one.got.map(\.bitPattern), "threads c=\(c) \(h)x\(w)")
                }
            }
        }
    }

    func testPadMatchesNaiveLoops() {
        var rng = SeededGenerator(seed: testSeed(62))
        for c in Self.channelCounts {
            for (h, w) in [(1, 1), (2, 3), (5, 4), (9, 7)] {
                let x = (0..<(h * w * c)).map { _ in Float.random(in: -4...4, using: &rng) }
                for mode in [Int32(QK_PAD_CONSTANT), Int32(QK_PAD_REFLECT), Int32(QK_PAD_EDGE)] {
                    let limit = mode == Int32(QK_PAD_REFLECT) ? (h - 1, w - 1) : (3, 3)
                    let pads = [Int.random(in: 0...limit.0, using: &rng), Int.random(in: 0...limit.1, using: &rng),
                                Int.random(in: 0...limit.0, using: &rng), Int.random(in: 0...limit.1, using: &rng)]
                    let (oh, ow) = (h + pads[0] + pads[2], w + pads[1] + pads[3])
                    func source(_ i: Int, _ n: Int) -> Int? {
                        if (0..<n).contains(i) { return i }
                        if mode == Int32(QK_PAD_EDGE) { return min(max(i, 0), n - 1) }
                        if mode == Int32(QK_PAD_REFLECT) { return i < 0 ? -i : 2 * (n - 1) - i }
                        return nil
                    }
                    var want: [Float] = []
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            for k in 0..<c {
                                if let sy = source(oy - pads[0], h), let sx = source(ox - pads[1], w) {
                                    want.append(x[(sy * w + sx) * c + k])
                                } else {
                                    want.append(-1.25)
                                }
                            }
                        }
                    }
                    var got = [Float](repeating: .nan, count: oh * ow * c)
                    qk_pad_f32(x, Int32(h), Int32(w), Int32(c), Int32(pads[0]), Int32(pads[1]), Int32(pads[2]), Int32(pads[3]),
                               mode, -1.25, &got)
                    XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "c=\(c) \(h)x\(w) pads \(pads) mode \(mode)")
                }
            }
        }
    }

    func testSoftmaxMatchesFloat64() {
        var rng = SeededGenerator(seed: testSeed(63))
        for c in Self.channelCounts + [1000] {
            for pixels in [1, 2, 7] {
                let x = (0..<(pixels * c)).map { _ in Float.random(in: -30...30, using: &rng) }
                var got = [Float](repeating: .nan, count: x.count)
                qk_softmax_f32(pixels, c, x, &got)
                for p in 0..<pixels {
                    let row = x[(p * c)..<((p + 1) * c)].map(Double.init)
                    let e = row.map { exp($0 - row.max()!) }
                    let sum = e.reduce(0, +)
                    for k in 0..<c {
                        let want = e[k] / sum
                        // f32's rounding of x - max costs (max - x) 2^-24 relative on top of expf's
                        let bound = want * (2e-6 + (row.max()! - row[k]) * 0x1p-23) + 1e-37
                        XCTAssertEqual(Double(got[p * c + k]), want, accuracy: bound, "c=\(c) pixel \(p) channel \(k)")
                    }
                }
                var inPlace = x
                qk_softmax_f32(pixels, c, inPlace, &inPlace)
                XCTAssertEqual(inPlace.map(\.bitPattern), got.map(\.bitPattern), "in place c=\(c)")
            }
        }
    }

    func testChannelArithmeticMatchesNaiveLoops() {
        var rng = SeededGenerator(seed: testSeed(64))
        for c in Self.channelCounts {
            for pixels in [1, 2, 5, 33] {
                let n = pixels * c
                let full = (0..<n).map { _ in Float.random(in: -4...4, using: &rng) }
                let other = (0..<n).map { _ in Float.random(in: -4...4, using: &rng) }
                let vector = (0..<c).map { _ in Float.random(in: 0.5...2, using: &rng) }
                let ops: [(Int32, (Float, Float) -> Float)] = [(Int32(QK_ARITH_ADD), { $0 + $1 }), (Int32(QK_ARITH_SUB), { $0 - $1 }),
                                                                (Int32(QK_ARITH_MUL), { $0 * $1 }), (Int32(QK_ARITH_DIV), { $0 / $1 })]
                for (code, f) in ops {
                    for (a, b) in [(full, other), (full, vector), (vector, full)] {
                        let want = (0..<n).map { f(a[$0 % a.count], b[$0 % b.count]) }
                        var got = [Float](repeating: .nan, count: n)
                        qk_channel_arith_f32(n, a, a.count, b, b.count, code, &got)
                        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "c=\(c) pixels=\(pixels) op \(code) periods \(a.count), \(b.count)")
                    }
                }
            }
        }
    }
}
