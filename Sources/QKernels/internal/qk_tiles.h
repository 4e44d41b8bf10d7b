/* qk_tiles.h — the tile schedule shared by the bit-plane GEMM drivers (bgemm, bsgemm): output
 * columns in blocks whose packed weights fit L1, rows in bands of row tiles, OpenMP over
 * (block, band) jobs. Every tile is computed alone, so any team size gives the same bits. Private. */
#pragma once
#include <stddef.h>

/** One member call: output rows [m0, m0 + mr) (a band: any mr >= 1) x columns [n0, n0 + nr), nr <= NR. */
typedef void (*qk_tile_call)(const void* ctx, size_t m0, size_t n0, size_t mr, size_t nr);

/** Runs `call` over an M x N output in MR x NR tiles. `tile_weight_bytes`: packed weight bytes of one
 *  column tile (sets the L1 column blocks); `work`: an estimate of the multiply-adds (parallel only
 *  from QK_PARALLEL_MIN_WORK). Columns go in blocks of about QK_TILES_BLOCK_BYTES of weights, block
 *  outer, then bands of up to QK_TILES_BAND_TILES row tiles (fewer when that would leave under 4 jobs
 *  per thread), then the block's column tiles: a block's weights come from L2 once and stay in L1
 *  for every band. Blocks are evened out (sizes differ by at most one tile). */
void qk_run_tile_bands(size_t M, size_t N, size_t MR, size_t NR, size_t tile_weight_bytes, size_t work,
                       qk_tile_call call, const void* ctx);

/** Packed weight bytes of one column block: about two thirds of a 48 KB L1. */
#define QK_TILES_BLOCK_BYTES (32 * 1024)
/** Row tiles per member call at most (a band). */
#define QK_TILES_BAND_TILES 8
