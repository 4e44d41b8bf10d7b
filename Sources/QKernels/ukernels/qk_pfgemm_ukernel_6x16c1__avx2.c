/* qk_pfgemm_ukernel_6x16c1__avx2 — f32 GEMM on B packed in 16-column panels (qk_pfgemm_pack), 6x16
 * output tile in 12 ymm accumulators: per k, two panel loads and six broadcasts of A feed 12
 * vfmadd231ps. Vector epilogue as the AVX-512 member's (masked loads and stores past nr). Sums in
 * blocks of QK_PFGEMM_KC k as the AVX-512 member's: within rounding of the scalar member (tested). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <assert.h>
#include "../internal/qk_x86.h"

#define QK_PF256_MR 6

void __attribute__((target(QK_TARGET_AVX2)))
qk_pfgemm_ukernel_6x16c1__avx2(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= QK_PF256_MR && nr >= 1 && nr <= 16 && n0 % 16 == 0);
    const size_t K = g->K;
    const float* panel = g->b + n0 / 16 * K * 16;
    const float* a[QK_PF256_MR];
    for (size_t i = 0; i < QK_PF256_MR; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    __m256 acc[QK_PF256_MR][2];
    for (int i = 0; i < QK_PF256_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t k0 = 0; k0 < K; k0 += QK_PFGEMM_KC) {
        const size_t k1 = K - k0 < QK_PFGEMM_KC ? K : k0 + QK_PFGEMM_KC;
        __m256 part[QK_PF256_MR][2];
        for (int i = 0; i < QK_PF256_MR; i++) part[i][0] = part[i][1] = _mm256_setzero_ps();
        for (size_t k = k0; k < k1; k++) {
            const __m256 b0 = _mm256_loadu_ps(panel + k * 16), b1 = _mm256_loadu_ps(panel + k * 16 + 8);
            for (int i = 0; i < QK_PF256_MR; i++) {
                const __m256 av = _mm256_broadcast_ss(a[i] + k);
                part[i][0] = _mm256_fmadd_ps(av, b0, part[i][0]);
                part[i][1] = _mm256_fmadd_ps(av, b1, part[i][1]);
            }
        }
        for (int i = 0; i < QK_PF256_MR; i++) {
            acc[i][0] = _mm256_add_ps(acc[i][0], part[i][0]);
            acc[i][1] = _mm256_add_ps(acc[i][1], part[i][1]);
        }
    }
    const qk_epilogue* e = &g->epi;
    const __m256 lo = _mm256_set1_ps(e->clamp_lo), hi = _mm256_set1_ps(e->clamp_hi);
    for (size_t h = 0; h < 2 && 8 * h < nr; h++) {
        const size_t n = n0 + 8 * h, cols = nr - 8 * h < 8 ? nr - 8 * h : 8;
        const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 bias = e->bias != NULL ? _mm256_maskload_ps(e->bias + n, live) : _mm256_setzero_ps();
        for (size_t i = 0; i < mr; i++) {
            const size_t m = m0 + i;
            __m256 y = e->bias != NULL ? _mm256_add_ps(acc[i][h], bias) : acc[i][h];
            if (e->residual_kind == QK_RESIDUAL_F32)
                y = _mm256_add_ps(y, _mm256_maskload_ps((const float*)e->residual + m * e->ldr + n, live));
            y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
            _mm256_maskstore_ps((float*)e->out + m * e->ldc + n, live, y);
        }
    }
}
#endif
