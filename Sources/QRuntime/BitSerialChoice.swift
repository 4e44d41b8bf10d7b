// The bit-serial conv path (bsgemm, qk_bsgemm.h): when a conv can run on it exactly, and whether it is
// faster than the int8 table-lookup path on this CPU, measured once per shape.
import Dispatch
import Foundation
import QGraph
import QKernels

/// How a conv maps onto the bit-serial kernels: 1-2-bit weight codes whose integer table is affine in the
/// code (level = wMul * q + wOffset, as Any-Precision's 2Q - (2^k - 1)), read against 1-2-bit unsigned
/// activation codes. The sums are the table-lookup path's exactly, so both paths give the same bits.
struct BitSerialForm: Equatable {
    var wbits: Int, abits: Int
    var wMul: Int32, wOffset: Int32

    /// The form of conv `c` on an input of `inputCodeBits`-bit codes (nil: not such an input), or nil
    /// when the family cannot run it (groups, geometry, weight table, widths).
    init?(_ c: Conv2D, geometry: qk_conv_geom, inputCodeBits: Int?) {
        guard let abits = inputCodeBits, abits == 1 || abits == 2, c.weight.scheme != .float32,
              c.weight.bits == 1 || c.weight.bits == 2, let lut = c.weight.lut, lut.count >= 1 << c.weight.bits else { return nil }
        var g = geometry
        guard qk_bsconv_supports(&g) == 1 else { return nil }
        let offset = lut[0], mul = lut[1] - lut[0]
        guard (0..<(1 << c.weight.bits)).allSatisfy({ lut[$0] == mul * $0 + offset }),
              abs(mul) <= Int(QK_BSGEMM_MAX_COEF), abs(offset) <= Int(QK_BSGEMM_MAX_COEF) else { return nil }
        (wbits, self.abits, wMul, wOffset) = (c.weight.bits, abits, Int32(mul), Int32(offset))
    }
}

extension Graph {
    /// The code width of a u8 value that holds DoReFa(k) codes exactly (values P in 0...2^k - 1, scale
    /// 1 / (2^k - 1), zero point 0): the output of a quantize node reading a DoReFa(k) value (Any-Precision's
    /// integer path), or of a conv / linear that clamps to [0, 1] before quantizing (the same codes, fused
    /// at plan time: ExecutionFusion.swift); nil for any other value.
    func doReFaCodeBits(of value: String) -> Int? {
        guard let n = doReFaLevels(ofCodes: value), let p = producer(of: value) else { return nil }
        let bits = (n + 1).trailingZeroBitCount
        switch nodes[p].op {
        case .quantize:
            guard let d = producer(of: nodes[p].inputs[0]), nodes[d].op == .doReFa(bits: bits) else { return nil }
            return bits
        case .conv2d(let c) where c.activation == .hardtanh(min: 0, max: 1): return bits
        case .linear(let l) where l.activation == .hardtanh(min: 0, max: 1): return bits
        default: return nil
        }
    }
}

/// Times the bit-serial conv against the int8 table-lookup conv on a shape (synthetic data; the same
/// thread count as the run), once per process and shape.
enum BitSerialTiming {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var verdicts: [String: Bool] = [:]

    /// Whether `form` on `geometry` runs faster bit-serially than on the int8 table-lookup member.
    static func isFaster(_ form: BitSerialForm, geometry: qk_conv_geom) -> Bool {
        var g = geometry
        let key = "\(g.in_h)x\(g.in_w)x\(g.in_c)->\(g.out_c) k\(g.kernel_h)x\(g.kernel_w) s\(g.stride_h)x\(g.stride_w) "
            + "p\(g.pad_top),\(g.pad_left),\(g.pad_bottom),\(g.pad_right) d\(g.dilation_h)x\(g.dilation_w) "
            + "w\(form.wbits)a\(form.abits) t\(qk_get_max_threads())"
        lock.lock()
        defer { lock.unlock() }
        if let known = verdicts[key] { return known }
        let verdict = measure(form, &g)
        verdicts[key] = verdict
        return verdict
    }

