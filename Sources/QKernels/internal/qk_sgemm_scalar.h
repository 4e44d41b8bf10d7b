/* qk_sgemm_scalar.h — the body of the scalar shift-add members (4x4 tile, K in blocks of 32): the
 * portable reference of the sgemm family. Each member file instantiates it with a constant `bits`.
 * Private. */
#pragma once
#include <assert.h>
#include "qk_decode.h"
#include "qk_qgemm_rows.h"
#include "qk_epilogue.h"
#include "qk_shift.h"

#define QK_SGEMM_SCALAR_MR 4
#define QK_SGEMM_SCALAR_NR 4

/* acc[m][n] = sum_{k<K} +-(a[m][k] << e(n,k)) over the nonzero weights w = +-2^e of a shift-coded
 * table (qk_lut_is_shift): no multiplication. Each code is decoded once (qk_packed_code) and used
 * for all mr rows. |a << e| <= 255 * 128, so int32 is exact for K <= QK_MAX_K; then
 * acc' = acc - za*colsum[n] and the shared epilogue. */
static inline void qk_sgemm_scalar_tile(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                        size_t nr, int bits) {
    assert(mr >= 1 && mr <= QK_SGEMM_SCALAR_MR && nr >= 1 && nr <= QK_SGEMM_SCALAR_NR && g->bits == bits);
    const qk_shift_table t = qk_shift_table_make(g->lut, bits);
    int32_t acc[QK_SGEMM_SCALAR_MR][QK_SGEMM_SCALAR_NR] = {{0}};
    const size_t K = g->K;
    for (size_t j = 0; j < nr; j++) {
        for (size_t k = 0; k < K; k++) {
            const uint32_t c = qk_packed_code(g->w, g->w_group_stride, n0 + j, k, bits);
            if (!t.nonzero[c]) continue;
            for (size_t i = 0; i < mr; i++) {
                const int32_t v = (int32_t)qk_qgemm_a(g, m0 + i, k) << t.exponent[c];
                acc[i][j] = t.negative[c] ? acc[i][j] - v : acc[i][j] + v;
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
