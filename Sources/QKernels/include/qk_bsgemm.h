/* qk_bsgemm.h — the bit-serial GEMM family (bsgemm): 1- or 2-bit unsigned weight codes x 1- or 2-bit
 * unsigned activation codes by AND + popcount over bit planes (members W1A1, W1A2, W2A1, W2A2), its
 * bit-plane packing, registry, dispatch, GEMM driver and NHWC conv driver (docs/KERNELS.md "bsgemm").
 *
 * Math. Activation codes a in [0, 2^ab) (DoReFa / Any-Precision activations: real value = sa * a,
 * zero point 0), weight codes q in [0, 2^wb) with a per-layer affine map to integer levels
 *     level = w_mul * q + w_offset
 * (Any-Precision / DoReFa weights 2q - (2^wb - 1): w_mul = 2, w_offset = 1 - 2^wb, real weight =
 * wscale[n] / (2^wb - 1) * level; +-1 weights stored as q = (w + 1) / 2: wb = 1, w_mul = 2,
 * w_offset = -1; plain unsigned levels: w_mul = 1, w_offset = 0). With Wplane_i = bit i of the codes
 * of weight row n and Aplane_j = bit j of the codes of activation row m:
 *     acc[m][n] = sum_k level[n][k] * a[m][k] = w_mul * S[m][n] + w_offset * T[m]
 *     S[m][n]   = sum_k q a = sum_{i<wb} sum_{j<ab} 2^(i+j) popcount(Wplane_i[n] AND Aplane_j[m])
 *     T[m]      = sum_k a   = sum_{j<ab} 2^j popcount(Aplane_j[m])      (shared by every channel n)
 * all int32, exact (K limit below). Positions past the data (a row's tail, the rest of each conv
 * tap's last word, the zero border of a packed image) are 0 in every activation plane, so they add 0
 * to S and T whatever the weight planes hold there: conv zero padding is exact with no correction
 * (activation code 0 is real 0).
 *
 * Epilogue: qk_epilogue (qk_gemm.h) with acc' = acc (no activation zero point): y = (float)acc *
 * scale[n] (+ bias[n]) (+ residual) -> clamp -> f32 / u8 out, or raw int32 out (QK_OUTPUT_I32). The
 * qgemm scalar epilogue's float ops in its order, no FMA: every member gives the same bits.
 *
 * K LIMIT: S <= 9 * P and T <= 3 * P for P packed positions per row (64 * kw), so with
 * |w_mul|, |w_offset| <= QK_BSGEMM_MAX_COEF = 64 every term and acc stay below 64 * 12 * P <= 2^31 - 1
 * for P <= QK_BSGEMM_MAX_K = 2^21 positions (2,097,152; a 3x3 conv over 233,016 channels). The
 * drivers assert both.
 *
 * Packed weights (qk_bsgemm_pack_weights, offline): rows in groups of QK_BSGEMM_ROW_GROUP = 8 (N
 * padded with all-zero rows); group g holds, for each k-word j in order, wb planes of 8 words (rows
 * 0..7): uint64 index ((g * kw + j) * wb + i) * 8 + r. One plane of a group at one word is one
 * 512-bit register, a 64-bit lane per output channel. K is cut into segments of `seg` positions (a
 * conv: seg = in_c, one segment per tap; a plain GEMM: seg = K), each starting a new word:
 * kw = qk_bsgemm_kwords(K, seg).
 * Packed activations (qk_bsgemm_pack_rows / qk_bsconv_pack_image, online): a row is kw groups of ab
 * words, plane j of word w at row + ab * w + j. Rows are either plain (row m at a + m * lda) or
 * implicit conv rows read in place from a packed image: row m = oy * a_width + ox starts at
 * a + oy * a_row_step + ox * a_col_step and is segs pieces of seg_words words, piece s at
 * a_segs[s] from the row start (segs * seg_words = kw).
 * Bit b of word w is position k = 64 * w + b (within one conv tap: channel c = 64 * w' + b).
 *
 * MEMORY CONTRACT: members read activation words only inside the rows' pieces (ab * seg_words words
 * each; plain rows: [m * lda, m * lda + ab * kw)) of rows m < M, and weights only in whole row groups
 * (rows < roundup(N, 8)); they never write outside out[m][n], m < M, n < N (the gap ldc - N is
 * untouched). Everything is 8-byte aligned. Thread counts never change results.
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
#define QK_BSGEMM_ROW_GROUP 8
/** Largest packed positions per row (64 * kw) for which the int32 sums are exact (see K LIMIT). */
#define QK_BSGEMM_MAX_K ((size_t)1 << 21)
/** Largest |w_mul| and |w_offset| (see K LIMIT). */
#define QK_BSGEMM_MAX_COEF 64

