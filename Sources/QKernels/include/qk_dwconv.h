/* qk_dwconv.h — the dwconv family: direct depthwise 3x3 and 5x5 convolution, u8 NHWC activations x
 * int8 weights, with the qgemm epilogue (qk_gemm.h). One signature, a registry, dispatch and a driver.
 *
 * Scope: groups == in_c == out_c = C, a square K x K kernel with K = 3 or 5, dilation 1, stride 1 or 2
 * (each direction), any padding (pad value = the input zero point, i.e. real 0). For output pixel
 * m = oy*out_w + ox and channel c, with tap (ky, kx) reading
 * in[oy*stride_h - pad_top + ky][ox*stride_w - pad_left + kx][c] (a_zero outside the image):
 *   acc[m][c]  = sum_{ky,kx} A * w[ky*K+kx][c]                        int32, exact (25 * 255 * 128)
 *   acc'[m][c] = acc[m][c] - a_zero * wsum[c]                         = sum (A - a_zero) * w
 * then exactly the qgemm epilogue over n = c (same float ops, same order; the members reuse the
 * qgemm epilogue code), so a layer gives the same bits as qk_conv2d_u8 with groups == C.
 *
 * Weights: the layer's packed codes (qgemm layout, C groups of one row of K*K codes) are repacked once
 * at plan time by qk_dwconv_pack into int8 w[K*K][w_stride] (tap-major, channels contiguous,
 * w_stride = qk_dwconv_weight_stride(C), zero past C) and wsum[C] (= the GEMM's colsum).
 *
 * MEMORY CONTRACT: members read the input only at in-image pixels and channels < C (no slack needed),
 * weights within w[9][w_stride], residual/output only at [m][c < C]; they never write outside
 * out[m][c], m < out_h*out_w, c < C (the gap ldc - C is untouched).
 * Threads never change results: the driver splits output rows, each computed alone.
 * Member names: qk_dwconv_ukernel_<pixels>x<channels>__<isa> (docs/KERNELS.md).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_conv.h"
#include "qk_gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Channel rounding of the repacked weight rows (covers every member's channel tile). */
#define QK_DWCONV_CHANNEL_ALIGN 64
/** The largest kernel side the family runs (3 and 5). */
#define QK_DWCONV_MAX_KERNEL 5

/** One depthwise layer call. */
typedef struct qk_dwconv_args {
    qk_conv_geom geom;           /**< must satisfy qk_dwconv_supports */
    const uint8_t* in;           /**< [in_h][in_w][C] u8 */
    int32_t a_zero;              /**< input zero point in [0, 255], also the pad value */
    const int8_t* w;             /**< [K*K][w_stride] from qk_dwconv_pack */
    size_t w_stride;             /**< >= qk_dwconv_weight_stride(C) */
    const int32_t* wsum;         /**< [C] sum of the K*K weights of each channel */
    qk_epilogue epi;             /**< arrays over C; out/residual [out_h*out_w][ldc >= C] */
} qk_dwconv_args;

/** The dwconv family signature: computes output rows [oy0, oy1), every pixel and channel,
 *  epilogue included. */
typedef void (*qk_dwconv_ukernel_fn)(const qk_dwconv_args* args, size_t oy0, size_t oy1);

/** A registered dwconv member (every member covers both kernel sizes). */
typedef struct qk_dwconv_ukernel_desc {
    const char* name;            /**< the symbol, e.g. "qk_dwconv_ukernel_1x32__avx512skx" */
    qk_dwconv_ukernel_fn fn;
    int32_t pixels, channels;    /**< output pixels x channels computed per inner step */
    qk_isa isa;
} qk_dwconv_ukernel_desc;

/** The registry (members compiled for this architecture; scalar first). */
extern const qk_dwconv_ukernel_desc qk_dwconv_ukernels[];
extern const size_t qk_dwconv_ukernel_count;
/** Element i of the registry (NULL when out of range). */
const qk_dwconv_ukernel_desc* qk_dwconv_ukernel_at(size_t i);
/** Dispatch: the best member whose ISA this CPU supports and is not above `isa` (pass
 *  qk_isa_active()); never NULL (the scalar member always qualifies). */
const qk_dwconv_ukernel_desc* qk_dwconv_select(qk_isa isa);

/** 1 if `g` is a conv the family runs: groups == in_c == out_c >= 1, 3x3 or 5x5, dilation 1, strides
 *  in {1, 2}, paddings >= 0 (any, asymmetric too), and a non-empty output. */
int qk_dwconv_supports(const qk_conv_geom* g);
/** Row stride (in bytes) of the repacked weights for C channels: roundup(C, QK_DWCONV_CHANNEL_ALIGN). */
size_t qk_dwconv_weight_stride(int32_t channels);
/** Repacks a depthwise K x K layer's packed codes (C groups of one row each of K*K codes; `group_stride`
 *  bytes between groups, bits 1/2/3/4 with `lut`, or 8) into w[K*K][w_stride] int8 (zeros for
 *  c >= C) and wsum[C]. Done once at plan time. */
void qk_dwconv_pack(const uint8_t* packed, size_t group_stride, int bits, const int8_t* lut, int32_t kernel,
                    int32_t channels, int8_t* w, size_t w_stride, int32_t* wsum);

/** Runs the whole layer with member `uk`, OpenMP over output rows. */
void qk_dwconv(const qk_dwconv_ukernel_desc* uk, const qk_dwconv_args* args);

#ifdef __cplusplus
}
#endif
