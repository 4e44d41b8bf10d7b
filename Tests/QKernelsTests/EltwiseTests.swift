// The f32 activation steps and the flatten transpose of qk_eltwise.c against the Swift expressions the
// executor ran before them, bit for bit, on generated inputs full of special values (NaN, +-0, +-inf,
// subnormals, ties), odd channel counts and lengths that are not multiples of any vector width.
import Foundation
import QKernels
import XCTest

final class EltwiseTests: XCTestCase {
    /// Values mixed into every input: NaNs (quiet, signalling, payloads, both signs), zeros, infinities,
    /// subnormals, the extremes, and ties of the rounding steps.
    static let specials: [Float] = [
        .nan, -.nan, Float(nan: 0x1234, signaling: false), Float(nan: 0x55, signaling: true),
        -Float(nan: 0x2A, signaling: false), 0, -0.0, .infinity, -.infinity,
        .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude / 3, -.leastNormalMagnitude / 3,
        .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        0.5, -0.5, 1, -1, 1.5, 2.5, -2.5, 1 / 3, 2 / 3, 0.999_999_94, 1.000_000_1, 1e-30, -1e-30, 7.9, -8.1,
    ]

    /// Channel counts: one shared parameter, odd, vector-sized, and 64 + 5.
    static let channelCounts = [1, 3, 8, 16, 17, 64, 69]

    /// Lengths for `channels`: whole pixel counts plus a partial pixel, and one long enough to run on
    /// the team (QK_PARALLEL_MIN_WORK is 2^15 elements).
    static func lengths(channels c: Int) -> [Int] {
        var ns = [0, 1, 2, 15, 17, 63, 65, c, c + 1, 2 * c - 1, 5 * c + 3, 33 * c, 33 * c + c / 2]
        ns.append((32768 / c + 7) * c + 5)
        return Array(Set(ns)).sorted()
    }

    /// A seeded input of n floats: a third arbitrary bit patterns (every class, NaN included), a third
    /// typical activations in [-4, 4], a third special values.
    static func input(_ n: Int, _ rng: inout SeededGenerator) -> [Float] {
        (0..<n).map { _ in
            switch UInt8.random(in: 0..<3, using: &rng) {
            case 0: return Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            case 1: return Float.random(in: -4...4, using: &rng)
            default: return specials.randomElement(using: &rng)!
            }
        }
    }

    /// Per-channel parameters: anything but NaN (with a NaN in both operands of a multiply, which payload
    /// survives is up to the instruction selection), zeros and infinities included.
    static func parameters(_ n: Int, _ rng: inout SeededGenerator) -> [Float] {
        (0..<n).map { _ in
            switch UInt8.random(in: 0..<4, using: &rng) {
            case 0:
                let v = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
                return v.isNaN ? 0 : v
            case 1: return [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, 1].randomElement(using: &rng)!
            default: return Float.random(in: -3...3, using: &rng)
            }
        }
    }

    /// Runs `kernel` (input, output) into a guarded output with one and with two threads and compares
    /// each result, bit for bit, with `reference(i, x[i])`; prints the seed and the first difference.
    func check(_ what: String, seed: UInt64, _ x: [Float], _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
               reference: (Int, Float) -> Float, file: StaticString = #filePath, line: UInt = #line) {
        let want = x.indices.map { reference($0, x[$0]).bitPattern }
        for threads: Int32 in [1, 2] {
            let out = Guarded<Float>(count: x.count)
            x.withUnsafeBufferPointer { p in withThreads(threads) { kernel(p.baseAddress!, out.ptr) } }
            XCTAssertTrue(out.unchangedOutside { _ in true }, "seed \(seed) \(what): wrote outside its output",
                          file: file, line: line)
            if let i = x.indices.first(where: { out[$0].bitPattern != want[$0] }) {
                let near = max(0, i - 2)..<min(x.count, i + 3)
                XCTFail("seed \(seed) \(what), \(threads) threads, n \(x.count): first difference at \(i): "
                        + "x \(x[i]) (0x\(String(x[i].bitPattern, radix: 16))) got 0x\(String(out[i].bitPattern, radix: 16)) "
                        + "want 0x\(String(want[i], radix: 16)); around: x \(near.map { x[$0] }) "
                        + "got \(near.map { out[$0] }) want \(near.map { Float(bitPattern: want[$0]) })",
                        file: file, line: line)
                return
            }
        }
    }

