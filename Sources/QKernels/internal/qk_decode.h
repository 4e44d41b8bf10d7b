/* qk_decode.h — scalar decoding of one packed 32-code block (layout: qk_pack.h). Private. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_pack.h"

/** Block b of row r in a packed matrix whose row groups are group_stride bytes apart (qk_pack.h).
 *  At 8 bits this is the row's codes 0-15; codes 16-31 follow QK_HALF8_OFFSET bytes later. */
static inline uint8_t* qk_packed_block(const uint8_t* w, size_t group_stride, size_t r, size_t b, int bits) {
    const size_t block_bytes = 4 * (size_t)bits, row_step = bits == 8 ? 16 : block_bytes;
    return (uint8_t*)w + r / QK_ROW_GROUP * group_stride + b * QK_ROW_GROUP * block_bytes
         + r % QK_ROW_GROUP * row_step;
}

/** Code i (0..31) of a packed block of `bits` bits. */
static inline uint32_t qk_block_code(const uint8_t* blk, int bits, uint32_t i) {
    switch (bits) {
    case 8: return blk[i < 16 ? i : QK_HALF8_OFFSET + i - 16];
    case 3: return ((uint32_t)(blk[i % 8] >> (2 * (i / 8))) & 3u)
                 | (((uint32_t)(blk[8 + i % 4] >> (i / 4)) & 1u) << 2);
    default: {
        const uint32_t nbytes = 4u * (uint32_t)bits;  /* bytes per block for bits 1, 2, 4 */
        return ((uint32_t)blk[i % nbytes] >> ((uint32_t)bits * (i / nbytes))) & ((1u << bits) - 1u);
    }
    }
}

/** Decodes a block into int8 weight values: lut[code] for bits 1..4, the byte itself for bits 8. */
static inline void qk_block_decode(const uint8_t* blk, int bits, const int8_t* lut, int8_t w[32]) {
    if (bits == 8) {
        for (uint32_t i = 0; i < 32; i++) w[i] = (int8_t)qk_block_code(blk, 8, i);
    } else {
        for (uint32_t i = 0; i < 32; i++) w[i] = lut[qk_block_code(blk, bits, i)];
    }
}
