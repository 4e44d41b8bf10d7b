/* qk_bgemm.h — the binary/ternary GEMM family (bgemm): sign activations x {-1,0,+1} weights, its
 * bit-plane packing, registry, dispatch, GEMM driver and NHWC conv driver.
 *
 * Math (Equal Bits / BinaryConnect-style networks with sign activations, ../shared/SEEDS.md §3):
 *   a = sign(x) in {-1, 0, +1} (sign(0) = 0; NaN -> 0), w in {-1, 0, +1}
 *   acc[m][n] = sum_k a[m][k] * w[n][k]                                   int32, exact (|acc| <= K)
 * Each operand is two bit planes per 64-k word: mask (bit = 1 where the value is nonzero) and sign
 * (bit = 1 where the value is -1; 0 where it is +1 or 0). With x = sa ^ sw, summed over words:
 *   QK_BGEMM_GENERAL (zeros anywhere):  acc = popcount(ma & mw) - 2 * popcount(ma & mw & x)
 *   QK_BGEMM_SIGN_ACT (activations without zeros, weights ternary):
 *                                       acc = nz[n] - 2 * popcount(mw & x)   (ma never read;
 *                                       nz[n] = nonzero weights of row n, qk_bgemm_row_nonzeros)
 *   QK_BGEMM_BINARY (no zeros at all):  acc = K - 2 * popcount(x)           (masks never read)
 * Positions past the data (the tail of a row's last word, or of each conv tap's last word) are 0
 * in both planes of both operands, so they add 0 to every formula; K is the count of real
 * positions. On the two paths that ignore ma, rows whose activations hold known zeros (conv zero
 * padding) are fixed by an exact correction: those paths count such a position as a = +1 (sign
 * bit 0), so  acc -= corr[corr_row[m]][n],  corr = sum of w[n][k] over the row's zero positions
 * (rows with corr_row[m] = QK_BGEMM_NO_CORRECTION have none).
 *
 * Epilogue: qk_epilogue (qk_gemm.h) with acc' = acc (no zero point): y = (float)acc * scale[n]
 * (+ bias[n]) (+ residual) -> clamp -> f32 / u8 out, or raw int32 out (QK_OUTPUT_I32). Same float
 * ops in the same order as the qgemm scalar epilogue, no FMA: every member gives the same bits.
 *
 * Packed weights (docs/FORMAT.md "Binary weights"): rows in groups of QK_BGEMM_ROW_GROUP = 8 (N
 * padded with all-zero rows); group g holds, for each k-word j in order, 8 mask words (rows 0..7)
 * then 8 sign words: uint64 index (g * kw + j) * 16 + plane * 8 + r. Group stride 16 * kw words.
 * Packed activations: row m is kw (mask, sign) word pairs: a[m * lda + 2 * j + plane]; or, for an
 * implicit conv, segs pieces of seg_words pairs read in place from a packed image:
 * pair w of piece s of row m at a + a_rows[m] + a_segs[s] + 2 * w (j = s * seg_words + w).
 * Bit b of word j is position k = 64 * j + b (within one conv tap: channel c = 64 * j' + b).
 *
 * MEMORY CONTRACT: members read activation words only inside [m * lda, m * lda + 2 * kw) of rows
 * m < M (implicit rows: the 2 * seg_words words at each row + piece offset) and weights only in whole row groups (rows < roundup(N, 8)); they never write outside
 * out[m][n], m < M, n < N (the gap ldc - N is untouched). Everything is 8-byte aligned.
 * Thread counts never change results (tiles are computed alone).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_conv.h"
#include "qk_gemm.h"
#include "qk_isa.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Weight rows per packed group (8 x 64-bit lanes = one 512-bit register per plane). */
#define QK_BGEMM_ROW_GROUP 8

/** corr_row value of a row without padded positions: nothing to subtract (no table read). */
#define QK_BGEMM_NO_CORRECTION 0xFFFFu

/** Which formula a bgemm call uses (what the caller knows about zeros; see the top of the file). */
typedef enum qk_bgemm_path {
    QK_BGEMM_GENERAL = 0,   /**< zeros in activations and weights: both masks read */
    QK_BGEMM_SIGN_ACT = 1,  /**< no zero activation at a real position (except corrected rows) */
    QK_BGEMM_BINARY = 2,    /**< no zero activation (except corrected rows) and no zero weight */
} qk_bgemm_path;