    /// BatchNorm is one fused multiply-add per element (PyTorch's CPU kernels), not a multiply then an add.
    /// qk_lookup_u8 (the AVX-512 VBMI form where the CPU has it, and the scalar twin under QK_ISA=scalar)
    /// against out[i] = table[in[i]] for every length 0...200 and long runs (split over 2 threads), and every
    /// code; guard bytes.
    /// qk_lookup_f32 likewise.
    func testLookupsMatchTheTable() {
        var rng = SeededGenerator(seed: testSeed(0x100C))
        let table = (0..<256).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let floats = (0..<256).map { _ in Float.random(in: -9...9, using: &rng) }
        let saved = getenv("QK_ISA").map { String(cString: $0) }
        defer { if let saved { setenv("QK_ISA", saved, 1) } else { unsetenv("QK_ISA") } }
        for isa in ["", "scalar"] {
            if isa.isEmpty { unsetenv("QK_ISA") } else { setenv("QK_ISA", isa, 1) }
            for n in Array(0...200) + [4096 + 37, 100_003] {   // the last one in chunks over the team
                let codes = (0..<n).map { i in i < 256 ? UInt8(i) : UInt8.random(in: 0...255, using: &rng) }
                let out = Guarded<UInt8>(count: n), outF = Guarded<Float>(count: n)
                withThreads(2) {
                    qk_lookup_u8(n, codes, table, out.ptr)
                    qk_lookup_f32(n, codes, floats, outF.ptr)
                }
                XCTAssertEqual((0..<n).map { out[$0] }, codes.map { table[Int($0)] }, "QK_ISA=\(isa) n \(n)")
                XCTAssertEqual((0..<n).map { outF[$0].bitPattern }, codes.map { floats[Int($0)].bitPattern }, "n \(n)")
                XCTAssertTrue(out.unchangedOutside { _ in true } && outF.unchangedOutside { _ in true }, "n \(n)")
            }
        }
    }

    func testAffineIsOneFusedMultiplyAdd() {
        let seed = testSeed(61)
        var rng = SeededGenerator(seed: seed)
        for c in Self.channelCounts {
            let scale = Self.parameters(c, &rng), shift = Self.parameters(c, &rng)
            for n in Self.lengths(channels: c) {
                let x = Self.input(n, &rng)
                check("affine channels \(c)", seed: seed, x, { qk_affine_f32(n, c, $0, scale, shift, $1) }) { i, x in
                    let ch = i % c
                    return shift[ch].addingProduct(x, scale[ch])
                }
            }
        }
        // (1 + 2^-23)^2 - (1 + 2^-22) = 2^-46 fused; a rounded product first would give 0
        let one = 1 + Float.ulpOfOne, x = [Float](repeating: one, count: 33)
        var out = [Float](repeating: 0, count: 33)
        qk_affine_f32(33, 1, x, [one], [-(1 + 2 * Float.ulpOfOne)], &out)
        XCTAssertEqual(out, [Float](repeating: 0x1p-46, count: 33))
    }

    func testPReLUMatchesSwift() {
        let seed = testSeed(62)
        var rng = SeededGenerator(seed: seed)
        for c in Self.channelCounts {
            let slopes = Self.parameters(c, &rng)
            for n in Self.lengths(channels: c) {
                let x = Self.input(n, &rng)
                check("prelu channels \(c)", seed: seed, x, { qk_prelu_f32(n, c, $0, slopes, $1) }) { i, x in
                    let a = c == 1 ? slopes[0] : slopes[i % c]
                    return x >= 0 ? x : a * x
                }
            }
        }
    }

