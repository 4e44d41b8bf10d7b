/* qk_pfgemm_ukernel_4x8c1__scalar — f32 GEMM on B packed in 8-column panels (qk_pfgemm_pack), 4x8
 * output tile, K one at a time; portable C reference member of pfgemm. acc[m][n] = ((0 + a0*b0) +
 * a1*b1) + ... in k order, no FMA: the same sums as qk_fgemm_ukernel_4x4c1__scalar. */
#include <assert.h>
#include "../internal/qk_epilogue.h"
#include "../internal/qk_ukernels.h"

void qk_pfgemm_ukernel_4x8c1__scalar(const qk_fgemm_args* g, size_t m0, size_t n0, size_t mr,
                                     size_t nr) {
    assert(mr >= 1 && mr <= 4 && nr >= 1 && nr <= 8 && n0 % 8 == 0);
    const float* panel = g->b + n0 / 8 * g->K * 8;
    float acc[4][8] = {{0.0f}};
    for (size_t k = 0; k < g->K; k++) {
        for (size_t i = 0; i < mr; i++) {
            const float ai = g->a[(m0 + i) * g->lda + k];
            for (size_t j = 0; j < nr; j++) acc[i][j] = acc[i][j] + ai * panel[k * 8 + j];
        }
    }
    for (size_t i = 0; i < mr; i++) {
        for (size_t j = 0; j < nr; j++) qk_fgemm_epilogue(&g->epi, m0 + i, n0 + j, acc[i][j]);
    }
}
