/* qk_bgemm_neon.h — the body of the NEON bgemm member (ASIMD `cnt`, byte sums with the dot product
 * instructions; ISA neondot: FEAT_DotProd): up to 4 rows x 8
 * columns (one packed row group = four q registers of 2 rows x 64 k per plane). A row's words are
 * duplicated into both lanes.
 *   BINARY:   neg += udot(cnt(sa ^ sw), ones);             acc = K - 2 * neg
 *   SIGN_ACT: neg += udot(cnt(mw & (sa ^ sw)), ones);      acc = w_nonzero[n] - 2 * neg
 *   GENERAL: t = ma & mw, x = sa ^ sw, d = cnt(t & ~x) - cnt(t & x) (s8 in [-8, 8]),
 *            acc += sdot(d, ones)                          acc = sum d
 *            (= pc(t) - 2 pc(t & x): the general formula of qk_bgemm.h)
 * (udot/sdot against a vector of ones sums each 4 bytes into a 32-bit lane: three instructions per
 * 128 positions on the two fast paths, where widening pairwise adds would take four.) Each int32x4
 * accumulator holds two rows' partial sums as lane pairs; vpaddq folds them at the end. Full tiles
 * with f32 output finish in float32x4 lanes (qk_bgemm_neon_finish), the rest through the shared
 * scalar epilogue. Private. */
#pragma once
#if defined(__aarch64__)
#if !defined(__clang__)
/* GCC checks intrinsics' targets per translation unit (see qk_qgemm_neondot.h). */
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#include <arm_neon.h>
#include "qk_bgemm_tile.h"

#if defined(__clang__)
#define QK_BGEMM_NEON_TARGET "dotprod"
#else
#define QK_BGEMM_NEON_TARGET "arch=armv8.2-a+dotprod"
#endif
#define QK_BGEMM_NEON_INLINE static inline __attribute__((always_inline, target(QK_BGEMM_NEON_TARGET)))
#define QK_BGEMM_NEON_MR 4
#define QK_BGEMM_NEON_NR 8

/* Finishes rows m0..m0+mr (mr <= 4) x columns n0..n0+nr of acc = out[r][c]: full 8-column tiles with
 * f32 output and no or an f32 residual run the padding correction and the qgemm epilogue in two
 * float32x4 per row (mul, add bias, add residual, then FMAXNM / FMINNM, which treat NaN as fmaxf /
 * fminf do: the scalar epilogue's bits); the rest through the shared scalar finish. */
QK_BGEMM_NEON_INLINE void qk_bgemm_neon_finish(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr,
                                               int32_t out[4][8]) {
    const qk_epilogue* e = &g->epi;
    if (nr != 8 || e->output_kind != QK_OUTPUT_F32 || e->residual_kind == QK_RESIDUAL_U8) {
        qk_bgemm_finish_tile_scalar(g, m0, n0, mr, nr, &out[0][0], 8);
        return;
    }
    const float32x4_t s0 = vld1q_f32(e->scale + n0), s1 = vld1q_f32(e->scale + n0 + 4);
    const float32x4_t b0 = e->bias != NULL ? vld1q_f32(e->bias + n0) : vdupq_n_f32(0);
    const float32x4_t b1 = e->bias != NULL ? vld1q_f32(e->bias + n0 + 4) : vdupq_n_f32(0);
    const float32x4_t lo = vdupq_n_f32(e->clamp_lo), hi = vdupq_n_f32(e->clamp_hi);
    const int32_t* corr = g->path != QK_BGEMM_GENERAL ? g->corr : NULL;
    for (size_t r = 0; r < mr; r++) {
        const size_t m = m0 + r;
        int32x4_t a0 = vld1q_s32(out[r]), a1 = vld1q_s32(out[r] + 4);
        if (corr != NULL && g->corr_row[m] != QK_BGEMM_NO_CORRECTION) {
            const int32_t* c = corr + (size_t)g->corr_row[m] * g->N + n0;
            a0 = vsubq_s32(a0, vld1q_s32(c));
            a1 = vsubq_s32(a1, vld1q_s32(c + 4));
        }
        float32x4_t y0 = vmulq_f32(vcvtq_f32_s32(a0), s0), y1 = vmulq_f32(vcvtq_f32_s32(a1), s1);
        if (e->bias != NULL) {
            y0 = vaddq_f32(y0, b0);
            y1 = vaddq_f32(y1, b1);
        }
        if (e->residual_kind == QK_RESIDUAL_F32) {
            const float* res = (const float*)e->residual + m * e->ldr + n0;
            y0 = vaddq_f32(y0, vld1q_f32(res));
            y1 = vaddq_f32(y1, vld1q_f32(res + 4));
        }
        float* o = (float*)e->out + m * e->ldc + n0;
        vst1q_f32(o, vminnmq_f32(vmaxnmq_f32(y0, lo), hi));
        vst1q_f32(o + 4, vminnmq_f32(vmaxnmq_f32(y1, lo), hi));
    }
}