    func testClampMatchesSwift() {
        let seed = testSeed(63)
        var rng = SeededGenerator(seed: seed)
        let bounds: [(Float, Float)] = [(0, .infinity), (0, 6), (-1, 1), (-0.0, 0), (0, -0.0), (-.infinity, .infinity),
                                        (.nan, 1), (0, .nan), (2, -2)]
        for (lo, hi) in bounds {
            for n in Self.lengths(channels: 17) {
                let x = Self.input(n, &rng)
                check("clamp [\(lo), \(hi)]", seed: seed, x, { qk_clamp_f32(n, $0, lo, hi, $1) }) { _, x in
                    min(max(x, lo), hi)
                }
            }
        }
    }

    func testSignMatchesSwift() {
        let seed = testSeed(64)
        var rng = SeededGenerator(seed: seed)
        for n in Self.lengths(channels: 3) {
            let x = Self.input(n, &rng)
            check("sign", seed: seed, x, { qk_sign_f32(n, $0, $1) }) { _, x in x > 0 ? 1 : x < 0 ? -1 : 0 }
        }
    }

    func testRoundToFixedMatchesSwift() {
        let seed = testSeed(65)
        var rng = SeededGenerator(seed: seed)
        // (integer, fraction) bits as the planner builds them, and a delta that is not a power of two
        var cases: [(delta: Float, lo: Float, hi: Float)] = [(4, 6), (16, 16), (1, 0), (8, 3)].map { i, f in
            let bound = Float(sign: .plus, exponent: i - 1, significand: 1)
            return (Float(sign: .plus, exponent: -f, significand: 1), -bound, bound - 1)
        }
        cases.append((0.3, -5, 5))
        for (delta, lo, hi) in cases {
            for n in Self.lengths(channels: 69) {
                // values on, and one ulp around, the grid k * delta
                var x = Self.input(n, &rng)
                for i in stride(from: 0, to: n, by: 3) {
                    let g = Float(Int.random(in: -600...600, using: &rng)) * delta
                    x[i] = [g, g.nextUp, g.nextDown].randomElement(using: &rng)!
                }
                check("round_to_fixed delta \(delta)", seed: seed, x, { qk_round_to_fixed_f32(n, $0, delta, lo, hi, $1) }) { _, x in
                    min(max((x / delta).rounded(.down) * delta, lo), hi)
                }
            }
        }
    }

    func testDoReFaMatchesSwift() {
        let seed = testSeed(66)
        var rng = SeededGenerator(seed: seed)
        for levels: Float in [1, 3, 7, 15, 255] {
            for n in Self.lengths(channels: 64) {
                // exact ties (k + 0.5) / levels and their neighbours
                var x = Self.input(n, &rng)
                for i in stride(from: 1, to: n, by: 3) {
                    let t = (Float(Int.random(in: 0..<Int(levels), using: &rng)) + 0.5) / levels
                    x[i] = [t, t.nextUp, t.nextDown].randomElement(using: &rng)!
                }
                check("dorefa levels \(levels)", seed: seed, x, { qk_dorefa_f32(n, $0, levels, $1) }) { _, x in
                    (min(max(x, 0), 1) * levels).rounded(.toNearestOrEven) / levels
                }
            }
        }
    }

    /// BatchNorm -> DoReFa -> quantize in one pass (qk_affine_dorefa_u8) against the three kernels in turn,
    /// code for code, at every DoReFa width, channel count and length, ties of the rounding included.
    func testAffineDoReFaCodesEqualTheThreeSteps() {
        let seed = testSeed(69)
        var rng = SeededGenerator(seed: seed)
        for bits in 1...8 {
            let levels = Float((1 << bits) - 1), inverse = 1 / (1 / levels)
            for channels in Self.channelCounts {
                let scale = Self.parameters(channels, &rng), shift = Self.parameters(channels, &rng)
                for n in Self.lengths(channels: channels) where bits == 2 || n < 5000 {
                    var x = Self.input(n, &rng)
                    for i in stride(from: 1, to: n, by: 4) {   // affine outputs at DoReFa's ties
                        let c = i % channels
                        guard scale[c].isNormal, abs(scale[c]) > 1e-3 else { continue }
                        let t = (Float(Int.random(in: 0..<Int(levels), using: &rng)) + 0.5) / levels
                        x[i] = ((t - shift[c]) / scale[c]).nextUp
                    }
                    var affine = [Float](repeating: 0, count: n), doReFa = affine
                    var want = [UInt8](repeating: 0, count: n)
                    qk_affine_f32(n, channels, x, scale, shift, &affine)
                    qk_dorefa_f32(n, affine, levels, &doReFa)
                    qk_quantize_u8(n, doReFa, inverse, 0, &want)
                    for threads: Int32 in [1, 2] {
                        let out = Guarded<UInt8>(count: n)
                        withThreads(threads) { qk_affine_dorefa_u8(n, channels, x, scale, shift, levels, out.ptr) }
                        XCTAssertTrue(out.unchangedOutside { _ in true }, "seed \(seed): wrote outside its output")
                        if let i = (0..<n).first(where: { out[$0] != want[$0] }) {
                            XCTFail("seed \(seed) \(bits) bits, \(channels) channels, n \(n), \(threads) threads: element \(i) "
                                    + "x \(x[i]) got \(out[i]) want \(want[i])")
                            return
                        }
                    }
                }
            }
        }
    }

