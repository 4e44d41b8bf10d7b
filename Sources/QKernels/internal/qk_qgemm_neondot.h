/* qk_qgemm_neondot.h — the body of the NEON dot-product qgemm members (aarch64 + FEAT_DotProd, e.g.
 * Cortex-A76/A78/X1/A55): 4x4 output tile, 32 codes (one packed block) per step, lanes along K.
 * sdot multiplies s8 x s8 only, so activations enter as a - 128 (an eor with 0x80) and the
 * epilogue adds 128 * colsum[n] back: acc' = sum (a - 128) w + (128 - za) colsum[n], exact in
 * int32. Codes are expanded with tbl (vqtbl1q_s8) from the per-layer table. The epilogue uses
 * fmaxnm/fminnm (NaN behaves as fmaxf/fminf) and fcvtns (round half to even). Private. */
#pragma once
#if defined(__aarch64__)
#if !defined(__clang__)
/* GCC checks intrinsics' targets per translation unit and accepts only a full arch string here:
 * enable dotprod for the member files (they run only after dispatch has seen HWCAP_ASIMDDP). */
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#include <arm_neon.h>
#include <assert.h>
#include <string.h>
#include "qk_decode.h"
#include "qk_epilogue.h"

#define QK_NEONDOT_MR 4
#define QK_NEONDOT_NR 4
#if defined(__clang__)
#define QK_NEONDOT_TARGET "dotprod"
#else
#define QK_NEONDOT_TARGET "arch=armv8.2-a+dotprod"
#endif
#define QK_NEON_INLINE static inline __attribute__((always_inline, target(QK_NEONDOT_TARGET)))

/* Codes 0..31 of a 1-bit plane (4 bytes; code i = bit i/4 of byte i%4) as bytes 0/1. */
QK_NEON_INLINE void qk_neon_bitplane(const uint8_t* p, uint8x16_t* c0, uint8x16_t* c1) {
    uint32_t word;
    memcpy(&word, p, 4);
    const uint8x16_t x = vreinterpretq_u8_u32(vdupq_n_u32(word));
    static const uint8_t bit_lo[16] = {1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8};
    static const uint8_t bit_hi[16] = {16, 16, 16, 16, 32, 32, 32, 32, 64, 64, 64, 64, 128, 128, 128, 128};
    const uint8x16_t one = vdupq_n_u8(1);
    *c0 = vandq_u8(vtstq_u8(x, vld1q_u8(bit_lo)), one);
    *c1 = vandq_u8(vtstq_u8(x, vld1q_u8(bit_hi)), one);
}

/* Codes 0..31 of a 2-bit plane (8 bytes; code i = bits 2*(i/8) of byte i%8). */
QK_NEON_INLINE void qk_neon_twobit(const uint8_t* p, uint8x16_t* c0, uint8x16_t* c1) {
    const uint8x8_t x = vld1_u8(p);
    const uint8x16_t three = vdupq_n_u8(3);
    *c0 = vandq_u8(vcombine_u8(x, vshr_n_u8(x, 2)), three);
    *c1 = vandq_u8(vcombine_u8(vshr_n_u8(x, 4), vshr_n_u8(x, 6)), three);
}

/* The 32 int8 weights of one packed block: w0 = k 0..15, w1 = k 16..31. */
QK_NEON_INLINE void qk_neon_decode_block(const uint8_t* blk, int bits, int8x16_t lut, int8x16_t* w0,
                                         int8x16_t* w1) {
    uint8x16_t c0, c1;
    switch (bits) {
    case 8:
        *w0 = vld1q_s8((const int8_t*)blk);
        *w1 = vld1q_s8((const int8_t*)blk + QK_HALF8_OFFSET);
        return;
    case 4: {
        const uint8x16_t x = vld1q_u8(blk);
        c0 = vandq_u8(x, vdupq_n_u8(0x0F));
        c1 = vshrq_n_u8(x, 4);
        break;
    }
    case 3: {
        uint8x16_t h0, h1;
        qk_neon_twobit(blk, &c0, &c1);
        qk_neon_bitplane(blk + 8, &h0, &h1);
        c0 = vorrq_u8(c0, vshlq_n_u8(h0, 2));
        c1 = vorrq_u8(c1, vshlq_n_u8(h1, 2));
        break;
    }
    case 2: qk_neon_twobit(blk, &c0, &c1); break;
    default: qk_neon_bitplane(blk, &c0, &c1); break;
    }
    *w0 = vqtbl1q_s8(lut, c0);
    *w1 = vqtbl1q_s8(lut, c1);
}

