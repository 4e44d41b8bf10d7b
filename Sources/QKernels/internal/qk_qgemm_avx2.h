/* qk_qgemm_avx2.h — the body of the AVX2 qgemm members: 2x4 output tile, 32 codes (one packed
 * block) per step. AVX2 has no exact u8 x s8 dot product (vpmaddubsw saturates in int16), so
 * activations and weights are widened to int16 and multiplied with vpmaddwd (exact pair sums in
 * int32). 8 accumulators + 4 widened A + 3 weight vectors fit the 16 ymm registers. Private. */
#pragma once
#if defined(__x86_64__)
#include <assert.h>
#include "qk_decode.h"
#include "qk_x86.h"

#define QK_AVX2_MR 2
#define QK_AVX2_NR 4

/* One 32-code step over activations already widened to int16 (alo: k 0-15, ahi: k 16-31). */
QK_X86_INLINE void qk_avx2_step(__m256i acc[QK_AVX2_MR][QK_AVX2_NR], const __m256i alo[QK_AVX2_MR],
                                const __m256i ahi[QK_AVX2_MR], const uint8_t* const w[QK_AVX2_NR],
                                size_t block, int bits, __m256i lut) {
    for (int j = 0; j < QK_AVX2_NR; j++) {
        const __m256i wv = qk_x86_decode_block(w[j] + block * QK_ROW_GROUP * 4 * (size_t)bits, bits, lut);
        const __m256i wlo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(wv));
        const __m256i whi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(wv, 1));
        for (int i = 0; i < QK_AVX2_MR; i++) {
            const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(alo[i], wlo),
                                               _mm256_madd_epi16(ahi[i], whi));
            acc[i][j] = _mm256_add_epi32(acc[i][j], s);
        }
    }
}

/* Loads 32 activations (masked to 0 from k = kc on) and widens them to two int16 vectors. */
QK_X86_INLINE void qk_avx2_load_a(const uint8_t* p, __m256i mask, __m256i* lo, __m256i* hi) {
    const __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i*)p), mask);
    *lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(v));
    *hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(v, 1));
}

/* Rows past mr / columns past nr repeat the last valid one (results discarded); A past K is masked
 * to 0 (A may be read up to QK_EXTRA_BYTES past its end). */
QK_X86_INLINE void qk_qgemm_tile_avx2(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                      size_t nr, int bits) {
    assert(mr >= 1 && mr <= QK_AVX2_MR && nr >= 1 && nr <= QK_AVX2_NR);
    const __m256i lut = qk_x86_lut(g->lut);
    const uint8_t* a[QK_AVX2_MR];
    const uint8_t* w[QK_AVX2_NR];
    for (size_t i = 0; i < QK_AVX2_MR; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    for (size_t j = 0; j < QK_AVX2_NR; j++) w[j] = qk_packed_block(g->w, g->w_group_stride, n0 + (j < nr ? j : nr - 1), 0, bits);
    __m256i acc[QK_AVX2_MR][QK_AVX2_NR];
    for (int i = 0; i < QK_AVX2_MR; i++)
        for (int j = 0; j < QK_AVX2_NR; j++) acc[i][j] = _mm256_setzero_si256();
    const size_t K = g->K;
    const __m256i all = _mm256_set1_epi8(-1);
    __m256i alo[QK_AVX2_MR], ahi[QK_AVX2_MR];
    size_t kb = 0;
    for (; kb + 32 <= K; kb += 32) {
        for (int i = 0; i < QK_AVX2_MR; i++) qk_avx2_load_a(a[i] + kb, all, &alo[i], &ahi[i]);
        qk_avx2_step(acc, alo, ahi, w, kb / 32, bits, lut);
    }
    if (kb < K) {
        const __m256i live = qk_x86_kmask(K - kb);
        for (int i = 0; i < QK_AVX2_MR; i++) qk_avx2_load_a(a[i] + kb, live, &alo[i], &ahi[i]);
        qk_avx2_step(acc, alo, ahi, w, kb / 32, bits, lut);
    }
    for (size_t i = 0; i < mr; i++) {
        qk_x86_qgemm_epilogue4(g, m0 + i, n0, nr,
                               qk_x86_hsum4_epi32(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    }
}

#endif /* __x86_64__ */
