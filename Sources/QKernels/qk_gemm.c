/* qk_gemm.c — the GEMM drivers: split the output into the member's MR x NR tiles and run them,
 * OpenMP-parallel over tiles (each tile is computed alone, so any team size gives the same bits);
 * qgemm / fgemm dispatch over the registries (qk_registry.c). */
#include <assert.h>
#include <math.h>
#include "internal/qk_isa_internal.h"
#include "internal/qk_parallel.h"
#include "qk_gemm.h"


/* Runs fn(args, m0, n0, mr, nr) over every tile. OpenMP splits (panel, column tile) pairs
 * statically; each pair runs the panel's row tiles in order, then (with epi.out_range) measures the
 * f32 values it wrote while they are in L1. On one thread (or below QK_PARALLEL_MIN_WORK) the same jobs
 * run in the same order without an OpenMP region (QK_PARALLEL_FOR says why). */
#define QK_FOR_EACH_TILE(args, MR, NR, weight_bytes, fn)                                         \
    do {                                                                                         \
        const size_t M_ = (args)->M, N_ = (args)->N, mt_ = (M_ + (MR) - 1) / (MR),             \
                     nt_ = (N_ + (NR) - 1) / (NR);                                              \
        const size_t mb_ = qk_panel_row_tiles(M_, (args)->K, (MR), (weight_bytes));             \
        const size_t panels_ = (mt_ + mb_ - 1) / mb_;                                            \
        const long long jobs_ = (long long)(panels_ * nt_);                                     \
        const int par_ = mt_ * nt_ > 1 && M_ * N_ * ((args)->K + 1) >= QK_PARALLEL_MIN_WORK     \
                         && qk_team_size() > 1;                                                 \
        float* const range_ = (args)->epi.out_range;                                            \
        /* job j_: one panel's row tiles in one column tile, then its output range */           \
        if (par_) {                                                                              \
            _Pragma("omp parallel num_threads(qk_team_size())")                                  \
            {                                                                                    \
                float lo_ = INFINITY, hi_ = -INFINITY;                                          \
                _Pragma("omp for schedule(static)")                                              \
                for (long long j_ = 0; j_ < jobs_; j_++)                                         \
                    QK_TILE_JOB_(args, MR, NR, fn, j_, nt_, mb_, M_, N_, range_, lo_, hi_);      \
                if (range_ != NULL) {                                                            \
                    _Pragma("omp critical(qk_out_range)")                                        \
                    qk_out_range_merge(range_, lo_, hi_);                                        \
                }                                                                                \
            }                                                                                    \
        } else {                                                                                 \
            float lo_ = INFINITY, hi_ = -INFINITY;                                              \
            for (long long j_ = 0; j_ < jobs_; j_++)                                             \
                QK_TILE_JOB_(args, MR, NR, fn, j_, nt_, mb_, M_, N_, range_, lo_, hi_);          \
            if (range_ != NULL) qk_out_range_merge(range_, lo_, hi_);                            \
        }                                                                                        \
    } while (0)
#define QK_TILE_JOB_(args, MR, NR, fn, j_, nt_, mb_, M_, N_, range_, lo_, hi_)                  \
    do {                                                                                         \
        const size_t n0_ = (size_t)(j_) % (nt_) * (NR);                                         \
        const size_t nr_ = (N_) - n0_ < (NR) ? (N_) - n0_ : (NR);                               \
        const size_t m_begin_ = (size_t)(j_) / (nt_) * (mb_) * (MR);                            \
        const size_t m_end_ = m_begin_ + (mb_) * (MR) < (M_) ? m_begin_ + (mb_) * (MR) : (M_);  \
        for (size_t m0_ = m_begin_; m0_ < m_end_; m0_ += (MR)) {                                 \
            fn((args), m0_, n0_, m_end_ - m0_ < (MR) ? m_end_ - m0_ : (MR), nr_);                \
        }                                                                                        \
        if ((range_) != NULL) {                                                                  \
            qk_minmax_rows_f32(m_end_ - m_begin_, nr_, (const float*)(args)->epi.out +          \
                               m_begin_ * (args)->epi.ldc + n0_, (args)->epi.ldc, &(lo_), &(hi_)); \
        }                                                                                        \
    } while (0)

