/* qk_sgemm_avx2.h — the body of the AVX2 shift-add members: 2 rows x 16 columns (one row group)
 * per call, no multiplications. The same design as the AVX-512 body with 8 int32 lanes: a packed
 * half sub-step (8 channels x 4 k, the vpshufb decoder of the table-lookup members) gives per-lane
 * shift counts (32 for a zero weight: vpsllvd gives 0) and sign bytes; per pair of channels (one
 * ymm, lane l = channel 2p + l/4, k l%4)
 *     acc += (negative ? -a : a) << count           vpblendvb + vpsllvd + vpaddd
 * The two halves of the row group run one after the other over the whole K so that the 2 x 4
 * accumulators and their operands fit the 16 ymm registers. Private. */
#pragma once
#if defined(__x86_64__)
#include <assert.h>
#include <string.h>
#include "qk_qgemm_avx2.h"
#include "qk_qgemm_rows.h"
#include "qk_shift.h"

#define QK_SGEMM_AVX2_MR 2
#define QK_SGEMM_AVX2_NR QK_ROW_GROUP

/* The member body: rows [m0, m0+mr) (mr <= 2; a missing second row repeats the first, its result
 * dropped), columns [n0, n0+nr), nr <= 16, n0 a multiple of 16. A past K is zero (the last partial
 * block of each row is copied into a zeroed buffer); the table must be shift-coded. */
QK_X86_INLINE void qk_sgemm_tile_avx2_rows(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                           size_t nr, int bits, int implicit) {
    assert(mr >= 1 && mr <= QK_SGEMM_AVX2_MR && nr >= 1 && nr <= QK_SGEMM_AVX2_NR &&
           n0 % QK_ROW_GROUP == 0 && g->bits == bits);
    int8_t counts[16], negative[16];
    qk_shift_operands(g->lut, bits, 32, counts, negative);
    const __m256i count_tbl = qk_x86_lut(counts), sign_tbl = qk_x86_lut(negative);
    const uint8_t* a[QK_SGEMM_AVX2_MR];
    for (size_t i = 0; i < QK_SGEMM_AVX2_MR; i++) a[i] = qk_qgemm_row_as(g, m0 + (i < mr ? i : mr - 1), implicit);
    const uint8_t* w = g->w + n0 / QK_ROW_GROUP * g->w_group_stride;
    const size_t K = g->K, K_full = K / 32 * 32;
    uint8_t tail[QK_SGEMM_AVX2_MR][32];
    if (K_full < K) {
        for (int i = 0; i < QK_SGEMM_AVX2_MR; i++) {
            memset(tail[i], 0, 32);
            memcpy(tail[i], a[i] + K_full, K - K_full);
        }
    }
    for (size_t h = 0; h < 2 && 8 * h < nr; h++) {
        __m256i acc[QK_SGEMM_AVX2_MR][4];  /* row, pair (channels 8h+2p, 8h+2p+1) */
        for (int i = 0; i < QK_SGEMM_AVX2_MR; i++)
            for (int p = 0; p < 4; p++) acc[i][p] = _mm256_setzero_si256();
        qk_qgemm_kwalk kwalk = qk_qgemm_kwalk_start(g);
        for (size_t kb = 0; kb < K; kb += 32, implicit ? qk_qgemm_kwalk_next(g, &kwalk) : (void)0) {
            const uint8_t* blk = w + kb / 32 * QK_GROUP_BLOCK_BYTES(bits);
            for (int s = 0; s < 8; s++) {
                const __m256i count8 = qk_avx2_substep(blk, s, (int)h, bits, count_tbl);
                const __m256i sign8 = qk_avx2_substep(blk, s, (int)h, bits, sign_tbl);
                __m256i a32[QK_SGEMM_AVX2_MR], na32[QK_SGEMM_AVX2_MR];
                for (int i = 0; i < QK_SGEMM_AVX2_MR; i++) {
                    int32_t a4;
                    memcpy(&a4, (kb < K_full ? a[i] + (implicit ? kwalk.off : kb) : tail[i]) + 4 * s, 4);
                    a32[i] = _mm256_cvtepu8_epi32(_mm_set1_epi32(a4));
                    na32[i] = _mm256_sub_epi32(_mm256_setzero_si256(), a32[i]);
                }
                for (int p = 0; p < 4; p++) {
                    const __m128i c128 = p < 2 ? _mm256_castsi256_si128(count8) : _mm256_extracti128_si256(count8, 1);
                    const __m128i s128 = p < 2 ? _mm256_castsi256_si128(sign8) : _mm256_extracti128_si256(sign8, 1);
                    const __m256i count = _mm256_cvtepu8_epi32(p % 2 ? _mm_srli_si128(c128, 8) : c128);
                    const __m256i sign = _mm256_cvtepi8_epi32(p % 2 ? _mm_srli_si128(s128, 8) : s128);
                    for (int i = 0; i < QK_SGEMM_AVX2_MR; i++) {
                        const __m256i term = _mm256_sllv_epi32(_mm256_blendv_epi8(a32[i], na32[i], sign), count);
                        acc[i][p] = _mm256_add_epi32(acc[i][p], term);
                    }
                }
            }
        }
        __m128i sums[QK_SGEMM_AVX2_MR][2];  /* constant indices here keep acc in registers */
        for (int i = 0; i < QK_SGEMM_AVX2_MR; i++) {
            /* lanes 4c..4c+3 of acc[i][p] = channel 2p + c: two hadds give [c0 c2 c4 c6 | c1 c3 c5 c7] */
            const __m256i x = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[i][0], acc[i][1]),
                                                _mm256_hadd_epi32(acc[i][2], acc[i][3]));
            const __m128i even = _mm256_castsi256_si128(x), odd = _mm256_extracti128_si256(x, 1);
            sums[i][0] = _mm_unpacklo_epi32(even, odd);
            sums[i][1] = _mm_unpackhi_epi32(even, odd);
        }
        for (size_t i = 0; i < mr; i++) {
            for (size_t q = 0; q < 2 && 8 * h + 4 * q < nr; q++) {
                const size_t left = nr - 8 * h - 4 * q;
                qk_x86_qgemm_epilogue4(g, m0 + i, n0 + 8 * h + 4 * q, left < 4 ? left : 4, sums[i][q]);
            }
        }
    }
}

/* The member body: implicit conv rows (qk_qgemm_rows.h) compiled apart, so plain rows run the loop they
 * always did. */
QK_X86_INLINE void qk_sgemm_tile_avx2(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr, int bits) {
    if (g->a_width != 0) qk_sgemm_tile_avx2_rows(g, m0, n0, mr, nr, bits, 1);
    else qk_sgemm_tile_avx2_rows(g, m0, n0, mr, nr, bits, 0);
}

#endif /* __x86_64__ */
