/* qk_epilogue.h — the scalar epilogue and u8 requantization shared by every scalar member and
 * operator. SIMD members must reproduce it bit for bit (same float ops, same order, no FMA).
 * Private to the QKernels target. */
#pragma once
#include <math.h>
#include <stdint.h>
#include "qk_gemm.h"

/** |y * inv_scale| is clamped to this before lrintf. It cannot change a result (out_zero is in
 *  [0, 255], so anything beyond +-512 saturates anyway) but keeps lrintf defined for huge values
 *  and NaN (-> lower end), and lets SIMD members convert with cvtps2dq / fcvtns safely. */
#define QK_REQUANT_TMAX 1024.0f

/** 1.5 * 2^23: for |t| <= 2^22, (t + QK_RINT_MAGIC) - QK_RINT_MAGIC is t rounded to an integer
 *  under the default rounding mode (half to even), exactly as lrintf: the sum lands in
 *  [2^23, 2^24), where floats are the integers. Plain adds, so loops of it vectorise. */
#define QK_RINT_MAGIC 12582912.0f

/** q = clamp((int)lrintf(y * inv_scale) + zero, 0, 255), round half to even. */
static inline uint8_t qk_requant_u8(float y, float inv_scale, int32_t zero) {
    float t = y * inv_scale;
    t = fminf(fmaxf(t, -QK_REQUANT_TMAX), QK_REQUANT_TMAX);
    int32_t q = (int32_t)((t + QK_RINT_MAGIC) - QK_RINT_MAGIC) + zero;
    return (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
}

/** Residual add, bias-free part of the epilogue shared by qgemm and fgemm. */
static inline float qk_epi_residual_clamp(const qk_epilogue* e, size_t m, size_t n, float y) {
    if (e->residual_kind == QK_RESIDUAL_U8) {
        const uint8_t* r = (const uint8_t*)e->residual;
        y = y + e->rscale * (float)((int32_t)r[m * e->ldr + n] - e->rzero);
    } else if (e->residual_kind == QK_RESIDUAL_F32) {
        const float* r = (const float*)e->residual;
        y = y + r[m * e->ldr + n];
    }
    return fminf(fmaxf(y, e->clamp_lo), e->clamp_hi);
}

/** Stores y (already clamped) as the output kind (u8 or f32). */
static inline void qk_epi_store(const qk_epilogue* e, size_t m, size_t n, float y) {
    if (e->output_kind == QK_OUTPUT_F32) {
        ((float*)e->out)[m * e->ldc + n] = y;
    } else {
        ((uint8_t*)e->out)[m * e->ldc + n] = qk_requant_u8(y, e->out_inv_scale, e->out_zero);
    }
}

/** acc' of half-step weights: 2 * acc' + half_rows[m] (qk_gemm.h); acc' unchanged without them. */
static inline int32_t qk_half_step(const qk_epilogue* e, size_t m, int32_t accp) {
    return e->half_rows == NULL ? accp : (int32_t)(2u * (uint32_t)accp + (uint32_t)e->half_rows[m]);
}

/** The full qgemm epilogue for one corrected accumulator acc' = acc - za*colsum[n] (the half step,
 *  when the epilogue has one, is applied here). */
static inline void qk_qgemm_epilogue(const qk_epilogue* e, size_t m, size_t n, int32_t accp) {
    accp = qk_half_step(e, m, accp);
    if (e->output_kind == QK_OUTPUT_I32) {
        ((int32_t*)e->out)[m * e->ldc + n] = accp;
        return;
    }
    float y = (float)accp * e->scale[n];
    if (e->bias != NULL) y = y + e->bias[n];
    qk_epi_store(e, m, n, qk_epi_residual_clamp(e, m, n, y));
}

/** The fgemm epilogue for one f32 accumulator. */
static inline void qk_fgemm_epilogue(const qk_epilogue* e, size_t m, size_t n, float acc) {
    float y = acc;
    if (e->bias != NULL) y = y + e->bias[n];
    ((float*)e->out)[m * e->ldc + n] = qk_epi_residual_clamp(e, m, n, y);
}
