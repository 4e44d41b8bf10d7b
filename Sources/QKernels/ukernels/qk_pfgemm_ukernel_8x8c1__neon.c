/* qk_pfgemm_ukernel_8x8c1__neon — f32 GEMM on B packed in 8-column panels (qk_pfgemm_pack), 8x8
 * output tile in 16 q accumulators: per k, two panel loads and eight fmla by scalar. Whole-vector
 * epilogue (+ bias, + f32 residual, clamp as fminf(fmaxf(y, lo), hi): vmaxnmq / vminnmq, which like
 * fmaxf / fminf return the number when one operand is NaN) on full 4-column quarters, the scalar
 * epilogue on a partial one. Base ASIMD (ISA neon: every aarch64 CPU). Sums in blocks of
 * QK_PFGEMM_KC k with fused multiply-add, as the x86 members: within rounding of the scalar member
 * (tested with a tolerance). */
#include "../internal/qk_ukernels.h"
#if defined(__aarch64__)
#include <arm_neon.h>
#include <assert.h>
#include "../internal/qk_epilogue.h"

void qk_pfgemm_ukernel_8x8c1__neon(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= 8 && nr >= 1 && nr <= 8 && n0 % 8 == 0);
    const size_t K = g->K;
    const float* panel = g->b + n0 / 8 * K * 8;
    const float* a[8];
    for (size_t i = 0; i < 8; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    float32x4_t acc[8][2];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
    for (size_t k0 = 0; k0 < K; k0 += QK_PFGEMM_KC) {
        const size_t k1 = K - k0 < QK_PFGEMM_KC ? K : k0 + QK_PFGEMM_KC;
        float32x4_t part[8][2];
        for (int i = 0; i < 8; i++) part[i][0] = part[i][1] = vdupq_n_f32(0.0f);
        for (size_t k = k0; k < k1; k++) {
            const float32x4_t b0 = vld1q_f32(panel + k * 8), b1 = vld1q_f32(panel + k * 8 + 4);
            for (int i = 0; i < 8; i++) {
                const float ai = a[i][k];
                part[i][0] = vfmaq_n_f32(part[i][0], b0, ai);
                part[i][1] = vfmaq_n_f32(part[i][1], b1, ai);
            }
        }
        for (int i = 0; i < 8; i++) {
            acc[i][0] = vaddq_f32(acc[i][0], part[i][0]);
            acc[i][1] = vaddq_f32(acc[i][1], part[i][1]);
        }
    }
    const qk_epilogue* e = &g->epi;
    const float32x4_t lo = vdupq_n_f32(e->clamp_lo), hi = vdupq_n_f32(e->clamp_hi);
    for (size_t h = 0; h < 2 && 4 * h < nr; h++) {
        const size_t n = n0 + 4 * h;
        if (nr - 4 * h >= 4) {
            const float32x4_t bias = e->bias != NULL ? vld1q_f32(e->bias + n) : vdupq_n_f32(0.0f);
            for (size_t i = 0; i < mr; i++) {
                const size_t m = m0 + i;
                float32x4_t y = e->bias != NULL ? vaddq_f32(acc[i][h], bias) : acc[i][h];
                if (e->residual_kind == QK_RESIDUAL_F32)
                    y = vaddq_f32(y, vld1q_f32((const float*)e->residual + m * e->ldr + n));
                vst1q_f32((float*)e->out + m * e->ldc + n, vminnmq_f32(vmaxnmq_f32(y, lo), hi));
            }
        } else {
            for (size_t i = 0; i < mr; i++) {
                float s[4];
                vst1q_f32(s, acc[i][h]);
                for (size_t j = 0; j < nr - 4 * h; j++) qk_fgemm_epilogue(e, m0 + i, n + j, s[j]);
            }
        }
    }
}
#endif
