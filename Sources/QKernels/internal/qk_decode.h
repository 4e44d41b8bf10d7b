/* qk_decode.h — scalar access to packed codes (layout: qk_pack.h). Private. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_pack.h"

/** Where code (row r, column k) of a packed matrix lives: its byte offset from the matrix start
 *  (row groups group_stride bytes apart) and its bit offset in that byte. Code 3-bit planes: the
 *  low two bits at (*byte, *shift), bit 2 at (*byte_hi, *shift_hi). */
static inline void qk_code_place(size_t group_stride, size_t r, size_t k, int bits, size_t* byte,
                                 unsigned* shift, size_t* byte_hi, unsigned* shift_hi) {
    const size_t block = k / QK_PACK_BLOCK, s = k % QK_PACK_BLOCK / QK_SUBSTEP_K;
    const size_t j = r % QK_ROW_GROUP * QK_SUBSTEP_K + k % QK_SUBSTEP_K;
    const size_t base = r / QK_ROW_GROUP * group_stride + block * QK_GROUP_BLOCK_BYTES(bits);
    if (bits == 3) {
        *byte = base + s / 4 * QK_CHUNK_BYTES + j;
        *shift = 2u * (unsigned)(s % 4);
        *byte_hi = base + 2 * QK_CHUNK_BYTES + j;
        *shift_hi = (unsigned)s;
    } else {
        const size_t per = 8 / (size_t)bits;  /* sub-steps per 64-byte chunk */
        *byte = base + s / per * QK_CHUNK_BYTES + j;
        *shift = (unsigned)bits * (unsigned)(s % per);
        *byte_hi = 0;
        *shift_hi = 0;
    }
}

/** Code (row r, column k) of a packed matrix. */
static inline uint32_t qk_packed_code(const uint8_t* w, size_t group_stride, size_t r, size_t k, int bits) {
    size_t byte, byte_hi;
    unsigned shift, shift_hi;
    qk_code_place(group_stride, r, k, bits, &byte, &shift, &byte_hi, &shift_hi);
    if (bits == 8) return w[byte];
    if (bits == 3) return ((uint32_t)(w[byte] >> shift) & 3u) | (((uint32_t)(w[byte_hi] >> shift_hi) & 1u) << 2);
    return ((uint32_t)w[byte] >> shift) & ((1u << bits) - 1u);
}

/** The int8 weight of a code: lut[code] for bits 1..4, the byte itself for bits 8. */
static inline int8_t qk_code_weight(uint32_t code, int bits, const int8_t* lut) {
    return bits == 8 ? (int8_t)code : lut[code];
}
