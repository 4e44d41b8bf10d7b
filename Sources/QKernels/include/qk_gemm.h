/* qk_gemm.h — the GEMM families (one signature each), their registries, dispatch and drivers.
 *
 * Families
 *   qgemm: u8 activations x packed k-bit weights (bits 1,2,3,4 through a LUT; bits 8 direct int8)
 *          -> int32 accumulators -> fused float epilogue -> u8 / f32 / raw int32.
 *          Members are named qk_lgemm_w{1,2,3,4}_ukernel_... (LUT-decoded codes) and
 *          qk_qgemm_w8_ukernel_... (int8 weights) and qk_sgemm_w{2,3,4}_ukernel_... (shift-add on
 *          shift-coded tables, QK_KIND_SHIFT); all share qk_qgemm_ukernel_fn.
 *   fgemm: f32 x f32 -> f32 with the same epilogue minus quantization.
 * Member names: qk_<family>[_<variant>]_ukernel_<MR>x<NR>c<KR>__<isa>   (docs/KERNELS.md)
 *
 * qgemm math (batch 1, row-major; A = im2col rows or an NHWC tensor for 1x1 / linear):
 *   acc[m][n]  = sum_{k<K} A[m][k] * w[n][k]                      int32, exact for K <= QK_MAX_K
 *   acc'[m][n] = acc[m][n] - a_zero * colsum[n]                   = sum (A - a_zero) * w
 *   half-step weights (epi.half_rows != NULL; the codes w stand for w + 1/2):
 *   acc'[m][n] = 2 * acc'[m][n] + half_rows[m]                    = sum (A - a_zero) * (2w + 1)
 *     with half_rows[m] = sum_k (A[m][k] - a_zero); exact in int32 for K <= QK_MAX_K / 2
 *   y = (float)acc' * scale[n] + bias[n]                          float32, this order, no FMA
 *   residual u8:  y = y + rscale * (float)((int32_t)r[m][n] - rzero)
 *   residual f32: y = y + r[m][n]
 *   y = fminf(fmaxf(y, clamp_lo), clamp_hi)                       ReLU [0,inf], ReLU6 [0,6], none
 *   out u8:  q = clamp((int)lrintf(y * out_inv_scale) + out_zero, 0, 255)   half to even
 *   out f32: y          out i32: acc' (the epilogue is skipped; for tests and diagnostics)
 * fgemm: acc = sum_k a*b in k order (scalar member; SIMD members may reorder), y = acc + bias[n],
 *   optional f32 residual, clamp, f32 out.
 *
 * MEMORY CONTRACT (every member and driver):
 *   - Kernels may READ up to QK_EXTRA_BYTES past the last element of every activation-side input
 *     (A, the residual) and of f32 weights B: callers keep that many readable bytes after those
 *     buffers (the arena pads every tensor). Values there and in the gap between K and lda are
 *     never used: kernels mask k >= K themselves.
 *   - Packed weights are read in whole row groups of QK_ROW_GROUP (16): rows up to roundup(N, 16)
 *     (padding rows included), never past the last group.
 *   - Kernels never WRITE outside out[m][n] for m < M, n < N (the gap ldc - N is untouched).
 * K LIMIT: |A*w| <= 255*128, so int32 accumulation is exact for K <= QK_MAX_K = 65793
 *   (= floor((2^31-1) / 32640)); the drivers assert it and the planner must check it.
 * Thread counts never change results: threads split output tiles, every tile is computed alone.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_isa.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Readable slack kernels may read past the end of an input (see the memory contract). */
#define QK_EXTRA_BYTES 64
/** Largest K for which the int32 accumulators of qgemm cannot overflow: floor((2^31-1)/(255*128)). */
#define QK_MAX_K 65793

/** What the epilogue adds before the clamp. */
typedef enum qk_residual_kind {
    QK_RESIDUAL_NONE = 0,
    QK_RESIDUAL_U8 = 1,   /**< y += rscale * (float)((int32_t)r - rzero) */
    QK_RESIDUAL_F32 = 2,  /**< y += r */
} qk_residual_kind;

/** What the epilogue stores. */
typedef enum qk_output_kind {
    QK_OUTPUT_U8 = 0,     /**< clamp(lrintf(y * out_inv_scale) + out_zero, 0, 255) */
    QK_OUTPUT_F32 = 1,    /**< y */
    QK_OUTPUT_I32 = 2,    /**< acc' (qgemm only; no scale/bias/residual/clamp) */
} qk_output_kind;

