/* qk_bgemm.c — the bgemm driver: split the output into the member's MR x NR tiles and run them,
 * OpenMP-parallel over tiles (each tile is computed alone, so any team size gives the same bits). */
#include <assert.h>
#include "internal/qk_parallel.h"
#include "qk_bgemm.h"

void qk_bgemm(const qk_bgemm_ukernel_desc* uk, const qk_bgemm_args* args) {
    assert(uk != NULL);
    assert(args->a_rows != NULL ? args->a_segs != NULL && args->segs * args->seg_words == args->kw
                                : args->lda >= 2 * args->kw);
    assert(args->epi.output_kind == QK_OUTPUT_I32 || args->epi.scale != NULL);
    if (args->M == 0 || args->N == 0) return;
    const size_t MR = (size_t)uk->mr, NR = (size_t)uk->nr, M = args->M, N = args->N;
    const size_t mt = (M + MR - 1) / MR, nt = (N + NR - 1) / NR;
    const qk_bgemm_ukernel_fn fn = uk->fn;
    /* Row tile outer, column tile inner: a tile's activation words stay in L1 while the packed
     * weights (at most a few hundred KB for a ResNet layer) stream from L2. Work is counted in
     * 64-k words x outputs. */
    const long long jobs = (long long)(mt * nt);
    const int par = jobs > 1 && M * N * (args->kw + 1) * 8 >= QK_PARALLEL_MIN_WORK;
#pragma omp parallel for schedule(static) num_threads(qk_team_size()) if(par)
    for (long long j = 0; j < jobs; j++) {
        const size_t m0 = (size_t)j / nt * MR, n0 = (size_t)j % nt * NR;
        fn(args, m0, n0, M - m0 < MR ? M - m0 : MR, N - n0 < NR ? N - n0 : NR);
    }
}
