/* qk_x86.h — x86-64 helpers shared by the AVX2 and AVX-512 members: the table register, horizontal
 * sums and the 4-column SSE epilogue that reproduces qk_epilogue.h bit for bit. Every function is always_inline with target("avx2"), so a
 * caller compiled for a superset (the AVX-512 members) inlines it. Private. */
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "qk_epilogue.h"
#include "qk_pack.h"

#define QK_X86_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/** The 16-entry code -> int8 table in both 128-bit lanes (vpshufb looks up within each lane). */
QK_X86_INLINE __m256i qk_x86_lut(const int8_t* lut) {
    if (lut == NULL) return _mm256_setzero_si256();
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)lut));
}

/** [sum(a), sum(b), sum(c), sum(d)] of four vectors of 8 floats. */
QK_X86_INLINE __m128 qk_x86_hsum4_ps(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/** Residual add, clamp and store of four floats y for columns n..n+3 of row m: the vector form of
 *  qk_epi_residual_clamp + qk_epi_store (same operations, same order; maxps/minps with the
 *  constant second, as fmaxf/fminf treat NaN). */
QK_X86_INLINE void qk_x86_epi_finish4(const qk_epilogue* e, size_t m, size_t n, __m128 y) {
    if (e->residual_kind == QK_RESIDUAL_U8) {
        int32_t r4;
        memcpy(&r4, (const uint8_t*)e->residual + m * e->ldr + n, 4);
        const __m128i r = _mm_sub_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(r4)),
                                        _mm_set1_epi32(e->rzero));
        y = _mm_add_ps(y, _mm_mul_ps(_mm_set1_ps(e->rscale), _mm_cvtepi32_ps(r)));
    } else if (e->residual_kind == QK_RESIDUAL_F32) {
        y = _mm_add_ps(y, _mm_loadu_ps((const float*)e->residual + m * e->ldr + n));
    }
    y = _mm_min_ps(_mm_max_ps(y, _mm_set1_ps(e->clamp_lo)), _mm_set1_ps(e->clamp_hi));
    if (e->output_kind == QK_OUTPUT_F32) {
        _mm_storeu_ps((float*)e->out + m * e->ldc + n, y);
        return;
    }
    __m128 t = _mm_mul_ps(y, _mm_set1_ps(e->out_inv_scale));
    t = _mm_min_ps(_mm_max_ps(t, _mm_set1_ps(-QK_REQUANT_TMAX)), _mm_set1_ps(QK_REQUANT_TMAX));
    const __m128i q = _mm_add_epi32(_mm_cvtps_epi32(t), _mm_set1_epi32(e->out_zero));
    const __m128i q8 = _mm_packus_epi16(_mm_packs_epi32(q, q), _mm_setzero_si128());
    const int32_t bytes = _mm_cvtsi128_si32(q8);
    memcpy((uint8_t*)e->out + m * e->ldc + n, &bytes, 4);
}

/** The qgemm epilogue for row m, columns n..n+nr-1 (nr <= 4) of summed accumulators acc; full
 *  groups of 4 run vectorised, partial ones through the scalar epilogue. */
QK_X86_INLINE void qk_x86_qgemm_epilogue4(const qk_qgemm_args* g, size_t m, size_t n, size_t nr,
                                          __m128i acc) {
    const qk_epilogue* e = &g->epi;
    if (g->a_zero != 0) {
        if (nr == 4) {
            acc = _mm_sub_epi32(acc, _mm_mullo_epi32(_mm_set1_epi32(g->a_zero),
                                                     _mm_loadu_si128((const __m128i*)(g->colsum + n))));
        } else {
            int32_t zc[4] = {0, 0, 0, 0};
            for (size_t j = 0; j < nr; j++) zc[j] = g->a_zero * g->colsum[n + j];
            acc = _mm_sub_epi32(acc, _mm_loadu_si128((const __m128i*)zc));
        }
    }
    if (nr < 4 || e->output_kind == QK_OUTPUT_I32) {
        int32_t v[4];
        _mm_storeu_si128((__m128i*)v, acc);
        for (size_t j = 0; j < nr; j++) qk_qgemm_epilogue(e, m, n + j, v[j]);
        return;
    }
    __m128 y = _mm_mul_ps(_mm_cvtepi32_ps(acc), _mm_loadu_ps(e->scale + n));
    if (e->bias != NULL) y = _mm_add_ps(y, _mm_loadu_ps(e->bias + n));
    qk_x86_epi_finish4(e, m, n, y);
}

#endif /* __x86_64__ */
