/* qk_sgemm_w4_ukernel_4x4c32__scalar — shift-add GEMM for shift-coded 4-bit weights
 * (w = sign * 2^e or 0): acc += +-(a << e), no multiplications in the inner loop. 4x4 tile, K in
 * packed blocks of 32. The portable reference of the shift-add family. */
#include <assert.h>
#include "../internal/qk_decode.h"
#include "../internal/qk_epilogue.h"
#include "../internal/qk_shift.h"
#include "../internal/qk_ukernels.h"

void qk_sgemm_w4_ukernel_4x4c32__scalar(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= 4 && nr >= 1 && nr <= 4 && g->bits == 4);
    const qk_shift_table t = qk_shift_table_make(g->lut, 4);
    int32_t acc[4][4] = {{0}};
    const size_t K = g->K;
    for (size_t j = 0; j < nr; j++) {
        for (size_t kb = 0; kb < K; kb += 32) {
            const size_t kc = K - kb < 32 ? K - kb : 32;
            for (size_t k = 0; k < kc; k++) {
                const uint32_t c = qk_packed_code(g->w, g->w_group_stride, n0 + j, kb + k, 4);
                if (!t.nonzero[c]) continue;
                for (size_t i = 0; i < mr; i++) {
                    const int32_t v = (int32_t)g->a[(m0 + i) * g->lda + kb + k] << t.exponent[c];
                    acc[i][j] = t.negative[c] ? acc[i][j] - v : acc[i][j] + v;
                }
            }
        }
    }
    for (size_t i = 0; i < mr; i++) {
        for (size_t j = 0; j < nr; j++) {
            const int32_t zc = g->a_zero == 0 ? 0 : g->a_zero * g->colsum[n0 + j];
            qk_qgemm_epilogue(&g->epi, m0 + i, n0 + j, acc[i][j] - zc);
        }
    }
}
