/* qk_bgemm_avx2.h — the body of the AVX2 bgemm member: up to 2 rows x 8 columns (one packed row
 * group, two ymm of 4 rows x 64 k per plane) per call. AVX2 has no vector popcount: bytes are
 * counted through vpshufb nibble tables and summed per 64-bit lane with vpsadbw.
 *   BINARY:   neg += sad(pc8(sa ^ sw));                          acc = K - 2 * neg
 *   SIGN_ACT: neg += sad(pc8(mw & (sa ^ sw)));                   acc = w_nonzero[n] - 2 * neg
 *   GENERAL: t = ma & mw, x = sa ^ sw, p = t & ~x, q = t & x, one accumulator of
 *            sad(pc8(p) + (8 - pc8(q))) per lane: sum = pc(t) - 2 pc(t & x) + 64 per word,
 *            acc = sum - 64 * kw.  (pc8 = LUT[lo nibble] + LUT[hi nibble]; 8 - pc8 uses the table
 *            4 - popcount(nibble) twice, so every byte stays in [0, 16] for vpsadbw.)
 * The tile finishes in 8 float lanes for f32 output (qk_bgemm_avx2_finish), else through the shared
 * scalar epilogue. Private. */
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include "qk_bgemm_tile.h"

#define QK_BGEMM_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))
#define QK_BGEMM_AVX2_MR 2
#define QK_BGEMM_AVX2_NR 8

/* Per-byte table sum lut[lo nibble] + lut[hi nibble] of v. */
QK_BGEMM_AVX2_INLINE __m256i qk_bgemm_avx2_nibbles(__m256i v, __m256i lut) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low)),
                           _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
}

/* Finishes rows m0..m0+mr (mr <= 2) x columns n0..n0+nr (nr <= 8) of acc = out[r][c]: for f32
 * output with no or an f32 residual, the padding correction and the qgemm epilogue in 8 float lanes
 * (mul, add bias, add residual, maxps/minps with the constant second, as fmaxf/fminf treat NaN:
 * the scalar epilogue's bits); other outputs through the shared scalar finish. */
QK_BGEMM_AVX2_INLINE void qk_bgemm_avx2_finish(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr,
                                               int32_t out[2][8]) {
    const qk_epilogue* e = &g->epi;
    if (e->output_kind != QK_OUTPUT_F32 || e->residual_kind == QK_RESIDUAL_U8) {
        qk_bgemm_finish_tile_scalar(g, m0, n0, mr, nr, &out[0][0], 8);
        return;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)nr), lane); /* lanes < nr */
    const __m256 scale = _mm256_maskload_ps(e->scale + n0, k);
    const __m256 bias = e->bias != NULL ? _mm256_maskload_ps(e->bias + n0, k) : _mm256_setzero_ps();
    const __m256 lo = _mm256_set1_ps(e->clamp_lo), hi = _mm256_set1_ps(e->clamp_hi);
    const int32_t* corr = g->path != QK_BGEMM_GENERAL ? g->corr : NULL;
    for (size_t r = 0; r < mr; r++) {
        const size_t m = m0 + r;
        __m256i a = _mm256_loadu_si256((const __m256i*)out[r]);
        if (corr != NULL && g->corr_row[m] != QK_BGEMM_NO_CORRECTION)
            a = _mm256_sub_epi32(a, _mm256_maskload_epi32(corr + (size_t)g->corr_row[m] * g->N + n0, k));
        __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(a), scale);
        if (e->bias != NULL) y = _mm256_add_ps(y, bias);
        if (e->residual_kind == QK_RESIDUAL_F32)
            y = _mm256_add_ps(y, _mm256_maskload_ps((const float*)e->residual + m * e->ldr + n0, k));
        y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
        _mm256_maskstore_ps((float*)e->out + m * e->ldc + n0, k, y);
    }
}

