/* qk_bconv.c — binary NHWC convolution over bgemm, as an implicit GEMM: sign-pack every input
 * pixel once (ceil(in_c / 64) word pairs) into a zero-bordered image (pad_top/left/bottom/right
 * pixels of zero words = zero activations), then one qk_bgemm whose row m (output pixel oy, ox)
 * is read in place as kernel_h * kernel_w pieces, one per tap (ky, kx):
 *   piece address = image + a_rows[m] + a_segs[tap],
 *   a_rows[m] = ((oy * stride_h) * Wp + ox * stride_w) * pw,  a_segs[tap] = (ky * dil_h * Wp + kx * dil_w) * pw
 * (Wp = padded width, pw = 2 * ceil(in_c / 64) words per pixel): no im2col copy. Without
 * horizontal dilation the taps of a kernel row are adjacent pixels, so a row is kernel_h pieces of
 * kernel_w * ceil(in_c / 64) words (a_segs[ky] = ky * dil_h * Wp * pw) instead. Path:
 * QK_BGEMM_BINARY (no zero weight, no zero input), QK_BGEMM_SIGN_ACT (zero weights, no zero
 * input) or QK_BGEMM_GENERAL (zero inputs). The first two count a padded tap as a = +1, so rows
 * touching the border get an exact correction (qk_bgemm.h):
 *   corr[class][n] = sum over the row's padded taps t of tap_sums[t][n]
 * Rows fall into classes = (vertical pattern of padded ky) x (horizontal pattern of padded kx);
 * with more than QK_BCONV_MAX_CLASSES classes the driver uses the general path (still exact). */
#include <assert.h>
#include <string.h>
#include "internal/qk_parallel.h"
#include "qk_bgemm.h"

/** Largest number of padding classes kept for the fast path (3x3 pad 1 needs 9). */
#define QK_BCONV_MAX_CLASSES 64

/* The row tables (qk_bconv_prepare): a header, a_rows [M] and a_segs [taps] (size_t), corr
 * [classes][out_c] (int32), corr_row [M] (uint16). The workspace: the padded packed image (uint64),
 * then room for the tables when the layer has none. */
typedef struct {
    size_t cw, kw, M, taps, hp, wp, image_words;
} qk_bconv_sizes;

typedef struct {
    int32_t fast;      /* padding classes fit: SIGN_ACT / BINARY may run (else GENERAL only) */
    int32_t corrected; /* some row has padded taps: corr / corr_row are used */
    int32_t segs;      /* pieces per implicit row */
    int32_t pad_;
} qk_bconv_header;

static qk_bconv_sizes qk_bconv_sizes_of(const qk_conv_geom* g) {
    qk_bconv_sizes s;
    s.cw = ((size_t)g->in_c + 63) / 64;
    s.taps = (size_t)g->kernel_h * (size_t)g->kernel_w;
    s.kw = s.taps * s.cw;
    s.M = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g);
    s.hp = (size_t)(g->pad_top + g->in_h + g->pad_bottom);
    s.wp = (size_t)(g->pad_left + g->in_w + g->pad_right);
    s.image_words = s.hp * s.wp * 2 * s.cw;
    return s;
}

size_t qk_bconv_tables_bytes(const qk_conv_geom* g) {
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    return sizeof(qk_bconv_header) + (s.M + s.taps) * sizeof(size_t)
         + (size_t)QK_BCONV_MAX_CLASSES * (size_t)g->out_c * sizeof(int32_t) + s.M * sizeof(uint16_t);
}