    /// HardSwish and HardSigmoid against their formulas in Swift Float, bit for bit; sigmoid and SiLU
    /// (their own vectorizable e^x) against float64 within 1e-6 relative, the same bits with 1 and 2 threads.
    func testMobileActivationsMatchSwift() {
        let seed = testSeed(68)
        var rng = SeededGenerator(seed: seed)
        for n in Self.lengths(channels: 17) {
            let x = Self.input(n, &rng)
            check("hardswish", seed: seed, x, { qk_hardswish_f32(n, $0, $1) }) { _, x in x * min(max(x + 3, 0), 6) / 6 }
            for (alpha, beta): (Float, Float) in [(1 / 6, 0.5), (0.2, 0.5), (-0.3, 0.1)] {
                check("hardsigmoid \(alpha) \(beta)", seed: seed, x, { qk_hardsigmoid_f32(n, $0, alpha, beta, $1) }) { _, x in
                    min(max(alpha * x + beta, 0), 1)
                }
            }
            checkSigmoid("sigmoid", seed: seed, x, floor: 1e-37, { qk_sigmoid_f32(n, $0, $1) }) { 1 / (1 + Foundation.exp(-$0)) }
            checkSigmoid("silu", seed: seed, x, floor: 1e-35, { qk_silu_f32(n, $0, $1) }) { $0 / (1 + Foundation.exp(-$0)) }
        }
        // dense sweeps where e^x's range reduction switches n, and the saturated ends
        let sweep = stride(from: Float(-100), through: 100, by: 0.0137).map { $0 } + [-87.33, -87.34, -88.37, -88.38, -89, 88.37, 88.38, 0.3465736, -0.3465736]
        checkSigmoid("sigmoid sweep", seed: seed, sweep, floor: 1e-37, { qk_sigmoid_f32(sweep.count, $0, $1) }) { 1 / (1 + Foundation.exp(-$0)) }
        checkSigmoid("silu sweep", seed: seed, sweep, floor: 1e-35, { qk_silu_f32(sweep.count, $0, $1) }) { $0 / (1 + Foundation.exp(-$0)) }
    }