QK_BGEMM_AVX2_INLINE void qk_bgemm_avx2_tile(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                             size_t nr, int ROWS, int PATH) {
    const int TERNARY = PATH == QK_BGEMM_GENERAL;
    const __m256i pos = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i cneg = _mm256_setr_epi8(4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0,
                                          4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0);
    const size_t kw = g->kw, segs = qk_bgemm_segs(g), sw = qk_bgemm_seg_words(g);
    const uint64_t* w = qk_bgemm_group(g, n0);
    __m256i acc[2][2];
    for (int r = 0; r < 2; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const uint64_t* rows[2];
    for (int r = 0; r < ROWS; r++) rows[r] = qk_bgemm_row(g, m0 + (size_t)r);
    for (size_t s = 0, j = 0; s < segs; s++) {
        const size_t off = qk_bgemm_piece_offset(g, s);
        const uint64_t* ap[2];
        for (int r = 0; r < ROWS; r++) ap[r] = rows[r] + off;
        for (size_t i = 0; i < sw; i++, j++) {
            const uint64_t* wj = w + j * QK_BGEMM_GROUP_WORDS;
            const __m256i sw0 = _mm256_loadu_si256((const __m256i*)(wj + 8));
            const __m256i sw1 = _mm256_loadu_si256((const __m256i*)(wj + 12));
            __m256i mw0 = sw0, mw1 = sw1;
            if (PATH != QK_BGEMM_BINARY) {
                mw0 = _mm256_loadu_si256((const __m256i*)wj);
                mw1 = _mm256_loadu_si256((const __m256i*)(wj + 4));
            }
            for (int r = 0; r < ROWS; r++) {
                const __m256i sa = _mm256_set1_epi64x((long long)ap[r][2 * i + 1]);
                const __m256i x0 = _mm256_xor_si256(sw0, sa), x1 = _mm256_xor_si256(sw1, sa);
                __m256i c0, c1;
                if (TERNARY) {
                    const __m256i ma = _mm256_set1_epi64x((long long)ap[r][2 * i]);
                    const __m256i t0 = _mm256_and_si256(mw0, ma), t1 = _mm256_and_si256(mw1, ma);
                    c0 = _mm256_add_epi8(qk_bgemm_avx2_nibbles(_mm256_andnot_si256(x0, t0), pos),
                                         qk_bgemm_avx2_nibbles(_mm256_and_si256(x0, t0), cneg));
                    c1 = _mm256_add_epi8(qk_bgemm_avx2_nibbles(_mm256_andnot_si256(x1, t1), pos),
                                         qk_bgemm_avx2_nibbles(_mm256_and_si256(x1, t1), cneg));
                } else if (PATH == QK_BGEMM_SIGN_ACT) {
                    c0 = qk_bgemm_avx2_nibbles(_mm256_and_si256(x0, mw0), pos);
                    c1 = qk_bgemm_avx2_nibbles(_mm256_and_si256(x1, mw1), pos);
                } else {
                    c0 = qk_bgemm_avx2_nibbles(x0, pos);
                    c1 = qk_bgemm_avx2_nibbles(x1, pos);
                }
                acc[r][0] = _mm256_add_epi64(acc[r][0], _mm256_sad_epu8(c0, _mm256_setzero_si256()));
                acc[r][1] = _mm256_add_epi64(acc[r][1], _mm256_sad_epu8(c1, _mm256_setzero_si256()));
            }
        }
    }
    int64_t lanes[2][8];
    for (int r = 0; r < ROWS; r++) {
        _mm256_storeu_si256((__m256i*)lanes[r], acc[r][0]);
        _mm256_storeu_si256((__m256i*)(lanes[r] + 4), acc[r][1]);
    }
    int32_t out[2][8];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < 8; c++)
            out[r][c] = TERNARY ? (int32_t)(lanes[r][c] - 64 * (int64_t)kw)
                      : PATH == QK_BGEMM_SIGN_ACT
                          ? ((size_t)c < nr ? g->w_nonzero[n0 + (size_t)c] : 0) - 2 * (int32_t)lanes[r][c]
                          : (int32_t)g->K - 2 * (int32_t)lanes[r][c];
    qk_bgemm_avx2_finish(g, m0, n0, (size_t)ROWS < mr ? (size_t)ROWS : mr, nr, out);
}

/* The member: rows [m0, m0 + mr) two at a time (mr may exceed MR: the driver passes row bands). */
QK_BGEMM_AVX2_INLINE void qk_bgemm_avx2(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                        size_t nr) {
    assert(mr >= 1 && nr >= 1 && nr <= QK_BGEMM_AVX2_NR);
    for (; mr > 0; m0 += QK_BGEMM_AVX2_MR, mr = mr > QK_BGEMM_AVX2_MR ? mr - QK_BGEMM_AVX2_MR : 0) {
        const size_t rows_left = mr < QK_BGEMM_AVX2_MR ? mr : QK_BGEMM_AVX2_MR;
        switch (g->path * 2 + (int)rows_left) {
        case QK_BGEMM_GENERAL * 2 + 1: qk_bgemm_avx2_tile(g, m0, n0, 1, nr, 1, QK_BGEMM_GENERAL); break;
        case QK_BGEMM_GENERAL * 2 + 2: qk_bgemm_avx2_tile(g, m0, n0, 2, nr, 2, QK_BGEMM_GENERAL); break;
        case QK_BGEMM_SIGN_ACT * 2 + 1: qk_bgemm_avx2_tile(g, m0, n0, 1, nr, 1, QK_BGEMM_SIGN_ACT); break;
        case QK_BGEMM_SIGN_ACT * 2 + 2: qk_bgemm_avx2_tile(g, m0, n0, 2, nr, 2, QK_BGEMM_SIGN_ACT); break;
        case QK_BGEMM_BINARY * 2 + 1: qk_bgemm_avx2_tile(g, m0, n0, 1, nr, 1, QK_BGEMM_BINARY); break;
        default: qk_bgemm_avx2_tile(g, m0, n0, 2, nr, 2, QK_BGEMM_BINARY); break;
        }
    }
}
#endif
