/* qk_eltwise.c — elementwise add (u8 with per-input quantization, f32) and the option-A shortcut
 * (stride-2 subsample with zero channel padding, CIFAR ResNet). */
#include <math.h>
#include <string.h>
#include "internal/qk_epilogue.h"
#include "internal/qk_parallel.h"
#include "qk_ops.h"

void qk_add_u8(size_t n, const uint8_t* a, float a_scale, int32_t a_zero, const uint8_t* b,
               float b_scale, int32_t b_zero, float clamp_lo, float clamp_hi, float out_inv_scale,
               int32_t out_zero, uint8_t* out) {
    const long long nn = (long long)n;
    _Pragma("omp parallel for schedule(static) num_threads(qk_team_size()) if(n >= QK_PARALLEL_MIN_WORK)")
    for (long long i = 0; i < nn; i++) {
        const float ya = a_scale * (float)((int32_t)a[i] - a_zero);
        const float yb = b_scale * (float)((int32_t)b[i] - b_zero);
        const float y = fminf(fmaxf(ya + yb, clamp_lo), clamp_hi);
        out[i] = qk_requant_u8(y, out_inv_scale, out_zero);
    }
}

void qk_add_f32(size_t n, const float* a, const float* b, float clamp_lo, float clamp_hi, float* out) {
    for (size_t i = 0; i < n; i++) out[i] = fminf(fmaxf(a[i] + b[i], clamp_lo), clamp_hi);
}

#define QK_SHORTCUT_A_BODY(T)                                                                  \
    do {                                                                                       \
        const int32_t oh = (in_h + 1) / 2, ow = (in_w + 1) / 2;                               \
        for (int32_t y = 0; y < oh; y++) {                                                     \
            for (int32_t x = 0; x < ow; x++) {                                                 \
                T* o = out + ((size_t)y * (size_t)ow + (size_t)x) * (size_t)out_c;            \
                const T* s = in + ((size_t)(2 * y) * (size_t)in_w + (size_t)(2 * x)) * (size_t)in_c; \
                for (int32_t c = 0; c < out_c; c++)                                            \
                    o[c] = (c >= pad && c < pad + in_c) ? s[c - pad] : zero_value;             \
            }                                                                                  \
        }                                                                                      \
    } while (0)

void qk_shortcut_a_u8(const uint8_t* in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t pad,
                      int32_t out_c, uint8_t zero_value, uint8_t* out) {
    QK_SHORTCUT_A_BODY(uint8_t);
}

void qk_shortcut_a_f32(const float* in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t pad,
                       int32_t out_c, float zero_value, float* out) {
    QK_SHORTCUT_A_BODY(float);
}