void qk_qgemm(const qk_qgemm_ukernel_desc* uk, const qk_qgemm_args* args) {
    assert(uk != NULL && uk->bits == args->bits);
    assert(args->K <= QK_MAX_K && args->lda >= args->K);
    assert(args->colsum != NULL);
    assert(args->epi.out_range == NULL || args->epi.output_kind == QK_OUTPUT_F32);
    if (args->M == 0 || args->N == 0) return;
    const size_t mr = (size_t)uk->mr, nr = (size_t)uk->nr;
    const qk_qgemm_ukernel_fn fn = uk->fn;
    const size_t weight_bytes = args->N * args->K * (size_t)args->bits / 8;
    qk_qgemm_args a = *args;
    /* the first panel; not for a single row tile (a linear layer): its weights are one long stream that
     * the hardware prefetcher follows, and nothing reuses them */
    a.prefetch_rows = a.M > mr ? qk_prefetch_rows(qk_panel_row_tiles(a.M, a.K, mr, weight_bytes) * mr, weight_bytes) : 0;
    QK_FOR_EACH_TILE(&a, mr, nr, weight_bytes, fn);
}

void qk_fgemm(const qk_fgemm_ukernel_desc* uk, const qk_fgemm_args* args) {
    assert(uk != NULL && args->lda >= args->K && args->ldb >= args->K);
    assert(args->epi.output_kind == QK_OUTPUT_F32 && args->epi.residual_kind != QK_RESIDUAL_U8);
    if (args->M == 0 || args->N == 0) return;
    const size_t mr = (size_t)uk->mr, nr = (size_t)uk->nr;
    const qk_fgemm_ukernel_fn fn = uk->fn;
    QK_FOR_EACH_TILE(args, mr, nr, args->N * args->K * sizeof(float), fn);
}

void qk_pfgemm(const qk_pfgemm_ukernel_desc* uk, const qk_fgemm_args* args) {
    assert(uk != NULL && args->lda >= args->K);
    assert(args->epi.output_kind == QK_OUTPUT_F32 && args->epi.residual_kind != QK_RESIDUAL_U8);
    if (args->M == 0 || args->N == 0) return;
    const size_t mr = (size_t)uk->mr, nr = (size_t)uk->nr;
    const qk_fgemm_ukernel_fn fn = uk->fn;
    QK_FOR_EACH_TILE(args, mr, nr, args->N * args->K * sizeof(float), fn);
}

size_t qk_pfgemm_packed_floats(size_t N, size_t K, size_t nr) { return (N + nr - 1) / nr * nr * K; }

void qk_pfgemm_pack(const float* b, size_t N, size_t K, size_t ldb, size_t nr, float* packed) {
    for (size_t p = 0; p < (N + nr - 1) / nr; p++) {
        float* panel = packed + p * K * nr;
        for (size_t k = 0; k < K; k++) {
            for (size_t j = 0; j < nr; j++) {
                const size_t n = p * nr + j;
                panel[k * nr + j] = n < N ? b[n * ldb + k] : 0.0f;
            }
        }
    }
}

/* ---- dispatch ---- */

typedef struct { int bits; qk_qgemm_kind kind; } qk_qgemm_want;

static int qk_qgemm_keep(const void* desc, const void* want) {
    const qk_qgemm_ukernel_desc* d = desc;
    const qk_qgemm_want* w = want;
    return d->bits == w->bits && d->kind == w->kind;
}

const qk_qgemm_ukernel_desc* qk_qgemm_select_kind(int bits, qk_isa isa, qk_qgemm_kind kind) {
    const qk_qgemm_want want = {bits, kind};
    return QK_SELECT(qk_qgemm_ukernels, qk_qgemm_ukernel_count, isa, qk_qgemm_keep, &want);
}

const qk_qgemm_ukernel_desc* qk_qgemm_select(int bits, qk_isa isa) {
    return qk_qgemm_select_kind(bits, isa, QK_KIND_LUT);
}

const qk_fgemm_ukernel_desc* qk_fgemm_select(qk_isa isa) {
    return QK_SELECT(qk_fgemm_ukernels, qk_fgemm_ukernel_count, isa, NULL, NULL);
}

const qk_pfgemm_ukernel_desc* qk_pfgemm_select(qk_isa isa) {
    return QK_SELECT(qk_pfgemm_ukernels, qk_pfgemm_ukernel_count, isa, NULL, NULL);
}

int qk_lut_is_shift(const int8_t* lut, int bits) {
    if (lut == NULL || bits < 1 || bits > 4) return 0;
    for (int c = 0; c < (1 << bits); c++) {
        const int v = lut[c], m = v < 0 ? -v : v;
        if (v != 0 && (m & (m - 1)) != 0) return 0;  /* 0, +-1, +-2, ..., +-64, -128 */
    }
    return 1;
}
