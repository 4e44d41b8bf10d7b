/* qk_bconv.c — binary NHWC convolution over bgemm: sign-pack every input pixel once
 * (ceil(in_c / 64) word pairs), gather the words of each tap (ky, kx) into bit-domain im2col rows
 * (a tap outside the image = zero words = zero activations, exact on the general path), then one
 * qk_bgemm. Path: QK_BGEMM_BINARY (no zero weight, no zero input), QK_BGEMM_SIGN_ACT (zero
 * weights, no zero input) or QK_BGEMM_GENERAL (zero inputs). The first two count a padded tap as
 * a = +1, so rows touching the border get an exact correction (qk_bgemm.h):
 *   corr[class][n] = sum over the row's padded taps t of tap_sums[t][n]
 * Rows fall into classes = (vertical pattern of padded ky) x (horizontal pattern of padded kx);
 * with more than QK_BCONV_MAX_CLASSES classes the driver uses the general path (still exact). */
#include <assert.h>
#include <string.h>
#include "internal/qk_parallel.h"
#include "qk_bgemm.h"

/** Largest number of padding classes kept for the fast path (3x3 pad 1 needs 9). */
#define QK_BCONV_MAX_CLASSES 64

/* Workspace pieces (uint64 words): packed pixels, im2col rows, then corr (int32) and corr_row (u16). */
typedef struct {
    size_t cw, kw, M, pix_words, col_words;
} qk_bconv_sizes;

static qk_bconv_sizes qk_bconv_sizes_of(const qk_conv_geom* g) {
    qk_bconv_sizes s;
    s.cw = ((size_t)g->in_c + 63) / 64;
    s.kw = (size_t)g->kernel_h * (size_t)g->kernel_w * s.cw;
    s.M = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g);
    s.pix_words = (size_t)g->in_h * (size_t)g->in_w * 2 * s.cw;
    s.col_words = s.M * 2 * s.kw;
    return s;
}

size_t qk_bconv_workspace_bytes(const qk_conv_geom* g) {
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    return (s.pix_words + s.col_words) * sizeof(uint64_t)
         + (size_t)QK_BCONV_MAX_CLASSES * (size_t)g->out_c * sizeof(int32_t) + s.M * sizeof(uint16_t);
}

/* Copies n (even) words 16 bytes at a time: runs here are a few taps of (mask, sign) pairs, too
 * short for a library memcpy call to pay off. */
static inline void qk_bconv_copy_pairs(uint64_t* dst, const uint64_t* src, size_t n) {
#if defined(__clang__)
#pragma clang loop unroll(disable) vectorize(disable)
#endif
    for (size_t i = 0; i < n; i += 2) {
        uint64_t pair[2];
        memcpy(pair, src + i, sizeof pair);
        memcpy(dst + i, pair, sizeof pair);
    }
}

/* Pattern ids along one axis: pat[o] = bitmask of kernel taps outside [0, in) for output o;
 * id[o] = index of pat[o] among the distinct patterns (first seen first). Returns the count, or
 * 0 if more than `max` distinct patterns appear. */
static size_t qk_bconv_axis_patterns(int32_t out, int32_t in, int32_t kernel, int32_t stride,
                                     int32_t pad, int32_t dilation, uint16_t* id, uint64_t* distinct,
                                     size_t max) {
    size_t count = 0;
    for (int32_t o = 0; o < out; o++) {
        uint64_t pat = 0;
        for (int32_t k = 0; k < kernel; k++) {
            const int32_t i = o * stride - pad + k * dilation;
            if (i < 0 || i >= in) pat |= (uint64_t)1 << k;
        }
        size_t c = 0;
        while (c < count && distinct[c] != pat) c++;
        if (c == count) {
            if (count == max) return 0;
            distinct[count++] = pat;
        }
        id[o] = (uint16_t)c;
    }
    return count;
}

void qk_bconv2d_f32(const qk_bgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                    const qk_bconv_layer* layer, void* workspace) {
    assert(g->groups == 1 && g->kernel_h <= 64 && g->kernel_w <= 64);
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g), taps = g->kernel_h * g->kernel_w;
    const size_t C = (size_t)g->in_c, N = (size_t)g->out_c, pw = 2 * s.cw;
    if (s.M == 0 || N == 0) return;
    uint64_t* pix = (uint64_t*)workspace;
    uint64_t* cols = pix + s.pix_words;
    int32_t* corr = (int32_t*)(cols + s.col_words);
    uint16_t* corr_row = (uint16_t*)(corr + (size_t)QK_BCONV_MAX_CLASSES * N);

    /* 1. sign-pack the input, one image row per job */
    int in_zero = 0;
    const int par_pack = (size_t)g->in_h * g->in_w * C >= QK_PARALLEL_MIN_WORK;
#pragma omp parallel for schedule(static) num_threads(qk_team_size()) if(par_pack) reduction(|: in_zero)
    for (int32_t y = 0; y < g->in_h; y++) {
        const size_t p0 = (size_t)y * (size_t)g->in_w;
        in_zero |= qk_bgemm_pack_f32(in + p0 * C, (size_t)g->in_w, C, C, pix + p0 * pw, pw);
    }

    /* 2. gather tap words into im2col rows (zero words outside the image) */
    const int par_gather = s.col_words >= QK_PARALLEL_MIN_WORK;