/** One binary GEMM: C[M][N] = epilogue(sum_k a[m][k] * w[n][k]) over packed bit planes. */
typedef struct qk_bgemm_args {
    size_t M, N;
    size_t kw;                   /**< 64-bit words per row and plane */
    size_t K;                    /**< real positions per row (fast path: acc = K - 2 popcount) */
    const uint64_t* a;           /**< [M][lda] (mask, sign) word pairs, or the base of a_rows/a_segs */
    size_t lda;                  /**< uint64 per activation row, >= 2 * kw (when a_rows is NULL) */
    const size_t* a_rows;        /**< NULL, or [M] uint64 offsets of each row from a (implicit conv) */
    const size_t* a_segs;        /**< with a_rows: [segs] uint64 offsets of each piece from its row */
    size_t segs, seg_words;      /**< with a_rows: pieces per row and words per piece (segs * seg_words = kw) */
    const uint64_t* w;           /**< packed weight groups (qk_bgemm_pack_weights) */
    qk_bgemm_path path;
    const int32_t* w_nonzero;    /**< [N] nonzero weights per row (QK_BGEMM_SIGN_ACT only) */
    const int32_t* corr;         /**< SIGN_ACT / BINARY: [classes][N] corrections, or NULL for none */
    const uint16_t* corr_row;    /**< [M] class of row m, or QK_BGEMM_NO_CORRECTION (used when corr != NULL) */
    qk_epilogue epi;             /**< scale/bias over N; output f32, u8 or i32 (acc) */
} qk_bgemm_args;

/** The bgemm family signature: output rows [m0, m0+mr) x columns [n0, n0+nr), epilogue included,
 *  1 <= nr <= NR and any mr >= 1 (a band of rows: members step through it MR rows at a time, so
 *  per-call setup is paid once per band). */
typedef void (*qk_bgemm_ukernel_fn)(const qk_bgemm_args* args, size_t m0, size_t n0, size_t mr,
                                    size_t nr);

/** A registered bgemm member (bits = 1 for the packed planes; kr = 64, one k-word). */
typedef struct qk_bgemm_ukernel_desc {
    const char* name;
    qk_bgemm_ukernel_fn fn;
    int32_t mr, nr, kr;
    qk_isa isa;
} qk_bgemm_ukernel_desc;

/** The registry (scalar first; only members compiled for this architecture). */
extern const qk_bgemm_ukernel_desc qk_bgemm_ukernels[];
extern const size_t qk_bgemm_ukernel_count;
/** Element i of the registry (NULL when out of range). */
const qk_bgemm_ukernel_desc* qk_bgemm_ukernel_at(size_t i);
/** Dispatch: the highest-ranked member whose ISA this CPU supports and is not above `isa` (pass
 *  qk_isa_active()); never NULL (the scalar member qualifies). */
const qk_bgemm_ukernel_desc* qk_bgemm_select(qk_isa isa);

/** Runs a whole bgemm with member `uk`, OpenMP over output tiles. */
void qk_bgemm(const qk_bgemm_ukernel_desc* uk, const qk_bgemm_args* args);

/* ---- packing (qk_bgemm_pack.c) ---- */

/** 64-bit words per row for K positions in segments of `seg` (each segment starts a new word; a
 *  conv uses seg = in_c, a plain GEMM seg = K): (K / seg) * ceil(seg / 64). */
size_t qk_bgemm_kwords(size_t K, size_t seg);
/** uint64 words of N packed weight rows: roundup(N, 8) * 2 * kw. */
size_t qk_bgemm_packed_words(size_t N, size_t kw);
/** Packs w[N][K] (int8, read by sign: > 0 -> +1, < 0 -> -1, 0 -> 0) in segments of `seg` (K a
 *  multiple of seg) into out (qk_bgemm_packed_words(N, kwords) words). Returns 1 if any weight
 *  is 0 (the layer needs the general path), else 0. */
int qk_bgemm_pack_weights(const int8_t* w, size_t N, size_t K, size_t seg, uint64_t* out);
/** Nonzero weights per packed row: nz[n] = popcount of row n's mask plane (for QK_BGEMM_SIGN_ACT). */
void qk_bgemm_row_nonzeros(const uint64_t* packed, size_t N, size_t kw, int32_t* nz);
/** Per-segment weight sums of packed rows: sums[s * N + n] = sum of w[n][k] over segment s
 *  (segs = kw / seg_words segments of seg_words words). For conv padding corrections. */
