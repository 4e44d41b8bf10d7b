// Pooling, elementwise add, the option-A shortcut, (de)quantization and min/max against naive
// Swift, plus the rounding table of docs/KERNELS.md.
import QKernels
import XCTest

final class OpsTests: XCTestCase {
    /// The rounding table of docs/KERNELS.md: q = clamp(lrintf(y * inv) + zero, 0, 255).
    func testRoundingTable() {
        let ys: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7, 245.5, 246.5, -10.5, -11, 1e30, -1e30, .nan]
        let want: [UInt8] = [10, 12, 12, 10, 8, 8, 10, 14, 255, 255, 0, 0, 255, 0, 0]
        var out = [UInt8](repeating: 0, count: ys.count)
        qk_quantize_u8(ys.count, ys, 1, 10, &out)
        XCTAssertEqual(out, want)
        // 244.5 + 10 = 254 (even), 245.5 -> 246 + 10 = 256 -> 255
        var one: UInt8 = 0
        qk_quantize_u8(1, [244.5], 1, 10, &one)
        XCTAssertEqual(one, 254)
    }

    func testQuantizeDequantizeMinMax() {
        let seed = testSeed(31)
        var rng = SeededGenerator(seed: seed)
        let x = (0..<1000).map { _ in Float.random(in: -5...5, using: &rng) }
        let inv: Float = 1 / 0.037, zero: Int32 = 131
        var q = [UInt8](repeating: 0, count: x.count)
        qk_quantize_u8(x.count, x, inv, zero, &q)
        XCTAssertEqual(q, x.map { refRequant($0, inv, zero) }, "seed \(seed)")
        var d = [Float](repeating: 0, count: q.count)
        qk_dequantize_u8(q.count, q, 0.037, zero, &d)
        XCTAssertEqual(d, q.map { 0.037 * Float(Int32($0) - zero) })
        var lo: Float = 0, hi: Float = 0
        qk_minmax_f32(x.count, x, &lo, &hi)
        XCTAssertEqual(lo, x.min()!)
        XCTAssertEqual(hi, x.max()!)
        qk_minmax_f32(0, x, &lo, &hi)
        XCTAssertEqual(lo, .infinity)
        XCTAssertEqual(hi, -.infinity)
        // NaNs are skipped (as fminf/fmaxf do), in the 16-lane body and in the tail
        let withNaN: [Float] = [3, .nan, -2, 5] + (0..<37).map { Float($0) / 10 } + [.nan]
        qk_minmax_f32(withNaN.count, withNaN, &lo, &hi)
        XCTAssertEqual(lo, -2)
        XCTAssertEqual(hi, 5)
    }

    /// qk_quantize_u8's AVX-512 member (where the CPU has it) and its scalar twin (QK_ISA=scalar) against
    /// the rounding table's rule at every length 0...70 and on long runs split over 2 threads, with zero
    /// points at both ends, ties, NaN, infinities and values far outside the grid; qk_minmax_f32 likewise
    /// (its parallel reduction included). Guard bytes.
    func testQuantizeMembersAndMinMaxMatchTheRule() {
        let seed = testSeed(0x51AB)
        var rng = SeededGenerator(seed: seed)
        func want(_ y: Float, _ inv: Float, _ zero: Int32) -> UInt8 {
            y.isNaN ? 0 : refRequant(min(max(y * inv, -1e4), 1e4), 1, zero)
        }
        let specials: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, 0.5, 1.5, -0.5, -2.5, 127.5, 300, -300]
        let saved = getenv("QK_ISA").map { String(cString: $0) }
        defer { if let saved { setenv("QK_ISA", saved, 1) } else { unsetenv("QK_ISA") } }
        for isa in ["", "scalar"] {
            if isa.isEmpty { unsetenv("QK_ISA") } else { setenv("QK_ISA", isa, 1) }
            for n in Array(0...70) + [8192 * 5 + 13, 100_003] {
                let zero = [Int32(0), 10, 131, 255][n % 4], inv: Float = n % 3 == 0 ? 1 : 1 / 0.037
                var x = (0..<n).map { _ in Float.random(in: -12...12, using: &rng) }
                for i in stride(from: 0, to: n, by: 7) { x[i] = specials[(i / 7) % specials.count] }
                let out = Guarded<UInt8>(count: n)
                var lo: Float = 0, hi: Float = 0
                withThreads(2) {
                    qk_quantize_u8(n, x, inv, zero, out.ptr)
                    qk_minmax_f32(n, x, &lo, &hi)
                }
                let got = (0..<n).map { out[$0] }, expected = x.map { want($0, inv, zero) }
                if let i = (0..<n).first(where: { got[$0] != expected[$0] }) {
                    XCTFail("QK_ISA=\(isa) n \(n) zero \(zero) seed \(seed): x[\(i)] = \(x[i]) -> \(got[i]), want \(expected[i])")
                }
                XCTAssertTrue(out.unchangedOutside { _ in true }, "n \(n)")
                let finite = x.filter { !$0.isNaN }
                XCTAssertEqual(lo, finite.min() ?? .infinity, "QK_ISA=\(isa) n \(n)")
                XCTAssertEqual(hi, finite.max() ?? -.infinity, "QK_ISA=\(isa) n \(n)")
            }
        }
    }

    static let poolShapes: [(Int32, Int32, Int32, Int32, Int32, Int32, (Int32, Int32, Int32, Int32))] = [
        // h, w, c, kh/kw, stride, (unused), pads top/left/bottom/right
        (8, 8, 3, 2, 2, 0, (0, 0, 0, 0)),
        (7, 9, 4, 3, 2, 0, (1, 1, 1, 1)),
        (5, 6, 2, 3, 1, 0, (1, 0, 1, 2)),
        (32, 32, 8, 3, 2, 0, (1, 1, 1, 1)),   // large enough to go parallel
        (5, 9, 5000, 3, 2, 0, (1, 1, 1, 1)),  // more channels than the row buffer holds: chunks of channels
    ]

    func geom(_ s: (Int32, Int32, Int32, Int32, Int32, Int32, (Int32, Int32, Int32, Int32))) -> qk_pool_geom {
        var g = qk_pool_geom()
        g.in_h = s.0; g.in_w = s.1; g.channels = s.2
        g.kernel_h = s.3; g.kernel_w = s.3; g.stride_h = s.4; g.stride_w = s.4
        (g.pad_top, g.pad_left, g.pad_bottom, g.pad_right) = s.6
        return g
    }

    /// The in-image taps of output (oy, ox), in (ky, kx) order.
    func taps(_ g: qk_pool_geom, _ oy: Int, _ ox: Int) -> [(Int, Int)] {
        var r: [(Int, Int)] = []
        for ky in 0..<Int(g.kernel_h) {
            for kx in 0..<Int(g.kernel_w) {
                let y = oy * Int(g.stride_h) - Int(g.pad_top) + ky
                let x = ox * Int(g.stride_w) - Int(g.pad_left) + kx
                if y >= 0 && y < Int(g.in_h) && x >= 0 && x < Int(g.in_w) { r.append((y, x)) }
            }
        }
        return r
    }

    func testPoolsMatchNaive() {
        let seed = testSeed(32)
        var rng = SeededGenerator(seed: seed)
        for s in Self.poolShapes {
            var g = geom(s)
            let oh = Int(qk_pool_out_h(&g)), ow = Int(qk_pool_out_w(&g)), C = Int(g.channels)
            XCTAssertEqual(oh, (Int(g.in_h + g.pad_top + g.pad_bottom) - Int(g.kernel_h)) / Int(g.stride_h) + 1)
            let n = Int(g.in_h * g.in_w) * C
            let qu = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let xf = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
            let zero = Int32.random(in: 0...255, using: &rng)
            let maxU = Guarded<UInt8>(count: oh * ow * C), avgU = Guarded<UInt8>(count: oh * ow * C)
            let maxF = Guarded<Float>(count: oh * ow * C), avgF = Guarded<Float>(count: oh * ow * C)
            withThreads(2) {
                qk_maxpool_u8(&g, qu, maxU.ptr); qk_avgpool_u8(&g, qu, zero, avgU.ptr)
                qk_maxpool_f32(&g, xf, maxF.ptr); qk_avgpool_f32(&g, xf, avgF.ptr)
            }
            for b in [maxU.unchangedOutside { _ in true }, avgU.unchangedOutside { _ in true },
                      maxF.unchangedOutside { _ in true }, avgF.unchangedOutside { _ in true }] {
                XCTAssertTrue(b, "pool wrote outside its output")
            }
            let div = Float(g.kernel_h * g.kernel_w)
            for oy in 0..<oh { for ox in 0..<ow { for c in 0..<C {
                let t = taps(g, oy, ox), o = (oy * ow + ox) * C + c
                let idx = t.map { ($0.0 * Int(g.in_w) + $0.1) * C + c }
                let wantMaxU = idx.map { qu[$0] }.max()!
                let s32 = idx.reduce(Int32(0)) { $0 + Int32(qu[$1]) - zero }
                let wantAvgU = refRequant(Float(s32) / div, 1, zero)
                let wantMaxF = idx.map { xf[$0] }.max()!
                let wantAvgF = idx.reduce(Float(0)) { $0 + xf[$1] } / div
                if maxU[o] != wantMaxU || avgU[o] != wantAvgU || maxF[o] != wantMaxF || avgF[o] != wantAvgF {
                    XCTFail("seed \(seed) pool \(s) at \(oy),\(ox),\(c): max u8 \(maxU[o])/\(wantMaxU) "
                        + "avg u8 \(avgU[o])/\(wantAvgU) max f32 \(maxF[o])/\(wantMaxF) avg f32 \(avgF[o])/\(wantAvgF)")
                    return
                }
            } } }
        }
    }

    /// qk_maxpool_f32_u8 gives the codes max pooling of qk_quantize_u8's codes gives, on every pool shape
    /// (padding, uneven windows, parallel ones), with NaN, infinities and ties among the floats, at both
    /// quantize members (QK_ISA=scalar: the twin) and 2 threads; guard bytes.
    func testMaxPoolOfFloatsToCodesEqualsPoolingTheCodes() {
        let seed = testSeed(0x9001)
        var rng = SeededGenerator(seed: seed)
        let saved = getenv("QK_ISA").map { String(cString: $0) }
        defer { if let saved { setenv("QK_ISA", saved, 1) } else { unsetenv("QK_ISA") } }
        for isa in ["", "scalar"] {
            if isa.isEmpty { unsetenv("QK_ISA") } else { setenv("QK_ISA", isa, 1) }
            for s in Self.poolShapes {
                var g = geom(s)
                let outCount = Int(qk_pool_out_h(&g) * qk_pool_out_w(&g) * g.channels), n = Int(g.in_h * g.in_w * g.channels)
                let specials: [Float] = [.nan, .infinity, -.infinity, 0.5, 1.5, -40]
                let x = (0..<n).map { i in i % 11 == 0 ? specials[(i / 11) % specials.count] : Float.random(in: -3...3, using: &rng) }
                let inv = Float.random(in: 10...60, using: &rng), zero = Int32.random(in: 0...255, using: &rng)
                var codes = [UInt8](repeating: 0, count: n)
                let want = Guarded<UInt8>(count: outCount), got = Guarded<UInt8>(count: outCount)
                withThreads(2) {
                    qk_quantize_u8(n, x, inv, zero, &codes)
                    qk_maxpool_u8(&g, codes, want.ptr)
                    qk_maxpool_f32_u8(&g, x, inv, zero, got.ptr)
                }
                XCTAssertTrue(got.unchangedOutside { _ in true }, "QK_ISA=\(isa) pool \(s): wrote outside")
                XCTAssertEqual((0..<outCount).map { got[$0] }, (0..<outCount).map { want[$0] }, "QK_ISA=\(isa) seed \(seed) pool \(s)")
            }
        }
    }

    func testAvgPoolU8RoundsHalfToEven() {
        // 2x2 window over {0, 0, 0, 2} with zero 0: mean 0.5 -> 0; {0, 0, 2, 4}: 1.5 -> 2; {2,2,3,3}: 2.5 -> 2
        var g = qk_pool_geom()
        g.in_h = 2; g.in_w = 2; g.channels = 3; g.kernel_h = 2; g.kernel_w = 2; g.stride_h = 2; g.stride_w = 2
        let input: [UInt8] = [0, 0, 2, 0, 0, 2, 0, 2, 3, 2, 4, 3]
        var out = [UInt8](repeating: 9, count: 3)
        qk_avgpool_u8(&g, input, 0, &out)
        XCTAssertEqual(out, [0, 2, 2])
    }

    func testGlobalAvgPool() {
        var rng = SeededGenerator(seed: testSeed(33))
        // vector tails of the channel loop, and more channels than the u8 kernel's vectorised form takes
        for (hw, c) in [(49, 10), (13, 67), (1, 1), (3, 4100)] {
            let q = (0..<(hw * c)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let x = (0..<(hw * c)).map { _ in Float.random(in: -2...2, using: &rng) }
            var outU = [Float](repeating: 0, count: c), outF = [Float](repeating: 0, count: c)
            qk_global_avgpool_u8(q, hw, c, 0.05, 100, &outU)
            qk_global_avgpool_f32(x, hw, c, &outF)
            for ch in 0..<c {
                // each channel's pixels summed in order (f32: the same bits as a channel-at-a-time loop)
                let s = (0..<hw).reduce(Int64(0)) { $0 + Int64(q[$1 * c + ch]) - 100 }
                XCTAssertEqual(outU[ch], (Float(s) / Float(hw)) * 0.05, "hw \(hw) c \(c) ch \(ch)")
                XCTAssertEqual(outF[ch], (0..<hw).reduce(Float(0)) { $0 + x[$1 * c + ch] } / Float(hw), "hw \(hw) c \(c) ch \(ch)")
            }
        }
    }

    func testAdd() {
        let seed = testSeed(34)
        var rng = SeededGenerator(seed: seed)
        let n = 40_000  // parallel
        let a = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for (lo, hi) in [(-Float.infinity, Float.infinity), (0, Float.infinity)] {
            let out = Guarded<UInt8>(count: n)
            withThreads(2) { qk_add_u8(n, a, 0.02, 120, b, 0.03, 7, lo, hi, 1 / 0.04, 64, out.ptr) }
            XCTAssertTrue(out.unchangedOutside { _ in true })
            for i in 0..<n {
                let y = 0.02 * Float(Int32(a[i]) - 120) + 0.03 * Float(Int32(b[i]) - 7)
                let want = refRequant(refClamp(y, lo, hi), 1 / 0.04, 64)
                if out[i] != want { XCTFail("seed \(seed) add u8 at \(i): \(out[i]) want \(want)"); return }
            }
        }
        let x = (0..<100).map { _ in Float.random(in: -1...1, using: &rng) }
        let y = (0..<100).map { _ in Float.random(in: -1...1, using: &rng) }
        var o = [Float](repeating: 0, count: 100)
        qk_add_f32(100, x, y, 0, .infinity, &o)
        XCTAssertEqual(o, zip(x, y).map { max($0 + $1, 0) })
    }

    func testShortcutA() {
        var rng = SeededGenerator(seed: testSeed(35))
        // (h, w, in_c, pad, out_c): the network's out_c = in_c + 2 pad, and narrower outputs the contract
        // also allows (the copy clipped to out_c, nothing written past it)
        for (h, w, cin, pad, cout) in [(8, 8, 4, 2, 8), (7, 5, 4, 2, 8), (6, 6, 4, 2, 5), (5, 4, 3, 4, 2), (4, 4, 16, 8, 32)] {
            let oh = (h + 1) / 2, ow = (w + 1) / 2
            let q = (0..<(h * w * cin)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let x = q.map { Float($0) - 100 }
            let outU = Guarded<UInt8>(count: oh * ow * cout), outF = Guarded<Float>(count: oh * ow * cout)
            qk_shortcut_a_u8(q, Int32(h), Int32(w), Int32(cin), Int32(pad), Int32(cout), 33, outU.ptr)
            qk_shortcut_a_f32(x, Int32(h), Int32(w), Int32(cin), Int32(pad), Int32(cout), 0, outF.ptr)
            XCTAssertTrue(outU.unchangedOutside { _ in true } && outF.unchangedOutside { _ in true })
            for y in 0..<oh { for xx in 0..<ow { for c in 0..<cout {
                let o = (y * ow + xx) * cout + c
                let inside = c >= pad && c < pad + cin
                let src = ((2 * y) * w + 2 * xx) * cin + c - pad
                XCTAssertEqual(outU[o], inside ? q[src] : 33)
                XCTAssertEqual(outF[o], inside ? x[src] : 0)
            } } }
        }
    }
}
