// The bit-serial conv path (bsgemm, qk_bsgemm.h): when a conv can run on it exactly, and whether it is
// faster than the int8 table-lookup path on this CPU, measured once per shape.
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
    /// Whether `form` on `geometry` runs faster bit-serially than on the int8 table-lookup member.
    static func isFaster(_ form: BitSerialForm, geometry: qk_conv_geom) -> Bool {
        var g = geometry
        return MeasuredChoice.verdict(MeasuredChoice.key(g, "bit-serial w\(form.wbits)a\(form.abits)")) { measure(form, &g) }
    }

    /// Both paths on random codes (SyntheticConv).
    private static func measure(_ form: BitSerialForm, _ g: inout qk_conv_geom) -> Bool {
        guard let bs = qk_bsgemm_select(Int32(form.wbits), Int32(form.abits), qk_isa_active()),
              let lut = qk_qgemm_select_kind(Int32(form.wbits), qk_isa_active(), QK_KIND_LUT) else { return false }
        let conv = SyntheticConv(g, inputBits: form.abits, weightBits: form.wbits,
                                 workspaceBytes: qk_bsconv_image_bytes(&g, Int32(form.abits)))
        let (oc, k) = (conv.outChannels, conv.reduction)
        let table = (0..<16).map { Int8(truncatingIfNeeded: Int(form.wMul) * $0 + Int(form.wOffset)) }
        var args = conv.qgemmArgs(bits: form.wbits, codes: conv.codes, table: table)
        let kw = qk_bsgemm_kwords(k, Int(g.in_c))
        var planes = [UInt64](repeating: 0, count: qk_bsgemm_packed_words(oc, kw, Int32(form.wbits)))
        qk_bsgemm_pack_weights(conv.codes, oc, k, Int(g.in_c), Int32(form.wbits), &planes)
        return planes.withUnsafeBufferPointer { p in
            var layer = qk_bsconv_layer(w: p.baseAddress, w_mul: form.wMul, w_offset: form.wOffset, epi: conv.epilogue)
            return MeasuredChoice.isFaster({ qk_bsconv2d_u8(bs, &conv.geometry, conv.input, &layer, conv.workspace) },
                                           than: { conv.runQgemm(lut, &args) })
        }
    }
}
