/* qk_conv.c — NHWC convolution: output geometry, im2col (u8 / f32) and the conv drivers that run
 * one GEMM per group over the im2col rows (or over the input itself for 1x1 stride-1 convs). */
#include <assert.h>
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif
#include "internal/qk_isa_internal.h"
#include "internal/qk_omp.h"
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

/* Copies n bytes with at most two fixed-size overlapping moves when n <= 64 (no libc call): im2col
 * of a stem conv (3 channels, 7x7) copies ~90,000 runs of 21 bytes, where memcpy's call and size
 * dispatch cost as much as the copy. */
static inline void qk_copy_u8(uint8_t* d, const uint8_t* s, size_t n) {
    if (n >= 32 && n <= 64) {
        memcpy(d, s, 32);
        memcpy(d + n - 32, s + n - 32, 32);
    } else if (n >= 16 && n < 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8 && n < 16) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n < 8) {
        for (size_t i = 0; i < n; i++) d[i] = s[i];
    } else {
        memcpy(d, s, n);
    }
}

/* `count` copies of `run` bytes, the source advancing by src_step and the destination by dst_step: the
 * in-image stretch of one kernel row across an output row of im2col (one call instead of a branchy
 * per-pixel path). Runs of 32 bytes or more go in 32-byte moves, the last one overlapping; one AVX2 /
 * AVX-512 clone each, so a move is one vector register. */
static QK_VECTOR_CLONES void qk_copy_runs_u8(uint8_t* dst, size_t dst_step, const uint8_t* src, size_t src_step,
                                             size_t run, size_t count) {
    if (run < 32) {
        for (size_t j = 0; j < count; j++, dst += dst_step, src += src_step) qk_copy_u8(dst, src, run);
        return;
    }
    for (size_t j = 0; j < count; j++, dst += dst_step, src += src_step) {
        size_t i = 0;
        for (; i + 32 <= run; i += 32) memcpy(dst + i, src + i, 32);
        if (i < run) memcpy(dst + run - 32, src + run - 32, 32);
    }
}

static inline void qk_copy_f32(float* d, const float* s, size_t n) { memcpy(d, s, n * sizeof(float)); }

/* n copies of the pad value: memset for bytes (a byte loop stored one byte per iteration, reloading its
 * bound, since a byte store may alias it: 8x8x64 3x3 im2col spent 3 of its 4 us there), a float loop. */
static inline void qk_fill_u8(uint8_t* d, uint8_t v, size_t n) { memset(d, v, n); }
static inline void qk_fill_f32(float* d, float v, size_t n) { for (size_t i = 0; i < n; i++) d[i] = v; }

/* One im2col body for both element types: for each output row oy, kernel row ky and output pixel
 * ox (in that order, so the per-(oy, ky) work is hoisted and the rows written, ow * ld_out
 * elements, stay in L1), copy the c_count channels of each tap, or the pad value outside the
 * image. When the taps of one kernel row are adjacent in memory (all channels, no horizontal
 * dilation) the in-image run of a kernel row is one copy of (taps x channels) elements. */
