/* qk_fgemm_ukernel_2x4c8__avx2 — f32 GEMM with FMA, 2x4 output tile, 8 k per step with lanes along
 * K and a horizontal sum per output at the end. Sums in a different order than the scalar member
 * and with FMA: results agree with it to rounding (tested with a tolerance). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <assert.h>
#include "../internal/qk_x86.h"

void __attribute__((target("avx2,fma")))
qk_fgemm_ukernel_2x4c8__avx2(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= 2 && nr >= 1 && nr <= 4);
    const float* a[2];
    const float* b[4];
    for (size_t i = 0; i < 2; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    for (size_t j = 0; j < 4; j++) b[j] = g->b + (n0 + (j < nr ? j : nr - 1)) * g->ldb;
    __m256 acc[2][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();
    const size_t K = g->K;
    size_t k = 0;
    for (; k + 8 <= K; k += 8) {
        const __m256 a0 = _mm256_loadu_ps(a[0] + k), a1 = _mm256_loadu_ps(a[1] + k);
        for (int j = 0; j < 4; j++) {
            const __m256 bv = _mm256_loadu_ps(b[j] + k);
            acc[0][j] = _mm256_fmadd_ps(a0, bv, acc[0][j]);
            acc[1][j] = _mm256_fmadd_ps(a1, bv, acc[1][j]);
        }
    }
    if (k < K) {
        /* Both operands masked: the bytes past K may hold anything, NaN included (0 * NaN = NaN). */
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256 live = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)), idx));
        const __m256 a0 = _mm256_and_ps(_mm256_loadu_ps(a[0] + k), live);
        const __m256 a1 = _mm256_and_ps(_mm256_loadu_ps(a[1] + k), live);
        for (int j = 0; j < 4; j++) {
            const __m256 bv = _mm256_and_ps(_mm256_loadu_ps(b[j] + k), live);
            acc[0][j] = _mm256_fmadd_ps(a0, bv, acc[0][j]);
            acc[1][j] = _mm256_fmadd_ps(a1, bv, acc[1][j]);
        }
    }
    for (size_t i = 0; i < mr; i++) {
        float s[4];
        _mm_storeu_ps(s, qk_x86_hsum4_ps(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        for (size_t j = 0; j < nr; j++) qk_fgemm_epilogue(&g->epi, m0 + i, n0 + j, s[j]);
    }
}
#endif