/** The fused epilogue and the output of a GEMM. Arrays are indexed by the GEMM's n (and m). */
typedef struct qk_epilogue {
    const float* scale;          /**< [N] sa * wscale[n] (qgemm; ignored by fgemm) */
    const float* bias;           /**< [N], or NULL for no add */
    float clamp_lo, clamp_hi;    /**< -INFINITY/INFINITY for none */
    qk_residual_kind residual_kind;
    const void* residual;        /**< [M][ldr] u8 or f32 */
    size_t ldr;                  /**< residual row stride in elements */
    float rscale;                /**< u8 residual scale */
    int32_t rzero;               /**< u8 residual zero point */
    qk_output_kind output_kind;
    void* out;                   /**< [M][ldc] u8, f32 or int32 */
    size_t ldc;                  /**< output row stride in elements, >= N */
    float out_inv_scale;         /**< u8 output: 1 / output scale, > 0 (finite) */
    int32_t out_zero;            /**< u8 output zero point, in [0, 255] */
    const int32_t* half_rows;    /**< NULL, or [M] (qgemm only): half-step weights, acc' = 2 * acc' +
                                      half_rows[m] with half_rows[m] = sum_k (A[m][k] - a_zero), so
                                      8-bit odd levels 2q + 1 (Any-Precision's 2Q - 255) run as int8
                                      q = Q - 128; scale[n] is then per unit of the half step. The
                                      conv driver fills it (qk_conv_half_step_bytes). */
    float* out_range;            /**< NULL, or [2] (f32 output): the driver (qgemm, fgemm, pfgemm, the u8 conv,
                                      dwconv) lowers [0] to the minimum and raises [1] to the maximum of the
                                      values it writes, NaNs ignored (a dynamically quantized reader then needs no
                                      range pass of its own; qk_minmax_f32 of the output gives the same). Members
                                      ignore it. */
} qk_epilogue;

/** One quantized GEMM: C[M][N] = epilogue(A[M][K] (u8) x W[N][K] (packed k-bit)). */
typedef struct qk_qgemm_args {
    size_t M, N, K;              /**< K <= QK_MAX_K */
    const uint8_t* a;            /**< [M][lda] u8 activations */
    size_t lda;                  /**< >= K */
    int32_t a_zero;              /**< za, in [0, 255] */
    const uint8_t* w;            /**< packed weights, row groups of 16 (qk_pack.h) */
    size_t w_group_stride;       /**< bytes between row groups, >= QK_ROW_GROUP * qk_packed_row_bytes(K,
                                      bits) (equal for a qk_pack_codes matrix) */
    int32_t bits;                /**< 1, 2, 3, 4 or 8; must equal the member's bits */
    const int8_t* lut;           /**< [16] code -> int8 value (bits 1..4), NULL for bits 8 */
    const int32_t* colsum;       /**< [N] from qk_weight_colsums; always required (NEON members,
                                      which have s8 x s8 dot products only, compute with a - 128
                                      and add 128 * colsum back) */
    size_t prefetch_rows;        /**< a hint for members (0: none): the full row tiles inside rows
                                      [0, prefetch_rows) fetch the next column tile's weights into L2 as they
                                      go, each its share, so the next tile need not wait on L3 / memory. The
                                      drivers (qk_qgemm, qk_conv2d_u8) set it on every call (first panel;
                                      the fused conv path: each thread's first panel) and overwrite what the
                                      caller put there. Members may ignore it; results never depend on it. */
    qk_epilogue epi;
    /* Implicit conv rows (the u8 conv driver; 0 = plain rows a + m * lda): when a_width > 0, row m =
     * (oy, ox) = (m / a_width, m % a_width) starts at a + oy * a_row_step + ox * a_col_step and its K
     * bytes are K / a_seg_len runs of a_seg_len bytes, run s at + s * a_seg_step (one kernel row of a
     * zero-point-bordered NHWC image each); a_seg_len is a multiple of 32 and divides K, lda is unused.
     * Every member reads such rows (qk_qgemm_rows.h); the values are the im2col rows', the results the
     * same bits. */
    size_t a_width, a_row_step, a_col_step, a_seg_len, a_seg_step;
} qk_qgemm_args;

/** One f32 GEMM: C[M][N] = epilogue(A[M][K] x B[N][K]^T). epi.scale, rscale/rzero, out_inv_scale
 *  and out_zero are ignored; residual_kind is NONE or F32; output_kind must be F32. */
typedef struct qk_fgemm_args {
    size_t M, N, K;
    const float* a;              /**< [M][lda] */
    size_t lda;                  /**< elements, >= K */
    const float* b;              /**< [N][ldb] one row per output channel */
    size_t ldb;                  /**< elements, >= K */
    qk_epilogue epi;
} qk_fgemm_args;

/** The qgemm family signature: computes the output tile rows [m0, m0+mr) x columns [n0, n0+nr)
 *  of `args`, 1 <= mr <= MR, 1 <= nr <= NR, epilogue included. */
typedef void (*qk_qgemm_ukernel_fn)(const qk_qgemm_args* args, size_t m0, size_t n0, size_t mr,
                                    size_t nr);
/** The fgemm family signature (same tile contract). */
typedef void (*qk_fgemm_ukernel_fn)(const qk_fgemm_args* args, size_t m0, size_t n0, size_t mr,
                                    size_t nr);

/** How a qgemm member multiplies. */
typedef enum qk_qgemm_kind {
    QK_KIND_LUT = 0,    /**< codes -> int8 through the table, then integer dot products (any table) */
    QK_KIND_SHIFT = 1,  /**< shift-add: no multiplications; the table must be shift-coded
                             (every entry 0 or +-2^e, qk_lut_is_shift) */
} qk_qgemm_kind;

