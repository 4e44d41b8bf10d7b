/* qk_fdwconv.h — the fdwconv family: direct depthwise 3x3 and 5x5 convolution, f32 NHWC activations
 * x f32 weights, with the fgemm epilogue (qk_gemm.h). The f32 twin of qk_dwconv.h (which is 3x3
 * only): one signature, a registry, dispatch, a weight repack and a driver.
 *
 * Scope (qk_fdwconv_supports): groups == in_c == out_c = C, a square K x K kernel with K = 3 or 5
 * (QK_FDWCONV_MAX_KERNEL), dilation 1, stride 1 or 2 each way, any padding; pad value 0. The kernel
 * size is a run-time parameter of every member (read from the geometry once per call; each member
 * holds one compiled body per size, so the tap loops unroll). For output pixel m = oy*out_w + ox
 * and channel c, the taps (ky, kx) whose input pixel
 *   in[oy*stride_h - pad_top + ky][ox*stride_w - pad_left + kx][c]
 * lies inside the image are summed in (ky, kx) order as ONE fused multiply-add chain:
 *   acc = +0.0f;  for each in-image tap t in order: acc = fmaf(x_t, w[t][c], acc)
 * (taps outside the image are skipped, which equals adding 0 * w for finite w). Every member gives
 * these bits exactly. Then the fgemm epilogue, op for op (qk_fgemm_epilogue):
 *   y = acc (+ bias[c]) (+ residual[m][c] f32), y = fminf(fmaxf(y, clamp_lo), clamp_hi), out f32.
 * Relation to the f32 GEMM path (qk_conv2d_f32 per group, K*K taps): the same products in the same
 * (ky, kx) order, but the scalar fgemm rounds each product and each sum separately (and its SIMD
 * members reorder), so the two paths agree to rounding (a few ulp of the largest term), not in bits.
 *
 * Weights: the layer's f32 rows [C][K*K] (t = ky*K + kx, the f32 GEMM's B for groups == C) are
 * repacked once at plan time by qk_fdwconv_pack into w[K*K][w_stride] (tap-major, channels
 * contiguous, w_stride = qk_fdwconv_weight_stride(C), zeros past C).
 *
 * MEMORY CONTRACT: members read the input only at in-image pixels and channels < C (no slack needed),
 * weights at w[t][c < C], bias[c < C], residual/output only at [m][c < C]; they never write outside
 * out[m][c], m < out_h*out_w, c < C (the gap ldc - C is untouched).
 * Threads never change results: the driver splits output rows, each computed alone.
 * Member names: qk_fdwconv_ukernel_<pixels>x<channels>__<isa> (docs/KERNELS.md).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_conv.h"
#include "qk_gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The largest kernel size (K of K x K) the family covers; the sizes are 3 and 5. */
#define QK_FDWCONV_MAX_KERNEL 5

/** Channel rounding (in floats) of the repacked weight rows: 16 floats = one 64-byte line. */
#define QK_FDWCONV_CHANNEL_ALIGN 16

/** One f32 depthwise layer call. */
typedef struct qk_fdwconv_args {
    qk_conv_geom geom;           /**< must satisfy qk_fdwconv_supports */
    const float* in;             /**< [in_h][in_w][C] f32 */
    const float* w;              /**< [K*K][w_stride] from qk_fdwconv_pack */
    size_t w_stride;             /**< elements, >= C */
    qk_epilogue epi;             /**< fgemm epilogue (bias, clamp, residual NONE or F32, output F32);
                                      arrays over C, out/residual [out_h*out_w][ldc/ldr >= C] */
} qk_fdwconv_args;

/** The fdwconv family signature: computes output rows [oy0, oy1), every pixel and channel,
 *  epilogue included. */
typedef void (*qk_fdwconv_ukernel_fn)(const qk_fdwconv_args* args, size_t oy0, size_t oy1);

/** A registered fdwconv member (every member covers both kernel sizes). */
typedef struct qk_fdwconv_ukernel_desc {
    const char* name;            /**< the symbol, e.g. "qk_fdwconv_ukernel_1x32__avx512f" */
    qk_fdwconv_ukernel_fn fn;
    int32_t pixels, channels;    /**< output pixels x channels computed per inner step */
    int32_t lanes;               /**< floats per vector (1 for the scalar member) */
    qk_isa isa;
} qk_fdwconv_ukernel_desc;

/** The registry (members compiled for this architecture; scalar first). */
extern const qk_fdwconv_ukernel_desc qk_fdwconv_ukernels[];
extern const size_t qk_fdwconv_ukernel_count;
/** Element i of the registry (NULL when out of range). */
const qk_fdwconv_ukernel_desc* qk_fdwconv_ukernel_at(size_t i);
/** Dispatch: the best member whose ISA this CPU supports and is not above `isa` (pass
 *  qk_isa_active()); never NULL (the scalar member always qualifies). */
const qk_fdwconv_ukernel_desc* qk_fdwconv_select(qk_isa isa);
/** Dispatch for a layer of `channels` channels: the best SIMD member (by ISA, not above `isa`) whose
 *  vector width divides `channels`, else qk_fdwconv_select(isa). With NHWC f32 rows a wider vector
 *  than the channel count divides leaves every pixel a partial vector and splits half the loads
 *  across cache lines: C = 8 runs 2x faster on the 8-lane AVX2 member than on the 16-lane AVX-512
 *  one (docs/KERNELS.md). Never NULL. */
const qk_fdwconv_ukernel_desc* qk_fdwconv_select_for(qk_isa isa, int32_t channels);

/** True (1) if the family computes this conv: depthwise (groups == in_c == out_c), 3x3 or 5x5,
 *  dilation 1, stride 1 or 2 each way, non-negative padding, a non-empty output. */
int qk_fdwconv_supports(const qk_conv_geom* g);
/** Row stride (in floats) of the repacked weights for C channels: roundup(C, QK_FDWCONV_CHANNEL_ALIGN). */
size_t qk_fdwconv_weight_stride(int32_t channels);
/** Repacks f32 rows (channel c's `taps` = K*K weights at rows[c * row_stride + ky*K + kx]) into
 *  w[taps][w_stride] (w[t][c], zeros for c >= C). Done once at plan time. */
void qk_fdwconv_pack(const float* rows, size_t row_stride, int32_t taps, int32_t channels, float* w,
                     size_t w_stride);

/** Runs the whole layer with member `uk`, OpenMP over output rows. */
void qk_fdwconv(const qk_fdwconv_ukernel_desc* uk, const qk_fdwconv_args* args);

#ifdef __cplusplus
}
#endif
