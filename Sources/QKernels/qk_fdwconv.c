/* qk_fdwconv.c — the fdwconv3x3 family's weight repack (f32 rows [C][9] -> [9][C]) and driver
 * (OpenMP over output rows). Shape check: qk_dwconv3x3_supports (the same scope as the u8 family).
 * Members: ukernels/qk_fdwconv3x3_ukernel_*; registry: qk_fdwconv_registry.c. */
#include <assert.h>
#include <string.h>
#include "internal/qk_parallel.h"
#include "qk_dwconv.h"
#include "qk_fdwconv.h"

size_t qk_fdwconv3x3_weight_stride(int32_t channels) {
    const size_t a = QK_FDWCONV_CHANNEL_ALIGN;
    return ((size_t)channels + a - 1) / a * a;
}

void qk_fdwconv3x3_pack(const float* rows, size_t row_stride, int32_t channels, float* w, size_t w_stride) {
    assert(w_stride >= (size_t)channels);
    memset(w, 0, 9 * w_stride * sizeof(float));
    for (int32_t c = 0; c < channels; c++) {
        for (size_t k = 0; k < 9; k++) w[k * w_stride + (size_t)c] = rows[(size_t)c * row_stride + k];
    }
}

void qk_fdwconv3x3(const qk_fdwconv_ukernel_desc* uk, const qk_fdwconv_args* args) {
    assert(qk_dwconv3x3_supports(&args->geom));
    assert(args->w_stride >= (size_t)args->geom.in_c);
    assert(args->epi.output_kind == QK_OUTPUT_F32 && args->epi.residual_kind != QK_RESIDUAL_U8);
    const int32_t oh = qk_conv_out_h(&args->geom), ow = qk_conv_out_w(&args->geom);
    const size_t work = (size_t)oh * (size_t)ow * (size_t)args->geom.in_c * 9;
    const int par = work >= QK_PARALLEL_MIN_WORK && oh > 1;
    #pragma omp parallel for schedule(static) num_threads(qk_team_size()) if(par)
    for (int32_t oy = 0; oy < oh; oy++) uk->fn(args, (size_t)oy, (size_t)oy + 1);
}