void qk_bgemm_segment_sums(const uint64_t* packed, size_t N, size_t kw, size_t seg_words,
                           int32_t* sums);
/** Packs rows of f32 activations, a = sign(x): x > 0 -> +1, x < 0 -> -1, +-0 and NaN -> 0.
 *  x[r][c] at x[r * ldx + c], c < C; out row r = ceil(C/64) (mask, sign) pairs at out[r * ldo].
 *  Returns 1 if any packed value is 0 (general path needed), else 0. */
int qk_bgemm_pack_f32(const float* x, size_t rows, size_t C, size_t ldx, uint64_t* out, size_t ldo);

/* ---- conv (qk_bconv.c) ---- */

/** A packed binary conv layer (groups = 1, dilation allowed). K order (ky, kx, c) as qk_conv.h,
 *  each tap's in_c channels starting a new word (seg = in_c). */
typedef struct qk_bconv_layer {
    const uint64_t* w;           /**< qk_bgemm_pack_weights(w[out_c][kh*kw*in_c], seg = in_c) */
    int32_t w_has_zero;          /**< its return value */
    const int32_t* tap_sums;     /**< [kh*kw][out_c] qk_bgemm_segment_sums (padding corrections) */
    const int32_t* w_nonzero;    /**< [out_c] qk_bgemm_row_nonzeros (zero weights, sign inputs) */
    qk_epilogue epi;             /**< arrays over out_c; out [out_h*out_w][ldc >= out_c] */
    const void* tables;          /**< qk_bconv_prepare's row tables for this geometry, or NULL
                                      (then every call builds them in its workspace) */
} qk_bconv_layer;

/** Bytes of the row tables of geometry g (8-byte aligned buffer). */
size_t qk_bconv_tables_bytes(const qk_conv_geom* g);
/** Builds the row tables once (plan time): where each implicit GEMM row and piece starts in the
 *  packed image, and the padding-correction classes from layer->tap_sums. They depend only on g
 *  and the layer's weights. */
void qk_bconv_prepare(const qk_conv_geom* g, const qk_bconv_layer* layer, void* tables);
/** Workspace bytes of qk_bconv2d_f32 for geometry g (8-byte aligned buffer; includes room for the
 *  row tables, used only when layer->tables is NULL). */
size_t qk_bconv_workspace_bytes(const qk_conv_geom* g);
/** Bytes of the packed input image of geometry g: (pad_top + in_h + pad_bottom) x (pad_left + in_w +
 *  pad_right) pixels of ceil(in_c / 64) (mask, sign) word pairs; border pixels are zero words.
 *  It depends only on in_h, in_w, in_c and the four paddings. */
size_t qk_bconv_image_bytes(const qk_conv_geom* g);
/** Sign-packs an f32 NHWC input (sign(0) = 0, NaN -> 0) into the zero-bordered image of g (every
 *  word written). Returns 1 if any packed activation is 0 (the conv then needs the general path).
 *  What an op in front of binary convs writes so that they run from packed input (qk_bconv2d_packed). */
int qk_bconv_pack_image(const qk_conv_geom* g, const float* in, uint64_t* image);
/** Binary conv from a packed image (qk_bconv_pack_image's output and return value for the same
 *  in_h / in_w / in_c / paddings); layer->tables must be set (qk_bconv_prepare). No workspace. */
void qk_bconv2d_packed(const qk_bgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint64_t* image,
                       int image_has_zero, const qk_bconv_layer* layer);
/** Binary conv of an f32 NHWC input: packs sign(in) per pixel into a zero-bordered image (taps
 *  outside the image read zero words = zero activations, exact) and runs qk_bgemm with implicit
 *  rows (a_rows / a_segs: each tap's words read in place, no im2col copy):
 *  QK_BGEMM_BINARY when neither the weights nor the input hold a zero, QK_BGEMM_SIGN_ACT when
 *  only the weights do (padding corrected per row class on both), else QK_BGEMM_GENERAL.
 *  g->groups must be 1. Equals qk_bconv_pack_image into the workspace, then qk_bconv2d_packed. */
void qk_bconv2d_f32(const qk_bgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                    const qk_bconv_layer* layer, void* workspace);

#ifdef __cplusplus
}
#endif