size_t qk_bconv_workspace_bytes(const qk_conv_geom* g) {
    return qk_bconv_sizes_of(g).image_words * sizeof(uint64_t) + qk_bconv_tables_bytes(g);
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

/* The table arrays inside a tables buffer. */
typedef struct {
    qk_bconv_header* header;
    size_t* a_rows;
    size_t* a_segs;
    int32_t* corr;
    uint16_t* corr_row;
} qk_bconv_tables;

static qk_bconv_tables qk_bconv_tables_in(const qk_conv_geom* g, void* buffer) {
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    qk_bconv_tables t;
    t.header = (qk_bconv_header*)buffer;
    t.a_rows = (size_t*)(t.header + 1);
    t.a_segs = t.a_rows + s.M;
    t.corr = (int32_t*)(t.a_segs + s.taps);
    t.corr_row = (uint16_t*)(t.corr + (size_t)QK_BCONV_MAX_CLASSES * (size_t)g->out_c);
    return t;
}

void qk_bconv_prepare(const qk_conv_geom* g, const qk_bconv_layer* layer, void* tables) {
    assert(g->groups == 1 && g->kernel_h <= 64 && g->kernel_w <= 64);
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    const qk_bconv_tables t = qk_bconv_tables_in(g, tables);
    const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g), taps = g->kernel_h * g->kernel_w;
    const size_t N = (size_t)g->out_c, pw = 2 * s.cw;

    /* where each row and each piece (a kernel row's taps, or one tap) starts in the image */
    for (int32_t oy = 0; oy < oh; oy++)
        for (int32_t ox = 0; ox < ow; ox++)
            t.a_rows[(size_t)oy * ow + ox] = ((size_t)oy * g->stride_h * s.wp + (size_t)ox * g->stride_w) * pw;
    const int whole_rows = g->dilation_w == 1;
    const size_t segs = whole_rows ? (size_t)g->kernel_h : s.taps;
    for (size_t p = 0; p < segs; p++) {
        const size_t ky = whole_rows ? p : p / (size_t)g->kernel_w, kx = whole_rows ? 0 : p % (size_t)g->kernel_w;
        t.a_segs[p] = (ky * (size_t)g->dilation_h * s.wp + kx * (size_t)g->dilation_w) * pw;
    }
    t.header->segs = (int32_t)segs;

    /* padding classes and their corrections, for the two paths that ignore activation masks */
    uint16_t yid[oh > 0 ? oh : 1], xid[ow > 0 ? ow : 1];
    uint64_t ypat[QK_BCONV_MAX_CLASSES], xpat[QK_BCONV_MAX_CLASSES];
    const size_t ny = qk_bconv_axis_patterns(oh, g->in_h, g->kernel_h, g->stride_h, g->pad_top,
                                             g->dilation_h, yid, ypat, QK_BCONV_MAX_CLASSES);
    const size_t nx = qk_bconv_axis_patterns(ow, g->in_w, g->kernel_w, g->stride_w, g->pad_left,
                                             g->dilation_w, xid, xpat, QK_BCONV_MAX_CLASSES);
    t.header->fast = !(ny == 0 || nx == 0 || ny * nx > QK_BCONV_MAX_CLASSES);
    t.header->corrected = t.header->fast && (ny * nx > 1 || ypat[0] != 0 || xpat[0] != 0);
    if (!t.header->corrected) return;
    assert(layer->tap_sums != NULL);
    for (size_t cy = 0; cy < ny; cy++) {
        for (size_t cx = 0; cx < nx; cx++) {
            int32_t* c = t.corr + (cy * nx + cx) * N;
            memset(c, 0, N * sizeof(int32_t));
            for (int32_t tap = 0; tap < taps; tap++) {
                const int32_t ky = tap / g->kernel_w, kx = tap % g->kernel_w;
                if ((((ypat[cy] >> ky) | (xpat[cx] >> kx)) & 1) == 0) continue;
                const int32_t* ts = layer->tap_sums + (size_t)tap * N;
                for (size_t n = 0; n < N; n++) c[n] += ts[n];
            }
        }
    }
    for (int32_t oy = 0; oy < oh; oy++)
        for (int32_t ox = 0; ox < ow; ox++)
            t.corr_row[(size_t)oy * ow + ox] = ypat[yid[oy]] == 0 && xpat[xid[ox]] == 0
                ? (uint16_t)QK_BGEMM_NO_CORRECTION : (uint16_t)(yid[oy] * nx + xid[ox]);
}

size_t qk_bconv_image_bytes(const qk_conv_geom* g) {
    return qk_bconv_sizes_of(g).image_words * sizeof(uint64_t);
}

