/* qk_fgemm_ukernel_4x4c1__scalar — f32 GEMM, 4x4 output tile, K one at a time; portable C
 * reference member. acc[m][n] = ((0 + a0*b0) + a1*b1) + ... in k order, no FMA. */
#include <assert.h>
#include "../internal/qk_epilogue.h"
#include "../internal/qk_ukernels.h"

void qk_fgemm_ukernel_4x4c1__scalar(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr,
                                    size_t nr) {
    assert(mr >= 1 && mr <= 4 && nr >= 1 && nr <= 4);
    float acc[4][4] = {{0.0f}};
    const float* a[4];
    const float* b[4];
    for (size_t i = 0; i < mr; i++) a[i] = g->a + (m0 + i) * g->lda;
    for (size_t j = 0; j < nr; j++) b[j] = g->b + (n0 + j) * g->ldb;
    for (size_t k = 0; k < g->K; k++) {
        for (size_t i = 0; i < mr; i++) {
            const float ai = a[i][k];
            for (size_t j = 0; j < nr; j++) acc[i][j] = acc[i][j] + ai * b[j][k];
        }
    }
    for (size_t i = 0; i < mr; i++) {
        for (size_t j = 0; j < nr; j++) qk_fgemm_epilogue(&g->epi, m0 + i, n0 + j, acc[i][j]);
    }
}
