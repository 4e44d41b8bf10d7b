/* qk_fgemm_ukernel_4x4c4__neon — f32 GEMM with fmla, 4x4 output tile, 4 k per step with lanes along
 * K and a pairwise sum per output at the end. Base ASIMD (ISA neon: every aarch64 CPU). Sums in a different order than the
 * scalar member and with fused multiply-add: results agree with it to rounding (tested with a
 * tolerance). */
#include "../internal/qk_ukernels.h"
#if defined(__aarch64__)
#include <arm_neon.h>
#include <assert.h>
#include "../internal/qk_epilogue.h"

void qk_fgemm_ukernel_4x4c4__neon(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= 4 && nr >= 1 && nr <= 4);
    const float* a[4];
    const float* b[4];
    for (size_t i = 0; i < 4; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    for (size_t j = 0; j < 4; j++) b[j] = g->b + (n0 + (j < nr ? j : nr - 1)) * g->ldb;
    float32x4_t acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = vdupq_n_f32(0.0f);
    const size_t K = g->K;
    size_t k = 0;
    for (; k + 4 <= K; k += 4) {
        float32x4_t av[4];
        for (int i = 0; i < 4; i++) av[i] = vld1q_f32(a[i] + k);
        for (int j = 0; j < 4; j++) {
            const float32x4_t bv = vld1q_f32(b[j] + k);
            for (int i = 0; i < 4; i++) acc[i][j] = vfmaq_f32(acc[i][j], av[i], bv);
        }
    }
    if (k < K) {
        /* Both operands masked: the values past K may be anything, NaN included. */
        static const uint32_t index[4] = {0, 1, 2, 3};
        const uint32x4_t live = vcltq_u32(vld1q_u32(index), vdupq_n_u32((uint32_t)(K - k)));
        float32x4_t av[4];
        for (int i = 0; i < 4; i++)
            av[i] = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vld1q_f32(a[i] + k)), live));
        for (int j = 0; j < 4; j++) {
            const float32x4_t bv =
                vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vld1q_f32(b[j] + k)), live));
            for (int i = 0; i < 4; i++) acc[i][j] = vfmaq_f32(acc[i][j], av[i], bv);
        }
    }
    for (size_t i = 0; i < mr; i++) {
        float s[4];
        vst1q_f32(s, vpaddq_f32(vpaddq_f32(acc[i][0], acc[i][1]), vpaddq_f32(acc[i][2], acc[i][3])));
        for (size_t j = 0; j < nr; j++) qk_fgemm_epilogue(&g->epi, m0 + i, n0 + j, s[j]);
    }
}
#endif
