/* qk_dwconv_ukernel_1x1__scalar
 * Depthwise 3x3 / 5x5, u8 activations x int8 weights, one pixel x one channel at a time: the reference
 * member of the dwconv family (qk_dwconv.h). */
#include "../internal/qk_dwconv_common.h"
#include "../internal/qk_ukernels.h"

void qk_dwconv_ukernel_1x1__scalar(const qk_dwconv_args* args, size_t oy0, size_t oy1) {
    const size_t ow = (size_t)qk_conv_out_w(&args->geom), C = (size_t)args->geom.in_c;
    for (size_t oy = oy0; oy < oy1; oy++) {
        const uint8_t* rows[QK_DWCONV_MAX_KERNEL];
        qk_dwconv_rows(args, oy, rows);
        for (size_t ox = 0; ox < ow; ox++) qk_dwconv_scalar_channels(args, rows, oy, ox, 0, C);
    }
}