    /// `kernel` on x with 1 and 2 threads: the same bits, NaN for NaN, and within 1e-6 x |want| + `floor`
    /// of `reference` in float64 (infinities: the values qk_ops.h states).
    private func checkSigmoid(_ what: String, seed: UInt64, _ x: [Float], floor: Double,
                              _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                              reference: (Double) -> Double) {
        var results: [[Float]] = []
        for threads: Int32 in [1, 2] {
            let out = Guarded<Float>(count: x.count)
            x.withUnsafeBufferPointer { p in withThreads(threads) { kernel(p.baseAddress!, out.ptr) } }
            XCTAssertTrue(out.unchangedOutside { _ in true }, "seed \(seed) \(what): wrote outside its output")
            results.append(out.array)
        }
        XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern), "seed \(seed) \(what): threads differ")
        for (i, v) in x.enumerated() {
            let got = results[0][i]
            if v.isNaN { XCTAssertTrue(got.isNaN, "seed \(seed) \(what) x \(v): got \(got)"); continue }
            if v.isInfinite {
                let silu = what.hasPrefix("silu")
                let ok = v > 0 ? got == (silu ? .infinity : 1) : (silu ? got.isNaN : got == 0)
                XCTAssertTrue(ok, "seed \(seed) \(what) x \(v): got \(got)")
                continue
            }
            let want = reference(Double(v))
            guard abs(Double(got) - want) <= 1e-6 * abs(want) + floor else {
                return XCTFail("seed \(seed) \(what) x \(v) (0x\(String(v.bitPattern, radix: 16))): got \(got) want \(want)")
            }
        }
    }

    /// Squeeze-excite's per-channel multiply: x[i] * scale[i % channels], every channel count and tail.
    func testChannelMulMatchesSwift() {
        let seed = testSeed(69)
        var rng = SeededGenerator(seed: seed)
        for c in Self.channelCounts {
            let scale = Self.parameters(c, &rng)
            for n in Self.lengths(channels: c) {
                let x = Self.input(n, &rng)
                check("channel_mul channels \(c)", seed: seed, x, { qk_channel_mul_f32(n, c, $0, scale, $1) }) { i, x in
                    x * scale[i % c]
                }
            }
        }
    }

    /// The channel copy of concat / slice: a channel range of every pixel into another one, nothing else
    /// of the output written.
    func testCopyChannelsMatchesLoop() {
        let seed = testSeed(70)
        var rng = SeededGenerator(seed: seed)
        for (pixels, inC, outC, from, to, count) in [(1, 1, 1, 0, 0, 1), (7, 5, 9, 1, 4, 3), (16, 17, 40, 0, 23, 17), (3, 64, 8, 60, 2, 4)] {
            let x = (0..<(pixels * inC)).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
            let out = Guarded<Float>(count: pixels * outC)
            let before = out.array.map(\.bitPattern)
            qk_copy_channels_f32(pixels, count, x, inC, from, out.ptr, outC, to)
            XCTAssertTrue(out.unchangedOutside { _ in true }, "seed \(seed): wrote outside its output")
            for p in 0..<pixels {
                for c in 0..<outC {
                    let want = (to..<(to + count)).contains(c) ? x[p * inC + from + c - to].bitPattern : before[p * outC + c]
                    XCTAssertEqual(out[p * outC + c].bitPattern, want, "seed \(seed) pixel \(p) channel \(c)")
                }
            }
        }
    }

    /// The flatten transpose against the executor's former loop, f32 (every bit pattern) and u8.
    func testHWCToCHWMatchesLoop() {
        let seed = testSeed(67)
        var rng = SeededGenerator(seed: seed)
        for (h, w, c) in [(1, 1, 1), (1, 1, 69), (4, 4, 64), (3, 5, 17), (7, 7, 3), (1, 9, 1), (2, 3, 33), (17, 1, 16)] {
            let n = h * w * c
            let xf = (0..<n).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
            let xu = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var wantF = [UInt32](repeating: 0, count: n), wantU = [UInt8](repeating: 0, count: n)
            for y in 0..<h { for x in 0..<w { for ch in 0..<c {
                let from = (y * w + x) * c + ch, to = (ch * h + y) * w + x
                wantF[to] = xf[from].bitPattern
                wantU[to] = xu[from]
            } } }
            let outF = Guarded<Float>(count: n), outU = Guarded<UInt8>(count: n)
            qk_hwc_to_chw_f32(h * w, c, xf, outF.ptr)
            qk_hwc_to_chw_u8(h * w, c, xu, outU.ptr)
            XCTAssertTrue(outF.unchangedOutside { _ in true } && outU.unchangedOutside { _ in true },
                          "seed \(seed) \(h)x\(w)x\(c): wrote outside its output")
            XCTAssertEqual(outF.array.map(\.bitPattern), wantF, "seed \(seed) f32 \(h)x\(w)x\(c)")
            XCTAssertEqual(outU.array, wantU, "seed \(seed) u8 \(h)x\(w)x\(c)")
        }
    }
}