#define QK_IM2COL_BODY(T, pad_value, copy, fill)                                                      \
    do {                                                                                          \
        const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g), kw = g->kernel_w;            \
        const size_t cc = (size_t)c_count, run = (size_t)kw * cc;                                 \
        const int rows_contiguous = g->dilation_w == 1 && c_begin == 0 && c_count == g->in_c;    \
        const int par = (size_t)oh * (size_t)ow * qk_conv_gemm_k(g) >= QK_PARALLEL_MIN_WORK;     \
        QK_PARALLEL_FOR(oy_, oh, par, {                                                          \
            const int32_t oy = (int32_t)oy_;                                                     \
            T* const rows = out + (size_t)oy * (size_t)ow * ld_out;                               \
            for (int32_t ky = 0; ky < g->kernel_h; ky++) {                                        \
                const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;            \
                T* dst = rows + (size_t)ky * run;                                                 \
                if (iy < 0 || iy >= g->in_h) {                                                    \
                    for (int32_t ox = 0; ox < ow; ox++, dst += ld_out) fill(dst, (pad_value), run); \
                    continue;                                                                     \
                }                                                                                 \
                const T* src_row = in + (size_t)iy * (size_t)g->in_w * (size_t)g->in_c           \
                                   + (size_t)c_begin;                                             \
                for (int32_t ox = 0; ox < ow; ox++, dst += ld_out) {                              \
                    const int32_t ix0 = ox * g->stride_w - g->pad_left;                           \
                    if (rows_contiguous) {                                                        \
                        if (ix0 >= 0 && ix0 + kw <= g->in_w) {                                    \
                            /* the output pixels up to the last one with every tap in the image */ \
                            const int32_t last = (g->in_w - kw + g->pad_left) / g->stride_w;      \
                            const int32_t end = last + 1 < ow ? last + 1 : ow;                    \
                            qk_copy_runs_u8((uint8_t*)dst, ld_out * sizeof(T),                    \
                                            (const uint8_t*)(src_row + (size_t)ix0 * cc),         \
                                            (size_t)g->stride_w * cc * sizeof(T), run * sizeof(T), \
                                            (size_t)(end - ox));                                  \
                            dst += (size_t)(end - ox - 1) * ld_out;                               \
                            ox = end - 1;                                                         \
                            continue;                                                             \
                        }                                                                         \
                        const int32_t lo = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0;                 \
                        const int32_t hi = ix0 + kw > g->in_w ? g->in_w - ix0 : kw;               \
                        fill(dst, (pad_value), (size_t)lo * cc);                                  \
                        if (hi > lo) {                                                            \
                            copy(dst + (size_t)lo * cc, src_row + (size_t)(ix0 + lo) * cc,        \
                                 (size_t)(hi - lo) * cc);                                         \
                        }                                                                         \
                        {                                                                         \
                            const size_t filled = (size_t)(hi > lo ? hi : lo) * cc;               \
                            fill(dst + filled, (pad_value), run - filled);                        \
                        }                                                                         \
                    } else {                                                                      \
                        T* d = dst;                                                               \
                        for (int32_t kx = 0; kx < kw; kx++, d += cc) {                            \
                            const int32_t ix = ix0 + kx * g->dilation_w;                          \
                            if (ix < 0 || ix >= g->in_w) {                                        \
                                fill(d, (pad_value), cc);                                         \
                            } else {                                                              \
                                copy(d, src_row + (size_t)ix * (size_t)g->in_c, cc);              \
                            }                                                                     \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        });                                                                                       \
    } while (0)

void qk_im2col_u8(const qk_conv_geom* g, const uint8_t* in, int32_t c_begin, int32_t c_count,
                  uint8_t pad_value, uint8_t* out, size_t ld_out) {
    QK_IM2COL_BODY(uint8_t, pad_value, qk_copy_u8, qk_fill_u8);
}

void qk_im2col_f32(const qk_conv_geom* g, const float* in, int32_t c_begin, int32_t c_count,
                   float* out, size_t ld_out) {
    QK_IM2COL_BODY(float, 0.0f, qk_copy_f32, qk_fill_f32);
}

/* im2col of rows [m_begin, m_end) only (row m_begin written at out): the per-panel form the fused
 * conv driver uses. Same values as the matching rows of qk_im2col_u8. */
static void qk_im2col_rows_u8(const qk_conv_geom* g, const uint8_t* in, int32_t c_begin, int32_t c_count,
                              uint8_t pad_value, size_t m_begin, size_t m_end, uint8_t* out, size_t ld_out) {
    const int32_t ow = qk_conv_out_w(g), kw = g->kernel_w;
    const size_t cc = (size_t)c_count, run = (size_t)kw * cc;
    const int rows_contiguous = g->dilation_w == 1 && c_begin == 0 && c_count == g->in_c;
    for (size_t m = m_begin; m < m_end;) {
        const int32_t oy = (int32_t)(m / (size_t)ow), ox_begin = (int32_t)(m % (size_t)ow);
        const int32_t ox_end = (size_t)ow - (size_t)ox_begin < m_end - m ? ow : ox_begin + (int32_t)(m_end - m);
        uint8_t* const rows = out + (m - m_begin) * ld_out;
        for (int32_t ky = 0; ky < g->kernel_h; ky++) {
            const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
            uint8_t* dst = rows + (size_t)ky * run;
            if (iy < 0 || iy >= g->in_h) {
                for (int32_t ox = ox_begin; ox < ox_end; ox++, dst += ld_out) memset(dst, pad_value, run);
                continue;
            }
            const uint8_t* src_row = in + (size_t)iy * (size_t)g->in_w * (size_t)g->in_c + (size_t)c_begin;
            /* a run of 16..31 bytes that is not the row's last may be copied as 32: the excess lands in
             * the next kernel row's run, written after this one (stem convs: 7x7x3 = 21-byte runs) */
            const int wide = run >= 16 && run < 32 && ky + 1 < g->kernel_h;
            for (int32_t ox = ox_begin; ox < ox_end; ox++, dst += ld_out) {
                const int32_t ix0 = ox * g->stride_w - g->pad_left;
                if (rows_contiguous && ix0 >= 0 && ix0 + kw <= g->in_w) {
                    /* every output pixel up to the last one whose taps are all in the image, at once */
                    const int32_t last = (g->in_w - kw + g->pad_left) / g->stride_w;
                    const int32_t end = last + 1 < ox_end ? last + 1 : ox_end;
                    const size_t count = (size_t)(end - ox), step = (size_t)g->stride_w * cc;
                    const uint8_t* src = src_row + (size_t)ix0 * cc;
                    if (wide) {
                        /* one 32-byte move per pixel in a tight loop (per pixel through the bounds checks
                         * below, the stem's 88,000 runs cost 0.19 of its 0.72 ms) */
                        uint8_t* d = dst;
                        for (size_t j = 0; j < count; j++, d += ld_out, src += step) memcpy(d, src, 32);
                    } else {
                        qk_copy_runs_u8(dst, ld_out, src, step, run, count);
                    }
                    dst += (count - 1) * ld_out;
                    ox = end - 1;
                    continue;
                }
                uint8_t* d = dst;
                for (int32_t kx = 0; kx < kw; kx++, d += cc) {
                    const int32_t ix = ix0 + kx * g->dilation_w;
                    if (ix < 0 || ix >= g->in_w) memset(d, pad_value, cc);
                    else qk_copy_u8(d, src_row + (size_t)ix * (size_t)g->in_c, cc);
                }
            }
        }
        m += (size_t)(ox_end - ox_begin);
    }
}

/* sum of n bytes: SSE2's psadbw (every x86-64) or NEON's widening pairwise adds, else a plain loop; the
 * integer sum is the same on every path. Pixel sums for the row sums of half-step weights. */
static uint32_t qk_sum_u8(const uint8_t* p, size_t n) {
    uint64_t s = 0;
    size_t i = 0;
#if defined(__x86_64__)
    __m128i acc = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i*)(const void*)(p + i)), _mm_setzero_si128()));
    s = (uint64_t)_mm_cvtsi128_si64(acc) + (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#elif defined(__aarch64__)
    uint32x4_t acc = vdupq_n_u32(0);
    for (; i + 16 <= n; i += 16) acc = vpadalq_u16(acc, vpaddlq_u8(vld1q_u8(p + i)));
    s = vaddvq_u32(acc);
#endif
    for (; i < n; i++) s += p[i];
    return (uint32_t)s;
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

/* The fused path of qk_conv2d_u8 for one group (a = the group's GEMM arguments minus A): OpenMP
 * over panels of rows; each thread writes its panel's im2col rows into its own slice of the
 * workspace (small enough to stay in L1/L2) and runs every tile of the panel on them, so the
 * im2col matrix never travels through the outer caches. Panels are sized like qk_qgemm's
 * (QK_PANEL_BYTES of A), the tiles and their results are the same. */
static void qk_conv_panels_u8(const qk_qgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint8_t* in,
                              int32_t c_begin, int32_t c_count, const qk_qgemm_args* a, size_t panel_rows,
                              uint8_t* workspace, int threads) {
    const size_t M = a->M, N = a->N, K = a->K, MR = (size_t)uk->mr, NR = (size_t)uk->nr;
    const long long panels = (long long)((M + panel_rows - 1) / panel_rows);
    const size_t out_es = qk_out_elem_size(a->epi.output_kind), res_es = qk_residual_elem_size(a->epi.residual_kind);
    float* const range = a->epi.out_range;
    /* panel p on thread `thread` (its workspace slice); `first`: this thread's first panel, which reads the
     * weights from L3 / memory: prefetch them */
#define QK_CONV_PANEL(p, thread, first, lo, hi)                                                           \
    do {                                                                                              \
        const size_t m_begin = (size_t)(p) * panel_rows, rows = M - m_begin < panel_rows ? M - m_begin : panel_rows; \
        uint8_t* buf = workspace + (size_t)(thread) * panel_rows * K;                                  \
        qk_im2col_rows_u8(g, in, c_begin, c_count, (uint8_t)a->a_zero, m_begin, m_begin + rows, buf, K); \
        qk_qgemm_args pa = *a;                                                                        \
        pa.M = rows;                                                                                  \
        pa.prefetch_rows = (first) ? qk_prefetch_rows(rows, N * K * (size_t)a->bits / 8) : 0;         \
        pa.a = buf;                                                                                   \
        pa.lda = K;                                                                                   \
        pa.epi.out = (uint8_t*)a->epi.out + m_begin * a->epi.ldc * out_es;                            \
        if (pa.epi.half_rows) pa.epi.half_rows += m_begin;                                            \
        if (pa.epi.residual) pa.epi.residual = (const uint8_t*)a->epi.residual + m_begin * a->epi.ldr * res_es; \
        for (size_t n0 = 0; n0 < N; n0 += NR) {                                                      \
            const size_t nr = N - n0 < NR ? N - n0 : NR;                                              \
            for (size_t m0 = 0; m0 < rows; m0 += MR) uk->fn(&pa, m0, n0, rows - m0 < MR ? rows - m0 : MR, nr); \
        }                                                                                             \
        if (range != NULL) qk_minmax_rows_f32(rows, N, (const float*)pa.epi.out, pa.epi.ldc, &(lo), &(hi)); \
    } while (0)
    if (threads <= 1) { /* no OpenMP region (QK_PARALLEL_FOR says why) */
        float lo = INFINITY, hi = -INFINITY;
        for (long long p = 0; p < panels; p++) QK_CONV_PANEL(p, 0, p == 0, lo, hi);
        if (range != NULL) qk_out_range_merge(range, lo, hi);
        return;
    }
    _Pragma("omp parallel num_threads(threads)")
    {
    float lo = INFINITY, hi = -INFINITY;
    int first = 1;
    _Pragma("omp for schedule(static)")
    for (long long p = 0; p < panels; p++) {
        QK_CONV_PANEL(p, omp_get_thread_num(), first, lo, hi);
        first = 0;
    }
    if (range != NULL) {
        _Pragma("omp critical(qk_out_range)")
        qk_out_range_merge(range, lo, hi);
    }
    }
#undef QK_CONV_PANEL
}

size_t qk_conv_half_step_bytes(const qk_conv_geom* g) {
    const size_t pixels = (size_t)g->in_h * (size_t)g->in_w, rows = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g);
    return (pixels + rows) * sizeof(int32_t) + sizeof(int32_t);
}

