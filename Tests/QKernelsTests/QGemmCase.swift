// A generated qgemm problem (unpacked codes + epilogue), its naive reference, and a runner that
// packs it and calls a registered member through qk_qgemm with guard bytes around the output.
import QKernels
import XCTest

struct QGemmCase: CustomStringConvertible {
    var M = 1, N = 1, K = 1, bits = 8
    var lda = 1, ldc = 1, ldr = 1
    var za: Int32 = 0
    var lut = [Int8](repeating: 0, count: 16)
    var codes: [UInt8] = []          // [N][K], unpacked
    var a: [UInt8] = []              // [M][lda]; the gap lda-K holds garbage on purpose
    var scale: [Float] = []
    var bias: [Float]? = nil
    var clampLo = -Float.infinity, clampHi = Float.infinity
    var residualKind = QK_RESIDUAL_NONE
    var residualU8: [UInt8] = []     // [M][ldr]
    var residualF32: [Float] = []    // [M][ldr]
    var rscale: Float = 0, rzero: Int32 = 0
    var outputKind = QK_OUTPUT_U8
    var outInv: Float = 1, outZero: Int32 = 0
    var halfStep = false             // codes stand for w + 1/2 (epi.half_rows)

    var description: String {
        "M=\(M) N=\(N) K=\(K) bits=\(bits) lda=\(lda) ldc=\(ldc) za=\(za) bias=\(bias != nil) "
            + "clamp=[\(clampLo),\(clampHi)] residual=\(residualKind.rawValue) "
            + "out=\(outputKind.rawValue) inv=\(outInv) zero=\(outZero) half=\(halfStep)"
    }

    /// The int8 weight value of row n, column k.
    func weight(_ n: Int, _ k: Int) -> Int64 {
        let c = codes[n * K + k]
        return bits == 8 ? Int64(Int8(bitPattern: c)) : Int64(lut[Int(c)])
    }

    /// acc' = sum_k (a - za) * w, exact in Int64; with half steps sum_k (a - za) * (2w + 1).
    func correctedAcc(_ m: Int, _ n: Int) -> Int64 {
        var acc: Int64 = 0
        for k in 0..<K { acc += (Int64(a[m * lda + k]) - Int64(za)) * (halfStep ? 2 * weight(n, k) + 1 : weight(n, k)) }
        return acc
    }

    /// sum_k (a[m][k] - za): the half-step row term.
    func rowSum(_ m: Int) -> Int32 { Int32((0..<K).reduce(Int64(0)) { $0 + Int64(a[m * lda + $1]) - Int64(za) }) }

    /// The naive reference for every (m, n), row-major [M][N], as Double (exact for u8/f32/i32).
    func reference() -> [Double] {
        var out = [Double](repeating: 0, count: M * N)
        for m in 0..<M {
            for n in 0..<N {
                let accp = correctedAcc(m, n)
                guard let acc32 = Int32(exactly: accp) else { fatalError("acc' overflows int32: \(self)") }
                if outputKind == QK_OUTPUT_I32 { out[m * N + n] = Double(acc32); continue }
                var y = Float(acc32) * scale[n]
                if let bias { y = y + bias[n] }
                if residualKind == QK_RESIDUAL_U8 {
                    y = y + rscale * Float(Int32(residualU8[m * ldr + n]) - rzero)
                } else if residualKind == QK_RESIDUAL_F32 {
                    y = y + residualF32[m * ldr + n]
                }
                y = refClamp(y, clampLo, clampHi)
                out[m * N + n] = outputKind == QK_OUTPUT_F32
                    ? Double(y) : Double(refRequant(y, outInv, outZero))
            }
        }
        return out
    }

