/* qk_fgemm_ukernel_4x4c16__avx512f — f32 GEMM with FMA on zmm, 4x4 output tile, 16 k per step
 * with lanes along K (B is [N][K] rows, so the rows of A and of B are both read contiguously; no
 * packing) and one horizontal sum per output at the end:
 *     acc[i][j] += A[m0+i][k..k+15] * B[n0+j][k..k+15]       16 vfmadd231ps per 8 loads
 * The last partial step uses masked loads (lanes past K are not read and count as 0). Sums in a
 * different order than the scalar member and with FMA: results agree with it to rounding (tested
 * with a tolerance). AVX-512 F only (ISA avx512f). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <assert.h>
#include "../internal/qk_x86.h"

#define QK_FGEMM512_TARGET QK_TARGET_AVX512F
#define QK_FGEMM512_MR 4
#define QK_FGEMM512_NR 4

/* [sum(a), sum(b), sum(c), sum(d)] of four vectors of 16 floats. */
static inline __attribute__((always_inline, target(QK_FGEMM512_TARGET)))
__m128 qk_fgemm512_hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
#define QK_HALVES(x) _mm256_add_ps(_mm512_castps512_ps256(x), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)))
    return qk_x86_hsum4_ps(QK_HALVES(a), QK_HALVES(b), QK_HALVES(c), QK_HALVES(d));
#undef QK_HALVES
}

void __attribute__((target(QK_FGEMM512_TARGET)))
qk_fgemm_ukernel_4x4c16__avx512f(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= QK_FGEMM512_MR && nr >= 1 && nr <= QK_FGEMM512_NR);
    const float* a[QK_FGEMM512_MR];
    const float* b[QK_FGEMM512_NR];
    for (size_t i = 0; i < QK_FGEMM512_MR; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    for (size_t j = 0; j < QK_FGEMM512_NR; j++) b[j] = g->b + (n0 + (j < nr ? j : nr - 1)) * g->ldb;
    __m512 acc[QK_FGEMM512_MR][QK_FGEMM512_NR];
    for (int i = 0; i < QK_FGEMM512_MR; i++)
        for (int j = 0; j < QK_FGEMM512_NR; j++) acc[i][j] = _mm512_setzero_ps();
    const size_t K = g->K;
    size_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 av[QK_FGEMM512_MR];
        for (int i = 0; i < QK_FGEMM512_MR; i++) av[i] = _mm512_loadu_ps(a[i] + k);
        for (int j = 0; j < QK_FGEMM512_NR; j++) {
            const __m512 bv = _mm512_loadu_ps(b[j] + k);
            for (int i = 0; i < QK_FGEMM512_MR; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    if (k < K) {
        const __mmask16 live = (__mmask16)((1u << (K - k)) - 1u);
        __m512 av[QK_FGEMM512_MR];
        for (int i = 0; i < QK_FGEMM512_MR; i++) av[i] = _mm512_maskz_loadu_ps(live, a[i] + k);
        for (int j = 0; j < QK_FGEMM512_NR; j++) {
            const __m512 bv = _mm512_maskz_loadu_ps(live, b[j] + k);
            for (int i = 0; i < QK_FGEMM512_MR; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    __m128 sums[QK_FGEMM512_MR];  /* constant indices here keep acc in registers */
    for (int i = 0; i < QK_FGEMM512_MR; i++) sums[i] = qk_fgemm512_hsum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    for (size_t i = 0; i < mr; i++) {
        float s[4];
        _mm_storeu_ps(s, sums[i]);
        for (size_t j = 0; j < nr; j++) qk_fgemm_epilogue(&g->epi, m0 + i, n0 + j, s[j]);
    }
}
#endif
