/* qk_pool.c — NHWC max / average pooling (floor mode; average with count_include_pad) and global
 * average pooling, u8 and f32. Parallel over output rows. */
#include <math.h>
#include "internal/qk_epilogue.h"
#include "internal/qk_isa_internal.h"
#include "internal/qk_parallel.h"
#include "qk_ops.h"

int32_t qk_pool_out_h(const qk_pool_geom* g) {
    const int32_t p = g->in_h + g->pad_top + g->pad_bottom;
    return p < g->kernel_h ? 0 : (p - g->kernel_h) / g->stride_h + 1;
}

int32_t qk_pool_out_w(const qk_pool_geom* g) {
    const int32_t p = g->in_w + g->pad_left + g->pad_right;
    return p < g->kernel_w ? 0 : (p - g->kernel_w) / g->stride_w + 1;
}

/* Loops over output pixels (oy, ox); BODY sees the clipped window [y0, y1) x [x0, x1), `in`,
 * `out`, C and the pixel's first output index p = (oy * ow + ox) * C. */
#define QK_POOL_PIXELS(BODY)                                                                  \
    do {                                                                                      \
        const int32_t oh = qk_pool_out_h(g), ow = qk_pool_out_w(g);                          \
        const size_t C = (size_t)g->channels;                                                 \
        const int par = (size_t)oh * (size_t)ow * C * (size_t)(g->kernel_h * g->kernel_w)    \
                        >= QK_PARALLEL_MIN_WORK;                                             \
        QK_PARALLEL_FOR(oy_, oh, par, {                                                      \
            const int32_t oy = (int32_t)oy_;                                                 \
            const int32_t ys = oy * g->stride_h - g->pad_top;                                 \
            const int32_t y0 = ys < 0 ? 0 : ys;                                               \
            const int32_t y1 = ys + g->kernel_h > g->in_h ? g->in_h : ys + g->kernel_h;       \
            for (int32_t ox = 0; ox < ow; ox++) {                                             \
                const int32_t xs = ox * g->stride_w - g->pad_left;                            \
                const int32_t x0 = xs < 0 ? 0 : xs;                                           \
                const int32_t x1 = xs + g->kernel_w > g->in_w ? g->in_w : xs + g->kernel_w;   \
                const size_t p = ((size_t)oy * (size_t)ow + (size_t)ox) * C;                 \
                BODY                                                                          \
            }                                                                                 \
        });                                                                                   \
    } while (0)

/* QK_POOL_PIXELS with an inner loop over channels c; BODY also sees the output index o. */
#define QK_POOL_LOOP(BODY) QK_POOL_PIXELS(for (size_t c = 0; c < C; c++) { const size_t o = p + c; BODY })

#define QK_AT(y, x) in[((size_t)(y) * (size_t)g->in_w + (size_t)(x)) * C + c]

/* Max pooling is separable: for each output row, first the max over the window's input rows
 * (long, vectorisable runs over x and channels: one run per row when all channels fit) into a row
 * buffer, then the max over each window's columns. Channels go in chunks so the row buffer
 * (QK_MAXPOOL_BUFFER bytes) stays in L1 (a ResNet stem's 112 x 64 floats fit whole). Padding
 * never wins; an empty window (impossible with PyTorch's padding limit) gives 0 / -inf. */
#define QK_MAXPOOL_BUFFER 32768
/* One output row oy (the rows are independent; the driver splits them over the team). AT(ox, c0) is where
 * the n maxima of output pixel ox, channels c0.., are computed (T*); DONE(ox, c0, n, o) runs after. */
