/* qk_dwconv_common.h — what every dwconv member shares: which taps of an output pixel fall in the
 * image, and the scalar computation of a run of channels (the scalar member, and the channel tails of
 * the SIMD members), for a K x K kernel, K = 3 or 5. Private. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_dwconv.h"
#include "qk_epilogue.h"

#define QK_DWCONV_MAX_TAPS (QK_DWCONV_MAX_KERNEL * QK_DWCONV_MAX_KERNEL)

/** The K input rows of output row oy (K = kernel_h): rows[ky] = the start of input row
 *  oy*stride_h - pad_top + ky, or NULL when that row is outside the image. */
static inline void qk_dwconv_rows(const qk_dwconv_args* a, size_t oy, const uint8_t* rows[QK_DWCONV_MAX_KERNEL]) {
    const qk_conv_geom* g = &a->geom;
    const size_t row_bytes = (size_t)g->in_w * (size_t)g->in_c;
    for (int ky = 0; ky < g->kernel_h; ky++) {
        const int32_t iy = (int32_t)oy * g->stride_h - g->pad_top + ky;
        rows[ky] = iy >= 0 && iy < g->in_h ? a->in + (size_t)iy * row_bytes : NULL;
    }
}

/** Output columns [*lo, *hi) whose kernel_w taps all lie inside the image horizontally: with all
 *  kernel rows inside too, the members read those pixels without per-tap checks. Shared with the
 *  f32 family (qk_fdwconv_common.h). */
static inline void qk_dw_interior_cols(const qk_conv_geom* g, size_t* lo, size_t* hi) {
    const int32_t ow = qk_conv_out_w(g), last = g->in_w - g->kernel_w + g->pad_left;  /* ox*sw <= last */
    int32_t h = last < 0 ? 0 : last / g->stride_w + 1, l = (g->pad_left + g->stride_w - 1) / g->stride_w;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = (size_t)l;
    *hi = (size_t)h;
}

/** qk_dw_interior_cols of a u8 layer. */
static inline void qk_dwconv_interior_cols(const qk_dwconv_args* a, size_t* lo, size_t* hi) {
    qk_dw_interior_cols(&a->geom, lo, hi);
}

/** A view of the qgemm epilogue operands for this layer: the members run the qgemm epilogue
 *  helpers on it (n = channel, m = output pixel; colsum = wsum, so acc' = acc - a_zero * wsum). */
static inline qk_qgemm_args qk_dwconv_epilogue_view(const qk_dwconv_args* a) {
    qk_qgemm_args v = {0};
    v.N = (size_t)a->geom.in_c;
    v.a_zero = a->a_zero;
    v.colsum = a->wsum;
    v.epi = a->epi;
    return v;
}

/** Channels [c0, c1) of output pixel (oy, ox), scalar: acc = sum over the K x K taps of A * w, A = the
 *  input byte or a_zero outside the image, then the scalar qgemm epilogue of acc - a_zero*wsum[c]. */
static inline void qk_dwconv_scalar_channels(const qk_dwconv_args* a, const uint8_t* const rows[QK_DWCONV_MAX_KERNEL],
                                             size_t oy, size_t ox, size_t c0, size_t c1) {
    const qk_conv_geom* g = &a->geom;
    const int K = g->kernel_h;
    const size_t C = (size_t)g->in_c, m = oy * (size_t)qk_conv_out_w(g) + ox;
    const int32_t ix0 = (int32_t)ox * g->stride_w - g->pad_left;
    for (size_t c = c0; c < c1; c++) {
        int32_t acc = 0;
        for (int ky = 0; ky < K; ky++) {
            for (int kx = 0; kx < K; kx++) {
                const int32_t ix = ix0 + kx;
                const int32_t x = rows[ky] != NULL && ix >= 0 && ix < g->in_w
                                ? (int32_t)rows[ky][(size_t)ix * C + c] : a->a_zero;
                acc += x * (int32_t)a->w[(size_t)(ky * K + kx) * a->w_stride + c];
            }
        }
        qk_qgemm_epilogue(&a->epi, m, c, acc - a->a_zero * a->wsum[c]);
    }
}

/** 1 if every one of the K kernel rows of this output row lies in the image. */
static inline int qk_dwconv_full_rows(const uint8_t* const rows[QK_DWCONV_MAX_KERNEL], int K) {
    int full = 1;
    for (int ky = 0; ky < K; ky++) full &= rows[ky] != NULL;
    return full;
}