/* Row sums of the im2col matrix of channels [c_begin, c_begin + c_count) without building it:
 * pixel[y][x] = sum_c (in[y][x][c] - a_zero), then rows[m] = the sum of pixel over the taps of output
 * m that fall inside the image (a tap outside reads the pad value a_zero, which adds 0). Exact:
 * |rows[m]| <= 255 * K. */
static void qk_conv_row_sums_u8(const qk_conv_geom* g, const uint8_t* in, int32_t c_begin, int32_t c_count,
                                int32_t a_zero, int32_t* pixel, int32_t* rows) {
    const size_t pixels = (size_t)g->in_h * (size_t)g->in_w;
    for (size_t p = 0; p < pixels; p++) {
        pixel[p] = (int32_t)qk_sum_u8(in + p * (size_t)g->in_c + c_begin, (size_t)c_count) - a_zero * c_count;
    }
    const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g);
    for (int32_t oy = 0; oy < oh; oy++) {
        for (int32_t ox = 0; ox < ow; ox++) {
            int32_t s = 0;
            for (int32_t ky = 0; ky < g->kernel_h; ky++) {
                const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
                if (iy < 0 || iy >= g->in_h) continue;
                for (int32_t kx = 0; kx < g->kernel_w; kx++) {
                    const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
                    if (ix >= 0 && ix < g->in_w) s += pixel[(size_t)iy * (size_t)g->in_w + (size_t)ix];
                }
            }
            rows[(size_t)oy * (size_t)ow + (size_t)ox] = s;
        }
    }
}

