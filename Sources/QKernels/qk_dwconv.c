/* qk_dwconv.c — the dwconv family's shape check, weight repack (packed codes -> int8 [K*K][C]) and
 * driver (OpenMP over output rows). Members: ukernels/qk_dwconv_ukernel_*; registry:
 * qk_registry.c (generated from toolchain/kernels.toml). */
#include <assert.h>
#include <math.h>
#include <string.h>
#include "internal/qk_decode.h"
#include "internal/qk_isa_internal.h"
#include "internal/qk_parallel.h"
#include "qk_dwconv.h"

int qk_dwconv_supports(const qk_conv_geom* g) {
    return g->in_c >= 1 && g->groups == g->in_c && g->out_c == g->in_c
        && (g->kernel_h == 3 || g->kernel_h == 5) && g->kernel_w == g->kernel_h
        && g->dilation_h == 1 && g->dilation_w == 1
        && (g->stride_h == 1 || g->stride_h == 2) && (g->stride_w == 1 || g->stride_w == 2)
        && g->pad_top >= 0 && g->pad_left >= 0 && g->pad_bottom >= 0 && g->pad_right >= 0
        && g->in_h >= 1 && g->in_w >= 1 && qk_conv_out_h(g) > 0 && qk_conv_out_w(g) > 0;
}

size_t qk_dwconv_weight_stride(int32_t channels) {
    const size_t a = QK_DWCONV_CHANNEL_ALIGN;
    return ((size_t)channels + a - 1) / a * a;
}

/* Channel c is conv group c: one row (row 0 of its row group) of kernel^2 codes, k = ky*kernel + kx. */
void qk_dwconv_pack(const uint8_t* packed, size_t group_stride, int bits, const int8_t* lut, int32_t kernel,
                    int32_t channels, int8_t* w, size_t w_stride, int32_t* wsum) {
    assert(w_stride >= qk_dwconv_weight_stride(channels) && (kernel == 3 || kernel == 5));
    const size_t taps = (size_t)kernel * (size_t)kernel;
    memset(w, 0, taps * w_stride);
    for (int32_t c = 0; c < channels; c++) {
        const uint8_t* group = packed + (size_t)c * group_stride;
        int32_t sum = 0;
        for (size_t k = 0; k < taps; k++) {
            const int8_t v = qk_code_weight(qk_packed_code(group, group_stride, 0, k, bits), bits, lut);
            w[k * w_stride + (size_t)c] = v;
            sum += v;
        }
        wsum[c] = sum;
    }
}

void qk_dwconv(const qk_dwconv_ukernel_desc* uk, const qk_dwconv_args* args) {
    assert(qk_dwconv_supports(&args->geom));
    assert(args->w_stride >= qk_dwconv_weight_stride(args->geom.in_c));
    const int32_t oh = qk_conv_out_h(&args->geom), ow = qk_conv_out_w(&args->geom);
    const size_t work = (size_t)oh * (size_t)ow * (size_t)args->geom.in_c * (size_t)(args->geom.kernel_h * args->geom.kernel_w);
    const int par = work >= QK_PARALLEL_MIN_WORK && oh > 1;
    float* const range = args->epi.out_range;
    assert(range == NULL || args->epi.output_kind == QK_OUTPUT_F32);
    /* one contiguous block of output rows per thread: a member may reuse work across the rows of a
     * call (the VNNI member keeps built input rows), and rows are computed alone, so the split never
     * changes the bits */
    const int32_t blocks = par ? qk_team_size() : 1;
    if (blocks <= 1) { /* no OpenMP region (QK_PARALLEL_FOR says why) */
        uk->fn(args, 0, (size_t)oh);
        if (range != NULL) {
            float lo = INFINITY, hi = -INFINITY;
            qk_minmax_rows_f32((size_t)oh * (size_t)ow, (size_t)args->geom.in_c, (const float*)args->epi.out, args->epi.ldc, &lo, &hi);
            qk_out_range_merge(range, lo, hi);
        }
        return;
    }
    #pragma omp parallel num_threads(blocks)
    {
        float lo = INFINITY, hi = -INFINITY;
        #pragma omp for schedule(static)
        for (int32_t b = 0; b < blocks; b++) {
            const size_t oy0 = (size_t)oh * (size_t)b / (size_t)blocks, oy1 = (size_t)oh * (size_t)(b + 1) / (size_t)blocks;
            if (oy0 == oy1) continue;
            uk->fn(args, oy0, oy1);
            /* the rows just written, for a dynamically quantized reader */
            if (range != NULL) {
                qk_minmax_rows_f32((oy1 - oy0) * (size_t)ow, (size_t)args->geom.in_c,
                                   (const float*)args->epi.out + oy0 * (size_t)ow * args->epi.ldc, args->epi.ldc, &lo, &hi);
            }
        }
        if (range != NULL) {
            #pragma omp critical(qk_out_range)
            qk_out_range_merge(range, lo, hi);
        }
    }
}

/* Members with an int8 dot product (vpdpbusd) share their rank with the plain AVX-512 member: they
 * qualify only under a ceiling that has one too, so QK_ISA=avx512skx still runs the avx512skx member. */
static int qk_dwconv_keep(const void* desc, const void* want) {
    const qk_isa ceiling = *(const qk_isa*)want;
    return !qk_isa_has_int8_dot(((const qk_dwconv_ukernel_desc*)desc)->isa) || qk_isa_has_int8_dot(ceiling);
}

const qk_dwconv_ukernel_desc* qk_dwconv_select(qk_isa isa) {
    return QK_SELECT(qk_dwconv_ukernels, qk_dwconv_ukernel_count, isa, qk_dwconv_keep, &isa);
}
