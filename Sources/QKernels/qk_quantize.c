/* qk_quantize.c — per-tensor quantize f32 -> u8, dequantize u8 -> f32, and min/max for dynamic
 * quantization. */
#include <math.h>
#include "internal/qk_epilogue.h"
#include "internal/qk_isa_internal.h"
#include "qk_ops.h"

QK_VECTOR_CLONES void qk_quantize_u8(size_t n, const float* restrict in, float inv_scale, int32_t zero,
                    uint8_t* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = qk_requant_u8(in[i], inv_scale, zero);
}

QK_VECTOR_CLONES void qk_dequantize_u8(size_t n, const uint8_t* in, float scale, int32_t zero, float* out) {
    for (size_t i = 0; i < n; i++) out[i] = scale * (float)((int32_t)in[i] - zero);
}

QK_VECTOR_CLONES void qk_minmax_f32(size_t n, const float* in, float* out_min, float* out_max) {
    /* 16 independent lanes (vectorisable), then their reduction; NaNs are skipped as fminf / fmaxf
     * skip them (a NaN compares false). Which zero of +-0 wins may differ from a serial fminf. */
    float lo[16], hi[16];
    for (int j = 0; j < 16; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) {
            const float x = in[i + (size_t)j];
            lo[j] = x < lo[j] ? x : lo[j];
            hi[j] = x > hi[j] ? x : hi[j];
        }
    }
    for (; i < n; i++) {
        lo[0] = in[i] < lo[0] ? in[i] : lo[0];
        hi[0] = in[i] > hi[0] ? in[i] : hi[0];
    }
    for (int j = 1; j < 16; j++) {
        lo[0] = lo[j] < lo[0] ? lo[j] : lo[0];
        hi[0] = hi[j] > hi[0] ? hi[j] : hi[0];
    }
    *out_min = lo[0];
    *out_max = hi[0];
}
