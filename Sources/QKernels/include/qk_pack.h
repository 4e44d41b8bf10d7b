/* qk_pack.h — the packed k-bit weight layout: pack, unpack, sizes, column sums.
 *
 * A GEMM weight matrix has N rows (one per output channel) of K codes, ordered (ky, kx, c) for a
 * conv so that it matches NHWC im2col. Each row is padded with code 0 to Kp = roundup(K, 32). Codes
 * are unsigned, 0..2^bits-1; bits is 1, 2, 3, 4 or 8 (8: the code byte is the int8 weight).
 *
 * Rows are stored in groups of QK_ROW_GROUP = 16 (N padded with all-zero-code rows to a multiple
 * of 16). A group's codes go block by block (32 k, 64 * bits bytes each; group stride =
 * (Kp/32) * 64 * bits = 16 * qk_packed_row_bytes); a block is 8 sub-steps of 4 k, and sub-step s
 * holds 64 codes in the order j = r * 4 + (k % 4), r = row in the group: 16 output channels x 4 k,
 * what one 512-bit vpdpbusd (16 int32 lanes, 4 k each) or four NEON sdot-by-lane registers consume.
 * Bits are laid out in 64-byte chunks, byte j of a chunk serving position j of several sub-steps:
 *   bits=8: chunk s = sub-step s.
 *   bits=4, 2, 1: chunk s / (8/bits) holds sub-steps with code bits at [bits * (s % (8/bits)), +bits)
 *           (4 bits: sub-step 2c in the low nibbles of chunk c, 2c+1 in the high nibbles).
 *   bits=3: the low two bits as bits=2 in chunks 0-1, bit 2 as bits=1 in chunk 2.
 * For bits 1..4 a per-layer table int8_t lut[16] maps code -> int8 weight (entries >= 2^bits unused).
 * Real weight = wscale[n] * value. Kernels never read past the last (padded) group.
 * Grouped convolutions pack each conv group's rows as its own matrix, one after the other.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Codes per packing block (the KR of every qgemm member). */
#define QK_PACK_BLOCK 32
/** Rows per interleaved row group. */
#define QK_ROW_GROUP 16
/** Codes of one row per sub-step (the int32 lane width of vpdpbusd / sdot). */
#define QK_SUBSTEP_K 4
/** Bytes of one chunk (64 codes at 8 bits). */
#define QK_CHUNK_BYTES 64
/** Bytes of one row group's block of 32 k. */
#define QK_GROUP_BLOCK_BYTES(bits) ((size_t)64 * (size_t)(bits))

/** 1 if bits is a supported packed width (1, 2, 3, 4, 8). */
int qk_bits_supported(int bits);

/** Bytes of one packed row of K codes: (roundup(K, 32) / 32) * 4 * bits. 0 for unsupported bits. */
size_t qk_packed_row_bytes(size_t K, int bits);

/** Rows rounded up to a whole row group: roundup(rows, QK_ROW_GROUP). */
size_t qk_packed_rows(size_t rows);

/** Bytes of a packed matrix: qk_packed_rows(rows) * qk_packed_row_bytes(K, bits). */
size_t qk_packed_bytes(size_t rows, size_t K, int bits);

/** Packs codes [rows][K] (each masked to its low `bits` bits) into out (qk_packed_bytes(rows, K,
 *  bits) bytes, row groups block-interleaved). Padding codes and padding rows are 0. */
void qk_pack_codes(const uint8_t* codes, size_t rows, size_t K, int bits, uint8_t* out);

/** Inverse of qk_pack_codes: packed -> codes [rows][K]. */
void qk_unpack_codes(const uint8_t* packed, size_t rows, size_t K, int bits, uint8_t* codes);

/** colsum[n] = sum over k < K of w[n][k], the int8 weight value (lut[code], or the byte for bits=8).
 *  The qgemm epilogue subtracts a_zero * colsum[n]. lut is ignored (may be NULL) for bits=8. */
void qk_weight_colsums(const uint8_t* packed, size_t rows, size_t K, int bits, const int8_t* lut,
                       int32_t* colsum);

#ifdef __cplusplus
}
#endif
