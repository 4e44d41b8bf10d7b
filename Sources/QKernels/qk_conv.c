/* qk_conv.c — NHWC convolution: output geometry, im2col (u8 / f32) and the conv drivers that run
 * one GEMM per group over the im2col rows (or over the input itself for 1x1 stride-1 convs). */
#include <assert.h>
#include <string.h>
#include "internal/qk_parallel.h"
#include "qk_conv.h"
#include "qk_pack.h"

static int32_t qk_conv_out_dim(int32_t in, int32_t pad0, int32_t pad1, int32_t k, int32_t dil,
                               int32_t stride) {
    const int32_t span = dil * (k - 1) + 1, padded = in + pad0 + pad1;
    return padded < span ? 0 : (padded - span) / stride + 1;
}

int32_t qk_conv_out_h(const qk_conv_geom* g) {
    return qk_conv_out_dim(g->in_h, g->pad_top, g->pad_bottom, g->kernel_h, g->dilation_h, g->stride_h);
}

int32_t qk_conv_out_w(const qk_conv_geom* g) {
    return qk_conv_out_dim(g->in_w, g->pad_left, g->pad_right, g->kernel_w, g->dilation_w, g->stride_w);
}

size_t qk_conv_gemm_k(const qk_conv_geom* g) {
    return (size_t)g->kernel_h * (size_t)g->kernel_w * (size_t)(g->in_c / g->groups);
}

int qk_conv_is_direct(const qk_conv_geom* g) {
    return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1
        && g->pad_top == 0 && g->pad_left == 0 && g->pad_bottom == 0 && g->pad_right == 0;
}

size_t qk_conv_workspace_bytes(const qk_conv_geom* g, size_t elem_size) {
    if (qk_conv_is_direct(g)) return 0;
    return (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g) * qk_conv_gemm_k(g) * elem_size
         + QK_EXTRA_BYTES;
}

/* One im2col body for both element types: for each output pixel (row m) and tap (ky, kx), copy
 * the c_count channels of the input pixel, or the pad value when the tap falls outside. When the
 * taps of one kernel row are adjacent in memory (all channels, no horizontal dilation) the
 * in-image run of a kernel row is one copy of (taps x channels) elements. */
