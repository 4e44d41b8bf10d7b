/* qk_bgemm_avx512.h — the body of the AVX-512 bgemm member (F/BW/VL/DQ + VPOPCNTDQ, detected with
 * the avx512vnni level): up to 4 rows x 16 columns (two packed row groups) per call.
 * One zmm holds one plane of a group at one k-word (8 rows x 64 k, a 64-bit lane per output
 * channel); a row's mask and sign words enter as embedded 64-bit broadcasts, so every lane
 * accumulates one finished output and no horizontal sum is needed:
 *   GENERAL:  t = ma & mw (vpandq), u = t & (sa ^ sw) (one vpternlogq, imm 0x60 = A & (B ^ C)),
 *             nz += vpopcntq(t), neg += vpopcntq(u);  acc = nz - 2 * neg
 *   SIGN_ACT: neg += vpopcntq(mw & (sa ^ sw)) (one vpternlogq); acc = w_nonzero[n] - 2 * neg
 *   BINARY:   neg += vpopcntq(sa ^ sw);               acc = K - 2 * neg
 * The epilogue narrows the two groups' int64 lanes to 16 int32 (vpmovqd), subtracts the padding
 * correction and, for f32 output with no or an f32 residual, reproduces qk_qgemm_epilogue in 16 float lanes
 * (mul, add bias, add residual, maxps/minps with the constant second, as fmaxf/fminf treat NaN);
 * u8 output or u8 residual go through the shared scalar epilogue. Private. */
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include "qk_bgemm_tile.h"

#define QK_BGEMM_AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,avx2,fma"
#define QK_BGEMM_AVX512_INLINE static inline __attribute__((always_inline, target(QK_BGEMM_AVX512_TARGET)))
#define QK_BGEMM_AVX512_MR 4
#define QK_BGEMM_AVX512_NR 16

/* Columns [n, n + cols) (cols <= 16) of row m from two vectors of 8 int64 accumulators (columns
 * n..n+7, n+8..n+15): narrow to 16 int32 lanes, correction, epilogue, masked store. */
QK_BGEMM_AVX512_INLINE void qk_bgemm_avx512_finish16(const qk_bgemm_args* g, size_t m, size_t n,
                                                     size_t cols, __m512i lo64, __m512i hi64) {
    const __mmask16 k = (__mmask16)(cols >= 16 ? 0xFFFFu : (1u << cols) - 1u);
    __m512i acc = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo64)),
                                     _mm512_cvtepi64_epi32(hi64), 1);
    if (g->path != QK_BGEMM_GENERAL && g->corr != NULL) {
        const int32_t* c = g->corr + (size_t)g->corr_row[m] * g->N + n;
        acc = _mm512_sub_epi32(acc, _mm512_maskz_loadu_epi32(k, c));
    }
    const qk_epilogue* e = &g->epi;
    if (e->output_kind == QK_OUTPUT_I32) {
        _mm512_mask_storeu_epi32((int32_t*)e->out + m * e->ldc + n, k, acc);
        return;
    }
    if (e->output_kind != QK_OUTPUT_F32 || e->residual_kind == QK_RESIDUAL_U8) {
        int32_t v[16];
        _mm512_storeu_si512(v, acc);
        for (size_t j = 0; j < cols; j++) qk_qgemm_epilogue(e, m, n + j, v[j]);
        return;
    }
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_maskz_loadu_ps(k, e->scale + n));
    if (e->bias != NULL) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(k, e->bias + n));
    if (e->residual_kind == QK_RESIDUAL_F32)
        y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(k, (const float*)e->residual + m * e->ldr + n));
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(e->clamp_lo)), _mm512_set1_ps(e->clamp_hi));
    _mm512_mask_storeu_ps((float*)e->out + m * e->ldc + n, k, y);
}

