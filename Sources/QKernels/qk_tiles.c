/* qk_tiles.c — the tile schedule of the bit-plane GEMM drivers (internal/qk_tiles.h). */
#include "internal/qk_parallel.h"
#include "internal/qk_tiles.h"

void qk_run_tile_bands(size_t M, size_t N, size_t MR, size_t NR, size_t tile_weight_bytes, size_t work,
                       qk_tile_call call, const void* ctx) {
    if (M == 0 || N == 0) return;
    const size_t mt = (M + MR - 1) / MR, nt = (N + NR - 1) / NR;
    size_t block = QK_TILES_BLOCK_BYTES / (tile_weight_bytes > 0 ? tile_weight_bytes : 1);
    if (block < 1) block = 1;
    if (block > nt) block = nt;
    const size_t blocks = (nt + block - 1) / block;
    block = (nt + blocks - 1) / blocks; /* the same number of blocks, evened out: equal jobs for the threads */
    const size_t team = (size_t)qk_team_size();
    size_t band = QK_TILES_BAND_TILES;
    while (band > 1 && blocks * ((mt + band - 1) / band) < 4 * team) band /= 2;
    const size_t bands = (mt + band - 1) / band, band_rows = band * MR;
    const long long jobs = (long long)(blocks * bands);
    const int par = jobs > 1 && work >= QK_PARALLEL_MIN_WORK;
    QK_PARALLEL_FOR(j_, jobs, par, {
        const long long j = (long long)j_;
        const size_t b = (size_t)j / bands, m0 = (size_t)j % bands * band_rows;
        const size_t rows = M - m0 < band_rows ? M - m0 : band_rows;
        const size_t t_end = (b + 1) * block < nt ? (b + 1) * block : nt;
        for (size_t t = b * block; t < t_end; t++) {
            const size_t n0 = t * NR;
            call(ctx, m0, n0, rows, N - n0 < NR ? N - n0 : NR);
        }
    });
}
