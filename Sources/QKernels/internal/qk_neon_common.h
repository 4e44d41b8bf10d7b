/* qk_neon_common.h — NEON helpers that need only base Advanced SIMD (every aarch64 CPU), shared by the
 * dot-product members (qk_qgemm_neondot.h), the shift-add and depthwise members (ISA neon) and bsgemm:
 * the tbl code decoder of a packed sub-step and the qgemm epilogue in 4 float lanes. No target
 * attribute: a member of any aarch64 ISA inlines them. Include before any `#pragma GCC target`. Private. */
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>
#include "qk_decode.h"
#include "qk_epilogue.h"

#define QK_NEON_BASE_INLINE static inline __attribute__((always_inline))

/* Register q (channels 4q..4q+3 x 4 k) of sub-step s of a row group's block, as int8 weights. */
QK_NEON_BASE_INLINE int8x16_t qk_neon_substep(const uint8_t* blk, int s, int q, int bits, int8x16_t lut) {
    switch (bits) {
    case 8: return vld1q_s8((const int8_t*)blk + s * QK_CHUNK_BYTES + 16 * q);
    case 3: {
        const uint8x16_t lo = vld1q_u8(blk + s / 4 * QK_CHUNK_BYTES + 16 * q);
        const uint8x16_t hi = vld1q_u8(blk + 2 * QK_CHUNK_BYTES + 16 * q);
        const uint8x16_t code = vorrq_u8(vandq_u8(vshlq_u8(lo, vdupq_n_s8((int8_t)(-2 * (s % 4)))), vdupq_n_u8(3)),
                                         vshlq_n_u8(vandq_u8(vshlq_u8(hi, vdupq_n_s8((int8_t)-s)), vdupq_n_u8(1)), 2));
        return vqtbl1q_s8(lut, code);
    }
    default: {
        const int per = 8 / bits;
        const uint8x16_t x = vld1q_u8(blk + s / per * QK_CHUNK_BYTES + 16 * q);
        const uint8x16_t code = vandq_u8(vshlq_u8(x, vdupq_n_s8((int8_t)(-bits * (s % per)))),
                                         vdupq_n_u8((uint8_t)((1 << bits) - 1)));
        return vqtbl1q_s8(lut, code);
    }
    }
}

/* The epilogue of row m, columns n..n+3 (nr == 4), on one vector of corrected sums. */
QK_NEON_BASE_INLINE void qk_neon_epilogue4(const qk_epilogue* e, size_t m, size_t n, int32x4_t accp) {
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

/* The epilogue of a NEON tile whose raw sums sit in sums[row][channel - n0]: acc' = sums + c * colsum[n]
 * (c = 128 - za after s8 dot products with the -128 activation offset; -za for shift-add), then 4
 * channels at a time through qk_neon_epilogue4, a partial group through the scalar epilogue. */
QK_NEON_BASE_INLINE void qk_neon_finish_tile(const qk_qgemm_args* g, const int32_t sums[][16], size_t m0, size_t n0,
                                        size_t mr, size_t nr, int32_t c) {
    for (size_t q = 0; q < 4 && 4 * q < nr; q++) {
        const size_t n = n0 + 4 * q, cols = nr - 4 * q < 4 ? nr - 4 * q : 4;
        int32_t fix[4] = {0, 0, 0, 0};
        for (size_t j = 0; j < cols; j++) fix[j] = (int32_t)((uint32_t)c * (uint32_t)g->colsum[n + j]);
        const int32x4_t fixv = vld1q_s32(fix);
        for (size_t i = 0; i < mr; i++) {
            const int32x4_t s = vaddq_s32(vld1q_s32(&sums[i][4 * q]), fixv);
            if (cols == 4 && g->epi.output_kind != QK_OUTPUT_I32) {
                qk_neon_epilogue4(&g->epi, m0 + i, n, s);
            } else {
                int32_t v[4];
                vst1q_s32(v, s);
                for (size_t j = 0; j < cols; j++) qk_qgemm_epilogue(&g->epi, m0 + i, n + j, v[j]);
            }
        }
    }
}

#endif /* __aarch64__ */
