/* qk_qgemm_scalar.h — the body of the scalar qgemm members (4x4 tile, K in blocks of 32).
 * Each member file instantiates it with a constant `bits` so the decoder specialises. Private. */
#pragma once
#include <assert.h>
#include "qk_decode.h"
#include "qk_qgemm_rows.h"
#include "qk_epilogue.h"

#define QK_QGEMM_SCALAR_MR 4
#define QK_QGEMM_SCALAR_NR 4

/* acc[m][n] = sum_{k<K} a[m][k] * w[n][k]: per weight row, each 32-code block is decoded once (code
 * by code, qk_packed_code: the portable reference) and used for all mr activation rows. Products fit
 * in int32 (|a*w| <= 32640) and so do the sums for
 * K <= QK_MAX_K. Then acc' = acc - za*colsum[n] (exact: both terms and the result are bounded by
 * K*32640) and the epilogue. */
static inline void qk_qgemm_scalar_tile(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                        size_t nr, int bits) {
    assert(mr >= 1 && mr <= QK_QGEMM_SCALAR_MR && nr >= 1 && nr <= QK_QGEMM_SCALAR_NR);
    int32_t acc[QK_QGEMM_SCALAR_MR][QK_QGEMM_SCALAR_NR] = {{0}};
    const size_t K = g->K;
    for (size_t j = 0; j < nr; j++) {
        for (size_t kb = 0; kb < K; kb += 32) {
            const size_t kc = K - kb < 32 ? K - kb : 32;
            int8_t w[32];
            for (size_t k = 0; k < kc; k++)
                w[k] = qk_code_weight(qk_packed_code(g->w, g->w_group_stride, n0 + j, kb + k, bits), bits, g->lut);
            for (size_t i = 0; i < mr; i++) {
                const uint8_t* a = qk_qgemm_row(g, m0 + i) + qk_qgemm_k_offset(g, kb);
                int32_t s = 0;
                for (size_t k = 0; k < kc; k++) s += (int32_t)a[k] * (int32_t)w[k];
                acc[i][j] += s;
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
