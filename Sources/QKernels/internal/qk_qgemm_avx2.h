/* qk_qgemm_avx2.h — the body of the AVX2 qgemm members: 2 rows x 16 columns (one row group) per
 * call, one packed sub-step (16 channels x 4 k) at a time. AVX2 has no exact u8 x s8 dot product
 * (vpmaddubsw saturates in int16), so weights are widened to int16 (4 channels x 4 k per ymm) and
 * multiplied by the row's 4 activations, widened and broadcast, with vpmaddwd: exact pair sums in
 * int32, two per channel, folded at the end. Codes decode with a shift, a mask and vpshufb in the
 * per-layer table. Private. */
#pragma once
#if defined(__x86_64__)
#include <assert.h>
#include "qk_decode.h"
#include "qk_qgemm_rows.h"
#include "qk_x86.h"

#define QK_AVX2_MR 2
#define QK_AVX2_NR QK_ROW_GROUP

/* Half h (channels 8h..8h+7, 32 bytes) of sub-step s of a row group's block, as int8 weights. */
QK_X86_INLINE __m256i qk_avx2_substep(const uint8_t* blk, int s, int h, int bits, __m256i lut) {
    switch (bits) {
    case 8: return _mm256_loadu_si256((const __m256i*)(blk + s * QK_CHUNK_BYTES + 32 * h));
    case 3: {
        const __m256i lo = _mm256_loadu_si256((const __m256i*)(blk + s / 4 * QK_CHUNK_BYTES + 32 * h));
        const __m256i hi = _mm256_loadu_si256((const __m256i*)(blk + 2 * QK_CHUNK_BYTES + 32 * h));
        const __m256i code = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16(lo, 2 * (s % 4)), _mm256_set1_epi8(3)),
            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, s), _mm256_set1_epi8(1)), 2));
        return _mm256_shuffle_epi8(lut, code);
    }
    default: {
        const int per = 8 / bits;
        const __m256i x = _mm256_loadu_si256((const __m256i*)(blk + s / per * QK_CHUNK_BYTES + 32 * h));
        const __m256i code = _mm256_and_si256(_mm256_srli_epi16(x, bits * (s % per)),
                                              _mm256_set1_epi8((char)((1 << bits) - 1)));
        return _mm256_shuffle_epi8(lut, code);
    }
    }
}

/* [sum of pair 2c, 2c+1 of x for c = 0..3, then the same for y]: 8 channel sums in order. */
QK_X86_INLINE __m256i qk_avx2_fold(__m256i x, __m256i y) {
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(x, y), _MM_SHUFFLE(3, 1, 2, 0));
}

/* The member body: rows [m0, m0+mr) (mr <= 2; a missing second row repeats the first, its result
 * dropped), columns [n0, n0+nr), nr <= 16, n0 a multiple of 16. A past K is zero (the last partial
 * block of each row is copied into a zeroed buffer). */
QK_X86_INLINE void qk_qgemm_tile_avx2_rows(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                           size_t nr, int bits, int implicit) {
    assert(mr >= 1 && mr <= QK_AVX2_MR && nr >= 1 && nr <= QK_AVX2_NR && n0 % QK_ROW_GROUP == 0);
    const __m256i lut = qk_x86_lut(g->lut);
    const uint8_t* a[QK_AVX2_MR];
    for (size_t i = 0; i < QK_AVX2_MR; i++) a[i] = qk_qgemm_row_as(g, m0 + (i < mr ? i : mr - 1), implicit);
    const uint8_t* w = g->w + n0 / QK_ROW_GROUP * g->w_group_stride;
    __m256i acc[QK_AVX2_MR][2][2];  /* row, half (channels 8h..), quarter (channels 8h+4q..): pair sums */
    for (int i = 0; i < QK_AVX2_MR; i++)
        for (int h = 0; h < 2; h++) acc[i][h][0] = acc[i][h][1] = _mm256_setzero_si256();
    const size_t K = g->K, K_full = K / 32 * 32;
    uint8_t tail[QK_AVX2_MR][32];
    if (K_full < K) {
        for (int i = 0; i < QK_AVX2_MR; i++) {
            memset(tail[i], 0, 32);
            memcpy(tail[i], a[i] + K_full, K - K_full);
        }
    }
    qk_qgemm_kwalk kwalk = qk_qgemm_kwalk_start(g);
    for (size_t kb = 0; kb < K; kb += 32, implicit ? qk_qgemm_kwalk_next(g, &kwalk) : (void)0) {
        const uint8_t* blk = w + kb / 32 * QK_GROUP_BLOCK_BYTES(bits);
        for (int s = 0; s < 8; s++) {
            __m256i a16[QK_AVX2_MR];
            for (int i = 0; i < QK_AVX2_MR; i++) {
                const uint8_t* p = (kb < K_full ? a[i] + (implicit ? kwalk.off : kb) : tail[i]) + 4 * s;
                int32_t a4;
                memcpy(&a4, p, 4);
                a16[i] = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(a4)));
            }
            for (int h = 0; h < 2; h++) {
                const __m256i w8 = qk_avx2_substep(blk, s, h, bits, lut);
                const __m256i wq0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w8));
                const __m256i wq1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w8, 1));
                for (int i = 0; i < QK_AVX2_MR; i++) {
                    acc[i][h][0] = _mm256_add_epi32(acc[i][h][0], _mm256_madd_epi16(wq0, a16[i]));
                    acc[i][h][1] = _mm256_add_epi32(acc[i][h][1], _mm256_madd_epi16(wq1, a16[i]));
                }
            }
        }
    }
    __m256i sums_all[QK_AVX2_MR][2];  /* constant indices here keep acc in registers */
    for (int i = 0; i < QK_AVX2_MR; i++)
        for (int h = 0; h < 2; h++) sums_all[i][h] = qk_avx2_fold(acc[i][h][0], acc[i][h][1]);
    for (size_t i = 0; i < mr; i++) {
        for (size_t h = 0; h < 2 && 8 * h < nr; h++) {
            const __m256i sums = sums_all[i][h];
            for (size_t q = 0; q < 2 && 8 * h + 4 * q < nr; q++) {
                const size_t n = n0 + 8 * h + 4 * q, left = nr - 8 * h - 4 * q;
                qk_x86_qgemm_epilogue4(g, m0 + i, n, left < 4 ? left : 4,
                                       q == 0 ? _mm256_castsi256_si128(sums) : _mm256_extracti128_si256(sums, 1));
            }
        }
    }
}

/* The member body: implicit conv rows (qk_qgemm_rows.h) compiled apart, so plain rows run the loop they
 * always did. */
QK_X86_INLINE void qk_qgemm_tile_avx2(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr, int bits) {
    if (g->a_width != 0) qk_qgemm_tile_avx2_rows(g, m0, n0, mr, nr, bits, 1);
    else qk_qgemm_tile_avx2_rows(g, m0, n0, mr, nr, bits, 0);
}

#endif /* __x86_64__ */
