/* qk_fdwconv_common.h — what every fdwconv member shares: the input rows of an output row, and the
 * scalar computation of a run of channels (the scalar member; the reference for the SIMD tile body,
 * qk_fdwconv_body.h). Both kernel sizes (K = geom.kernel_h = kernel_w, 3 or 5). Private. */
#pragma once
#include <math.h>
#include <stddef.h>
#include "qk_dwconv_common.h"
#include "qk_epilogue.h"
#include "qk_fdwconv.h"

/** The K input rows of output row oy (K = kernel_h): rows[ky] = the start of input row
 *  oy*stride_h - pad_top + ky, or NULL when that row is outside the image. */
static inline void qk_fdwconv_rows(const qk_fdwconv_args* a, size_t oy, const float* rows[QK_FDWCONV_MAX_KERNEL]) {
    const qk_conv_geom* g = &a->geom;
    const size_t row_elems = (size_t)g->in_w * (size_t)g->in_c;
    for (int ky = 0; ky < g->kernel_h; ky++) {
        const int32_t iy = (int32_t)oy * g->stride_h - g->pad_top + ky;
        rows[ky] = iy >= 0 && iy < g->in_h ? a->in + (size_t)iy * row_elems : NULL;
    }
}

/** Channels [c0, c1) of output pixel (oy, ox), scalar: acc = +0, then acc = fmaf(x, w, acc) over
 *  the in-image taps in (ky, kx) order (qk_fdwconv.h), then the scalar fgemm epilogue. */
static inline void qk_fdwconv_scalar_channels(const qk_fdwconv_args* a, const float* const rows[QK_FDWCONV_MAX_KERNEL],
                                              size_t oy, size_t ox, size_t c0, size_t c1) {
    const qk_conv_geom* g = &a->geom;
    const int K = g->kernel_h;
    const size_t C = (size_t)g->in_c, m = oy * (size_t)qk_conv_out_w(g) + ox;
    const int32_t ix0 = (int32_t)ox * g->stride_w - g->pad_left;
    for (size_t c = c0; c < c1; c++) {
        float acc = 0.0f;
        for (int ky = 0; ky < K; ky++) {
            if (rows[ky] == NULL) continue;
            for (int kx = 0; kx < K; kx++) {
                const int32_t ix = ix0 + kx;
                if (ix < 0 || ix >= g->in_w) continue;
                acc = fmaf(rows[ky][(size_t)ix * C + c], a->w[(size_t)(ky * K + kx) * a->w_stride + c], acc);
            }
        }
        qk_fgemm_epilogue(&a->epi, m, c, acc);
    }
}
