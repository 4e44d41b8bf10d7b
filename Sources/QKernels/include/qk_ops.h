/* qk_ops.h — the non-GEMM operators: pooling, elementwise add, the f32 activation steps, the
 * flatten transpose, the option-A shortcut, (de)quantization and min/max. NHWC, batch 1. Float
 * math is float32 in the order written, without FMA; u8 results use the same rounding as the GEMM epilogue:
 *   q = clamp((int)lrintf(y * inv_scale) + zero, 0, 255)   (round half to even) */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A pooling window over an NHWC tensor (floor mode: out = (in + pads - kernel) / stride + 1). */
typedef struct qk_pool_geom {
    int32_t in_h, in_w, channels;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
} qk_pool_geom;

int32_t qk_pool_out_h(const qk_pool_geom* g);
int32_t qk_pool_out_w(const qk_pool_geom* g);

/** Max over the in-image part of each window (padding never wins, as PyTorch's -inf padding).
 *  A window entirely in padding gives 0 (u8) / -INFINITY (f32). */
void qk_maxpool_u8(const qk_pool_geom* g, const uint8_t* in, uint8_t* out);
void qk_maxpool_f32(const qk_pool_geom* g, const float* in, float* out);
/** Max pooling of floats written as u8 codes: out = qk_quantize_u8's code of each window's maximum (an empty
 *  window gives code 0). The codes qk_maxpool_u8 gives on qk_quantize_u8's codes of `in` (quantization is
 *  monotonic), without the codes of the whole input: a dynamically quantized network's stem pool. */
void qk_maxpool_f32_u8(const qk_pool_geom* g, const float* in, float inv_scale, int32_t zero, uint8_t* out);

/** Average with count_include_pad (PyTorch default): divisor = kernel_h*kernel_w, padding = real 0.
 *  u8 (same scale and zero point in and out): s = sum over in-image taps of (q - zero);
 *  out = clamp(lrintf((float)s / (float)(kernel_h*kernel_w)) + zero, 0, 255).
 *  f32: (sum over in-image taps in (ky, kx) order) / (float)(kernel_h*kernel_w). */
void qk_avgpool_u8(const qk_pool_geom* g, const uint8_t* in, int32_t zero, uint8_t* out);
void qk_avgpool_f32(const qk_pool_geom* g, const float* in, float* out);

/** Global average pool [hw][c] -> f32 [c].
 *  u8: out[c] = ((float)(sum_p (q[p][c] - zero)) / (float)hw) * scale   (sum exact in int64)
 *  f32: out[c] = (sum_p x[p][c], p in order) / (float)hw */
void qk_global_avgpool_u8(const uint8_t* in, size_t hw, size_t c, float scale, int32_t zero,
                          float* out);
void qk_global_avgpool_f32(const float* in, size_t hw, size_t c, float* out);

/** u8 add: y = a_scale*(float)(a - a_zero) + b_scale*(float)(b - b_zero);
 *  y = fminf(fmaxf(y, clamp_lo), clamp_hi); out = clamp(lrintf(y*out_inv_scale) + out_zero, 0, 255). */
void qk_add_u8(size_t n, const uint8_t* a, float a_scale, int32_t a_zero, const uint8_t* b,
               float b_scale, int32_t b_zero, float clamp_lo, float clamp_hi, float out_inv_scale,
               int32_t out_zero, uint8_t* out);
/** f32 add: out = fminf(fmaxf(a + b, clamp_lo), clamp_hi). */
void qk_add_f32(size_t n, const float* a, const float* b, float clamp_lo, float clamp_hi, float* out);

/* The f32 activation steps of the method recipes, exact for every input (NaN, +-0, +-inf,
 * subnormals): float32 operations in the order written; a multiply and an add stay two roundings,
 * except in qk_affine_f32, which is one fused multiply-add like PyTorch's CPU BatchNorm kernels. `in` and `out` hold n floats and do not overlap;
 * nothing outside out[0, n) is written and nothing past in[n - 1] is read. Large n runs on the team
 * (qk_set_num_threads); every team size gives the same bits.
 * Per-channel steps are NHWC: element i has channel c = i % channels (channels >= 1; n need not be a
 * multiple of channels). */

/** Inference BatchNorm: out[i] = fmaf(in[i], scale[c], shift[c]) (one rounding). With scale =
 *  (1 / sqrt(var + eps)) * gamma and shift = beta - mean * scale (the planner), this is the
 *  arithmetic of PyTorch's CPU batch_norm inference (its AVX2/AVX-512 kernels fuse the multiply-add),
 *  so a value feeding a coarse quantizer (round_to_fixed, DoReFa) rounds as PyTorch's does. */
void qk_affine_f32(size_t n, size_t channels, const float* in, const float* scale, const float* shift,
                   float* out);
/** PReLU: out[i] = in[i] >= 0 ? in[i] : slope[c] * in[i] (a NaN takes the slope branch and stays NaN;
 *  -0 stays -0). One shared slope: channels = 1. */
void qk_prelu_f32(size_t n, size_t channels, const float* in, const float* slope, float* out);
/** Clamp with Swift's min(max(x, lo), hi): t = lo >= x ? lo : x; out = hi < t ? hi : t
 *  (a NaN x stays NaN; equal values, e.g. zeros of either sign, pick lo over x and t over hi). */