int qk_bconv_pack_image(const qk_conv_geom* g, const float* in, uint64_t* image) {
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    const size_t C = (size_t)g->in_c, pw = 2 * s.cw;
    int in_zero = 0;
    const size_t border = (size_t)g->pad_left * pw, right = (size_t)g->pad_right * pw;
    memset(image, 0, (size_t)g->pad_top * s.wp * pw * sizeof(uint64_t));
    memset(image + (size_t)(g->pad_top + g->in_h) * s.wp * pw, 0,
           (size_t)g->pad_bottom * s.wp * pw * sizeof(uint64_t));
    const int par_pack = (size_t)g->in_h * g->in_w * C >= QK_PARALLEL_MIN_WORK;
    /* one input row; OpenMP only on a team of several threads (QK_PARALLEL_FOR says why) */
#define QK_BCONV_PACK_ROW(y)                                                                              \
    do {                                                                                                \
        uint64_t* row = image + (size_t)(g->pad_top + (y)) * s.wp * pw;                                 \
        memset(row, 0, border * sizeof(uint64_t));                                                      \
        memset(row + border + (size_t)g->in_w * pw, 0, right * sizeof(uint64_t));                       \
        in_zero |= qk_bgemm_pack_f32(in + (size_t)(y) * g->in_w * C, (size_t)g->in_w, C, C, row + border, pw); \
    } while (0)
    if (par_pack && qk_team_size() > 1) {
#pragma omp parallel for schedule(static) num_threads(qk_team_size()) reduction(|: in_zero)
        for (int32_t y = 0; y < g->in_h; y++) QK_BCONV_PACK_ROW(y);
    } else {
        for (int32_t y = 0; y < g->in_h; y++) QK_BCONV_PACK_ROW(y);
    }
#undef QK_BCONV_PACK_ROW
    return in_zero;
}

void qk_bconv2d_packed(const qk_bgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint64_t* image,
                       int image_has_zero, const qk_bconv_layer* layer) {
    assert(g->groups == 1 && g->kernel_h <= 64 && g->kernel_w <= 64 && layer->tables != NULL);
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    if (s.M == 0 || g->out_c == 0) return;
    const qk_bconv_tables t = qk_bconv_tables_in(g, (void*)layer->tables); /* only read below */

    /* the path: a zero input needs the general path; the other two count padding as +1 and
     * subtract the row class's correction */
    qk_bgemm_path path = image_has_zero ? QK_BGEMM_GENERAL : layer->w_has_zero ? QK_BGEMM_SIGN_ACT : QK_BGEMM_BINARY;
    if (!t.header->fast) path = QK_BGEMM_GENERAL;
    qk_bgemm_args a;
    a.M = s.M;
    a.N = (size_t)g->out_c;
    a.kw = s.kw;
    a.K = s.taps * (size_t)g->in_c;
    a.a = image;
    a.lda = 0;
    a.a_rows = t.a_rows;
    a.a_segs = t.a_segs;
    a.segs = (size_t)t.header->segs;
    a.seg_words = s.kw / a.segs;
    a.w = layer->w;
    a.path = path;
    a.w_nonzero = layer->w_nonzero;
    assert(path != QK_BGEMM_SIGN_ACT || a.w_nonzero != NULL);
    a.corr = path != QK_BGEMM_GENERAL && t.header->corrected ? t.corr : NULL;
    a.corr_row = t.corr_row;
    a.epi = layer->epi;
    qk_bgemm(uk, &a);
}

void qk_bconv2d_f32(const qk_bgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                    const qk_bconv_layer* layer, void* workspace) {
    assert(g->groups == 1 && g->kernel_h <= 64 && g->kernel_w <= 64);
    const qk_bconv_sizes s = qk_bconv_sizes_of(g);
    if (s.M == 0 || g->out_c == 0) return;
    uint64_t* image = (uint64_t*)workspace;
    qk_bconv_layer with_tables = *layer;
    if (with_tables.tables == NULL) {
        void* tables = image + s.image_words;
        qk_bconv_prepare(g, layer, tables);
        with_tables.tables = tables;
    }
    const int in_zero = qk_bconv_pack_image(g, in, image);
    qk_bconv2d_packed(uk, g, image, in_zero, &with_tables);
}
