/* qk_bsgemm_avx2.h — the body of the AVX2 bsgemm members: up to 2 rows x 8 columns (one packed row
 * group: two ymm of 4 channels x 64 k per plane) per call. AVX2 has no vector popcount: each
 * AND of a weight plane with a broadcast activation plane is counted per byte through vpshufb nibble
 * tables (pc8, 0..8 per byte), the plane pairs are weighted by 2^(i+j) with byte adds (at most
 * 8 * 9 = 72 per byte for W2A2) and summed into one 64-bit lane per channel by vpsadbw:
 *     S += sad(sum_{i,j} 2^(i+j) pc8(Wplane_i AND Aplane_j))
 * then acc = w_mul * S + w_offset * T and the qgemm epilogue, 4 columns at a time in SSE lanes
 * (qk_x86_epi_finish4: bit for bit the scalar epilogue), a partial group and int32 output through the
 * scalar code. Private. */
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include "qk_bsgemm_tile.h"
#include "qk_ukernels.h"
#include "qk_x86.h"

#define QK_BSGEMM_AVX2_INLINE static inline __attribute__((always_inline, target(QK_TARGET_AVX2)))
#define QK_BSGEMM_AVX2_MR 2

/* Per-byte popcount of v: table[lo nibble] + table[hi nibble]. */
QK_BSGEMM_AVX2_INLINE __m256i qk_bsgemm_avx2_pc8(__m256i v) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0F);
    return _mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(v, low)),
                           _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
}

/* The 4 channels' int64 lanes of `lo` then of `hi` as 8 int32 (|S| < 2^31 by the K limit). */
QK_BSGEMM_AVX2_INLINE __m256i qk_bsgemm_avx2_narrow(__m256i lo, __m256i hi) {
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i a = _mm256_permutevar8x32_epi32(lo, even), b = _mm256_permutevar8x32_epi32(hi, even);
    return _mm256_permute2x128_si256(a, b, 0x20);
}

QK_BSGEMM_AVX2_INLINE void qk_bsgemm_avx2_tile(const qk_bsgemm_args* g, size_t m0, size_t n0, size_t nr, int ROWS,
                                               int WB, int AB) {
    const size_t group_words = (size_t)WB * QK_BSGEMM_ROW_GROUP;
    const uint64_t* w = qk_bsgemm_group(g, n0, WB);
    __m256i acc[2][2];
    for (int r = 0; r < 2; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const uint64_t* rows[2];
    for (int r = 0; r < ROWS; r++) rows[r] = qk_bsgemm_row(g, m0 + (size_t)r);
    const size_t segs = qk_bsgemm_segs(g), sw = qk_bsgemm_seg_words(g);
    for (size_t s = 0, j = 0; s < segs; s++) {
        const size_t off = qk_bsgemm_piece_offset(g, s);
        for (size_t k = 0; k < sw; k++, j++) {
            __m256i wv[2][2]; /* [plane][half: channels 0-3, 4-7] */
            for (int i = 0; i < WB; i++)
                for (int q = 0; q < 2; q++)
                    wv[i][q] = _mm256_loadu_si256((const __m256i*)(w + j * group_words + (size_t)i * QK_BSGEMM_ROW_GROUP + 4 * (size_t)q));
            for (int r = 0; r < ROWS; r++) {
                const uint64_t* a = rows[r] + off + k * (size_t)AB;
                __m256i av[2];
                for (int jj = 0; jj < AB; jj++) av[jj] = _mm256_set1_epi64x((long long)a[jj]);
                for (int q = 0; q < 2; q++) {
                    /* v = sum 2^(i+j) pc8(W_i & A_j), doubling by adds (no byte shift in AVX2) */
                    __m256i v;
                    if (WB == 1 && AB == 1) {
                        v = qk_bsgemm_avx2_pc8(_mm256_and_si256(wv[0][q], av[0]));
                    } else if (WB == 1 || AB == 1) {
                        const __m256i lo = qk_bsgemm_avx2_pc8(_mm256_and_si256(wv[0][q], av[0]));
                        const __m256i hi = qk_bsgemm_avx2_pc8(_mm256_and_si256(wv[WB - 1][q], av[AB - 1]));
                        v = _mm256_add_epi8(lo, _mm256_add_epi8(hi, hi));
                    } else {
                        const __m256i c00 = qk_bsgemm_avx2_pc8(_mm256_and_si256(wv[0][q], av[0]));
                        const __m256i c01 = qk_bsgemm_avx2_pc8(_mm256_and_si256(wv[0][q], av[1]));
                        const __m256i c10 = qk_bsgemm_avx2_pc8(_mm256_and_si256(wv[1][q], av[0]));
                        const __m256i c11 = qk_bsgemm_avx2_pc8(_mm256_and_si256(wv[1][q], av[1]));
                        __m256i t = _mm256_add_epi8(_mm256_add_epi8(c11, c11), _mm256_add_epi8(c01, c10));
                        v = _mm256_add_epi8(c00, _mm256_add_epi8(t, t));
                    }
                    acc[r][q] = _mm256_add_epi64(acc[r][q], _mm256_sad_epu8(v, _mm256_setzero_si256()));
                }
            }
        }
    }
    int32_t t[2];
    qk_bsgemm_act_sums(g, m0, ROWS, AB, t);
    const qk_epilogue* e = &g->epi;
    for (int r = 0; r < ROWS; r++) {
        const size_t m = m0 + (size_t)r;
        const __m256i sum = _mm256_add_epi32(_mm256_mullo_epi32(qk_bsgemm_avx2_narrow(acc[r][0], acc[r][1]),
                                                                _mm256_set1_epi32(g->w_mul)),
                                             _mm256_set1_epi32(g->w_offset * t[r]));
        int32_t v[8];
        _mm256_storeu_si256((__m256i*)v, sum);
        for (size_t c = 0; c < nr; c += 4) {
            if (nr - c < 4 || e->output_kind == QK_OUTPUT_I32) {
                for (size_t x = c; x < nr && x < c + 4; x++) qk_qgemm_epilogue(e, m, n0 + x, v[x]);
                continue;
            }
            __m128 y = _mm_mul_ps(_mm_cvtepi32_ps(_mm_loadu_si128((const __m128i*)(v + c))), _mm_loadu_ps(e->scale + n0 + c));
            if (e->bias != NULL) y = _mm_add_ps(y, _mm_loadu_ps(e->bias + n0 + c));
            qk_x86_epi_finish4(e, m, n0 + c, y);
        }
    }
}

/* The member body for wb x ab (constants in each member file): rows [m0, m0 + mr) two at a time. */
QK_BSGEMM_AVX2_INLINE void qk_bsgemm_avx2(const qk_bsgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr,
                                          int wb, int ab) {
    assert(mr >= 1 && nr >= 1 && nr <= 8 && g->wbits == wb && g->abits == ab);
    for (; mr >= 2; mr -= 2, m0 += 2) qk_bsgemm_avx2_tile(g, m0, n0, nr, 2, wb, ab);
    if (mr == 1) qk_bsgemm_avx2_tile(g, m0, n0, nr, 1, wb, ab);
}
#endif