static int qk_conv_unpadded(const qk_conv_geom* g) {
    return g->pad_top == 0 && g->pad_left == 0 && g->pad_bottom == 0 && g->pad_right == 0;
}

/* Implicit rows pay where the im2col copy is dear next to the GEMM: its cost per multiply-add is 1 / out_c.
 * Measured on AVX-512 VNNI (Emerald Rapids; docs/KERNELS.md "Implicit conv rows"): 3x3 convs with 32 or 64
 * outputs ran 10-24 % faster than fused im2col, with 128 or more 2-4 % slower (the im2col panel, reread from
 * L1 by every column tile, is then cheap and the image's scattered rows are not). */
#define QK_IMPLICIT_MAX_OUT_C 64

/* The implicit-rows form of a u8 conv (qk_qgemm_args.a_width): taken for one group of at most
 * QK_IMPLICIT_MAX_OUT_C outputs, no horizontal dilation and kernel rows of a multiple of 32 bytes
 * (kernel_w * in_c), when the bordered image fits in the im2col workspace. The image is the input itself
 * when there is no padding, else a copy with a border of the zero point: rows [0, bh) and columns [0, bw)
 * of it hold input (y - pad_top, x - pad_left). */
static int qk_conv_implicit_ok(const qk_conv_geom* g, size_t* bh, size_t* bw) {
    if (g->groups != 1 || g->out_c > QK_IMPLICIT_MAX_OUT_C || g->dilation_w != 1 ||
        ((size_t)g->kernel_w * (size_t)g->in_c) % 32 != 0) return 0;
    const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g);
    if (oh <= 0 || ow <= 0) return 0;
    *bh = (size_t)(oh - 1) * (size_t)g->stride_h + (size_t)(g->kernel_h - 1) * (size_t)g->dilation_h + 1;
    *bw = (size_t)(ow - 1) * (size_t)g->stride_w + (size_t)g->kernel_w;
    return qk_conv_unpadded(g) || *bh * *bw * (size_t)g->in_c + QK_EXTRA_BYTES <= qk_conv_workspace_bytes(g, 1);
}

