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

/* Puts code c at position i of a block with the bits=1/2/4/8 layout: byte i % (4*b), shift b*(i/(4*b)). */
static void qk_put_code(uint8_t* blk, int bits, uint32_t i, uint32_t c) {
    const uint32_t nbytes = 4u * (uint32_t)bits;
    blk[i % nbytes] |= (uint8_t)(c << ((uint32_t)bits * (i / nbytes)));
}

void qk_pack_codes(const uint8_t* codes, size_t rows, size_t K, int bits, uint8_t* out) {
    const size_t row_bytes = qk_packed_row_bytes(K, bits);
    if (row_bytes == 0) return;
    memset(out, 0, qk_packed_bytes(rows, K, bits));
    const uint32_t mask = bits == 8 ? 0xFFu : (1u << bits) - 1u;
    const size_t group_stride = QK_ROW_GROUP * row_bytes;
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < K; k++) {
            uint8_t* blk = qk_packed_block(out, group_stride, r, k / 32, bits);
            const uint32_t i = (uint32_t)(k % 32), c = codes[r * K + k] & mask;
            if (bits == 8) {
                blk[i < 16 ? i : QK_HALF8_OFFSET + i - 16] = (uint8_t)c;  /* halves of the group */
            } else if (bits == 3) {
                qk_put_code(blk, 2, i, c & 3u);     /* low-2-bit plane: 8 bytes */
                qk_put_code(blk + 8, 1, i, c >> 2); /* bit-2 plane: 4 bytes */
            } else {
                qk_put_code(blk, bits, i, c);
            }
        }
    }
}

void qk_unpack_codes(const uint8_t* packed, size_t rows, size_t K, int bits, uint8_t* codes) {
    const size_t row_bytes = qk_packed_row_bytes(K, bits);
    if (row_bytes == 0) return;
    const size_t group_stride = QK_ROW_GROUP * row_bytes;
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < K; k++) {
            const uint8_t* blk = qk_packed_block(packed, group_stride, r, k / 32, bits);
            codes[r * K + k] = (uint8_t)qk_block_code(blk, bits, (uint32_t)(k % 32));
        }
    }
}

void qk_weight_colsums(const uint8_t* packed, size_t rows, size_t K, int bits, const int8_t* lut,
                       int32_t* colsum) {
    const size_t row_bytes = qk_packed_row_bytes(K, bits);
    if (row_bytes == 0) return;
    const size_t group_stride = QK_ROW_GROUP * row_bytes;
    for (size_t r = 0; r < rows; r++) {
        int32_t s = 0; /* |s| <= 128*K: fits for any K < 2^24 */
        for (size_t k = 0; k < K; k++) {
            const uint8_t* blk = qk_packed_block(packed, group_stride, r, k / 32, bits);
            const uint32_t c = qk_block_code(blk, bits, (uint32_t)(k % 32));
            s += bits == 8 ? (int32_t)(int8_t)c : (int32_t)lut[c];
        }
        colsum[r] = s;
    }
}
