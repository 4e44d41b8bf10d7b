/* qk_bgemm.c — the bgemm driver (the shared tile schedule of internal/qk_tiles.h: L1-sized column
 * blocks, bands of row tiles, OpenMP over (block, band) jobs; any team size gives the same bits)
 * and bgemm dispatch over the registry (qk_registry.c). */
#include <assert.h>
#include "internal/qk_isa_internal.h"
#include "internal/qk_tiles.h"
#include "qk_bgemm.h"

typedef struct { const qk_bgemm_ukernel_desc* uk; const qk_bgemm_args* args; } qk_bgemm_job;

static void qk_bgemm_call(const void* ctx, size_t m0, size_t n0, size_t mr, size_t nr) {
    const qk_bgemm_job* job = ctx;
    job->uk->fn(job->args, m0, n0, mr, nr);
}

void qk_bgemm(const qk_bgemm_ukernel_desc* uk, const qk_bgemm_args* args) {
    assert(uk != NULL);
    assert(args->a_rows != NULL ? args->a_segs != NULL && args->segs * args->seg_words == args->kw
                                : args->lda >= 2 * args->kw);
    assert(args->epi.output_kind == QK_OUTPUT_I32 || args->epi.scale != NULL);
    const size_t NR = (size_t)uk->nr;
    /* work is counted in 64-k words x outputs */
    const size_t tile_bytes = (NR + QK_BGEMM_ROW_GROUP - 1) / QK_BGEMM_ROW_GROUP * args->kw * 2 *
                              QK_BGEMM_ROW_GROUP * sizeof(uint64_t);
    const qk_bgemm_job job = {uk, args};
    qk_run_tile_bands(args->M, args->N, (size_t)uk->mr, NR, tile_bytes, args->M * args->N * (args->kw + 1) * 8,
                      qk_bgemm_call, &job);
}

const qk_bgemm_ukernel_desc* qk_bgemm_select(qk_isa isa) {
    return QK_SELECT(qk_bgemm_ukernels, qk_bgemm_ukernel_count, isa, NULL, NULL);
}