/* Copies the input into a bh x bw image with a border of `zero` (see qk_conv_implicit_ok); rows in
 * parallel when the image is large. */
static void qk_conv_border_u8(const qk_conv_geom* g, const uint8_t* in, uint8_t zero, size_t bh, size_t bw,
                              uint8_t* image) {
    const size_t C = (size_t)g->in_c, row_bytes = bw * C;
    const int par = bh * row_bytes >= QK_PARALLEL_MIN_WORK;
    QK_PARALLEL_FOR(y_, bh, par, {
        const long long iy = y_ - g->pad_top;
        uint8_t* dst = image + (size_t)y_ * row_bytes;
        if (iy < 0 || iy >= g->in_h) {
            memset(dst, zero, row_bytes);
        } else {
            /* columns x in [pad_left, pad_left + in_w) hold input x - pad_left, clipped to bw */
            const size_t left = (size_t)g->pad_left < bw ? (size_t)g->pad_left : bw;
            const size_t inside = bw - left < (size_t)g->in_w ? bw - left : (size_t)g->in_w;
            memset(dst, zero, left * C);
            memcpy(dst + left * C, in + (size_t)iy * (size_t)g->in_w * C, inside * C);
            memset(dst + (left + inside) * C, zero, (bw - left - inside) * C);
        }
    });
}