/* One 32-code step over activations already offset to s8. */
QK_NEON_INLINE void qk_neon_step(int32x4_t acc[QK_NEONDOT_MR][QK_NEONDOT_NR],
                                 const int8x16_t a0[QK_NEONDOT_MR], const int8x16_t a1[QK_NEONDOT_MR],
                                 const uint8_t* const w[QK_NEONDOT_NR], size_t block, int bits,
                                 int8x16_t lut) {
    for (int j = 0; j < QK_NEONDOT_NR; j++) {
        int8x16_t w0, w1;
        qk_neon_decode_block(w[j] + block * QK_ROW_GROUP * 4 * (size_t)bits, bits, lut, &w0, &w1);
        for (int i = 0; i < QK_NEONDOT_MR; i++) {
            acc[i][j] = vdotq_s32(acc[i][j], a0[i], w0);
            acc[i][j] = vdotq_s32(acc[i][j], a1[i], w1);
        }
    }
}

/* Loads 32 activations as a - 128 (s8), zeroed from k = kc on through `live`. */
QK_NEON_INLINE void qk_neon_load_a(const uint8_t* p, uint8x16_t live0, uint8x16_t live1,
                                   int8x16_t* a0, int8x16_t* a1) {
    const uint8x16_t bias = vdupq_n_u8(0x80);
    *a0 = vreinterpretq_s8_u8(vandq_u8(veorq_u8(vld1q_u8(p), bias), live0));
    *a1 = vreinterpretq_s8_u8(vandq_u8(veorq_u8(vld1q_u8(p + 16), bias), live1));
}

/* The epilogue of row m, columns n..n+3 (nr == 4), on one vector of corrected sums. */
QK_NEON_INLINE void qk_neon_epilogue4(const qk_epilogue* e, size_t m, size_t n, int32x4_t accp) {
    float32x4_t y = vmulq_f32(vcvtq_f32_s32(accp), vld1q_f32(e->scale + n));
    if (e->bias != NULL) y = vaddq_f32(y, vld1q_f32(e->bias + n));
    if (e->residual_kind == QK_RESIDUAL_U8) {
        uint32_t r4;
        memcpy(&r4, (const uint8_t*)e->residual + m * e->ldr + n, 4);
        const uint16x4_t r16 = vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(r4))));
        const int32x4_t r = vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(r16)), vdupq_n_s32(e->rzero));
        y = vaddq_f32(y, vmulq_f32(vdupq_n_f32(e->rscale), vcvtq_f32_s32(r)));
    } else if (e->residual_kind == QK_RESIDUAL_F32) {
        y = vaddq_f32(y, vld1q_f32((const float*)e->residual + m * e->ldr + n));
    }
    y = vminnmq_f32(vmaxnmq_f32(y, vdupq_n_f32(e->clamp_lo)), vdupq_n_f32(e->clamp_hi));
    if (e->output_kind == QK_OUTPUT_F32) {
        vst1q_f32((float*)e->out + m * e->ldc + n, y);
        return;
    }
    float32x4_t t = vmulq_f32(y, vdupq_n_f32(e->out_inv_scale));
    t = vminnmq_f32(vmaxnmq_f32(t, vdupq_n_f32(-QK_REQUANT_TMAX)), vdupq_n_f32(QK_REQUANT_TMAX));
    const int32x4_t q = vaddq_s32(vcvtnq_s32_f32(t), vdupq_n_s32(e->out_zero));
    const uint8x8_t q8 = vqmovn_u16(vcombine_u16(vqmovun_s32(q), vdup_n_u16(0)));
    const uint32_t bytes = vget_lane_u32(vreinterpret_u32_u8(q8), 0);
    memcpy((uint8_t*)e->out + m * e->ldc + n, &bytes, 4);
}

