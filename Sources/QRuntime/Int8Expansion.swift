// 1-4-bit table-coded conv weights expanded once, at plan time, to their int8 table values and run on
// the int8 member (qk_qgemm_w8): the same integer sums as the table-lookup member (the table's values
// are int8), without the per-tile lookup. Taken where a one-time measurement of the shape on this CPU
// finds it faster (or where asked for, KernelChoice.int8); the packed file keeps the low-bit codes.
import QGraph
import QKernels

enum Int8Expansion {
    /// Whether bits-wide table weights (1-4 bits, LUT kind) can be expanded: an int8 member exists.
    static func isAvailable(bits: Int) -> Bool {
        bits >= 1 && bits <= 4 && qk_qgemm_select_kind(8, qk_isa_active(), QK_KIND_LUT) != nil
    }

    /// The int8 weights of packed `bits`-bit codes [oc][k] in `groups` conv groups (each group its own
    /// packed matrix, qk_pack.h), packed as 8-bit codes (qk_pack_codes), value = table[code]. Plan-owned.
    static func expand(_ packed: UnsafePointer<UInt8>, outChannels oc: Int, reduction k: Int, groups: Int, bits: Int,
                       table: [Int8], memory: OwnedMemory) -> UnsafePointer<UInt8> {
        let perGroup = oc / groups
        let inBytes = qk_packed_bytes(perGroup, k, Int32(bits)), outBytes = qk_packed_bytes(perGroup, k, 8)
        let out = memory.allocate(groups * outBytes).bindMemory(to: UInt8.self, capacity: groups * outBytes)
        var codes = [UInt8](repeating: 0, count: perGroup * k)
        for g in 0..<groups {
            qk_unpack_codes(packed + g * inBytes, perGroup, k, Int32(bits), &codes)
            for i in codes.indices { codes[i] = UInt8(bitPattern: table[Int(codes[i])]) }
            qk_pack_codes(codes, perGroup, k, 8, out + g * outBytes)
        }
        return UnsafePointer(out)
    }

    /// Whether the int8 member runs a conv of `geometry` faster than the `bits`-bit table-lookup member
    /// (random codes and table; measured once per process and shape, MeasuredChoice).
    static func isFaster(bits: Int, geometry: qk_conv_geom) -> Bool {
        guard let lut = qk_qgemm_select_kind(Int32(bits), qk_isa_active(), QK_KIND_LUT),
              let int8 = qk_qgemm_select_kind(8, qk_isa_active(), QK_KIND_LUT) else { return false }
        return MeasuredChoice.verdict(MeasuredChoice.key(geometry, "int8 of w\(bits)")) {
            let conv = SyntheticConv(geometry, inputBits: 8, weightBits: bits, workspaceBytes: 0)
            var rng = SplitMix(seed: 0x1A8E)
            let table = (0..<16).map { _ in Int8.random(in: -8...7, using: &rng) }
            var lutArgs = conv.qgemmArgs(bits: bits, codes: conv.codes, table: table)
            var int8Args = conv.qgemmArgs(bits: 8, codes: conv.codes.map { UInt8(bitPattern: table[Int($0)]) }, table: nil)
            return MeasuredChoice.isFaster({ conv.runQgemm(int8, &int8Args) }, than: { conv.runQgemm(lut, &lutArgs) })
        }
    }
}