#define QK_IM2COL_BODY(T, pad_value)                                                              \
    do {                                                                                          \
        const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g), kw = g->kernel_w;            \
        const size_t cc = (size_t)c_count;                                                        \
        const int rows_contiguous = g->dilation_w == 1 && c_begin == 0 && c_count == g->in_c;    \
        const int par = (size_t)oh * (size_t)ow * qk_conv_gemm_k(g) >= QK_PARALLEL_MIN_WORK;     \
        _Pragma("omp parallel for schedule(static) num_threads(qk_team_size()) if(par)")          \
        for (int32_t oy = 0; oy < oh; oy++) {                                                     \
            for (int32_t ox = 0; ox < ow; ox++) {                                                 \
                T* row = out + ((size_t)oy * (size_t)ow + (size_t)ox) * ld_out;                  \
                const int32_t ix0 = ox * g->stride_w - g->pad_left;                               \
                for (int32_t ky = 0; ky < g->kernel_h; ky++) {                                    \
                    const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;        \
                    T* dst = row + (size_t)ky * (size_t)kw * cc;                                  \
                    if (iy < 0 || iy >= g->in_h) {                                                \
                        for (size_t i = 0; i < (size_t)kw * cc; i++) dst[i] = (pad_value);        \
                        continue;                                                                 \
                    }                                                                             \
                    const T* src_row = in + (size_t)iy * (size_t)g->in_w * (size_t)g->in_c       \
                                       + (size_t)c_begin;                                         \
                    if (rows_contiguous) {                                                        \
                        const int32_t lo = ix0 < 0 ? -ix0 : 0;                                    \
                        const int32_t hi = ix0 + kw > g->in_w ? g->in_w - ix0 : kw;               \
                        for (size_t i = 0; i < (size_t)lo * cc; i++) dst[i] = (pad_value);        \
                        if (hi > lo) {                                                            \
                            memcpy(dst + (size_t)lo * cc, src_row + (size_t)(ix0 + lo) * cc,      \
                                   (size_t)(hi - lo) * cc * sizeof(T));                           \
                        }                                                                         \
                        for (size_t i = (size_t)(hi > lo ? hi : lo) * cc; i < (size_t)kw * cc; i++) \
                            dst[i] = (pad_value);                                                 \
                    } else {                                                                      \
                        for (int32_t kx = 0; kx < kw; kx++, dst += cc) {                          \
                            const int32_t ix = ix0 + kx * g->dilation_w;                          \
                            if (ix < 0 || ix >= g->in_w) {                                        \
                                for (size_t c = 0; c < cc; c++) dst[c] = (pad_value);             \
                            } else {                                                              \
                                memcpy(dst, src_row + (size_t)ix * (size_t)g->in_c,               \
                                       cc * sizeof(T));                                           \
                            }                                                                     \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void qk_im2col_u8(const qk_conv_geom* g, const uint8_t* in, int32_t c_begin, int32_t c_count,
                  uint8_t pad_value, uint8_t* out, size_t ld_out) {
    QK_IM2COL_BODY(uint8_t, pad_value);
}

void qk_im2col_f32(const qk_conv_geom* g, const float* in, int32_t c_begin, int32_t c_count,
                   float* out, size_t ld_out) {
    QK_IM2COL_BODY(float, 0.0f);
}

/* Element size of an epilogue's output / residual, for offsetting them to a group's columns. */
static size_t qk_out_elem_size(qk_output_kind k) { return k == QK_OUTPUT_U8 ? 1 : 4; }
static size_t qk_residual_elem_size(qk_residual_kind k) { return k == QK_RESIDUAL_U8 ? 1 : 4; }

/* Moves the epilogue's per-channel arrays and output/residual columns to start at channel n0. */
static qk_epilogue qk_epilogue_from(const qk_epilogue* e, size_t n0) {
    qk_epilogue r = *e;
    if (r.scale) r.scale += n0;
    if (r.bias) r.bias += n0;
    if (r.residual) r.residual = (const uint8_t*)r.residual + n0 * qk_residual_elem_size(r.residual_kind);
    r.out = (uint8_t*)r.out + n0 * qk_out_elem_size(r.output_kind);
    return r;
}

void qk_conv2d_u8(const qk_qgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint8_t* in,
                  const qk_qgemm_args* layer, uint8_t* workspace) {
    assert(g->groups >= 1 && g->in_c % g->groups == 0 && g->out_c % g->groups == 0);
    const int32_t cg = g->in_c / g->groups;
    const size_t ocg = (size_t)(g->out_c / g->groups), K = qk_conv_gemm_k(g);
    const int direct = qk_conv_is_direct(g);
    for (int32_t gi = 0; gi < g->groups; gi++) {
        qk_qgemm_args a = *layer;
        const size_t n0 = (size_t)gi * ocg;
        a.M = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g);
        a.N = ocg;
        a.K = K;
        if (direct) {
            a.a = in + (size_t)gi * (size_t)cg;
            a.lda = (size_t)g->in_c;
        } else {
            qk_im2col_u8(g, in, gi * cg, cg, (uint8_t)layer->a_zero, workspace, K);
            a.a = workspace;
            a.lda = K;
        }
        a.w = layer->w + (size_t)gi * (qk_packed_rows(ocg) / QK_ROW_GROUP) * layer->w_group_stride;
        if (a.colsum) a.colsum += n0;
        a.epi = qk_epilogue_from(&layer->epi, n0);
        qk_qgemm(uk, &a);
    }
}

void qk_conv2d_f32(const qk_fgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                   const qk_fgemm_args* layer, float* workspace) {
    assert(g->groups >= 1 && g->in_c % g->groups == 0 && g->out_c % g->groups == 0);
    const int32_t cg = g->in_c / g->groups;
    const size_t ocg = (size_t)(g->out_c / g->groups), K = qk_conv_gemm_k(g);
    const int direct = qk_conv_is_direct(g);
    for (int32_t gi = 0; gi < g->groups; gi++) {
        qk_fgemm_args a = *layer;
        const size_t n0 = (size_t)gi * ocg;
        a.M = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g);
        a.N = ocg;
        a.K = K;
        if (direct) {
            a.a = in + (size_t)gi * (size_t)cg;
            a.lda = (size_t)g->in_c;
        } else {
            qk_im2col_f32(g, in, gi * cg, cg, workspace, K);
            a.a = workspace;
            a.lda = K;
        }
        a.b = layer->b + n0 * layer->ldb;
        a.epi = qk_epilogue_from(&layer->epi, n0);
        qk_fgemm(uk, &a);
    }
}
