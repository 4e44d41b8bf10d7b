/* qk_quantize.c — per-tensor quantize f32 -> u8, dequantize u8 -> f32, and min/max for dynamic
 * quantization. */
#include <math.h>
#include "internal/qk_epilogue.h"
#include "qk_ops.h"

void qk_quantize_u8(size_t n, const float* restrict in, float inv_scale, int32_t zero,
                    uint8_t* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = qk_requant_u8(in[i], inv_scale, zero);
}

void qk_dequantize_u8(size_t n, const uint8_t* in, float scale, int32_t zero, float* out) {
    for (size_t i = 0; i < n; i++) out[i] = scale * (float)((int32_t)in[i] - zero);
}

void qk_minmax_f32(size_t n, const float* in, float* out_min, float* out_max) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        lo = fminf(lo, in[i]);
        hi = fmaxf(hi, in[i]);
    }
    *out_min = lo;
    *out_max = hi;
}