#define QK_MAXPOOL_ROW(T, EMPTY, MAX, AT, DONE)                                                \
    do {                                                                                       \
        const int32_t ow = qk_pool_out_w(g), iw = g->in_w;                                     \
        const size_t C = (size_t)g->channels;                                                  \
        size_t cb = QK_MAXPOOL_BUFFER / sizeof(T) / (size_t)(iw > 0 ? iw : 1);                \
        cb = cb < 1 ? 1 : cb >= C ? C : cb >= 64 ? cb / 64 * 64 : cb;  /* whole vectors per chunk */ \
        T rowmax[QK_MAXPOOL_BUFFER / sizeof(T)];                                               \
        const int32_t ys = oy * g->stride_h - g->pad_top;                                      \
        const int32_t y0 = ys < 0 ? 0 : ys;                                                    \
        const int32_t y1 = ys + g->kernel_h > g->in_h ? g->in_h : ys + g->kernel_h;            \
        for (size_t c0 = 0; c0 < C; c0 += cb) {                                                \
            const size_t n = C - c0 < cb ? C - c0 : cb;                                        \
            if (n == C) { /* whole pixels: each window row is one run of iw * C values */      \
                const size_t run = (size_t)iw * C;                                             \
                for (size_t i = 0; i < run; i++) rowmax[i] = (EMPTY);                          \
                for (int32_t y = y0; y < y1; y++) {                                            \
                    const T* p = in + (size_t)y * run;                                         \
                    for (size_t i = 0; i < run; i++) rowmax[i] = MAX(rowmax[i], p[i]);         \
                }                                                                              \
            } else {                                                                           \
                for (int32_t x = 0; x < iw; x++) {                                             \
                    T* r = rowmax + (size_t)x * n;                                             \
                    for (size_t c = 0; c < n; c++) r[c] = (EMPTY);                             \
                    for (int32_t y = y0; y < y1; y++) {                                        \
                        const T* p = in + ((size_t)y * (size_t)iw + (size_t)x) * C + c0;       \
                        for (size_t c = 0; c < n; c++) r[c] = MAX(r[c], p[c]);                 \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
            for (int32_t ox = 0; ox < ow; ox++) {                                              \
                const int32_t xs = ox * g->stride_w - g->pad_left;                             \
                const int32_t x0 = xs < 0 ? 0 : xs;                                            \
                const int32_t x1 = xs + g->kernel_w > iw ? iw : xs + g->kernel_w;              \
                T* o = AT(ox, c0);                                                             \
                for (size_t c = 0; c < n; c++) o[c] = (EMPTY);                                 \
                for (int32_t x = x0; x < x1; x++) {                                            \
                    const T* r = rowmax + (size_t)x * n;                                       \
                    for (size_t c = 0; c < n; c++) o[c] = MAX(o[c], r[c]);                     \
                }                                                                              \
                DONE(ox, c0, n, o);                                                            \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* The output pixel's place in `out`, and nothing to finish: the plain pools. */
#define QK_MAXPOOL_OUT(ox, c0) (out + ((size_t)oy * (size_t)ow + (size_t)(ox)) * C + (c0))
#define QK_MAXPOOL_NOTHING(ox, c0, n, o) ((void)0)

/* The driver: output rows over the team, each row by ROW (a QK_VECTOR_CLONES function: the OpenMP
 * outlined loop itself is compiled for the baseline ISA only). */
#define QK_MAXPOOL_DRIVE(ROW)                                                                  \
    do {                                                                                       \
        const int32_t oh = qk_pool_out_h(g), ow = qk_pool_out_w(g);                           \
        const int par = (size_t)oh * (size_t)ow * (size_t)g->channels                         \
                        * (size_t)(g->kernel_h * g->kernel_w) >= QK_PARALLEL_MIN_WORK;        \
        QK_PARALLEL_FOR(oy_, oh, par, {                                                       \
            const int32_t oy = (int32_t)oy_;                                                  \
            ROW(g, in, out, oy);                                                              \
        });                                                                                   \
    } while (0)

#define QK_MAX_U8(a, b) ((b) > (a) ? (b) : (a))

static QK_VECTOR_CLONES void qk_maxpool_row_u8(const qk_pool_geom* g, const uint8_t* in, uint8_t* out, int32_t oy) {
    QK_MAXPOOL_ROW(uint8_t, 0, QK_MAX_U8, QK_MAXPOOL_OUT, QK_MAXPOOL_NOTHING);
}

static QK_VECTOR_CLONES void qk_maxpool_row_f32(const qk_pool_geom* g, const float* in, float* out, int32_t oy) {
    QK_MAXPOOL_ROW(float, -INFINITY, fmaxf, QK_MAXPOOL_OUT, QK_MAXPOOL_NOTHING);
}

void qk_maxpool_u8(const qk_pool_geom* g, const uint8_t* in, uint8_t* out) {
    QK_MAXPOOL_DRIVE(qk_maxpool_row_u8);
}

void qk_maxpool_f32(const qk_pool_geom* g, const float* in, float* out) {
    QK_MAXPOOL_DRIVE(qk_maxpool_row_f32);
}

/* The fused row: each output pixel's float maxima in a small buffer, then their codes. */
#define QK_MAXPOOL_POOLED(ox, c0) pooled
#define QK_MAXPOOL_CODES(ox, c0, n, o) quantize((n), (o), inv_scale, zero, QK_MAXPOOL_OUT(ox, c0))
static QK_VECTOR_CLONES void qk_maxpool_row_f32_u8(const qk_pool_geom* g, const float* in, qk_quantize_fn quantize,
                                                   float inv_scale, int32_t zero, uint8_t* out, int32_t oy) {
    float pooled[QK_MAXPOOL_BUFFER / sizeof(float)];
    QK_MAXPOOL_ROW(float, -INFINITY, fmaxf, QK_MAXPOOL_POOLED, QK_MAXPOOL_CODES);
}

void qk_maxpool_f32_u8(const qk_pool_geom* g, const float* in, float inv_scale, int32_t zero, uint8_t* out) {
    const int32_t oh = qk_pool_out_h(g), ow = qk_pool_out_w(g);
    const int par = (size_t)oh * (size_t)ow * (size_t)g->channels * (size_t)(g->kernel_h * g->kernel_w) >= QK_PARALLEL_MIN_WORK;
    const qk_quantize_fn quantize = qk_quantize_u8_member(zero);
    QK_PARALLEL_FOR(oy_, oh, par, {
        const int32_t oy = (int32_t)oy_;
        qk_maxpool_row_f32_u8(g, in, quantize, inv_scale, zero, out, oy);
    });
}

void qk_avgpool_u8(const qk_pool_geom* g, const uint8_t* in, int32_t zero, uint8_t* out) {
    const float div = (float)(g->kernel_h * g->kernel_w);
    QK_POOL_LOOP({
        int32_t s = 0; /* padding taps are real 0 = q - zero = 0: they add nothing */
        for (int32_t y = y0; y < y1; y++)
            for (int32_t x = x0; x < x1; x++) s += (int32_t)QK_AT(y, x) - zero;
        out[o] = qk_requant_u8((float)s / div, 1.0f, zero);
    });
}

void qk_avgpool_f32(const qk_pool_geom* g, const float* in, float* out) {
    const float div = (float)(g->kernel_h * g->kernel_w);
    QK_POOL_LOOP({
        float s = 0.0f;
        for (int32_t y = y0; y < y1; y++)
            for (int32_t x = x0; x < x1; x++) s = s + QK_AT(y, x);
        out[o] = s / div;
    });
}

/* Integer sums are exact in any order: up to 4096 channels sum pixels outer, channels inner (contiguous,
 * vectorised, int32: hw * 255 < 2^31 for hw < 8.4 M pixels), else a channel at a time. */
QK_VECTOR_CLONES void qk_global_avgpool_u8(const uint8_t* restrict in, size_t hw, size_t c, float scale, int32_t zero,
                                           float* restrict out) {
    enum { QK_GAP_MAX_LANES = 4096 };
    if (c <= QK_GAP_MAX_LANES && hw < (1u << 23)) {
        int32_t sums[QK_GAP_MAX_LANES];
        for (size_t ch = 0; ch < c; ch++) sums[ch] = 0;
        for (size_t p = 0; p < hw; p++) {
            const uint8_t* restrict px = in + p * c;
            for (size_t ch = 0; ch < c; ch++) sums[ch] += px[ch];
        }
        for (size_t ch = 0; ch < c; ch++) {
            const int64_t s = (int64_t)sums[ch] - (int64_t)zero * (int64_t)hw;
            out[ch] = ((float)s / (float)hw) * scale;
        }
        return;
    }
    for (size_t ch = 0; ch < c; ch++) {
        int64_t s = 0;
        for (size_t p = 0; p < hw; p++) s += (int64_t)in[p * c + ch] - zero;
        out[ch] = ((float)s / (float)hw) * scale;
    }
}

/* Pixels outer, channels inner: every channel still sums its pixels in order from 0.0f (the same bits as a
 * channel-at-a-time loop), but the channels' sums are independent lanes, contiguous in NHWC, so the loop
 * vectorises instead of waiting on one add chain per channel over a strided column. */
QK_VECTOR_CLONES void qk_global_avgpool_f32(const float* restrict in, size_t hw, size_t c, float* restrict out) {
    for (size_t ch = 0; ch < c; ch++) out[ch] = 0.0f;
    for (size_t p = 0; p < hw; p++) {
        const float* restrict px = in + p * c;
        for (size_t ch = 0; ch < c; ch++) out[ch] = out[ch] + px[ch];
    }
    for (size_t ch = 0; ch < c; ch++) out[ch] = out[ch] / (float)hw;
}
