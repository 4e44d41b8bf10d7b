/* qk_parallel.h — when and with how many threads a driver runs an OpenMP loop. Private. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/** Team size for a parallel region (qk_get_max_threads). */
int qk_team_size(void);

/** Work (multiply-adds or element visits) below which a driver stays single-threaded: a team
 *  costs a few microseconds to wake. Any value gives identical results. */
#define QK_PARALLEL_MIN_WORK ((size_t)1 << 15)

/** Runs the statement(s) after `par` for each `i` (long long) in [0, n): a static OpenMP loop over the team
 *  when `par` holds and the team has more than one thread, else a plain loop. libomp charges 0.5-0.8 us for
 *  a region that holds a worksharing loop even when it runs one thread or `if(0)` serializes it (measured;
 *  docs/KERNELS.md "Drivers and threads"): a one-thread ResNet-20 paid that on every kernel call (about 6 % of its main thread).
 *  Every iteration is computed alone, so the split never changes the results. */
#define QK_PARALLEL_FOR(i, n, par, ...)                                                              \
    do {                                                                                            \
        const long long i##_count = (long long)(n);                                                  \
        if ((par) && qk_team_size() > 1) {                                                          \
            _Pragma("omp parallel for schedule(static) num_threads(qk_team_size())")                 \
            for (long long i = 0; i < i##_count; i++) { __VA_ARGS__; }                               \
        } else {                                                                                    \
            for (long long i = 0; i < i##_count; i++) { __VA_ARGS__; }                               \
        }                                                                                           \
    } while (0)

/* Activation rows per panel: tiles are visited panel by panel (QK_PANEL_BYTES of A, which stays in
 * L1) and, inside a panel, column tile by column tile, so each weight tile is read from L2 once
 * per panel and reused from L1 by every row tile of the panel. Used by qk_qgemm and the fused
 * conv driver. */
#define QK_PANEL_BYTES ((size_t)16384)
/* Weights larger than this (bytes) do not stay in L2 beside the activations and outputs: re-reading
 * them once per L1-sized panel streams them from L3 or memory every time (ResNet-50's last stage: a
 * 2.4 MB 3x3 conv read 7 times). Such GEMMs take panels of up to QK_L2_PANEL_BYTES of A instead (A is
 * read from L2 by each column tile, the weights once per panel). */
#define QK_L2_WEIGHT_BYTES ((size_t)1 << 20)
#define QK_L2_PANEL_BYTES ((size_t)256 * 1024)

/** Row tiles (of MR rows) per panel for an M x N x K GEMM whose weights take `weight_bytes`: the panel
 *  holds about QK_PANEL_BYTES of A (L1), or QK_L2_PANEL_BYTES when the weights exceed
 *  QK_L2_WEIGHT_BYTES; at least 1, at most all row tiles. Any value gives the same results. */
static inline size_t qk_panel_row_tiles(size_t M, size_t K, size_t MR, size_t weight_bytes) {
    const size_t mt = (M + MR - 1) / MR, panel = weight_bytes > QK_L2_WEIGHT_BYTES ? QK_L2_PANEL_BYTES : QK_PANEL_BYTES;
    size_t mb = panel / (MR * (K + 1));
    return mb < 1 ? 1 : mb > mt ? mt : mb;
}

/* qk_qgemm_args.prefetch_rows for a panel of `rows` rows that reads its weights from L3 or memory: the
 * rows when the weights take at least QK_PREFETCH_MIN_WEIGHT_BYTES (smaller ones arrive fast enough,
 * and their short tiles would pay for the bookkeeping), else 0. */
#define QK_PREFETCH_MIN_WEIGHT_BYTES ((size_t)256 * 1024)
static inline size_t qk_prefetch_rows(size_t rows, size_t weight_bytes) {
    return weight_bytes >= QK_PREFETCH_MIN_WEIGHT_BYTES ? rows : 0;
}

/* The fused im2col conv path needs at least this many panels per thread (else load balance
 * suffers and the driver makes one im2col, then splits panels and column tiles). */
#define QK_FUSED_PANELS_PER_THREAD 4

/* ---- elementwise steps ---- */

/** Elements per chunk handed to one thread (rounded up to a whole period). */
#define QK_ELTWISE_CHUNK ((size_t)8192)

/** Runs STMT with `begin` and `count` bound to consecutive chunks of [0, n) (`chunk` elements each,
 *  the last shorter): one call below QK_PARALLEL_MIN_WORK or on a team of one, else a static OpenMP loop
 *  over chunks. */
#define QK_FOR_CHUNKS(n, chunk, begin, count, STMT)                                                   \
    do {                                                                                              \
        if ((n) < QK_PARALLEL_MIN_WORK || qk_team_size() == 1) {                                      \
            const size_t begin = 0, count = (n);                                                      \
            STMT;                                                                                     \
        } else {                                                                                      \
            const long long chunks_ = (long long)(((n) + (chunk) - 1) / (chunk));                     \
            _Pragma("omp parallel for schedule(static) num_threads(qk_team_size())")                  \
            for (long long k_ = 0; k_ < chunks_; k_++) {                                              \
                const size_t begin = (size_t)k_ * (chunk);                                            \
                const size_t count = (n) - begin < (chunk) ? (n) - begin : (chunk);                   \
                STMT;                                                                                 \
            }                                                                                         \
        }                                                                                             \
    } while (0)

/* ---- output ranges (qk_epilogue.out_range) ---- */

/** Lowers *lo and raises *hi to the min / max of rows x cols floats at p (row stride ld), NaNs
 *  ignored (qk_quantize.c, compiled per ISA). */
void qk_minmax_rows_f32(size_t rows, size_t cols, const float* p, size_t ld, float* lo, float* hi);

/** A qk_quantize_u8 member: the same codes, on the calling thread only. */
typedef void (*qk_quantize_fn)(size_t n, const float* in, float inv_scale, int32_t zero, uint8_t* out);
/** qk_quantize_u8's member for this CPU (QK_ISA respected) and zero point, for drivers that quantize as
 *  they go (chosen once per call: the choice reads the environment). */
qk_quantize_fn qk_quantize_u8_member(int32_t zero);

/** Merges a driver's measured [lo, hi] into an epilogue's out_range. */
static inline void qk_out_range_merge(float* range, float lo, float hi) {
    if (lo < range[0]) range[0] = lo;
    if (hi > range[1]) range[1] = hi;
}