QK_BGEMM_NEON_INLINE void qk_bgemm_neon_tile(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                             size_t nr, int ROWS, int PATH) {
    const int TERNARY = PATH == QK_BGEMM_GENERAL;
    const size_t segs = qk_bgemm_segs(g), sw = qk_bgemm_seg_words(g);
    const uint64_t* w = qk_bgemm_group(g, n0);
    const uint8x16_t ones = vdupq_n_u8(1);
    int32x4_t acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    const uint64_t* rows[4];
    for (int r = 0; r < ROWS; r++) rows[r] = qk_bgemm_row(g, m0 + (size_t)r);
    for (size_t s = 0, j = 0; s < segs; s++) {
        const size_t off = qk_bgemm_piece_offset(g, s);
        const uint64_t* ap[4];
        for (int r = 0; r < ROWS; r++) ap[r] = rows[r] + off;
        for (size_t i = 0; i < sw; i++, j++) {
            const uint64_t* wj = w + j * QK_BGEMM_GROUP_WORDS;
            uint8x16_t mw[4], sw[4];
            for (int q = 0; q < 4; q++) {
                sw[q] = vreinterpretq_u8_u64(vld1q_u64(wj + 8 + 2 * q));
                mw[q] = PATH != QK_BGEMM_BINARY ? vreinterpretq_u8_u64(vld1q_u64(wj + 2 * q)) : sw[q];
            }
            for (int r = 0; r < ROWS; r++) {
                const uint8x16_t sa = vreinterpretq_u8_u64(vdupq_n_u64(ap[r][2 * i + 1]));
                if (TERNARY) {
                    const uint8x16_t ma = vreinterpretq_u8_u64(vdupq_n_u64(ap[r][2 * i]));
                    for (int q = 0; q < 4; q++) {
                        const uint8x16_t t = vandq_u8(mw[q], ma), x = veorq_u8(sw[q], sa);
                        const int8x16_t d = vsubq_s8(vreinterpretq_s8_u8(vcntq_u8(vbicq_u8(t, x))),
                                                     vreinterpretq_s8_u8(vcntq_u8(vandq_u8(t, x))));
                        acc[r][q] = vdotq_s32(acc[r][q], d, vreinterpretq_s8_u8(ones));
                    }
                } else {
                    for (int q = 0; q < 4; q++) {
                        uint8x16_t x = veorq_u8(sw[q], sa);
                        if (PATH == QK_BGEMM_SIGN_ACT) x = vandq_u8(x, mw[q]);
                        acc[r][q] = vreinterpretq_s32_u32(vdotq_u32(vreinterpretq_u32_s32(acc[r][q]), vcntq_u8(x), ones));
                    }
                }
            }
        }
    }
    int32_t out[4][8];
    for (int r = 0; r < ROWS; r++) {
        /* lanes (0,1) of acc[r][q] belong to column 2q, lanes (2,3) to column 2q + 1 */
        int32x4_t lo = vpaddq_s32(acc[r][0], acc[r][1]), hi = vpaddq_s32(acc[r][2], acc[r][3]);
        if (PATH == QK_BGEMM_BINARY) {
            const int32x4_t k = vdupq_n_s32((int32_t)g->K);
            lo = vsubq_s32(k, vshlq_n_s32(lo, 1));
            hi = vsubq_s32(k, vshlq_n_s32(hi, 1));
        } else if (PATH == QK_BGEMM_SIGN_ACT) {
            int32_t nz[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (size_t c = 0; c < nr; c++) nz[c] = g->w_nonzero[n0 + c];
            lo = vsubq_s32(vld1q_s32(nz), vshlq_n_s32(lo, 1));
            hi = vsubq_s32(vld1q_s32(nz + 4), vshlq_n_s32(hi, 1));
        }
        vst1q_s32(out[r], lo);
        vst1q_s32(out[r] + 4, hi);
    }
    qk_bgemm_neon_finish(g, m0, n0, (size_t)ROWS < mr ? (size_t)ROWS : mr, nr, out);
}

/* The member: rows [m0, m0 + mr) four at a time (mr may exceed MR: the driver passes row bands). */
QK_BGEMM_NEON_INLINE void qk_bgemm_neon(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                        size_t nr) {
    assert(mr >= 1 && nr >= 1 && nr <= QK_BGEMM_NEON_NR);
#define QK_BGEMM_NEON_ROWS(P)                                                 \
    for (; mr >= 4; mr -= 4, m0 += 4) qk_bgemm_neon_tile(g, m0, n0, 4, nr, 4, P); \
    switch (mr) {                                                             \
    case 0: break;                                                            \
    case 1: qk_bgemm_neon_tile(g, m0, n0, 1, nr, 1, P); break;                \
    case 2: qk_bgemm_neon_tile(g, m0, n0, 2, nr, 2, P); break;                \
    default: qk_bgemm_neon_tile(g, m0, n0, 3, nr, 3, P); break;               \
    }
    if (g->path == QK_BGEMM_BINARY) {
        QK_BGEMM_NEON_ROWS(QK_BGEMM_BINARY)
    } else if (g->path == QK_BGEMM_SIGN_ACT) {
        QK_BGEMM_NEON_ROWS(QK_BGEMM_SIGN_ACT)
    } else {
        QK_BGEMM_NEON_ROWS(QK_BGEMM_GENERAL)
    }
}
#endif
