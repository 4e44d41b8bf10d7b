/* qk_spatial.c — resize (nearest, bilinear), border padding, channel softmax and per-channel broadcast
 * arithmetic on f32 NHWC maps
 * (qk_spatial.h). Rows are split over the OpenMP team for large maps; every element is computed the same
 * way whatever the team size, so the results do not depend on it. */
#include <math.h>
#include <string.h>
#include "internal/qk_parallel.h"
#include "qk_spatial.h"

void qk_resize_nearest_f32(const qk_resize_geom* g, const float* in, float* out) {
    const size_t c = (size_t)g->channels, row = (size_t)g->out_w * c;
    QK_PARALLEL_FOR(oy_, g->out_h, row * (size_t)g->out_h >= QK_PARALLEL_MIN_WORK, {
        const int32_t oy = (int32_t)oy_;
        const float* src = in + (size_t)g->row0[oy] * (size_t)g->in_w * c;
        float* dst = out + (size_t)oy * row;
        for (int32_t ox = 0; ox < g->out_w; ox++) memcpy(dst + (size_t)ox * c, src + (size_t)g->col0[ox] * c, c * sizeof(float));
    });
}

void qk_resize_bilinear_f32(const qk_resize_geom* g, const float* in, float* out) {
    const size_t c = (size_t)g->channels, in_row = (size_t)g->in_w * c, row = (size_t)g->out_w * c;
    QK_PARALLEL_FOR(oy_, g->out_h, row * (size_t)g->out_h >= QK_PARALLEL_MIN_WORK, {
        const int32_t oy = (int32_t)oy_;
        const float* r0 = in + (size_t)g->row0[oy] * in_row;
        const float* r1 = in + (size_t)g->row1[oy] * in_row;
        const float wy = g->row_w[oy];
        float* dst = out + (size_t)oy * row;
        for (int32_t ox = 0; ox < g->out_w; ox++) {
            const float* a = r0 + (size_t)g->col0[ox] * c;
            const float* b = r0 + (size_t)g->col1[ox] * c;
            const float* d = r1 + (size_t)g->col0[ox] * c;
            const float* e = r1 + (size_t)g->col1[ox] * c;
            const float wx = g->col_w[ox];
            float* o = dst + (size_t)ox * c;
            for (size_t k = 0; k < c; k++) {
                const float top = (1.0f - wx) * a[k] + wx * b[k];
                const float bottom = (1.0f - wx) * d[k] + wx * e[k];
                o[k] = (1.0f - wy) * top + wy * bottom;
            }
        }
    });
}

/** The source index of shifted coordinate i on an axis of n pixels; -1 for a constant border. */
static inline int32_t qk_pad_source(int32_t i, int32_t n, int32_t mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case QK_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case QK_PAD_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i;
    default: return -1;
    }
}

void qk_pad_f32(const float* in, int32_t h, int32_t w, int32_t c, int32_t top, int32_t left, int32_t bottom,
                int32_t right, int32_t mode, float value, float* out) {
    const int32_t oh = h + top + bottom, ow = w + left + right;
    const size_t cc = (size_t)c;
    for (int32_t oy = 0; oy < oh; oy++) {
        const int32_t sy = qk_pad_source(oy - top, h, mode);
        float* dst = out + (size_t)oy * (size_t)ow * cc;
        for (int32_t ox = 0; ox < ow; ox++) {
            const int32_t sx = qk_pad_source(ox - left, w, mode);
            float* o = dst + (size_t)ox * cc;
            if (sy < 0 || sx < 0) {
                for (size_t k = 0; k < cc; k++) o[k] = value;
            } else {
                memcpy(o, in + ((size_t)sy * (size_t)w + (size_t)sx) * cc, cc * sizeof(float));
            }
        }
    }
}

void qk_softmax_f32(size_t pixels, size_t channels, const float* in, float* out) {
    for (size_t p = 0; p < pixels; p++) {
        const float* x = in + p * channels;
        float* y = out + p * channels;
        float m = x[0];
        for (size_t k = 1; k < channels; k++) m = fmaxf(m, x[k]);
        float sum = 0.0f;
        for (size_t k = 0; k < channels; k++) {
            y[k] = expf(x[k] - m);
            sum += y[k];
        }
        const float inv = 1.0f / sum;
        for (size_t k = 0; k < channels; k++) y[k] *= inv;
    }
}

#define QK_ARITH_LOOP(EXPR)                                                                          \
    for (size_t i = 0; i < n; i++) {                                                                  \
        const float x = a[a_period == n ? i : i % a_period], y = b[b_period == n ? i : i % b_period]; \
        out[i] = EXPR;                                                                                \
    }

void qk_channel_arith_f32(size_t n, const float* a, size_t a_period, const float* b, size_t b_period, int32_t op,
                          float* out) {
    switch (op) {
    case QK_ARITH_ADD: QK_ARITH_LOOP(x + y) break;
    case QK_ARITH_SUB: QK_ARITH_LOOP(x - y) break;
    case QK_ARITH_MUL: QK_ARITH_LOOP(x * y) break;
    default: QK_ARITH_LOOP(x / y) break;
    }
}
