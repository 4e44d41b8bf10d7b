/* qk_bgemm_avx512.h — the body of the AVX-512 bgemm member (ISA avx512vpopcntdq: F/BW/VL/DQ +
 * VPOPCNTDQ): up to 4 rows x 32 columns (four packed row groups) per call.
 * One zmm holds one plane of a group at one k-word (8 rows x 64 k, a 64-bit lane per output
 * channel); a row's sign (and mask) word is broadcast once per k-word and reused by every group,
 * so every lane accumulates one finished output and no horizontal sum is needed:
 *   BINARY:   neg += vpopcntq(sa ^ sw);               acc = K - 2 * neg
 *   SIGN_ACT: neg += vpopcntq(mw & (sa ^ sw)) (one vpternlogq, imm 0x60 = A & (B ^ C));
 *             acc = w_nonzero[n] - 2 * neg
 *   GENERAL:  t = ma & mw (vpandq), u = t & (sa ^ sw) (vpternlogq), nz += vpopcntq(t),
 *             neg += vpopcntq(u);  acc = nz - 2 * neg
 * BINARY and SIGN_ACT keep 4 rows x 4 groups = 16 accumulators (per k-word: 4 weight loads, 4
 * broadcasts, 16 x (xor/ternlog, popcount, add)); GENERAL needs two accumulators per output, so it
 * runs the tile as two passes of two groups. The finish narrows each pair of groups' int64 lanes to
 * 16 int32 (one vpermt2d), loads that pair's scale and bias once per tile, subtracts the padding
 * correction and,
 * for f32 output with no or an f32 residual, reproduces qk_qgemm_epilogue in 16 float lanes (mul,
 * add bias, add residual, maxps/minps with the constant second, as fmaxf/fminf treat NaN); u8
 * output or a u8 residual go through the shared scalar epilogue. Private. */
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include "qk_bgemm_tile.h"

#include "qk_ukernels.h"
#define QK_BGEMM_AVX512_TARGET QK_TARGET_AVX512VPOPCNTDQ
#define QK_BGEMM_AVX512_INLINE static inline __attribute__((always_inline, target(QK_BGEMM_AVX512_TARGET)))
/* Loops over rows, groups and column pairs have constant bounds: unrolled, so the accumulators stay in
 * registers (without it clang keeps them on the stack in the finish). */
#define QK_BGEMM_AVX512_UNROLL _Pragma("clang loop unroll(full)")
#define QK_BGEMM_AVX512_MR 4
/** Packed row groups per tile (columns = 8 per group). */
#define QK_BGEMM_AVX512_GROUPS 4
#define QK_BGEMM_AVX512_NR (QK_BGEMM_AVX512_GROUPS * QK_BGEMM_ROW_GROUP)

/* The low int32 of each int64 lane of lo (lanes 0..7) then hi (lanes 8..15): one vpermt2d. The sums
 * fit int32 (|acc| <= K), so this is the narrowing. */
QK_BGEMM_AVX512_INLINE __m512i qk_bgemm_avx512_narrow(__m512i lo, __m512i hi) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_epi32(lo, even, hi);
}

/* Finishes columns [n, n + cols) (1 <= cols <= 16) of ROWS rows from m0: acc[r] = row r's 16 int32
 * sums before the padding correction. */