void qk_clamp_f32(size_t n, const float* in, float lo, float hi, float* out);
/** sign with sign(0) = 0: out = x > 0 ? 1 : x < 0 ? -1 : 0 (+-0 and NaN give +0). */
void qk_sign_f32(size_t n, const float* in, float* out);
/** DeepShift round_to_fixed: out = clamp(floorf(x / delta) * delta, lo, hi), clamp as qk_clamp_f32. */
void qk_round_to_fixed_f32(size_t n, const float* in, float delta, float lo, float hi, float* out);
/** DoReFa activation, levels = 2^k - 1: out = rintf(clamp(x, 0, 1) * levels) / levels, clamp as
 *  qk_clamp_f32 (x = -0 gives +0, NaN stays NaN), rintf in the default mode (half to even). */
void qk_dorefa_f32(size_t n, const float* in, float levels, float* out);
/** BatchNorm, DoReFa and quantization in one pass (a pre-activation block's entry on Any-Precision's
 *  integer path): out[i] = the u8 code qk_quantize_u8 (inverse scale 1 / (1 / levels), zero point 0)
 *  makes of what qk_dorefa_f32 (levels) makes of what qk_affine_f32 makes of in[i]; the same bits as
 *  the three steps, with no division. */
void qk_affine_dorefa_u8(size_t n, size_t channels, const float* in, const float* scale, const float* shift,
                         float levels, uint8_t* out);

/* The pointwise activations of mobile networks (QGraph/Ops/: hardswish, hardsigmoid, sigmoid, SiLU)
 * and squeeze-excite's per-channel multiply, float32 operations in the order written (clamp as
 * qk_clamp_f32), with the same contract on n, in, out and threads as the steps above. */

/** HardSwish: out = x * clamp(x + 3, 0, 6) / 6 (PyTorch's order: add, clamp, multiply, divide). */
void qk_hardswish_f32(size_t n, const float* in, float* out);
/** HardSigmoid: out = clamp(alpha * x + beta, 0, 1) (a multiply and an add, two roundings). */
void qk_hardsigmoid_f32(size_t n, const float* in, float alpha, float beta, float* out);
/** Sigmoid: out = 1 / (1 + e^-x) with a vectorizable e^x (within 2 ulp; its argument clamped to
 *  [-87.33, 89], +inf from 88.38 on): within 1e-6 relative of the exact value (absolute 1e-37 where it
 *  underflows), 1 at +inf, 0 at -inf, NaN stays NaN; the same bits on every ISA. */
void qk_sigmoid_f32(size_t n, const float* in, float* out);
/** SiLU: out = x / (1 + e^-x) (x * sigmoid(x) with one rounding fewer), the e^x of qk_sigmoid_f32:
 *  within 1e-6 relative (absolute 1e-35 where it underflows), +inf at +inf, NaN at -inf (-inf / inf,
 *  as PyTorch's formula), NaN stays NaN. */
void qk_silu_f32(size_t n, const float* in, float* out);
/** out[i] = table[in[i]] for n bytes (a u8 -> u8 elementwise function tabulated at plan time: dequantize,
 *  a pointwise activation and quantize fused, QRuntime/ExecutionFusion.swift). */
void qk_lookup_u8(size_t n, const uint8_t* in, const uint8_t* table, uint8_t* out);
/** out[i] = table[in[i]] for n bytes into floats (dequantize and a pointwise activation fused). */
void qk_lookup_f32(size_t n, const uint8_t* in, const float* table, float* out);
/** Squeeze-excite's multiply: out[i] = in[i] * scale[c], c = i % channels (NHWC, per-channel scales
 *  computed at run time). */
void qk_channel_mul_f32(size_t n, size_t channels, const float* in, const float* scale, float* out);
/** Channel concat / slice: for each of `pixels` pixels, copies `count` floats from
 *  in[p * in_stride + in_offset] to out[p * out_stride + out_offset] (NHWC; the ranges do not overlap). */
void qk_copy_channels_f32(size_t pixels, size_t count, const float* in, size_t in_stride, size_t in_offset,
                          float* out, size_t out_stride, size_t out_offset);

/** Flatten in PyTorch's order: out[c][p] = in[p][c] for p < hw (pixels), c < channels. A copy, so
 *  every bit pattern survives. `in` and `out` do not overlap. */
void qk_hwc_to_chw_f32(size_t hw, size_t channels, const float* in, float* out);
void qk_hwc_to_chw_u8(size_t hw, size_t channels, const uint8_t* in, uint8_t* out);

/** Option-A shortcut (CIFAR ResNet): out [(in_h+1)/2][(in_w+1)/2][out_c],
 *  out[y][x][c] = (pad <= c < pad + in_c) ? in[2y][2x][c - pad] : zero_value. */
void qk_shortcut_a_u8(const uint8_t* in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t pad,
                      int32_t out_c, uint8_t zero_value, uint8_t* out);
void qk_shortcut_a_f32(const float* in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t pad,
                       int32_t out_c, float zero_value, float* out);

/** out = clamp(lrintf(x * inv_scale) + zero, 0, 255)  (as PyTorch quantize_per_tensor with
 *  inv_scale = 1.0f / scale). NaN -> 0. AVX-512 where the CPU has it (QK_ISA=scalar: the twin); in chunks
 *  over the OpenMP team when n is large (the same bits at any team size). */
void qk_quantize_u8(size_t n, const float* in, float inv_scale, int32_t zero, uint8_t* out);
/** out = scale * (float)((int32_t)q - zero). */
void qk_dequantize_u8(size_t n, const uint8_t* in, float scale, int32_t zero, float* out);
/** Min and max of n floats (NaNs ignored); n == 0 gives +INFINITY / -INFINITY. Over the OpenMP team in
 *  qk_quantize_u8's chunks when n is large. */
void qk_minmax_f32(size_t n, const float* in, float* out_min, float* out_max);

#ifdef __cplusplus
}
#endif
