/* qk_dwconv_ukernel_1x16__neon
 * Depthwise 3x3 / 5x5, u8 activations x int8 weights, one pixel x 16 channels per step (base ASIMD: no
 * dot product, so it also serves cores without FEAT_DotProd). The member reads the kernel size K from
 * the geometry once per call and runs the body compiled for it.
 * For a 16-channel tile of an output row the K*K weight vectors are widened to int16 once (3x3: kept in
 * 18 q registers; 5x5's 50 are partly re-read from the stack); per pixel and tap, 16 input bytes (a_zero outside the image) are
 * widened to int16 and multiply-accumulated into four int32x4 accumulators by smlal / smlal2 —
 * exact. The epilogue is the qgemm NEON epilogue (qk_neon_common.h) on acc - a_zero * wsum.
 * The last C % 16 channels run through the scalar code (so no read past channel C). */
#include "../internal/qk_ukernels.h"
#if defined(__aarch64__)
#include "../internal/qk_neon_common.h"
#include "../internal/qk_dwconv_common.h"

#define QK_DWN_CT 16

/* The K x K taps of one pixel into four int32x4 accumulators. `interior` (a constant after inlining)
 * = every tap is inside the image: no per-tap checks. */
QK_NEON_BASE_INLINE void qk_dwn_pixel(const qk_dwconv_args* args, const uint8_t* const rows[QK_DWCONV_MAX_KERNEL], int K,
                                 int32_t ix0, size_t c0, int16x8_t za16, const int16x8_t wlo[QK_DWCONV_MAX_TAPS],
                                 const int16x8_t whi[QK_DWCONV_MAX_TAPS], int interior, int32x4_t acc[4]) {
    const size_t C = (size_t)args->geom.in_c;
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int ky = 0; ky < K; ky++) {
        for (int kx = 0; kx < K; kx++) {
            const int32_t ix = ix0 + kx;
            int16x8_t alo = za16, ahi = za16;
            if (interior || (rows[ky] != NULL && ix >= 0 && ix < args->geom.in_w)) {
                const uint8x16_t a8 = vld1q_u8(rows[ky] + (size_t)ix * C + c0);
                alo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(a8)));
                ahi = vreinterpretq_s16_u16(vmovl_high_u8(a8));
            }
            const int t = ky * K + kx;
            acc0 = vmlal_s16(acc0, vget_low_s16(alo), vget_low_s16(wlo[t]));
            acc1 = vmlal_high_s16(acc1, alo, wlo[t]);
            acc2 = vmlal_s16(acc2, vget_low_s16(ahi), vget_low_s16(whi[t]));
            acc3 = vmlal_high_s16(acc3, ahi, whi[t]);
        }
    }
    acc[0] = acc0; acc[1] = acc1; acc[2] = acc2; acc[3] = acc3;
}

/* Output rows [oy0, oy1) for kernel size K (a constant). */
QK_NEON_BASE_INLINE void qk_dwn_rows(const qk_dwconv_args* args, size_t oy0, size_t oy1, int K) {
    const qk_conv_geom* g = &args->geom;
    const size_t ow = (size_t)qk_conv_out_w(g), C = (size_t)g->in_c, full = C / QK_DWN_CT * QK_DWN_CT;
    const int16x8_t za16 = vdupq_n_s16((int16_t)args->a_zero);
    const int32x4_t za32 = vdupq_n_s32(args->a_zero);
    size_t in_lo, in_hi;
    qk_dwconv_interior_cols(args, &in_lo, &in_hi);
    for (size_t oy = oy0; oy < oy1; oy++) {
        const uint8_t* rows[QK_DWCONV_MAX_KERNEL];
        qk_dwconv_rows(args, oy, rows);
        const int full_rows = qk_dwconv_full_rows(rows, K);
        for (size_t c0 = 0; c0 < full; c0 += QK_DWN_CT) {
            int16x8_t wlo[QK_DWCONV_MAX_TAPS], whi[QK_DWCONV_MAX_TAPS];
            for (int t = 0; t < K * K; t++) {
                const int8x16_t w8 = vld1q_s8(args->w + (size_t)t * args->w_stride + c0);
                wlo[t] = vmovl_s8(vget_low_s8(w8));
                whi[t] = vmovl_high_s8(w8);
            }
            int32x4_t zc[4];
            for (int q = 0; q < 4; q++) zc[q] = vmulq_s32(za32, vld1q_s32(args->wsum + c0 + 4 * (size_t)q));
            for (size_t ox = 0; ox < ow; ox++) {
                const int32_t ix0 = (int32_t)ox * g->stride_w - g->pad_left;
                int32x4_t acc[4];
                if (full_rows && ox >= in_lo && ox < in_hi) {
                    qk_dwn_pixel(args, rows, K, ix0, c0, za16, wlo, whi, 1, acc);
                } else {
                    qk_dwn_pixel(args, rows, K, ix0, c0, za16, wlo, whi, 0, acc);
                }
                const size_t m = oy * ow + ox;
                const int32x4_t accp[4] = {vsubq_s32(acc[0], zc[0]), vsubq_s32(acc[1], zc[1]),
                                           vsubq_s32(acc[2], zc[2]), vsubq_s32(acc[3], zc[3])};
                if (args->epi.output_kind == QK_OUTPUT_I32) {
                    for (int q = 0; q < 4; q++) vst1q_s32((int32_t*)args->epi.out + m * args->epi.ldc + c0 + 4 * (size_t)q, accp[q]);
                } else {
                    for (int q = 0; q < 4; q++) qk_neon_epilogue4(&args->epi, m, c0 + 4 * (size_t)q, accp[q]);
                }
            }
        }
        if (full < C)
            for (size_t ox = 0; ox < ow; ox++) qk_dwconv_scalar_channels(args, rows, oy, ox, full, C);
    }
}
void qk_dwconv_ukernel_1x16__neon(const qk_dwconv_args* args, size_t oy0, size_t oy1) {
    if (args->geom.kernel_h == 5) qk_dwn_rows(args, oy0, oy1, 5);
    else qk_dwn_rows(args, oy0, oy1, 3);
}
#endif