QK_BGEMM_AVX512_INLINE void qk_bgemm_avx512_finish(const qk_bgemm_args* g, size_t m0, size_t n, size_t cols,
                                                   int ROWS, const __m512i acc[4]) {
    const __mmask16 k = (__mmask16)(cols >= 16 ? 0xFFFFu : (1u << cols) - 1u);
    const qk_epilogue* e = &g->epi;
    /* Read once: the stores below could alias the epilogue fields as far as the compiler knows. */
    const int32_t* corr = g->path != QK_BGEMM_GENERAL ? g->corr : NULL;
    const uint16_t* corr_row = g->corr_row;
    const size_t N = g->N, ldc = e->ldc, ldr = e->ldr;
    const qk_output_kind out_kind = e->output_kind;
    const qk_residual_kind residual_kind = e->residual_kind;
    const float* bias_ptr = e->bias;
    const float* residual = (const float*)e->residual;
    void* out = e->out;
    const int vector_f32 = out_kind == QK_OUTPUT_F32 && residual_kind != QK_RESIDUAL_U8;
    __m512 scale = _mm512_setzero_ps(), bias = _mm512_setzero_ps();
    if (vector_f32) {
        scale = _mm512_maskz_loadu_ps(k, e->scale + n);
        if (bias_ptr != NULL) bias = _mm512_maskz_loadu_ps(k, bias_ptr + n);
    }
    const __m512 lo_clamp = _mm512_set1_ps(e->clamp_lo), hi_clamp = _mm512_set1_ps(e->clamp_hi);
    QK_BGEMM_AVX512_UNROLL
    for (int r = 0; r < ROWS; r++) {
        const size_t m = m0 + (size_t)r;
        __m512i a = acc[r];
        if (corr != NULL && corr_row[m] != QK_BGEMM_NO_CORRECTION)
            a = _mm512_sub_epi32(a, _mm512_maskz_loadu_epi32(k, corr + (size_t)corr_row[m] * N + n));
        if (out_kind == QK_OUTPUT_I32) {
            _mm512_mask_storeu_epi32((int32_t*)out + m * ldc + n, k, a);
        } else if (!vector_f32) {
            int32_t v[16];
            _mm512_storeu_si512(v, a);
            for (size_t j = 0; j < cols; j++) qk_qgemm_epilogue(e, m, n + j, v[j]);
        } else {
            __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(a), scale);
            if (bias_ptr != NULL) y = _mm512_add_ps(y, bias);
            if (residual_kind == QK_RESIDUAL_F32) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(k, residual + m * ldr + n));
            y = _mm512_min_ps(_mm512_max_ps(y, lo_clamp), hi_clamp);
            _mm512_mask_storeu_ps((float*)out + m * ldc + n, k, y);
        }
    }
}

/* ROWS (1..4) rows from m0 x GROUPS (2 or 4) row groups from n0 (columns n0..n0+nr, nr <= 8 *
 * GROUPS; groups past nr recompute the last real group and are dropped). ROWS, GROUPS and PATH
 * (qk_bgemm_path) are constants, so every array below lives in registers. woff: kw word offsets
 * (qk_bgemm_avx512 builds them once per call from the row's pieces). */
QK_BGEMM_AVX512_INLINE void qk_bgemm_avx512_tile(const qk_bgemm_args* g, size_t m0, size_t n0, size_t nr,
                                                 int ROWS, int GROUPS, int PATH, const size_t* woff) {
    const size_t kw = g->kw;
    const size_t real_groups = (nr + QK_BGEMM_ROW_GROUP - 1) / QK_BGEMM_ROW_GROUP;
    const uint64_t* w[4];
    QK_BGEMM_AVX512_UNROLL
    for (int h = 0; h < GROUPS; h++)
        w[h] = qk_bgemm_group(g, n0) + ((size_t)h < real_groups ? (size_t)h : real_groups - 1) * kw * QK_BGEMM_GROUP_WORDS;
    __m512i nz[4][4], neg[4][4];
    QK_BGEMM_AVX512_UNROLL
    for (int r = 0; r < ROWS; r++)
        QK_BGEMM_AVX512_UNROLL
        for (int h = 0; h < GROUPS; h++) nz[r][h] = neg[r][h] = _mm512_setzero_si512();
    const uint64_t* rows[4];
    QK_BGEMM_AVX512_UNROLL
    for (int r = 0; r < ROWS; r++) rows[r] = qk_bgemm_row(g, m0 + (size_t)r);
    /* one flat loop over the k-words; woff[j] = the offset of word j's (mask, sign) pair in a row */
    for (size_t j = 0; j < kw; j++) {
        const size_t o = j * QK_BGEMM_GROUP_WORDS;
        __m512i sw[4], mw[4];
        QK_BGEMM_AVX512_UNROLL
        for (int h = 0; h < GROUPS; h++) {
            sw[h] = _mm512_loadu_si512(w[h] + o + QK_BGEMM_ROW_GROUP);
            if (PATH != QK_BGEMM_BINARY) mw[h] = _mm512_loadu_si512(w[h] + o);
        }
        QK_BGEMM_AVX512_UNROLL
        for (int r = 0; r < ROWS; r++) {
            const uint64_t* pair = rows[r] + woff[j];
            const __m512i sa = _mm512_set1_epi64((long long)pair[1]);
            if (PATH == QK_BGEMM_BINARY) {
                QK_BGEMM_AVX512_UNROLL
                for (int h = 0; h < GROUPS; h++)
                    neg[r][h] = _mm512_add_epi64(neg[r][h], _mm512_popcnt_epi64(_mm512_xor_si512(sw[h], sa)));
            } else if (PATH == QK_BGEMM_SIGN_ACT) {
                QK_BGEMM_AVX512_UNROLL
                for (int h = 0; h < GROUPS; h++)
                    neg[r][h] = _mm512_add_epi64(
                        neg[r][h], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(mw[h], sw[h], sa, 0x60)));
            } else {
                const __m512i ma = _mm512_set1_epi64((long long)pair[0]);
                QK_BGEMM_AVX512_UNROLL
                for (int h = 0; h < GROUPS; h++) {
                    const __m512i t = _mm512_and_si512(mw[h], ma);
                    nz[r][h] = _mm512_add_epi64(nz[r][h], _mm512_popcnt_epi64(t));
                    neg[r][h] = _mm512_add_epi64(
                        neg[r][h], _mm512_popcnt_epi64(_mm512_ternarylogic_epi64(t, sw[h], sa, 0x60)));
                }
            }
        }
    }
    /* acc = base - 2 * neg in int32 lanes, base = K (BINARY), w_nonzero (SIGN_ACT) or nz (GENERAL) */
    QK_BGEMM_AVX512_UNROLL
    for (int p = 0; 2 * p < GROUPS; p++) {
        if ((size_t)(16 * p) >= nr) break;
        const size_t left = nr - (size_t)(16 * p), cols = left < 16 ? left : 16;
        __m512i base = _mm512_set1_epi32((int32_t)g->K);
        if (PATH == QK_BGEMM_SIGN_ACT)
            base = _mm512_maskz_loadu_epi32((__mmask16)(cols >= 16 ? 0xFFFFu : (1u << cols) - 1u),
                                            g->w_nonzero + n0 + (size_t)(16 * p));
        __m512i acc[4];
        QK_BGEMM_AVX512_UNROLL
        for (int r = 0; r < ROWS; r++) {
            const __m512i twice = qk_bgemm_avx512_narrow(neg[r][2 * p], neg[r][2 * p + 1]);
            const __m512i b = PATH == QK_BGEMM_GENERAL ? qk_bgemm_avx512_narrow(nz[r][2 * p], nz[r][2 * p + 1]) : base;
            acc[r] = _mm512_sub_epi32(b, _mm512_add_epi32(twice, twice));
        }
        qk_bgemm_avx512_finish(g, m0, n0 + (size_t)(16 * p), cols, ROWS, acc);
    }
}