    /// Best of five alternating runs (after one warm-up) of each path on random codes; u8 output, no residual.
    private static func measure(_ form: BitSerialForm, _ g: inout qk_conv_geom) -> Bool {
        guard let bs = qk_bsgemm_select(Int32(form.wbits), Int32(form.abits), qk_isa_active()),
              let lut = qk_qgemm_select_kind(Int32(form.wbits), qk_isa_active(), QK_KIND_LUT) else { return false }
        let oc = Int(g.out_c), k = Int(qk_conv_gemm_k(&g)), m = Int(qk_conv_out_h(&g)) * Int(qk_conv_out_w(&g))
        var rng = SystemRandomNumberGenerator()
        let input = (0..<(Int(g.in_h * g.in_w * g.in_c) + Int(QK_EXTRA_BYTES))).map { _ in UInt8.random(in: 0...UInt8((1 << form.abits) - 1), using: &rng) }
        let codes = (0..<(oc * k)).map { _ in UInt8.random(in: 0...UInt8((1 << form.wbits) - 1), using: &rng) }
        let scale = [Float](repeating: 1e-3, count: oc), bias = [Float](repeating: 0, count: oc)
        var out = [UInt8](repeating: 0, count: m * oc)
        let table = (0..<16).map { Int8(truncatingIfNeeded: Int(form.wMul) * $0 + Int(form.wOffset)) }
        var packed = [UInt8](repeating: 0, count: qk_packed_bytes(oc, k, Int32(form.wbits)))
        qk_pack_codes(codes, oc, k, Int32(form.wbits), &packed)
        var colsum = [Int32](repeating: 0, count: oc)
        qk_weight_colsums(packed, oc, k, Int32(form.wbits), table, &colsum)
        let kw = qk_bsgemm_kwords(k, Int(g.in_c))
        var planes = [UInt64](repeating: 0, count: qk_bsgemm_packed_words(oc, kw, Int32(form.wbits)))
        qk_bsgemm_pack_weights(codes, oc, k, Int(g.in_c), Int32(form.wbits), &planes)
        var image = [UInt64](repeating: 0, count: qk_bsconv_image_bytes(&g, Int32(form.abits)) / 8 + 1)
        var workspace = [UInt8](repeating: 0, count: qk_conv_workspace_bytes(&g, 1) + 64)

        func time(_ run: () -> Void) -> UInt64 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            run()
            return DispatchTime.now().uptimeNanoseconds - t0
        }
        return scale.withUnsafeBufferPointer { s in bias.withUnsafeBufferPointer { b in out.withUnsafeMutableBytes { o in
            var epi = qk_epilogue()
            epi.scale = s.baseAddress; epi.bias = b.baseAddress
            epi.clamp_lo = 0; epi.clamp_hi = 1
            epi.output_kind = QK_OUTPUT_U8; epi.out = o.baseAddress; epi.ldc = oc
            epi.out_inv_scale = 1; epi.out_zero = 0
            return planes.withUnsafeBufferPointer { p in image.withUnsafeMutableBytes { i in
                packed.withUnsafeBufferPointer { pk in table.withUnsafeBufferPointer { t in colsum.withUnsafeBufferPointer { c in
                    workspace.withUnsafeMutableBufferPointer { w in
                        var layer = qk_bsconv_layer(w: p.baseAddress, w_mul: form.wMul, w_offset: form.wOffset, epi: epi)
                        var args = qk_qgemm_args()
                        args.K = k; args.w = pk.baseAddress; args.bits = Int32(form.wbits)
                        args.w_group_stride = Int(QK_ROW_GROUP) * WeightDescriptor.packedRowBytes(k: k, bits: form.wbits)
                        args.lut = t.baseAddress; args.colsum = c.baseAddress; args.epi = epi
                        var geometry = g
                        func runBits() { qk_bsconv2d_u8(bs, &geometry, input, &layer, i.baseAddress) }
                        func runInt8() { qk_conv2d_u8(lut, &geometry, input, &args, w.baseAddress) }
                        // warm both, then alternate so that a change in machine load hits both alike
                        runBits(); runInt8()
                        var tBits = UInt64.max, tInt8 = UInt64.max
                        for _ in 0..<5 {
                            tBits = min(tBits, time(runBits))
                            tInt8 = min(tInt8, time(runInt8))
                        }
                        return tBits < tInt8
                    }
                } } }
            } }
        } } }
    }
}
