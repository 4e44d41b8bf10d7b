/* qk_avx512_epilogue.h — the qgemm epilogue (qk_epilogue.h) in 16 int32 / float lanes, for every
 * AVX-512 member with one int32 lane per output channel (qgemm VNNI, dwconv, bsgemm): the same
 * float operations in the same order, masked loads and stores for a partial group. Needs only
 * AVX-512 F/BW/DQ/VL (QK_TARGET_AVX512SKX), so members of every AVX-512 ISA inline it. Private. */
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include "qk_epilogue.h"
#include "qk_ukernels.h"

#define QK_AVX512_EPI_INLINE static inline __attribute__((always_inline, target(QK_TARGET_AVX512SKX)))

/* The per-channel and per-layer epilogue operands of channels [n, n + cols), loaded once and shared
 * by every row of a tile. */
typedef struct {
    __mmask16 live;
    __m512i zc;                  /* a_zero * colsum */
    __m512 scale, bias, lo, hi, inv, rscale;
    __m512 tlo, thi;             /* u8 output: bounds of y * inv (see qk_avx512_epilogue_row) */
    __m512i rzero, ozero;
} qk_avx512_epi;

/* Operands of channels [n, n + cols) (1 <= cols <= 16); a_zero * colsum[n] is subtracted from every
 * accumulator (colsum may be NULL when a_zero is 0). */
QK_AVX512_EPI_INLINE qk_avx512_epi qk_avx512_epi_make(const qk_epilogue* e, int32_t a_zero, const int32_t* colsum,
                                                      size_t n, size_t cols) {
    qk_avx512_epi c;
    c.live = (__mmask16)((1u << cols) - 1);
    c.zc = a_zero == 0 ? _mm512_setzero_si512()
                       : _mm512_mullo_epi32(_mm512_set1_epi32(a_zero), _mm512_maskz_loadu_epi32(c.live, colsum + n));
    c.scale = e->output_kind == QK_OUTPUT_I32 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(c.live, e->scale + n);
    c.bias = e->bias != NULL ? _mm512_maskz_loadu_ps(c.live, e->bias + n) : _mm512_setzero_ps();
    c.lo = _mm512_set1_ps(e->clamp_lo);
    c.hi = _mm512_set1_ps(e->clamp_hi);
    c.inv = _mm512_set1_ps(e->out_inv_scale);
    c.rscale = _mm512_set1_ps(e->rscale);
    c.rzero = _mm512_set1_epi32(e->rzero);
    c.ozero = _mm512_set1_epi32(e->out_zero);
    /* clamp(y, lo, hi) * inv == clamp(y * inv, lo * inv, hi * inv) for inv > 0 (rounded products keep
     * their order), and clamping y * inv to [-zero, 255 - zero] before rounding gives the same q as
     * clamping q to [0, 255] after (the bounds are integers): one clamp does all three */
    const float lo_t = e->clamp_lo * e->out_inv_scale, hi_t = e->clamp_hi * e->out_inv_scale;
    c.tlo = _mm512_set1_ps(fmaxf(lo_t, (float)-e->out_zero));
    c.thi = _mm512_set1_ps(fminf(hi_t, (float)(255 - e->out_zero)));
    return c;
}

/* y of row m, channels [n, n + 16) from the adjusted accumulator acc': acc' * scale, + bias, + the
 * residual (the float steps of qk_epilogue.h before the clamp, same order). */
QK_AVX512_EPI_INLINE __m512 qk_avx512_epilogue_y(const qk_epilogue* e, const qk_avx512_epi* c, size_t m, size_t n, __m512i acc) {
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), c->scale);
    if (e->bias != NULL) y = _mm512_add_ps(y, c->bias);
    if (e->residual_kind == QK_RESIDUAL_U8) {
        const __m128i r8 = _mm_maskz_loadu_epi8(c->live, (const uint8_t*)e->residual + m * e->ldr + n);
        const __m512i r = _mm512_sub_epi32(_mm512_cvtepu8_epi32(r8), c->rzero);
        y = _mm512_add_ps(y, _mm512_mul_ps(c->rscale, _mm512_cvtepi32_ps(r)));
    } else if (e->residual_kind == QK_RESIDUAL_F32) {
        y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(c->live, (const float*)e->residual + m * e->ldr + n));
    }
    return y;
}

