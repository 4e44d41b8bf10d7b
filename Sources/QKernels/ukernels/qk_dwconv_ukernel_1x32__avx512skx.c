/* qk_dwconv_ukernel_1x32__avx512skx
 * Depthwise 3x3 / 5x5, u8 activations x int8 weights, one pixel x 32 channels per step (AVX-512
 * F/BW/DQ/VL). The member reads the kernel size K from the geometry once per call and runs the body
 * compiled for it (a constant: the tap loops unroll). 3x3: taps go in pairs (t, t + 1) (the ninth
 * paired with a zero weight): for a 32-channel tile of an output row the pair's int16 weights are
 * interleaved once per channel (vpunpcklwd / vpunpckhwd, per 128-bit lane) and kept in registers; per
 * pixel the two taps' 32 input bytes (a_zero outside the image) are widened to int16, interleaved the same
 * way and multiplied and pair-summed by vpmaddwd into int32 — exact, |A * w| <= 255 * 128, a pair's sum < 2^16 — so one instruction does 32
 * multiply-adds where vpmullw + two widenings do 16. The two accumulators hold channels in
 * the unpack order {0-3, 8-11, 16-19, 24-27} / {4-7, ...}; one two-source permute per 16 channels restores
 * channel order before the qgemm AVX-512 epilogue (qk_avx512_epilogue.h, colsum = wsum). Channel tails
 * use masked loads and stores. 5x5 keeps one tap at a time (qk_dw512_pixel_mullo: its weights do not fit
 * the registers either way, and the pairs measured slower there). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include "../internal/qk_dwconv_common.h"
#include "../internal/qk_avx512_epilogue.h"

#define QK_DW512_CT 32

/* Pairs of taps of one pixel (K*K rounded up to even; tap K*K, when it exists, has weight 0). */
#define QK_DW512_PAIRS ((QK_DWCONV_MAX_TAPS + 1) / 2)

/* The 32 input channels of tap (ky, kx) as int16 (a_zero outside the image); `interior` (a constant after
 * inlining) = every tap is inside the image: no checks. */
QK_AVX512_EPI_INLINE __m512i qk_dw512_tap(const qk_dwconv_args* args, const uint8_t* const rows[QK_DWCONV_MAX_KERNEL],
                                          int ky, int32_t ix, size_t c0, __mmask32 live, __m512i za16, int interior) {
    const size_t C = (size_t)args->geom.in_c;
    return interior || (rows[ky] != NULL && ix >= 0 && ix < args->geom.in_w)
        ? _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(live, rows[ky] + (size_t)ix * C + c0))
        : za16;
}

/* The K x K taps of one pixel into two int32 accumulators of 16 channels (channel order). */
QK_AVX512_EPI_INLINE void qk_dw512_pixel(const qk_dwconv_args* args, const uint8_t* const rows[QK_DWCONV_MAX_KERNEL],
                                   int K, int32_t ix0, size_t c0, __mmask32 live, __m512i za16,
                                   const __m512i wlo[QK_DW512_PAIRS], const __m512i whi[QK_DW512_PAIRS], int interior,
                                   __m512i* acc0, __m512i* acc1) {
    __m512i slo = _mm512_setzero_si512(), shi = _mm512_setzero_si512();
    for (int t = 0; t < K * K; t += 2) {
        const __m512i a = qk_dw512_tap(args, rows, t / K, ix0 + t % K, c0, live, za16, interior);
        const __m512i b = t + 1 < K * K ? qk_dw512_tap(args, rows, (t + 1) / K, ix0 + (t + 1) % K, c0, live, za16, interior) : a;
        slo = _mm512_add_epi32(slo, _mm512_madd_epi16(_mm512_unpacklo_epi16(a, b), wlo[t / 2]));
        shi = _mm512_add_epi32(shi, _mm512_madd_epi16(_mm512_unpackhi_epi16(a, b), whi[t / 2]));
    }
    /* lane L of slo holds channels 8L..8L+3, of shi 8L+4..8L+7 */
    const __m512i first = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i second = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
    *acc0 = _mm512_permutex2var_epi32(slo, first, shi);
    *acc1 = _mm512_permutex2var_epi32(slo, second, shi);
}

/* 5x5: one tap at a time (vpmullw, then both halves widened and added): its 25 int16 weight vectors
 * already overflow the 32 registers, and paired ones (26) would be re-read more often. `interior` (a constant
 * after inlining) = every tap is inside the image: no per-tap checks. */
QK_AVX512_EPI_INLINE void qk_dw512_pixel_mullo(const qk_dwconv_args* args, const uint8_t* const rows[QK_DWCONV_MAX_KERNEL],
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
            __m512i wlo[QK_DW512_PAIRS], whi[QK_DW512_PAIRS], w16[QK_DWCONV_MAX_TAPS];
            if (K == 5) {
                for (int t = 0; t < K * K; t++)
                    w16[t] = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i*)(args->w + (size_t)t * args->w_stride + c0)));
            } else for (int t = 0; t < K * K; t += 2) {
                const __m512i a = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i*)(args->w + (size_t)t * args->w_stride + c0)));
                const __m512i b = t + 1 < K * K ? _mm512_cvtepi8_epi16(_mm256_loadu_si256(
                    (const __m256i*)(args->w + (size_t)(t + 1) * args->w_stride + c0))) : _mm512_setzero_si512();
                wlo[t / 2] = _mm512_unpacklo_epi16(a, b);
                whi[t / 2] = _mm512_unpackhi_epi16(a, b);
            }
            const qk_avx512_epi e0 = qk_avx512_epi_make(&view.epi, view.a_zero, view.colsum, c0, cols < 16 ? cols : 16);
            const qk_avx512_epi e1 = cols > 16 ? qk_avx512_epi_make(&view.epi, view.a_zero, view.colsum, c0 + 16, cols - 16) : e0;
            for (size_t ox = 0; ox < ow; ox++) {
                const int32_t ix0 = (int32_t)ox * g->stride_w - g->pad_left;
                __m512i acc0, acc1;
                const int interior = full_rows && ox >= in_lo && ox < in_hi;
                if (K == 5) {
                    if (interior) qk_dw512_pixel_mullo(args, rows, K, ix0, c0, live, za16, w16, 1, &acc0, &acc1);
                    else qk_dw512_pixel_mullo(args, rows, K, ix0, c0, live, za16, w16, 0, &acc0, &acc1);
                } else {
                    if (interior) qk_dw512_pixel(args, rows, K, ix0, c0, live, za16, wlo, whi, 1, &acc0, &acc1);
                    else qk_dw512_pixel(args, rows, K, ix0, c0, live, za16, wlo, whi, 0, &acc0, &acc1);
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
