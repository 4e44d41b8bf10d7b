/* qk_bgemm.c — the bgemm driver: split the output into the member's MR x NR tiles and run them,
 * in L1-sized column blocks and bands of row tiles, OpenMP-parallel over (block, band) jobs (each tile is computed alone, so any team size gives the same bits). */
#include <assert.h>
#include "internal/qk_parallel.h"
#include "qk_bgemm.h"

/** Packed weight bytes of one column block (see qk_bgemm): about two thirds of a 48 KB L1. */
#define QK_BGEMM_BLOCK_BYTES (32 * 1024)
/** Row tiles per member call at most (a band; see qk_bgemm). */
#define QK_BGEMM_BAND_TILES 8

void qk_bgemm(const qk_bgemm_ukernel_desc* uk, const qk_bgemm_args* args) {
    assert(uk != NULL);
    assert(args->a_rows != NULL ? args->a_segs != NULL && args->segs * args->seg_words == args->kw
                                : args->lda >= 2 * args->kw);
    assert(args->epi.output_kind == QK_OUTPUT_I32 || args->epi.scale != NULL);
    if (args->M == 0 || args->N == 0) return;
    const size_t MR = (size_t)uk->mr, NR = (size_t)uk->nr, M = args->M, N = args->N;
    const size_t mt = (M + MR - 1) / MR, nt = (N + NR - 1) / NR;
    const qk_bgemm_ukernel_fn fn = uk->fn;
    /* Column tiles go in blocks whose packed weights fit QK_BGEMM_BLOCK_BYTES (L1): block outer,
     * row tile, then the block's column tiles, so a block's weights are read from L2 once and
     * reused by every row tile, and a row tile's activation words are reused by the block's
     * column tiles. Work is counted in 64-k words x outputs. */
    const size_t tile_bytes = (NR + QK_BGEMM_ROW_GROUP - 1) / QK_BGEMM_ROW_GROUP * args->kw *
                              2 * QK_BGEMM_ROW_GROUP * sizeof(uint64_t);
    size_t block = QK_BGEMM_BLOCK_BYTES / (tile_bytes > 0 ? tile_bytes : 1);
    if (block < 1) block = 1;
    if (block > nt) block = nt;
    const size_t blocks = (nt + block - 1) / block;
    block = (nt + blocks - 1) / blocks; /* the same number of blocks, evened out: equal jobs for the threads */
    /* Rows go in bands of up to QK_BGEMM_BAND_TILES row tiles per member call (fewer when that
     * would leave under 4 jobs per thread). */
    const size_t team = (size_t)qk_team_size();
    size_t band = QK_BGEMM_BAND_TILES;
    while (band > 1 && blocks * ((mt + band - 1) / band) < 4 * team) band /= 2;
    const size_t bands = (mt + band - 1) / band, band_rows = band * MR;
    const long long jobs = (long long)(blocks * bands);
    const int par = jobs > 1 && M * N * (args->kw + 1) * 8 >= QK_PARALLEL_MIN_WORK;
#pragma omp parallel for schedule(static) num_threads(qk_team_size()) if(par)
    for (long long j = 0; j < jobs; j++) {
        const size_t b = (size_t)j / bands, m0 = (size_t)j % bands * band_rows;
        const size_t rows = M - m0 < band_rows ? M - m0 : band_rows;
        const size_t t_end = (b + 1) * block < nt ? (b + 1) * block : nt;
        for (size_t t = b * block; t < t_end; t++) {
            const size_t n0 = t * NR;
            fn(args, m0, n0, rows, N - n0 < NR ? N - n0 : NR);
        }
    }
}
