/* qk_bsgemm.c — the bsgemm driver (the shared tile schedule of internal/qk_tiles.h: L1-sized column
 * blocks, bands of row tiles, OpenMP over (block, band) jobs; any team size gives the same bits) and
 * bsgemm dispatch over the registry (qk_registry.c, generated from toolchain/kernels.toml). */
#include <assert.h>
#include <stdlib.h>
#include "internal/qk_isa_internal.h"
#include "internal/qk_tiles.h"
#include "qk_bsgemm.h"

typedef struct { const qk_bsgemm_ukernel_desc* uk; const qk_bsgemm_args* args; } qk_bsgemm_job;

static void qk_bsgemm_call(const void* ctx, size_t m0, size_t n0, size_t mr, size_t nr) {
    const qk_bsgemm_job* job = ctx;
    job->uk->fn(job->args, m0, n0, mr, nr);
}

void qk_bsgemm(const qk_bsgemm_ukernel_desc* uk, const qk_bsgemm_args* a) {
    assert(uk != NULL && uk->wbits == a->wbits && uk->abits == a->abits);
    assert(a->a_segs != NULL ? a->segs * a->seg_words == a->kw : a->a_width != 0 || a->lda >= (size_t)a->abits * a->kw);
    assert(a->kw * 64 <= QK_BSGEMM_MAX_K && abs(a->w_mul) <= QK_BSGEMM_MAX_COEF && abs(a->w_offset) <= QK_BSGEMM_MAX_COEF);
    assert(a->epi.output_kind == QK_OUTPUT_I32 || a->epi.scale != NULL);
    const size_t NR = (size_t)uk->nr;
    const size_t tile_bytes = (NR + QK_BSGEMM_ROW_GROUP - 1) / QK_BSGEMM_ROW_GROUP * a->kw * (size_t)a->wbits *
                              QK_BSGEMM_ROW_GROUP * sizeof(uint64_t);
    const qk_bsgemm_job job = {uk, a};
    qk_run_tile_bands(a->M, a->N, (size_t)uk->mr, NR, tile_bytes,
                      a->M * a->N * (a->kw + 1) * (size_t)(a->wbits * a->abits) * 8, qk_bsgemm_call, &job);
}

typedef struct { int wbits, abits; } qk_bsgemm_want;

static int qk_bsgemm_keep(const void* desc, const void* want) {
    const qk_bsgemm_ukernel_desc* d = desc;
    const qk_bsgemm_want* w = want;
    return d->wbits == w->wbits && d->abits == w->abits;
}

const qk_bsgemm_ukernel_desc* qk_bsgemm_select(int wbits, int abits, qk_isa isa) {
    const qk_bsgemm_want want = {wbits, abits};
    return QK_SELECT(qk_bsgemm_ukernels, qk_bsgemm_ukernel_count, isa, qk_bsgemm_keep, &want);
}
