/* qk_pfgemm_ukernel_8x32c1__avx512f — f32 GEMM on B packed in 32-column panels (qk_pfgemm_pack),
 * 8x32 output tile in 16 zmm accumulators: per k, two panel loads and eight broadcasts of A feed
 * 16 vfmadd231ps. The epilogue runs on whole vectors (masked past nr): + bias, + f32 residual, clamp
 * as fminf(fmaxf(y, lo), hi) (max_ps / min_ps return the second operand for a NaN y, as fmaxf /
 * fminf do), store. Sums in blocks of QK_PFGEMM_KC k with FMA, the blocks' sums added in order (chains
 * as short as fgemm's, so as close to other blocked GEMMs): within rounding of the scalar member (tested
 * with a tolerance). AVX-512 F only (ISA avx512f). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <assert.h>
#include "../internal/qk_x86.h"

#define QK_PF512_MR 8

/* G = 2 column halves of 16, or 1 for a tile of at most 16 columns (a 16-channel layer's panel is half
 * zeros: its other half is neither loaded nor multiplied). Column half 0 does the same operations either
 * way, so G does not change any result. */
static inline __attribute__((always_inline, target(QK_TARGET_AVX512F)))
void qk_pfgemm_avx512f_tile(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr, int G) {
    const size_t K = g->K;
    const float* panel = g->b + n0 / 32 * K * 32;
    const float* a[QK_PF512_MR];
    for (size_t i = 0; i < QK_PF512_MR; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    __m512 acc[QK_PF512_MR][2];
    for (int i = 0; i < QK_PF512_MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (size_t k0 = 0; k0 < K; k0 += QK_PFGEMM_KC) {
        const size_t k1 = K - k0 < QK_PFGEMM_KC ? K : k0 + QK_PFGEMM_KC;
        __m512 part[QK_PF512_MR][2];
        for (int i = 0; i < QK_PF512_MR; i++) part[i][0] = part[i][1] = _mm512_setzero_ps();
        for (size_t k = k0; k < k1; k++) {
            const __m512 b0 = _mm512_loadu_ps(panel + k * 32), b1 = G > 1 ? _mm512_loadu_ps(panel + k * 32 + 16) : b0;
            for (int i = 0; i < QK_PF512_MR; i++) {
                const __m512 av = _mm512_set1_ps(a[i][k]);
                part[i][0] = _mm512_fmadd_ps(av, b0, part[i][0]);
                if (G > 1) part[i][1] = _mm512_fmadd_ps(av, b1, part[i][1]);
            }
        }
        for (int i = 0; i < QK_PF512_MR; i++) {
            acc[i][0] = _mm512_add_ps(acc[i][0], part[i][0]);
            if (G > 1) acc[i][1] = _mm512_add_ps(acc[i][1], part[i][1]);
        }
    }
    const qk_epilogue* e = &g->epi;
    const __m512 lo = _mm512_set1_ps(e->clamp_lo), hi = _mm512_set1_ps(e->clamp_hi);
    for (size_t h = 0; h < (size_t)G && 16 * h < nr; h++) {
        const size_t n = n0 + 16 * h, cols = nr - 16 * h < 16 ? nr - 16 * h : 16;
        const __mmask16 live = (__mmask16)(cols == 16 ? 0xFFFFu : (1u << cols) - 1u);
        const __m512 bias = e->bias != NULL ? _mm512_maskz_loadu_ps(live, e->bias + n) : _mm512_setzero_ps();
        for (size_t i = 0; i < mr; i++) {
            const size_t m = m0 + i;
            __m512 y = e->bias != NULL ? _mm512_add_ps(acc[i][h], bias) : acc[i][h];
            if (e->residual_kind == QK_RESIDUAL_F32)
                y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(live, (const float*)e->residual + m * e->ldr + n));
            y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
            _mm512_mask_storeu_ps((float*)e->out + m * e->ldc + n, live, y);
        }
    }
}
void __attribute__((target(QK_TARGET_AVX512F)))
qk_pfgemm_ukernel_8x32c1__avx512f(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= QK_PF512_MR && nr >= 1 && nr <= 32 && n0 % 32 == 0);
    if (nr <= 16) qk_pfgemm_avx512f_tile(g, m0, n0, mr, nr, 1);
    else qk_pfgemm_avx512f_tile(g, m0, n0, mr, nr, 2);
}
#endif
