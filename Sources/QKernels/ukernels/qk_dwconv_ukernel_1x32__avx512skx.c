/* qk_dwconv_ukernel_1x32__avx512skx
 * Depthwise 3x3 / 5x5, u8 activations x int8 weights, one pixel x 32 channels per step (AVX-512
 * F/BW/DQ/VL). The member reads the kernel size K from the geometry once per call and runs the body
 * compiled for it (a constant: the tap loops unroll). For a 32-channel tile of an output row the K*K
 * weight vectors are widened to int16 once and kept in registers (5x5's 25 do not all fit: some are
 * re-read from the stack); per pixel and tap, 32 input bytes (a_zero outside the image) are widened to int16 and
 * multiplied by vpmullw — exact, |A * w| <= 255 * 128 < 2^15 — and the products are widened and
 * added into two int32 accumulators of 16 channels. The epilogue is the qgemm AVX-512 epilogue
 * (qk_avx512_epilogue.h) with colsum = wsum. Channel tails use masked loads and stores. */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include "../internal/qk_dwconv_common.h"
#include "../internal/qk_avx512_epilogue.h"

#define QK_DW512_CT 32

/* The K x K taps of one pixel into two int32 accumulators of 16 channels. `interior` (a constant
 * after inlining) = every tap is inside the image: no per-tap checks. */
QK_AVX512_EPI_INLINE void qk_dw512_pixel(const qk_dwconv_args* args, const uint8_t* const rows[QK_DWCONV_MAX_KERNEL],
                                   int K, int32_t ix0, size_t c0, __mmask32 live, __m512i za16,
                                   const __m512i w16[QK_DWCONV_MAX_TAPS], int interior, __m512i* acc0, __m512i* acc1) {
    const size_t C = (size_t)args->geom.in_c;
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int ky = 0; ky < K; ky++) {
        for (int kx = 0; kx < K; kx++) {
            const int32_t ix = ix0 + kx;
            const __m512i a16 = interior || (rows[ky] != NULL && ix >= 0 && ix < args->geom.in_w)
                ? _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(live, rows[ky] + (size_t)ix * C + c0))
                : za16;
            const __m512i p = _mm512_mullo_epi16(a16, w16[ky * K + kx]);
            s0 = _mm512_add_epi32(s0, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(p)));
            s1 = _mm512_add_epi32(s1, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(p, 1)));
        }
    }
    *acc0 = s0;
    *acc1 = s1;
}

/* Output rows [oy0, oy1) for kernel size K (a constant). */
QK_AVX512_EPI_INLINE void qk_dw512_rows(const qk_dwconv_args* args, size_t oy0, size_t oy1, int K) {
    const qk_conv_geom* g = &args->geom;
    const size_t ow = (size_t)qk_conv_out_w(g), C = (size_t)g->in_c;
    const qk_qgemm_args view = qk_dwconv_epilogue_view(args);
    const __m512i za16 = _mm512_set1_epi16((int16_t)args->a_zero);
    size_t in_lo, in_hi;
    qk_dwconv_interior_cols(args, &in_lo, &in_hi);
    for (size_t oy = oy0; oy < oy1; oy++) {
        const uint8_t* rows[QK_DWCONV_MAX_KERNEL];
        qk_dwconv_rows(args, oy, rows);
        const int full_rows = qk_dwconv_full_rows(rows, K);
        for (size_t c0 = 0; c0 < C; c0 += QK_DW512_CT) {
            const size_t cols = C - c0 < QK_DW512_CT ? C - c0 : QK_DW512_CT;
            const __mmask32 live = (__mmask32)(cols == 32 ? 0xffffffffu : (1u << cols) - 1u);
            __m512i w16[QK_DWCONV_MAX_TAPS];
            for (int t = 0; t < K * K; t++)
                w16[t] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(
                    (const __m256i*)(args->w + (size_t)t * args->w_stride + c0)));
            const qk_avx512_epi e0 = qk_avx512_epi_make(&view.epi, view.a_zero, view.colsum, c0, cols < 16 ? cols : 16);
            const qk_avx512_epi e1 = cols > 16 ? qk_avx512_epi_make(&view.epi, view.a_zero, view.colsum, c0 + 16, cols - 16) : e0;
            for (size_t ox = 0; ox < ow; ox++) {
                const int32_t ix0 = (int32_t)ox * g->stride_w - g->pad_left;
                __m512i acc0, acc1;
                if (full_rows && ox >= in_lo && ox < in_hi) {
                    qk_dw512_pixel(args, rows, K, ix0, c0, live, za16, w16, 1, &acc0, &acc1);
                } else {
                    qk_dw512_pixel(args, rows, K, ix0, c0, live, za16, w16, 0, &acc0, &acc1);
                }
                const size_t m = oy * ow + ox;
                qk_avx512_epilogue_row(&view.epi, &e0, view.a_zero, m, c0, acc0);
                if (cols > 16) qk_avx512_epilogue_row(&view.epi, &e1, view.a_zero, m, c0 + 16, acc1);
            }
        }
    }
}
void __attribute__((target(QK_TARGET_AVX512SKX)))
qk_dwconv_ukernel_1x32__avx512skx(const qk_dwconv_args* args, size_t oy0, size_t oy1) {
    if (args->geom.kernel_h == 5) qk_dw512_rows(args, oy0, oy1, 5);
    else qk_dw512_rows(args, oy0, oy1, 3);
}
#endif
