/* qk_bsconv.c — bit-serial NHWC convolution over bsgemm, as an implicit GEMM: the producing step packs
 * every input pixel once (ab * ceil(in_c / 64) plane words) into a zero-bordered image (border pixels
 * are zero words = activation code 0 = real 0, so padding is exact), then one qk_bsgemm whose row m
 * (output pixel oy, ox) is read in place:
 *   row start = oy * (stride_h * Wp * pw) + ox * (stride_w * pw)        (a_row_step, a_col_step)
 *   piece s   = row start + a_segs[s]
 * (Wp = padded width, pw = ab * ceil(in_c / 64) words per pixel). Without horizontal dilation the
 * taps of a kernel row are adjacent pixels, so a row is kernel_h pieces of kernel_w * ceil(in_c / 64)
 * words (a_segs[ky] = ky * dil_h * Wp * pw); with it, one piece per tap. No im2col copy, no row
 * tables, no workspace: the member computes each row's start from m. */
#include <assert.h>
#include <string.h>
#include "internal/qk_bsgemm_pack.h"
#include "internal/qk_parallel.h"
#include "qk_bsgemm.h"

/* Words per pixel and padded image sizes of geometry g with ab-bit codes. */
typedef struct {
    size_t cw, pw, hp, wp, taps, kw, words;
} qk_bsconv_sizes;

static qk_bsconv_sizes qk_bsconv_sizes_of(const qk_conv_geom* g, int ab) {
    qk_bsconv_sizes s;
    s.cw = ((size_t)g->in_c + 63) / 64;
    s.pw = (size_t)ab * s.cw;
    s.hp = (size_t)(g->pad_top + g->in_h + g->pad_bottom);
    s.wp = (size_t)(g->pad_left + g->in_w + g->pad_right);
    s.taps = (size_t)g->kernel_h * (size_t)g->kernel_w;
    s.kw = s.taps * s.cw;
    s.words = s.hp * s.wp * s.pw;
    return s;
}

int qk_bsconv_supports(const qk_conv_geom* g) {
    const int ok = g->groups == 1 && g->in_c >= 1 && g->out_c >= 1 && g->in_h >= 1 && g->in_w >= 1
        && g->kernel_h >= 1 && g->kernel_w >= 1 && g->stride_h >= 1 && g->stride_w >= 1
        && g->dilation_h >= 1 && g->dilation_w >= 1 && g->pad_top >= 0 && g->pad_left >= 0
        && g->pad_bottom >= 0 && g->pad_right >= 0;
    return ok && qk_conv_out_h(g) >= 1 && qk_conv_out_w(g) >= 1
        && qk_bsconv_sizes_of(g, 1).kw * 64 <= QK_BSGEMM_MAX_K;
}

size_t qk_bsconv_image_bytes(const qk_conv_geom* g, int abits) {
    return qk_bsconv_sizes_of(g, abits).words * sizeof(uint64_t);
}

void qk_bsconv_pack_image(const qk_conv_geom* g, int abits, const uint8_t* in, uint64_t* image) {
    const qk_bsconv_sizes s = qk_bsconv_sizes_of(g, abits);
    const size_t C = (size_t)g->in_c, row_words = s.wp * s.pw;
    const size_t left = (size_t)g->pad_left * s.pw, right = (size_t)g->pad_right * s.pw;
    memset(image, 0, (size_t)g->pad_top * row_words * sizeof(uint64_t));
    memset(image + (size_t)(g->pad_top + g->in_h) * row_words, 0, (size_t)g->pad_bottom * row_words * sizeof(uint64_t));
    const qk_bsgemm_row_packer pack_row = qk_bsgemm_packer();
    const int par = (size_t)g->in_h * (size_t)g->in_w * C >= QK_PARALLEL_MIN_WORK;
    QK_PARALLEL_FOR(y_, g->in_h, par, {
        const int32_t y = (int32_t)y_;
        uint64_t* row = image + (size_t)(g->pad_top + y) * row_words;
        memset(row, 0, left * sizeof(uint64_t));
        memset(row + left + (size_t)g->in_w * s.pw, 0, right * sizeof(uint64_t));
        pack_row(in + (size_t)y * (size_t)g->in_w * C, (size_t)g->in_w, C, C, abits, row + left, s.pw);
    });
}

void qk_bsconv2d_packed(const qk_bsgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint64_t* image,
                        const qk_bsconv_layer* layer) {
    assert(qk_bsconv_supports(g));
    const qk_bsconv_sizes s = qk_bsconv_sizes_of(g, uk->abits);
    const int whole_rows = g->dilation_w == 1;
    const size_t segs = whole_rows ? (size_t)g->kernel_h : s.taps;
    size_t a_segs[segs];
    for (size_t p = 0; p < segs; p++) {
        const size_t ky = whole_rows ? p : p / (size_t)g->kernel_w, kx = whole_rows ? 0 : p % (size_t)g->kernel_w;
        a_segs[p] = (ky * (size_t)g->dilation_h * s.wp + kx * (size_t)g->dilation_w) * s.pw;
    }
    qk_bsgemm_args a;
    memset(&a, 0, sizeof a);
    a.M = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g);
    a.N = (size_t)g->out_c;
    a.kw = s.kw;
    a.wbits = uk->wbits;
    a.abits = uk->abits;
    a.a = image;
    a.a_width = (size_t)qk_conv_out_w(g);
    a.a_row_step = (size_t)g->stride_h * s.wp * s.pw;
    a.a_col_step = (size_t)g->stride_w * s.pw;
    a.a_segs = a_segs;
    a.segs = segs;
    a.seg_words = s.kw / segs;
    a.w = layer->w;
    a.w_mul = layer->w_mul;
    a.w_offset = layer->w_offset;
    a.epi = layer->epi;
    qk_bsgemm(uk, &a);
}

void qk_bsconv2d_u8(const qk_bsgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint8_t* in,
                    const qk_bsconv_layer* layer, void* workspace) {
    qk_bsconv_pack_image(g, uk->abits, in, (uint64_t*)workspace);
    qk_bsconv2d_packed(uk, g, (const uint64_t*)workspace, layer);
}