/* ROWS (1..4) rows from m0, columns n0..n0+nr (nr <= 16); ROWS and PATH (qk_bgemm_path) constant. */
QK_BGEMM_AVX512_INLINE void qk_bgemm_avx512_tile(const qk_bgemm_args* g, size_t m0, size_t n0,
                                                 size_t nr, int ROWS, int PATH) {
    const size_t kw = g->kw, segs = qk_bgemm_segs(g), sw = qk_bgemm_seg_words(g);
    const uint64_t* w0 = qk_bgemm_group(g, n0);
    /* A tile of <= 8 columns computes its group twice rather than read a group that may not exist. */
    const uint64_t* w1 = nr > QK_BGEMM_ROW_GROUP ? w0 + kw * QK_BGEMM_GROUP_WORDS : w0;
    __m512i nz[4][2], neg[4][2];
    for (int r = 0; r < 4; r++)
        for (int h = 0; h < 2; h++) nz[r][h] = neg[r][h] = _mm512_setzero_si512();
    const uint64_t* rows[4];
    for (int r = 0; r < ROWS; r++) rows[r] = qk_bgemm_row(g, m0 + (size_t)r);
    for (size_t s = 0, j = 0; s < segs; s++) {
        const size_t off = qk_bgemm_piece_offset(g, s);
        const uint64_t* ap[4];
        for (int r = 0; r < ROWS; r++) ap[r] = rows[r] + off;
        for (size_t i = 0; i < sw; i++, j++) {
            const size_t o = j * QK_BGEMM_GROUP_WORDS;
            const __m512i sw0 = _mm512_loadu_si512(w0 + o + 8), sw1 = _mm512_loadu_si512(w1 + o + 8);
            if (PATH == QK_BGEMM_GENERAL) {
                const __m512i mw0 = _mm512_loadu_si512(w0 + o), mw1 = _mm512_loadu_si512(w1 + o);
                for (int r = 0; r < ROWS; r++) {
                    const __m512i ma = _mm512_set1_epi64((long long)ap[r][2 * i]);
                    const __m512i sa = _mm512_set1_epi64((long long)ap[r][2 * i + 1]);
                    const __m512i t0 = _mm512_and_si512(mw0, ma), t1 = _mm512_and_si512(mw1, ma);
                    nz[r][0] = _mm512_add_epi64(nz[r][0], _mm512_popcnt_epi64(t0));
                    nz[r][1] = _mm512_add_epi64(nz[r][1], _mm512_popcnt_epi64(t1));
                    neg[r][0] = _mm512_add_epi64(
                        neg[r][0], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(t0, sw0, sa, 0x60)));
                    neg[r][1] = _mm512_add_epi64(
                        neg[r][1], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(t1, sw1, sa, 0x60)));
                }
            } else if (PATH == QK_BGEMM_SIGN_ACT) {
                const __m512i mw0 = _mm512_loadu_si512(w0 + o), mw1 = _mm512_loadu_si512(w1 + o);
                for (int r = 0; r < ROWS; r++) {
                    const __m512i sa = _mm512_set1_epi64((long long)ap[r][2 * i + 1]);
                    neg[r][0] = _mm512_add_epi64(
                        neg[r][0], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(mw0, sw0, sa, 0x60)));
                    neg[r][1] = _mm512_add_epi64(
                        neg[r][1], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(mw1, sw1, sa, 0x60)));
                }
            } else {
                for (int r = 0; r < ROWS; r++) {
                    const __m512i sa = _mm512_set1_epi64((long long)ap[r][2 * i + 1]);
                    neg[r][0] = _mm512_add_epi64(neg[r][0], _mm512_popcnt_epi64(_mm512_xor_si512(sw0, sa)));
                    neg[r][1] = _mm512_add_epi64(neg[r][1], _mm512_popcnt_epi64(_mm512_xor_si512(sw1, sa)));
                }
            }
        }
    }
    __m512i base[2] = {_mm512_set1_epi64((long long)g->K), _mm512_set1_epi64((long long)g->K)};
    if (PATH == QK_BGEMM_SIGN_ACT) {
        for (int h = 0; h < 2 && (size_t)h * QK_BGEMM_ROW_GROUP < nr; h++) {
            const size_t left = nr - (size_t)h * QK_BGEMM_ROW_GROUP;
            const __mmask8 k = (__mmask8)(left >= 8 ? 0xFF : (1u << left) - 1u);
            base[h] = _mm512_cvtepi32_epi64(
                _mm256_maskz_loadu_epi32(k, g->w_nonzero + n0 + (size_t)h * QK_BGEMM_ROW_GROUP));
        }
    }
    for (int r = 0; r < ROWS; r++) {
        __m512i acc[2];
        for (int h = 0; h < 2; h++) {
            const __m512i b = PATH == QK_BGEMM_GENERAL ? nz[r][h] : base[h];
            acc[h] = _mm512_sub_epi64(b, _mm512_add_epi64(neg[r][h], neg[r][h]));
        }
        qk_bgemm_avx512_finish16(g, m0 + (size_t)r, n0, nr, acc[0], acc[1]);
    }
}

/* One compiled body per row count for path P. */
#define QK_BGEMM_AVX512_ROWS(P)                                       \
    switch (mr) {                                                     \
    case 1: qk_bgemm_avx512_tile(g, m0, n0, nr, 1, P); break;        \
    case 2: qk_bgemm_avx512_tile(g, m0, n0, nr, 2, P); break;        \
    case 3: qk_bgemm_avx512_tile(g, m0, n0, nr, 3, P); break;        \
    default: qk_bgemm_avx512_tile(g, m0, n0, nr, 4, P); break;       \
    }

/* The member: one compiled body per (row count, path). */
QK_BGEMM_AVX512_INLINE void qk_bgemm_avx512(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                            size_t nr) {
    assert(mr >= 1 && mr <= QK_BGEMM_AVX512_MR && nr >= 1 && nr <= QK_BGEMM_AVX512_NR);
    if (g->path == QK_BGEMM_BINARY) {
        QK_BGEMM_AVX512_ROWS(QK_BGEMM_BINARY)
    } else if (g->path == QK_BGEMM_SIGN_ACT) {
        QK_BGEMM_AVX512_ROWS(QK_BGEMM_SIGN_ACT)
    } else {
        QK_BGEMM_AVX512_ROWS(QK_BGEMM_GENERAL)
    }
}
#endif