#pragma omp parallel for schedule(static) num_threads(qk_team_size()) if(par_gather)
    for (int32_t oy = 0; oy < oh; oy++) {
        for (int32_t ox = 0; ox < ow; ox++) {
            uint64_t* row = cols + ((size_t)oy * ow + ox) * 2 * s.kw;
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            for (int32_t ky = 0; ky < g->kernel_h; ky++, row += (size_t)g->kernel_w * pw) {
                const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
                if (iy < 0 || iy >= g->in_h) {
                    memset(row, 0, (size_t)g->kernel_w * pw * sizeof(uint64_t));
                    continue;
                }
                if (g->dilation_w == 1) { /* the in-image taps of a kernel row are adjacent pixels */
                    const int32_t lo = ix0 >= 0 ? 0 : -ix0 < g->kernel_w ? -ix0 : g->kernel_w;
                    int32_t hi = g->in_w - ix0;
                    hi = hi > g->kernel_w ? g->kernel_w : hi < lo ? lo : hi;
                    for (size_t i = 0; i < (size_t)lo * pw; i++) row[i] = 0;
                    if (hi > lo)
                        qk_bconv_copy_pairs(row + (size_t)lo * pw,
                                            pix + ((size_t)iy * g->in_w + (size_t)(ix0 + lo)) * pw,
                                            (size_t)(hi - lo) * pw);
                    for (size_t i = (size_t)hi * pw; i < (size_t)g->kernel_w * pw; i++) row[i] = 0;
                    continue;
                }
                for (int32_t kx = 0; kx < g->kernel_w; kx++) {
                    const int32_t ix = ix0 + kx * g->dilation_w;
                    uint64_t* tap = row + (size_t)kx * pw;
                    if (ix < 0 || ix >= g->in_w) memset(tap, 0, pw * sizeof(uint64_t));
                    else memcpy(tap, pix + ((size_t)iy * g->in_w + ix) * pw, pw * sizeof(uint64_t));
                }
            }
        }
    }

    /* 3. the path; for the two that ignore activation masks, padding classes and corrections */
    qk_bgemm_path path = in_zero ? QK_BGEMM_GENERAL : layer->w_has_zero ? QK_BGEMM_SIGN_ACT : QK_BGEMM_BINARY;
    const int fast = path != QK_BGEMM_GENERAL;
    const int32_t* use_corr = NULL;
    if (fast) {
        uint16_t yid[oh], xid[ow];
        uint64_t ypat[QK_BCONV_MAX_CLASSES], xpat[QK_BCONV_MAX_CLASSES];
        const size_t ny = qk_bconv_axis_patterns(oh, g->in_h, g->kernel_h, g->stride_h, g->pad_top,
                                                 g->dilation_h, yid, ypat, QK_BCONV_MAX_CLASSES);
        const size_t nx = qk_bconv_axis_patterns(ow, g->in_w, g->kernel_w, g->stride_w, g->pad_left,
                                                 g->dilation_w, xid, xpat, QK_BCONV_MAX_CLASSES);
        if (ny == 0 || nx == 0 || ny * nx > QK_BCONV_MAX_CLASSES) {
            path = QK_BGEMM_GENERAL;
        } else if (ny * nx > 1 || ypat[0] != 0 || xpat[0] != 0) {
            assert(layer->tap_sums != NULL);
            for (size_t cy = 0; cy < ny; cy++) {
                for (size_t cx = 0; cx < nx; cx++) {
                    int32_t* c = corr + (cy * nx + cx) * N;
                    memset(c, 0, N * sizeof(int32_t));
                    for (int32_t t = 0; t < taps; t++) {
                        const int32_t ky = t / g->kernel_w, kx = t % g->kernel_w;
                        if ((((ypat[cy] >> ky) | (xpat[cx] >> kx)) & 1) == 0) continue;
                        const int32_t* ts = layer->tap_sums + (size_t)t * N;
                        for (size_t n = 0; n < N; n++) c[n] += ts[n];
                    }
                }
            }
            for (int32_t oy = 0; oy < oh; oy++)
                for (int32_t ox = 0; ox < ow; ox++)
                    corr_row[(size_t)oy * ow + ox] = (uint16_t)(yid[oy] * nx + xid[ox]);
            use_corr = corr;
        }
    }

    /* 4. the GEMM */
    qk_bgemm_args a;
    a.M = s.M;
    a.N = N;
    a.kw = s.kw;
    a.K = (size_t)taps * C;
    a.a = cols;
    a.lda = 2 * s.kw;
    a.w = layer->w;
    a.path = path;
    a.w_nonzero = layer->w_nonzero;
    assert(path != QK_BGEMM_SIGN_ACT || a.w_nonzero != NULL);
    a.corr = use_corr;
    a.corr_row = corr_row;
    a.epi = layer->epi;
    qk_bgemm(uk, &a);
}