/* One tile of `rows` rows for path P: one pass of four groups, or (GENERAL, two accumulators per
 * output) two passes of two groups. */
#define QK_BGEMM_AVX512_PASSES(ROWS, P)                                                          \
    do {                                                                                         \
        if ((P) != QK_BGEMM_GENERAL) {                                                           \
            qk_bgemm_avx512_tile(g, m0, n0, nr, ROWS, 4, P, woff);                                     \
        } else {                                                                                 \
            qk_bgemm_avx512_tile(g, m0, n0, nr < 16 ? nr : 16, ROWS, 2, P, woff);                      \
            if (nr > 16) qk_bgemm_avx512_tile(g, m0, n0 + 16, nr - 16, ROWS, 2, P, woff);              \
        }                                                                                        \
    } while (0)

/* Rows [m0, m0 + mr) four at a time (mr may exceed MR: the driver passes row bands). */
#define QK_BGEMM_AVX512_ROWS(P)                                      \
    for (; mr >= 4; mr -= 4, m0 += 4) QK_BGEMM_AVX512_PASSES(4, P);  \
    switch (mr) {                                                    \
    case 0: break;                                                   \
    case 1: QK_BGEMM_AVX512_PASSES(1, P); break;                     \
    case 2: QK_BGEMM_AVX512_PASSES(2, P); break;                     \
    default: QK_BGEMM_AVX512_PASSES(3, P); break;                    \
    }

/* The member: one compiled body per (row count, path). */
QK_BGEMM_AVX512_INLINE void qk_bgemm_avx512(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                            size_t nr) {
    assert(mr >= 1 && nr >= 1 && nr <= QK_BGEMM_AVX512_NR);
    size_t woff[g->kw > 0 ? g->kw : 1]; /* kw <= QK_MAX_K / 64 + taps: a few KB at most */
    for (size_t s = 0, j = 0; s < qk_bgemm_segs(g); s++)
        for (size_t i = 0; i < qk_bgemm_seg_words(g); i++, j++) woff[j] = qk_bgemm_piece_offset(g, s) + 2 * i;
    if (g->path == QK_BGEMM_BINARY) {
        QK_BGEMM_AVX512_ROWS(QK_BGEMM_BINARY)
    } else if (g->path == QK_BGEMM_SIGN_ACT) {
        QK_BGEMM_AVX512_ROWS(QK_BGEMM_SIGN_ACT)
    } else {
        QK_BGEMM_AVX512_ROWS(QK_BGEMM_GENERAL)
    }
}
#endif