/* Rows past mr / columns past nr repeat the last valid one (results discarded). */
QK_NEON_INLINE void qk_qgemm_tile_neondot(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                          size_t nr, int bits) {
    assert(mr >= 1 && mr <= QK_NEONDOT_MR && nr >= 1 && nr <= QK_NEONDOT_NR);
    const int8x16_t lut = g->lut == NULL ? vdupq_n_s8(0) : vld1q_s8(g->lut);
    const uint8_t* a[QK_NEONDOT_MR];
    const uint8_t* w[QK_NEONDOT_NR];
    for (size_t i = 0; i < QK_NEONDOT_MR; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    for (size_t j = 0; j < QK_NEONDOT_NR; j++) w[j] = qk_packed_block(g->w, g->w_group_stride, n0 + (j < nr ? j : nr - 1), 0, bits);
    int32x4_t acc[QK_NEONDOT_MR][QK_NEONDOT_NR];
    for (int i = 0; i < QK_NEONDOT_MR; i++)
        for (int j = 0; j < QK_NEONDOT_NR; j++) acc[i][j] = vdupq_n_s32(0);
    const size_t K = g->K;
    const uint8x16_t all = vdupq_n_u8(0xFF);
    int8x16_t a0[QK_NEONDOT_MR], a1[QK_NEONDOT_MR];
    size_t kb = 0;
    for (; kb + 32 <= K; kb += 32) {
        for (int i = 0; i < QK_NEONDOT_MR; i++) qk_neon_load_a(a[i] + kb, all, all, &a0[i], &a1[i]);
        qk_neon_step(acc, a0, a1, w, kb / 32, bits, lut);
    }
    if (kb < K) {
        static const uint8_t index[32] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
        const uint8x16_t kc = vdupq_n_u8((uint8_t)(K - kb));
        const uint8x16_t live0 = vcltq_u8(vld1q_u8(index), kc), live1 = vcltq_u8(vld1q_u8(index + 16), kc);
        for (int i = 0; i < QK_NEONDOT_MR; i++) qk_neon_load_a(a[i] + kb, live0, live1, &a0[i], &a1[i]);
        qk_neon_step(acc, a0, a1, w, kb / 32, bits, lut);
    }
    /* acc' = S + (128 - za) * colsum */
    int32_t fix[QK_NEONDOT_NR];
    for (size_t j = 0; j < QK_NEONDOT_NR; j++) {
        fix[j] = (int32_t)((uint32_t)(128 - g->a_zero) * (uint32_t)g->colsum[n0 + (j < nr ? j : nr - 1)]);
    }
    const int32x4_t fixv = vld1q_s32(fix);
    for (size_t i = 0; i < mr; i++) {
        const int32x4_t s = vaddq_s32(vpaddq_s32(vpaddq_s32(acc[i][0], acc[i][1]),
                                                 vpaddq_s32(acc[i][2], acc[i][3])), fixv);
        if (nr == 4 && g->epi.output_kind != QK_OUTPUT_I32) {
            qk_neon_epilogue4(&g->epi, m0 + i, n0, s);
        } else {
            int32_t v[4];
            vst1q_s32(v, s);
            for (size_t j = 0; j < nr; j++) qk_qgemm_epilogue(&g->epi, m0 + i, n0 + j, v[j]);
        }
    }
}

#endif /* __aarch64__ */
