// Packing codes into the portable layout every kernel reads (defined once, in QKernels: qk_pack.h).
import QKernels

/// Codes [rows][k] (unsigned, < 2^bits) -> packed rows of qk_packed_row_bytes(k, bits) bytes each.
func packCodes(_ codes: [UInt8], rows: Int, k: Int, bits: Int) -> [UInt8] {
    let rowBytes = qk_packed_row_bytes(k, Int32(bits))
    var out = [UInt8](repeating: 0, count: rows * rowBytes)
    codes.withUnsafeBufferPointer { c in
        out.withUnsafeMutableBufferPointer { o in qk_pack_codes(c.baseAddress, rows, k, Int32(bits), o.baseAddress) }
    }
    return out
}
