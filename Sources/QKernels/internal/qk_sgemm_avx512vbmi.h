/* qk_sgemm_avx512vbmi.h — the body of the AVX-512 shift-add members: 4 rows x 16 columns (one row
 * group) per call, no multiplications. A packed sub-step (16 channels x 4 k) decodes, with the
 * vpermb decoder of the table-lookup members, into per-lane shift counts and a sign mask; each
 * quarter (4 channels x 4 k) is one zmm of int32 lanes (channel 4q + l/4, k l%4). Per row the 4
 * activations are repeated over the 16 lanes (and negated once), and per quarter
 *     acc += (negative ? -a : a) << count           vpblendmd + vpsllvd + vpaddd
 * with count 32 for a zero weight (vpsllvd gives 0). The 4 k lanes of a channel are summed once,
 * after the K loop. Uses AVX-512 F/BW/VL/VBMI; ISA avx512vbmi (no VNNI). Private. */
#pragma once
#if defined(__x86_64__)
#include <assert.h>
#include <string.h>
#include "qk_qgemm_avx512vnni.h"
#include "qk_qgemm_rows.h"
#include "qk_shift.h"

#define QK_SGEMM_AVX512_MR 4
#define QK_SGEMM_AVX512_NR QK_ROW_GROUP

/* The channel sums of one quarter's accumulator (lanes 4c..4c+3 = channel c): 4 int32. */
QK_DECODE_INLINE __m128i qk_sgemm_avx512_fold(__m512i x) {
    const __m512i pairs = _mm512_add_epi32(x, _mm512_srli_epi64(x, 32));
    const __m512i quads = _mm512_add_epi32(pairs, _mm512_bsrli_epi128(pairs, 8));
    return _mm512_castsi512_si128(_mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), quads));
}

/* 128-bit quarter q of x (extracti32x4 needs an immediate; q is a constant after unrolling). */
QK_DECODE_INLINE __m128i qk_sgemm_avx512_quarter(__m512i x, int q) {
    switch (q) {
    case 0: return _mm512_castsi512_si128(x);
    case 1: return _mm512_extracti32x4_epi32(x, 1);
    case 2: return _mm512_extracti32x4_epi32(x, 2);
    default: return _mm512_extracti32x4_epi32(x, 3);
    }
}

/* The member body: rows [m0, m0+mr) (mr <= 4; missing rows repeat the last, results dropped),
 * columns [n0, n0+nr), nr <= 16, n0 a multiple of 16. A past K is zero (the last partial block of
 * each row is copied into a zeroed buffer); the table must be shift-coded (qk_lut_is_shift). */
QK_DECODE_INLINE void qk_sgemm_tile_avx512vbmi_rows(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                                  size_t nr, int bits, int implicit) {
    assert(mr >= 1 && mr <= QK_SGEMM_AVX512_MR && nr >= 1 && nr <= QK_SGEMM_AVX512_NR &&
           n0 % QK_ROW_GROUP == 0 && g->bits == bits);
    int8_t counts[16], negative[16];
    qk_shift_operands(g->lut, bits, 32, counts, negative);
    const qk_vnni_tables count_tbl = qk_vnni_tables_make(counts, bits), sign_tbl = qk_vnni_tables_make(negative, bits);
    const uint8_t* a[QK_SGEMM_AVX512_MR];
    for (size_t i = 0; i < QK_SGEMM_AVX512_MR; i++) a[i] = qk_qgemm_row_as(g, m0 + (i < mr ? i : mr - 1), implicit);
    const uint8_t* w = g->w + n0 / QK_ROW_GROUP * g->w_group_stride;
    __m512i acc[QK_SGEMM_AVX512_MR][4];  /* row, quarter (channels 4q..4q+3) */
    for (int i = 0; i < QK_SGEMM_AVX512_MR; i++)
        for (int q = 0; q < 4; q++) acc[i][q] = _mm512_setzero_si512();
    const size_t K = g->K, K_full = K / 32 * 32;
    uint8_t tail[QK_SGEMM_AVX512_MR][32];
    if (K_full < K) {
        for (int i = 0; i < QK_SGEMM_AVX512_MR; i++) {
            memset(tail[i], 0, 32);
            memcpy(tail[i], a[i] + K_full, K - K_full);
        }
    }
    qk_qgemm_kwalk kwalk = qk_qgemm_kwalk_start(g);
    for (size_t kb = 0; kb < K; kb += 32, implicit ? qk_qgemm_kwalk_next(g, &kwalk) : (void)0) {
        const uint8_t* blk = w + kb / 32 * QK_GROUP_BLOCK_BYTES(bits);
        for (int s = 0; s < 8; s++) {
            const __m512i count8 = qk_vnni_substep(blk, s, bits, &count_tbl);
            const __mmask64 neg = _mm512_movepi8_mask(qk_vnni_substep(blk, s, bits, &sign_tbl));
            __m512i a32[QK_SGEMM_AVX512_MR], na32[QK_SGEMM_AVX512_MR];
            for (int i = 0; i < QK_SGEMM_AVX512_MR; i++) {
                int32_t a4;
                memcpy(&a4, (kb < K_full ? a[i] + (implicit ? kwalk.off : kb) : tail[i]) + 4 * s, 4);
                a32[i] = _mm512_cvtepu8_epi32(_mm_set1_epi32(a4));
                na32[i] = _mm512_sub_epi32(_mm512_setzero_si512(), a32[i]);
            }
            for (int q = 0; q < 4; q++) {
                const __m512i count = _mm512_cvtepu8_epi32(qk_sgemm_avx512_quarter(count8, q));
                const __mmask16 kneg = (__mmask16)(neg >> (16 * q));
                for (int i = 0; i < QK_SGEMM_AVX512_MR; i++) {
                    const __m512i term = _mm512_sllv_epi32(_mm512_mask_blend_epi32(kneg, a32[i], na32[i]), count);
                    acc[i][q] = _mm512_add_epi32(acc[i][q], term);
                }
            }
        }
    }
    __m128i sums[QK_SGEMM_AVX512_MR][4];  /* constant indices here keep acc in registers */
    for (int i = 0; i < QK_SGEMM_AVX512_MR; i++)
        for (int q = 0; q < 4; q++) sums[i][q] = qk_sgemm_avx512_fold(acc[i][q]);
    for (size_t i = 0; i < mr; i++)
        for (size_t q = 0; q < 4 && 4 * q < nr; q++)
            qk_x86_qgemm_epilogue4(g, m0 + i, n0 + 4 * q, nr - 4 * q < 4 ? nr - 4 * q : 4, sums[i][q]);
}

/* The member body: implicit conv rows (qk_qgemm_rows.h) compiled apart, so plain rows run the loop they
 * always did. */
QK_DECODE_INLINE void qk_sgemm_tile_avx512vbmi(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr, int bits) {
    if (g->a_width != 0) qk_sgemm_tile_avx512vbmi_rows(g, m0, n0, mr, nr, bits, 1);
    else qk_sgemm_tile_avx512vbmi_rows(g, m0, n0, mr, nr, bits, 0);
}

#endif /* __x86_64__ */