/* u8 output: q - out_zero = round(clamp(y * inv, tlo, thi)), in [-out_zero, 255 - out_zero] (a NaN y
 * takes tlo, as fmaxf takes lo in the scalar epilogue). */
QK_AVX512_EPI_INLINE __m512i qk_avx512_epilogue_u8_offset(const qk_avx512_epi* c, __m512 y) {
    return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(y, c->inv), c->tlo), c->thi));
}

/* u8 output of row m, channels [n, n + 16 * nv) for nv = 2 or 4 whole groups (c[j] the operands of group
 * j; acc[j] already adjusted: a_zero * colsum subtracted, no half step): the offsets q - out_zero
 * (|v| <= 255) packed to int16 with signed saturation (exact), out_zero added in int16, packed to u8
 * with unsigned saturation (exact: already in [0, 255]) and stored at once — 7 instructions where four
 * qk_avx512_epilogue_row stores take 16; the packs work per 128-bit lane, one vpermd restores the
 * channel order. Same bits as qk_avx512_epilogue_row. */
QK_AVX512_EPI_INLINE void qk_avx512_epilogue_u8_packed(const qk_epilogue* e, const qk_avx512_epi* c, int nv, size_t m, size_t n,
                                                       const __m512i* acc) {
    __m512i v[4];
    for (int j = 0; j < nv; j++) v[j] = qk_avx512_epilogue_u8_offset(&c[j], qk_avx512_epilogue_y(e, &c[j], m, n + 16 * (size_t)j, acc[j]));
    const __m512i oz = _mm512_set1_epi16((int16_t)e->out_zero);
    const __m512i lo = _mm512_add_epi16(_mm512_packs_epi32(v[0], v[1]), oz);
    const __m512i hi = nv == 4 ? _mm512_add_epi16(_mm512_packs_epi32(v[2], v[3]), oz) : lo;
    /* dword 4L + j of the pack holds channels 16j + 4L .. + 3 */
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    const __m512i b = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(lo, hi));
    uint8_t* out = (uint8_t*)e->out + m * e->ldc + n;
    if (nv == 4) _mm512_storeu_si512(out, b);
    else _mm256_storeu_si256((__m256i*)out, _mm512_castsi512_si256(b));
}

/* The epilogue of row m, channels [n, n + cols) (cols <= 16) from one accumulator: acc' = acc -
 * a_zero * colsum (when a_zero != 0), the half step (when the epilogue has one), then the same float operations in the same order as
 * qk_epilogue.h, 16 lanes at a time, masked loads and stores. */
QK_AVX512_EPI_INLINE void qk_avx512_epilogue_row(const qk_epilogue* e, const qk_avx512_epi* c, int32_t a_zero,
                                                 size_t m, size_t n, __m512i acc) {
    if (a_zero != 0) acc = _mm512_sub_epi32(acc, c->zc);
    if (e->half_rows != NULL) acc = _mm512_add_epi32(_mm512_slli_epi32(acc, 1), _mm512_set1_epi32(e->half_rows[m]));
    if (e->output_kind == QK_OUTPUT_I32) {
        _mm512_mask_storeu_epi32((int32_t*)e->out + m * e->ldc + n, c->live, acc);
        return;
    }
    const __m512 y = qk_avx512_epilogue_y(e, c, m, n, acc);
    if (e->output_kind == QK_OUTPUT_F32) {
        _mm512_mask_storeu_ps((float*)e->out + m * e->ldc + n, c->live, _mm512_min_ps(_mm512_max_ps(y, c->lo), c->hi));
        return;
    }
    /* u8: q = round(clamp(y * inv, tlo, thi)) + zero, already in [0, 255] */
    const __m512i q = _mm512_add_epi32(qk_avx512_epilogue_u8_offset(c, y), c->ozero);
    _mm_mask_storeu_epi8((uint8_t*)e->out + m * e->ldc + n, c->live, _mm512_cvtepi32_epi8(q));
}

#endif /* __x86_64__ */