/** One bit-serial GEMM: C[M][N] = epilogue(sum_k (w_mul * q[n][k] + w_offset) * a[m][k]). */
typedef struct qk_bsgemm_args {
    size_t M, N;
    size_t kw;                   /**< 64-bit words per row and plane; 64 * kw <= QK_BSGEMM_MAX_K */
    int32_t wbits, abits;        /**< 1 or 2 each; must equal the member's */
    const uint64_t* a;           /**< packed activation rows (see the top of the file) */
    size_t lda;                  /**< plain rows (a_width == 0): uint64 per row, >= abits * kw */
    size_t a_width;              /**< implicit conv rows: the output width; 0 = plain rows */
    size_t a_row_step, a_col_step; /**< implicit: uint64 offset of output row oy / column ox */
    const size_t* a_segs;        /**< implicit: [segs] uint64 offsets of each piece from its row, or NULL
                                      for one piece of kw words */
    size_t segs, seg_words;      /**< with a_segs: pieces per row and words per piece (segs * seg_words = kw) */
    const uint64_t* w;           /**< packed weight groups (qk_bsgemm_pack_weights with wbits) */
    int32_t w_mul, w_offset;     /**< level = w_mul * q + w_offset; |each| <= QK_BSGEMM_MAX_COEF */
    qk_epilogue epi;             /**< scale/bias over N; output f32, u8 or i32 (acc) */
} qk_bsgemm_args;

/** The bsgemm family signature: output rows [m0, m0+mr) x columns [n0, n0+nr), epilogue included,
 *  1 <= nr <= NR and any mr >= 1 (a band of rows: members step through it MR rows at a time). */
typedef void (*qk_bsgemm_ukernel_fn)(const qk_bsgemm_args* args, size_t m0, size_t n0, size_t mr,
                                     size_t nr);

/** A registered bsgemm member (kr = 64, one k-word). */
typedef struct qk_bsgemm_ukernel_desc {
    const char* name;            /**< the symbol, e.g. "qk_bsgemm_w1a2_ukernel_4x16c64__avx512vpopcntdq" */
    qk_bsgemm_ukernel_fn fn;
    int32_t mr, nr, kr;
    qk_isa isa;
    int32_t wbits, abits;        /**< the code widths it computes */
} qk_bsgemm_ukernel_desc;

/** The registry (members compiled for this architecture; scalar first). */
extern const qk_bsgemm_ukernel_desc qk_bsgemm_ukernels[];
extern const size_t qk_bsgemm_ukernel_count;
/** Element i of the registry (NULL when out of range). */
const qk_bsgemm_ukernel_desc* qk_bsgemm_ukernel_at(size_t i);
/** Dispatch: the best member for wbits x abits (1 or 2 each) whose ISA this CPU supports and whose
 *  rank is not above `isa` (pass qk_isa_active()); NULL only for unsupported widths. */
const qk_bsgemm_ukernel_desc* qk_bsgemm_select(int wbits, int abits, qk_isa isa);

/** Runs a whole bsgemm with member `uk` (same wbits / abits), OpenMP over output tiles. */
void qk_bsgemm(const qk_bsgemm_ukernel_desc* uk, const qk_bsgemm_args* args);

