/* qk_quantize.c — per-tensor quantize f32 -> u8, dequantize u8 -> f32, and min/max for dynamic
 * quantization. */
#include <math.h>
#include <string.h>
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

/* 16 lanes as one GCC / clang vector (vector_size: both compilers, C): compares give lane masks and the
 * select below is a per-lane x < lo ? x : lo. The same loop over a float[16] array was vectorised at -O3
 * into lane reversals and masked moves that ran 4x slower. A macro, not a function: vector arguments
 * would need the clone's target in every helper. */
typedef float qk_minmax_lanes __attribute__((vector_size(64)));
typedef int32_t qk_minmax_mask __attribute__((vector_size(64)));
#define QK_MINMAX_SELECT(m, a, b) ((qk_minmax_lanes)(((qk_minmax_mask)(a) & (m)) | ((qk_minmax_mask)(b) & ~(m))))

QK_VECTOR_CLONES void qk_minmax_f32(size_t n, const float* in, float* out_min, float* out_max) {
    /* 16 independent lanes, then their reduction; NaNs are skipped as fminf / fmaxf skip them (a NaN
     * compares false). Which zero of +-0 wins may differ from a serial fminf. */
    /* four (lo, hi) pairs, so four independent min / max chains hide the instruction latency */
    qk_minmax_lanes lo[4], hi[4];
    for (int u = 0; u < 4; u++)
        for (int j = 0; j < 16; j++) { lo[u][j] = INFINITY; hi[u][j] = -INFINITY; }
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int u = 0; u < 4; u++) {
            qk_minmax_lanes x;
            memcpy(&x, in + i + 16 * (size_t)u, sizeof x);
            lo[u] = QK_MINMAX_SELECT(x < lo[u], x, lo[u]);
            hi[u] = QK_MINMAX_SELECT(x > hi[u], x, hi[u]);
        }
    }
    for (; i + 16 <= n; i += 16) {
        qk_minmax_lanes x;
        memcpy(&x, in + i, sizeof x);
        lo[0] = QK_MINMAX_SELECT(x < lo[0], x, lo[0]);
        hi[0] = QK_MINMAX_SELECT(x > hi[0], x, hi[0]);
    }
    for (int u = 1; u < 4; u++) {
        lo[0] = QK_MINMAX_SELECT(lo[u] < lo[0], lo[u], lo[0]);
        hi[0] = QK_MINMAX_SELECT(hi[u] > hi[0], hi[u], hi[0]);
    }
    float l = lo[0][0], h = hi[0][0];
    for (int j = 1; j < 16; j++) {
        l = lo[0][j] < l ? lo[0][j] : l;
        h = hi[0][j] > h ? hi[0][j] : h;
    }
    for (; i < n; i++) {
        l = in[i] < l ? in[i] : l;
        h = in[i] > h ? in[i] : h;
    }
    *out_min = l;
    *out_max = h;
}
