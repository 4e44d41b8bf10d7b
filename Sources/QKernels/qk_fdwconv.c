/* qk_fdwconv.c — the fdwconv family's shape check, weight repack (f32 rows [C][K*K] -> [K*K][C]) and
 * driver (OpenMP over output rows). Members: ukernels/qk_fdwconv_ukernel_*; registry:
 * qk_registry.c (generated from toolchain/kernels.toml). */
#include <assert.h>
#include <string.h>
#include "internal/qk_isa_internal.h"
#include "internal/qk_parallel.h"
#include "qk_fdwconv.h"

int qk_fdwconv_supports(const qk_conv_geom* g) {
    return g->in_c >= 1 && g->groups == g->in_c && g->out_c == g->in_c
        && g->kernel_h == g->kernel_w && (g->kernel_h == 3 || g->kernel_h == 5)
        && g->dilation_h == 1 && g->dilation_w == 1
        && (g->stride_h == 1 || g->stride_h == 2) && (g->stride_w == 1 || g->stride_w == 2)
        && g->pad_top >= 0 && g->pad_left >= 0 && g->pad_bottom >= 0 && g->pad_right >= 0
        && g->in_h >= 1 && g->in_w >= 1 && qk_conv_out_h(g) > 0 && qk_conv_out_w(g) > 0;
}

size_t qk_fdwconv_weight_stride(int32_t channels) {
    const size_t a = QK_FDWCONV_CHANNEL_ALIGN;
    return ((size_t)channels + a - 1) / a * a;
}

void qk_fdwconv_pack(const float* rows, size_t row_stride, int32_t taps, int32_t channels, float* w,
                     size_t w_stride) {
    assert(w_stride >= (size_t)channels && taps >= 1 && (size_t)taps <= row_stride);
    memset(w, 0, (size_t)taps * w_stride * sizeof(float));
    for (int32_t c = 0; c < channels; c++) {
        for (size_t t = 0; t < (size_t)taps; t++) w[t * w_stride + (size_t)c] = rows[(size_t)c * row_stride + t];
    }
}

void qk_fdwconv(const qk_fdwconv_ukernel_desc* uk, const qk_fdwconv_args* args) {
    assert(qk_fdwconv_supports(&args->geom));
    assert(args->w_stride >= (size_t)args->geom.in_c);
    assert(args->epi.output_kind == QK_OUTPUT_F32 && args->epi.residual_kind != QK_RESIDUAL_U8);
    const int32_t oh = qk_conv_out_h(&args->geom), ow = qk_conv_out_w(&args->geom);
    const size_t taps = (size_t)args->geom.kernel_h * (size_t)args->geom.kernel_w;
    const size_t work = (size_t)oh * (size_t)ow * (size_t)args->geom.in_c * taps;
    const int par = work >= QK_PARALLEL_MIN_WORK && oh > 1;
    QK_PARALLEL_FOR(oy_, oh, par, {
        const int32_t oy = (int32_t)oy_;
        uk->fn(args, (size_t)oy, (size_t)oy + 1);
    });
}

const qk_fdwconv_ukernel_desc* qk_fdwconv_select(qk_isa isa) {
    return QK_SELECT(qk_fdwconv_ukernels, qk_fdwconv_ukernel_count, isa, NULL, NULL);
}

/* A SIMD member whose vector width divides the channel count. */
static int qk_fdwconv_keep(const void* desc, const void* channels) {
    const qk_fdwconv_ukernel_desc* d = desc;
    return d->isa != QK_ISA_SCALAR && *(const int32_t*)channels % d->lanes == 0;
}

const qk_fdwconv_ukernel_desc* qk_fdwconv_select_for(qk_isa isa, int32_t channels) {
    const qk_fdwconv_ukernel_desc* best = QK_SELECT(qk_fdwconv_ukernels, qk_fdwconv_ukernel_count, isa,
                                                    qk_fdwconv_keep, &channels);
    return best != NULL ? best : qk_fdwconv_select(isa);
}
