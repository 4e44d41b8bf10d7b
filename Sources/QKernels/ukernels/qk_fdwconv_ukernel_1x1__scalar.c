/* qk_fdwconv_ukernel_1x1__scalar — depthwise 3x3 / 5x5, f32 activations x f32 weights, one pixel x
 * one channel per step; portable C reference member: fmaf chain over the in-image taps in (ky, kx)
 * order, then the scalar fgemm epilogue (qk_fdwconv.h). */
#include "../internal/qk_fdwconv_common.h"
#include "../internal/qk_ukernels.h"

void qk_fdwconv_ukernel_1x1__scalar(const qk_fdwconv_args* args, size_t oy0, size_t oy1) {
    const size_t ow = (size_t)qk_conv_out_w(&args->geom), C = (size_t)args->geom.in_c;
    for (size_t oy = oy0; oy < oy1; oy++) {
        const float* rows[QK_FDWCONV_MAX_KERNEL];
        qk_fdwconv_rows(args, oy, rows);
        for (size_t ox = 0; ox < ow; ox++) qk_fdwconv_scalar_channels(args, rows, oy, ox, 0, C);
    }
}
