/* qk_pack.c — packing k-bit weight codes into 32-code blocks (layout in qk_pack.h), unpacking, and
 * the per-row weight sums used by the zero-point correction. */
#include <string.h>
#include "internal/qk_decode.h"
#include "qk_pack.h"

int qk_bits_supported(int bits) {
    return bits == 1 || bits == 2 || bits == 3 || bits == 4 || bits == 8;
}

size_t qk_packed_row_bytes(size_t K, int bits) {
    if (!qk_bits_supported(bits)) return 0;
    return (K + 31) / 32 * 4 * (size_t)bits;
}

size_t qk_packed_rows(size_t rows) { return (rows + QK_ROW_GROUP - 1) / QK_ROW_GROUP * QK_ROW_GROUP; }

size_t qk_packed_bytes(size_t rows, size_t K, int bits) {
    return qk_packed_rows(rows) * qk_packed_row_bytes(K, bits);
}

void qk_pack_codes(const uint8_t* codes, size_t rows, size_t K, int bits, uint8_t* out) {
    const size_t row_bytes = qk_packed_row_bytes(K, bits);
    if (row_bytes == 0) return;
    memset(out, 0, qk_packed_bytes(rows, K, bits));
    const uint32_t mask = bits == 8 ? 0xFFu : (1u << bits) - 1u;
    const size_t group_stride = QK_ROW_GROUP * row_bytes;
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < K; k++) {
            const uint32_t c = codes[r * K + k] & mask;
            size_t byte, byte_hi;
            unsigned shift, shift_hi;
            qk_code_place(group_stride, r, k, bits, &byte, &shift, &byte_hi, &shift_hi);
            if (bits == 3) {
                out[byte] |= (uint8_t)((c & 3u) << shift);
                out[byte_hi] |= (uint8_t)((c >> 2) << shift_hi);
            } else {
                out[byte] |= (uint8_t)(c << shift);
            }
        }
    }
}

void qk_unpack_codes(const uint8_t* packed, size_t rows, size_t K, int bits, uint8_t* codes) {
    const size_t row_bytes = qk_packed_row_bytes(K, bits);
    if (row_bytes == 0) return;
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < K; k++)
            codes[r * K + k] = (uint8_t)qk_packed_code(packed, QK_ROW_GROUP * row_bytes, r, k, bits);
}

void qk_weight_colsums(const uint8_t* packed, size_t rows, size_t K, int bits, const int8_t* lut,
                       int32_t* colsum) {
    const size_t row_bytes = qk_packed_row_bytes(K, bits);
    if (row_bytes == 0) return;
    const size_t group_stride = QK_ROW_GROUP * row_bytes;
    for (size_t r = 0; r < rows; r++) {
        int32_t s = 0; /* |s| <= 128*K: fits for any K < 2^24 */
        for (size_t k = 0; k < K; k++) {
            const uint32_t c = qk_packed_code(packed, group_stride, r, k, bits);
            s += bits == 8 ? (int32_t)(int8_t)c : (int32_t)lut[c];
        }
        colsum[r] = s;
    }
}