    /// A random problem: extreme zero points, LUTs with -128/127, strided A/C/residual, all
    /// epilogue options; scales adapted to the data so u8 outputs are mostly not saturated.
    /// `shift`: a shift-coded table (every entry 0, +-2^e or -128) for QK_KIND_SHIFT members.
    static func random(M: Int, N: Int, K: Int, bits: Int, shift: Bool = false,
                       rng: inout SeededGenerator) -> QGemmCase {
        var c = QGemmCase()
        c.M = M; c.N = N; c.K = K; c.bits = bits
        c.lda = K + [0, 0, 1, 3, 7].randomElement(using: &rng)!
        c.ldc = N + [0, 0, 5].randomElement(using: &rng)!
        c.ldr = N + [0, 2].randomElement(using: &rng)!
        c.za = [0, 128, 255, Int32.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
        c.lut = (0..<16).map { _ in Int8.random(in: -128...127, using: &rng) }
        if bits <= 4 && Bool.random(using: &rng) {
            c.lut[0] = -128
            c.lut[(1 << bits) - 1] = 127
        }
        if shift {
            let values: [Int8] = [0, -128] + (0...6).flatMap { [Int8(1 << $0), -Int8(1 << $0)] }
            c.lut = (0..<16).map { _ in values.randomElement(using: &rng)! }
            c.lut[0] = -128
        }
        let maxCode = bits == 8 ? 255 : (1 << bits) - 1
        c.codes = (0..<(N * K)).map { _ in
            switch Int.random(in: 0..<10, using: &rng) {
            case 0 where bits == 8: return 0x80
            case 1 where bits == 8: return 0x7F
            default: return UInt8(Int.random(in: 0...maxCode, using: &rng))
            }
        }
        c.a = (0..<(M * c.lda)).map { _ in
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: return 0
            case 1: return 255
            default: return UInt8.random(in: 0...255, using: &rng)
            }
        }
        c.halfStep = Int.random(in: 0..<4, using: &rng) == 0
        var maxAbs: Int64 = 1
        for m in 0..<M { for n in 0..<N { maxAbs = max(maxAbs, abs(c.correctedAcc(m, n))) } }
        c.scale = (0..<N).map { _ in Float.random(in: 0.5...1.5, using: &rng) * 3 / Float(maxAbs) }
        if Int.random(in: 0..<10, using: &rng) < 7 {
            c.bias = (0..<N).map { _ in Float.random(in: -2...2, using: &rng) }
        }
        (c.clampLo, c.clampHi) = [(-Float.infinity, Float.infinity), (0, Float.infinity), (0, 6),
                                  (-0.5, 0.7)].randomElement(using: &rng)!
        c.residualKind = [QK_RESIDUAL_NONE, QK_RESIDUAL_U8, QK_RESIDUAL_F32].randomElement(using: &rng)!
        c.residualU8 = (0..<(M * c.ldr)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        c.residualF32 = (0..<(M * c.ldr)).map { _ in Float.random(in: -2...2, using: &rng) }
        c.rscale = Float.random(in: 0.005...0.03, using: &rng)
        c.rzero = Int32.random(in: 0...255, using: &rng)
        c.outputKind = [QK_OUTPUT_U8, QK_OUTPUT_U8, QK_OUTPUT_F32, QK_OUTPUT_F32, QK_OUTPUT_I32]
            .randomElement(using: &rng)!
        c.outInv = Float.random(in: 20...60, using: &rng)
        c.outZero = [0, 128, 255, Int32.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
        return c
    }

    /// Packs the weights, runs member `uk` through qk_qgemm, and returns the [M][N] outputs and
    /// whether everything outside them (guards, the ldc gap) is untouched.
    func run(_ uk: qk_qgemm_ukernel_desc) -> (values: [Double], untouched: Bool) {
        let rowBytes = qk_packed_row_bytes(K, Int32(bits))
        let packed = Guarded<UInt8>(count: qk_packed_bytes(N, K, Int32(bits)))
        let codeBuf = Guarded<UInt8>(codes)
        qk_pack_codes(codeBuf.ptr, N, K, Int32(bits), packed.ptr)
        let lutBuf = Guarded<Int8>(lut)
        let colsum = Guarded<Int32>(count: N)
        qk_weight_colsums(packed.ptr, N, K, Int32(bits), lutBuf.ptr, colsum.ptr)
        let aBuf = Guarded<UInt8>(a, fill: 0x5A)   // garbage past the end: kernels may read it
        let scaleBuf = Guarded<Float>(scale)
        let biasBuf = bias.map { Guarded<Float>($0) }
        let rU8 = Guarded<UInt8>(residualU8), rF32 = Guarded<Float>(residualF32)
        let esize = outputKind == QK_OUTPUT_U8 ? 1 : 4
        let out = Guarded<UInt8>(count: M * ldc * esize)

        var args = qk_qgemm_args()
        args.M = M; args.N = N; args.K = K
        args.a = UnsafePointer(aBuf.ptr); args.lda = lda; args.a_zero = za
        args.w = UnsafePointer(packed.ptr); args.w_group_stride = Int(QK_ROW_GROUP) * rowBytes; args.bits = Int32(bits)
        args.lut = UnsafePointer(lutBuf.ptr); args.colsum = UnsafePointer(colsum.ptr)
        args.epi.scale = UnsafePointer(scaleBuf.ptr)
        args.epi.bias = biasBuf.map { UnsafePointer($0.ptr) }
        args.epi.clamp_lo = clampLo; args.epi.clamp_hi = clampHi
        args.epi.residual_kind = residualKind
        args.epi.residual = residualKind == QK_RESIDUAL_U8 ? UnsafeRawPointer(rU8.ptr)
            : residualKind == QK_RESIDUAL_F32 ? UnsafeRawPointer(rF32.ptr) : nil
        args.epi.ldr = ldr; args.epi.rscale = rscale; args.epi.rzero = rzero
        args.epi.output_kind = outputKind
        args.epi.out = UnsafeMutableRawPointer(out.ptr); args.epi.ldc = ldc
        args.epi.out_inv_scale = outInv; args.epi.out_zero = outZero
        let rows = Guarded<Int32>((0..<M).map(rowSum))
        if halfStep { args.epi.half_rows = UnsafePointer(rows.ptr) }
        var member = uk
        qk_qgemm(&member, &args)

        let raw = UnsafeRawPointer(out.ptr)
        var values = [Double](repeating: 0, count: M * N)
        for m in 0..<M {
            for n in 0..<N {
                let e = m * ldc + n
                switch outputKind {
                case QK_OUTPUT_U8: values[m * N + n] = Double(raw.load(fromByteOffset: e, as: UInt8.self))
                case QK_OUTPUT_F32: values[m * N + n] = Double(raw.load(fromByteOffset: 4 * e, as: Float.self))
                default: values[m * N + n] = Double(raw.load(fromByteOffset: 4 * e, as: Int32.self))
                }
            }
        }
        let untouched = out.unchangedOutside { ($0 / esize) % ldc < N }
        return (values, untouched)
    }
}

/// The first index where two [M][N] results differ, with a message naming the seed and neighbours.
func firstMismatch(_ got: [Double], _ want: [Double], N: Int, context: String) -> String? {
    if got.count != want.count { return "\(context): \(got.count) values, want \(want.count)" }
    guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
    let lo = max(0, i - 2), hi = min(got.count, i + 3)
    return "\(context): first bad index m=\(i / N) n=\(i % N) got \(got[i]) want \(want[i]); "
        + "around got \(Array(got[lo..<hi])) want \(Array(want[lo..<hi]))"
}