/* ---- packing (qk_bsgemm_pack.c) ---- */

/** 64-bit words per row and plane for K positions in segments of `seg` (each segment starts a new
 *  word; a conv uses seg = in_c, a plain GEMM seg = K): (K / seg) * ceil(seg / 64). */
size_t qk_bsgemm_kwords(size_t K, size_t seg);
/** uint64 words of N packed weight rows of wbits planes: roundup(N, 8) * wbits * kw. */
size_t qk_bsgemm_packed_words(size_t N, size_t kw, int wbits);
/** Packs weight codes q[N][K] (u8; only the low wbits bits are read) in segments of `seg` (K a
 *  multiple of seg) into out (qk_bsgemm_packed_words(N, kw, wbits) words, every word written).
 *  Done once per layer, offline or at load. */
void qk_bsgemm_pack_weights(const uint8_t* q, size_t N, size_t K, size_t seg, int wbits, uint64_t* out);
/** Packs activation codes a[r][c] (u8 at a[r * lda + c], c < C; only the low abits bits are read)
 *  into rows of ceil(C / 64) groups of abits plane words at out[r * ldo] (ldo >= abits * ceil(C/64));
 *  bits past C are 0. */
void qk_bsgemm_pack_rows(const uint8_t* a, size_t rows, size_t C, size_t lda, int abits, uint64_t* out,
                         size_t ldo);

/* ---- conv (qk_bsconv.c) ---- */

/** A packed bit-serial conv layer (groups = 1). K order (ky, kx, c) as qk_conv.h, each tap's in_c
 *  channels starting a new word (seg = in_c). */
typedef struct qk_bsconv_layer {
    const uint64_t* w;           /**< qk_bsgemm_pack_weights(q[out_c][kh*kw*in_c], seg = in_c, wbits) */
    int32_t w_mul, w_offset;     /**< level = w_mul * q + w_offset */
    qk_epilogue epi;             /**< arrays over out_c; out [out_h*out_w][ldc >= out_c] */
} qk_bsconv_layer;

/** 1 if the family runs conv g: groups 1, positive sizes, strides and dilations, non-negative
 *  paddings, a non-empty output, and at most QK_BSGEMM_MAX_K packed positions per output. */
int qk_bsconv_supports(const qk_conv_geom* g);
/** Bytes of the packed input image of geometry g for abits-bit codes: (pad_top + in_h + pad_bottom) x
 *  (pad_left + in_w + pad_right) pixels of abits * ceil(in_c / 64) words; border pixels are zero words
 *  (code 0). It depends only on in_h, in_w, in_c, the four paddings and abits. */
size_t qk_bsconv_image_bytes(const qk_conv_geom* g, int abits);
/** Packs u8 NHWC activation codes in[in_h][in_w][in_c] (low abits bits read) into the zero-bordered
 *  image of g (every word written): what the step producing a bit-serial conv's input runs once, for
 *  every conv that reads it with the same paddings (qk_bsconv2d_packed). */
void qk_bsconv_pack_image(const qk_conv_geom* g, int abits, const uint8_t* in, uint64_t* image);
/** Bit-serial conv from a packed image (qk_bsconv_pack_image's output for the same in_h / in_w / in_c /
 *  paddings and uk->abits): one qk_bsgemm whose rows are read in place (no im2col copy, no
 *  workspace); zero padding is exact. g must satisfy qk_bsconv_supports. */
void qk_bsconv2d_packed(const qk_bsgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint64_t* image,
                        const qk_bsconv_layer* layer);
/** Packs `in` into `workspace` (qk_bsconv_image_bytes(g, uk->abits), 8-byte aligned), then
 *  qk_bsconv2d_packed: a bit-serial conv from u8 codes. */
void qk_bsconv2d_u8(const qk_bsgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint8_t* in,
                    const qk_bsconv_layer* layer, void* workspace);

#ifdef __cplusplus
}
#endif
