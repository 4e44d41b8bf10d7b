/* qk_pack.h — the packed k-bit weight layout: pack, unpack, sizes, column sums.
 *
 * A GEMM weight matrix has N rows (one per output channel) of K codes, ordered (ky, kx, c) for a
 * conv so that it matches NHWC im2col. Each row is padded with code 0 to Kp = roundup(K, 32) and
 * cut into Kp/32 blocks of 32 codes; a block takes 4*bits bytes:
 *   bits=8: 32 bytes, byte i = code i (the int8 weight itself, two's complement; no table)
 *   bits=4: 16 bytes, code i at byte (i % 16), bits [4*(i/16), +4)   (0-15 low nibbles, 16-31 high)
 *   bits=2:  8 bytes, code i at byte (i % 8),  bits [2*(i/8), +2)
 *   bits=1:  4 bytes, code i at byte (i % 4),  bit  (i/4)
 *   bits=3: 12 bytes: the low-2-bit plane (8 bytes, as bits=2) then the bit-2 plane (4 bytes, as
 *           bits=1); code = lo2 | (hi1 << 2)
 * Rows are stored in groups of QK_ROW_GROUP = 4 (N padded with all-zero-code rows to a multiple of
 * 4), and within a group block-interleaved: group g, block b, row r (0..3) of the group at byte
 *     g * 4 * row_bytes + b * 4 * block_bytes + r * block_bytes,    row_bytes = (Kp/32) * block_bytes.
 * At 8 bits the group's block is stored by halves: codes 0-15 of rows 0..3 (16 bytes each), then
 * codes 16-31 of rows 0..3, i.e. row r's codes 0-15 at r * 16 and codes 16-31 at 64 + r * 16.
 * So one block step of four output channels is one contiguous run of 4 * block_bytes (64 bytes at
 * 4 bits) whose 16-byte pieces are per channel: what a 512-bit register of four 128-bit lanes, or
 * four NEON registers, consume.
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
#define QK_ROW_GROUP 4
/** At 8 bits: bytes from a row's codes 0-15 to its codes 16-31 within a group's block. */
#define QK_HALF8_OFFSET 64

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