void qk_conv2d_u8(const qk_qgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint8_t* in,
                  const qk_qgemm_args* layer, uint8_t* workspace) {
    assert(g->groups >= 1 && g->in_c % g->groups == 0 && g->out_c % g->groups == 0);
    const int32_t cg = g->in_c / g->groups;
    const size_t ocg = (size_t)(g->out_c / g->groups), K = qk_conv_gemm_k(g);
    const int direct = qk_conv_is_direct(g);
    int32_t *pixel = NULL, *rows = NULL;
    if (layer->epi.half_rows != NULL) {
        const size_t offset = (qk_conv_workspace_bytes(g, 1) + sizeof(int32_t) - 1) / sizeof(int32_t) * sizeof(int32_t);
        pixel = (int32_t*)(void*)(workspace + offset);
        rows = pixel + (size_t)g->in_h * (size_t)g->in_w;
    }
    for (int32_t gi = 0; gi < g->groups; gi++) {
        qk_qgemm_args a = *layer;
        const size_t n0 = (size_t)gi * ocg;
        a.M = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g);
        a.N = ocg;
        a.K = K;
        a.w = layer->w + (size_t)gi * (qk_packed_rows(ocg) / QK_ROW_GROUP) * layer->w_group_stride;
        if (a.colsum) a.colsum += n0;
        a.epi = qk_epilogue_from(&layer->epi, n0);
        if (rows != NULL) {
            qk_conv_row_sums_u8(g, in, gi * cg, cg, layer->a_zero, pixel, rows);
            a.epi.half_rows = rows;
        }
        if (direct) {
            a.a = in + (size_t)gi * (size_t)cg;
            a.lda = (size_t)g->in_c;
            qk_qgemm(uk, &a);
            continue;
        }
        size_t bh, bw;
        if (qk_conv_implicit_ok(g, &bh, &bw)) {
            /* implicit rows: the GEMM reads the (bordered) image in place */
            const int unpadded = qk_conv_unpadded(g);
            const size_t C = (size_t)g->in_c, width = unpadded ? (size_t)g->in_w : bw;
            if (!unpadded) qk_conv_border_u8(g, in, (uint8_t)layer->a_zero, bh, bw, workspace);
            a.a = unpadded ? in : workspace;
            a.lda = K;
            a.a_width = (size_t)qk_conv_out_w(g);
            a.a_row_step = (size_t)g->stride_h * width * C;
            a.a_col_step = (size_t)g->stride_w * C;
            a.a_seg_len = (size_t)g->kernel_w * C;
            a.a_seg_step = (size_t)g->dilation_h * width * C;
            qk_qgemm(uk, &a);
            continue;
        }
        /* Fused per-panel im2col when there are enough panels to keep every thread busy (the
         * workspace, M * K bytes, then holds one panel per thread); else one im2col, then qk_qgemm
         * over (panel, column tile) jobs. */
        const size_t MR = (size_t)uk->mr;
        const size_t mb = qk_panel_row_tiles(a.M, K, MR, a.N * K * (size_t)a.bits / 8);
        const size_t panel_rows = mb * MR, panels = (a.M + panel_rows - 1) / panel_rows;
        const int threads = a.M * a.N * (K + 1) >= QK_PARALLEL_MIN_WORK ? qk_team_size() : 1;
        if (panels >= (size_t)QK_FUSED_PANELS_PER_THREAD * (size_t)threads) {
            qk_conv_panels_u8(uk, g, in, gi * cg, cg, &a, panel_rows, workspace, threads);
            continue;
        }
        qk_im2col_u8(g, in, gi * cg, cg, (uint8_t)layer->a_zero, workspace, K);
        a.a = workspace;
        a.lda = K;
        qk_qgemm(uk, &a);
    }
}

/* The f32 conv over groups: im2col (unless direct) and one GEMM per group through `gemm`, whose B
 * for group gi starts `b_group_floats` floats after the previous group's. */
static void qk_conv2d_f32_groups(const qk_conv_geom* g, const float* in, const qk_fgemm_args* layer, float* workspace,
                                 size_t b_group_floats, void (*gemm)(const void* uk, const qk_fgemm_args* a),
                                 const void* uk) {
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
        a.b = layer->b + (size_t)gi * b_group_floats;
        a.epi = qk_epilogue_from(&layer->epi, n0);
        gemm(uk, &a);
    }
}

static void qk_fgemm_call(const void* uk, const qk_fgemm_args* a) { qk_fgemm(uk, a); }
static void qk_pfgemm_call(const void* uk, const qk_fgemm_args* a) { qk_pfgemm(uk, a); }

void qk_conv2d_f32(const qk_fgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                   const qk_fgemm_args* layer, float* workspace) {
    const size_t ocg = (size_t)(g->out_c / g->groups);
    qk_conv2d_f32_groups(g, in, layer, workspace, ocg * layer->ldb, qk_fgemm_call, uk);
}

void qk_conv2d_pf32(const qk_pfgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                    const qk_fgemm_args* layer, float* workspace) {
    const size_t ocg = (size_t)(g->out_c / g->groups);
    qk_conv2d_f32_groups(g, in, layer, workspace, qk_pfgemm_packed_floats(ocg, qk_conv_gemm_k(g), (size_t)uk->nr),
                         qk_pfgemm_call, uk);
}
