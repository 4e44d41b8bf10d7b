// Packing codes into the portable layout every kernel reads (defined once, in QKernels: qk_pack.h).
import QKernels

/// Codes [rows][k] (unsigned, < 2^bits) -> the packed layout of qk_pack.h: rows in interleaved groups
/// of 16 (QK_ROW_GROUP), each conv group's rows (rows / groups of them) packed as its own matrix, one
/// after the other.
/// The result holds `packedRows(rows:groups:)` rows of qk_packed_row_bytes(k, bits) bytes.
func packCodes(_ codes: [UInt8], rows: Int, k: Int, bits: Int, groups: Int = 1) -> [UInt8] {
    precondition(groups >= 1 && rows % groups == 0)
    let perGroup = rows / groups
    let groupBytes = qk_packed_bytes(perGroup, k, Int32(bits))
    var out = [UInt8](repeating: 0, count: groups * groupBytes)
    codes.withUnsafeBufferPointer { c in
        out.withUnsafeMutableBufferPointer { o in
            for g in 0..<groups {
                qk_pack_codes(c.baseAddress! + g * perGroup * k, perGroup, k, Int32(bits), o.baseAddress! + g * groupBytes)
            }
        }
    }
    return out
}