/** A registered qgemm member. */
typedef struct qk_qgemm_ukernel_desc {
    const char* name;            /**< the symbol, e.g. "qk_lgemm_w4_ukernel_4x4c32__scalar" */
    qk_qgemm_ukernel_fn fn;
    int32_t mr, nr, kr;          /**< tile rows, tile columns, K grouping (32 = packing block) */
    qk_isa isa;
    int32_t bits;                /**< weight bits it accepts */
    qk_qgemm_kind kind;          /**< LUT + dot product, or shift-add */
} qk_qgemm_ukernel_desc;

/** A registered fgemm member (bits = 32). */
typedef struct qk_fgemm_ukernel_desc {
    const char* name;
    qk_fgemm_ukernel_fn fn;
    int32_t mr, nr, kr;
    qk_isa isa;
    int32_t bits;
} qk_fgemm_ukernel_desc;

/** A registered pfgemm member: f32 GEMM whose B (args->b) is packed by qk_pfgemm_pack into panels of
 *  nr output channels, [ceil(N / nr)][K][nr] (zero past N), so lanes run along N: A[m][k] is
 *  broadcast against a panel row and the epilogue is vectorized over nr columns. For the constant
 *  weights of f32 convs (packed once by the planner); small K (a network's stem, 1x1 convs) gains
 *  most, as no horizontal sums remain. args->ldb is unused; everything else as fgemm. */
/** SIMD pfgemm members sum K in blocks of this many k (each block's FMA chain from zero, the blocks
 *  added in order): rounding chains as short as fgemm's 16-lane sums, not K long. */
#define QK_PFGEMM_KC 32

typedef struct qk_pfgemm_ukernel_desc {
    const char* name;
    qk_fgemm_ukernel_fn fn;
    int32_t mr, nr;
    qk_isa isa;
} qk_pfgemm_ukernel_desc;

/** The registries: the single source of truth for dispatch, tests and benchmarks. Only members
 *  compiled for this architecture are listed; scalar members first within each block (lgemm/qgemm,
 *  sgemm). */
extern const qk_qgemm_ukernel_desc qk_qgemm_ukernels[];
extern const size_t qk_qgemm_ukernel_count;
extern const qk_fgemm_ukernel_desc qk_fgemm_ukernels[];
extern const size_t qk_fgemm_ukernel_count;
/** Element i of the registries (NULL when out of range); Swift cannot import unsized C arrays. */
const qk_qgemm_ukernel_desc* qk_qgemm_ukernel_at(size_t i);
const qk_fgemm_ukernel_desc* qk_fgemm_ukernel_at(size_t i);
extern const qk_pfgemm_ukernel_desc qk_pfgemm_ukernels[];
extern const size_t qk_pfgemm_ukernel_count;
const qk_pfgemm_ukernel_desc* qk_pfgemm_ukernel_at(size_t i);

/** Dispatch: the best registered QK_KIND_LUT member for `bits` whose ISA this CPU supports and
 *  that is not above `isa` (pass qk_isa_active()); the highest-ranked ISA wins, ties go to the
 *  first registered. NULL if bits is unsupported. */
const qk_qgemm_ukernel_desc* qk_qgemm_select(int bits, qk_isa isa);
/** Dispatch among the members of one kind (NULL if none serves `bits`). */
const qk_qgemm_ukernel_desc* qk_qgemm_select_kind(int bits, qk_isa isa, qk_qgemm_kind kind);

/** 1 if every one of the 2^bits table entries is 0 or +-2^e (0 <= e <= 6, or -128 = -2^7): weights
 *  a QK_KIND_SHIFT member can run. */
int qk_lut_is_shift(const int8_t* lut, int bits);
/** Dispatch for fgemm (see qk_qgemm_select). Never NULL (the scalar member always qualifies). */
const qk_fgemm_ukernel_desc* qk_fgemm_select(qk_isa isa);

/** Dispatch for pfgemm (see qk_qgemm_select). Never NULL (the scalar member always qualifies). */
const qk_pfgemm_ukernel_desc* qk_pfgemm_select(qk_isa isa);
/** Floats of B [N][ldb] packed for a member of panel width nr: ceil(N / nr) * nr * K. */
size_t qk_pfgemm_packed_floats(size_t N, size_t K, size_t nr);
/** Packs B [N][ldb] (K used per row) into [ceil(N / nr)][K][nr] panels, zeros past N. */
void qk_pfgemm_pack(const float* b, size_t N, size_t K, size_t ldb, size_t nr, float* packed);

/** Runs a whole qgemm with member `uk` (uk->bits == args->bits), OpenMP over output tiles. */
void qk_qgemm(const qk_qgemm_ukernel_desc* uk, const qk_qgemm_args* args);
/** Runs a whole fgemm with member `uk`, OpenMP over output tiles. */
void qk_fgemm(const qk_fgemm_ukernel_desc* uk, const qk_fgemm_args* args);
/** Runs a whole pfgemm with member `uk` (args->b packed for uk->nr), OpenMP over output tiles. */
void qk_pfgemm(const qk_pfgemm_ukernel_desc* uk, const qk_fgemm_args* args);

#ifdef __cplusplus
}
#endif
