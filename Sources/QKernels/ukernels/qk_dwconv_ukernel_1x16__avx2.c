/* qk_dwconv_ukernel_1x16__avx2
 * Depthwise 3x3 / 5x5, u8 activations x int8 weights, one pixel x 16 channels per step (AVX2). The
 * member reads the kernel size K from the geometry once per call and runs the body compiled for it.
 * For a 16-channel tile of an output row the K*K weight vectors are widened to int16 once (kept in
 * registers for 3x3; 5x5's 25 are partly re-read from the stack); per pixel and tap, 16 input bytes (a_zero outside the image) are widened to int16 and
 * multiplied by vpmullw — exact, |A * w| <= 255 * 128 < 2^15 — and the products are widened and
 * added into two int32 accumulators of 8 channels. The epilogue is the qgemm x86 epilogue
 * (qk_x86.h, 4 channels at a time) with colsum = wsum. The last C % 16 channels run through the
 * scalar code (so no read past channel C). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include "../internal/qk_dwconv_common.h"
#include "../internal/qk_x86.h"

#define QK_DW2_CT 16

/* The K x K taps of one pixel into two int32 accumulators of 8 channels. `interior` (a constant
 * after inlining) = every tap is inside the image: no per-tap checks. */
static inline __attribute__((always_inline, target("avx2,fma")))
void qk_dw2_pixel(const qk_dwconv_args* args, const uint8_t* const rows[QK_DWCONV_MAX_KERNEL], int K, int32_t ix0,
                  size_t c0, __m256i za16, const __m256i w16[QK_DWCONV_MAX_TAPS], int interior, __m256i* acc0,
                  __m256i* acc1) {
    const size_t C = (size_t)args->geom.in_c;
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    for (int ky = 0; ky < K; ky++) {
        for (int kx = 0; kx < K; kx++) {
            const int32_t ix = ix0 + kx;
            const __m256i a16 = interior || (rows[ky] != NULL && ix >= 0 && ix < args->geom.in_w)
                ? _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(rows[ky] + (size_t)ix * C + c0)))
                : za16;
            const __m256i p = _mm256_mullo_epi16(a16, w16[ky * K + kx]);
            s0 = _mm256_add_epi32(s0, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(p)));
            s1 = _mm256_add_epi32(s1, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(p, 1)));
        }
    }
    *acc0 = s0;
    *acc1 = s1;
}

/* Output rows [oy0, oy1) for kernel size K (a constant). */
static inline __attribute__((always_inline, target("avx2,fma")))
void qk_dw2_rows(const qk_dwconv_args* args, size_t oy0, size_t oy1, int K) {
    const qk_conv_geom* g = &args->geom;
    const size_t ow = (size_t)qk_conv_out_w(g), C = (size_t)g->in_c, full = C / QK_DW2_CT * QK_DW2_CT;
    const qk_qgemm_args view = qk_dwconv_epilogue_view(args);
    const __m256i za16 = _mm256_set1_epi16((int16_t)args->a_zero);
    size_t in_lo, in_hi;
    qk_dwconv_interior_cols(args, &in_lo, &in_hi);
    for (size_t oy = oy0; oy < oy1; oy++) {
        const uint8_t* rows[QK_DWCONV_MAX_KERNEL];
        qk_dwconv_rows(args, oy, rows);
        const int full_rows = qk_dwconv_full_rows(rows, K);
        for (size_t c0 = 0; c0 < full; c0 += QK_DW2_CT) {
            __m256i w16[QK_DWCONV_MAX_TAPS];
            for (int t = 0; t < K * K; t++)
                w16[t] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(args->w + (size_t)t * args->w_stride + c0)));
            for (size_t ox = 0; ox < ow; ox++) {
                const int32_t ix0 = (int32_t)ox * g->stride_w - g->pad_left;
                __m256i acc0, acc1;
                if (full_rows && ox >= in_lo && ox < in_hi) {
                    qk_dw2_pixel(args, rows, K, ix0, c0, za16, w16, 1, &acc0, &acc1);
                } else {
                    qk_dw2_pixel(args, rows, K, ix0, c0, za16, w16, 0, &acc0, &acc1);
                }
                const size_t m = oy * ow + ox;
                qk_x86_qgemm_epilogue4(&view, m, c0, 4, _mm256_castsi256_si128(acc0));
                qk_x86_qgemm_epilogue4(&view, m, c0 + 4, 4, _mm256_extracti128_si256(acc0, 1));
                qk_x86_qgemm_epilogue4(&view, m, c0 + 8, 4, _mm256_castsi256_si128(acc1));
                qk_x86_qgemm_epilogue4(&view, m, c0 + 12, 4, _mm256_extracti128_si256(acc1, 1));
            }
        }
        if (full < C)
            for (size_t ox = 0; ox < ow; ox++) qk_dwconv_scalar_channels(args, rows, oy, ox, full, C);
    }
}
void __attribute__((target("avx2,fma")))
qk_dwconv_ukernel_1x16__avx2(const qk_dwconv_args* args, size_t oy0, size_t oy1) {
    if (args->geom.kernel_h == 5) qk_dw2_rows(args, oy0, oy1, 5);
    else qk_dw2_rows(args, oy0, oy1, 3);
}
#endif
