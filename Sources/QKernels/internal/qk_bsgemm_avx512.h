/* qk_bsgemm_avx512.h — the body of the AVX-512 bsgemm members (ISA avx512vpopcntdq: F/BW/DQ/VL +
 * VPOPCNTDQ): up to 4 rows x 8 * G columns (G packed row groups) per call. One zmm holds one weight
 * plane of a group at one k-word (8 channels x 64 k, a 64-bit lane per output channel); an activation
 * row's plane words are broadcast once per k-word and reused by every group, so every lane
 * accumulates one finished output and nothing is reduced across lanes:
 *     acc[r][h][i + j] += vpopcntq(Wplane_i[h] AND broadcast(Aplane_j[r]))       (vpandq, vpopcntq, vpaddq)
 * one accumulator per power of two i + j (W1A1: 1, W1A2 / W2A1: 2, W2A2: 3), so no shift in the loop;
 * T[r] (the row's code sum) is counted in the same loop by scalar popcnt, which runs on a port the
vector work leaves idle (a separate pass over the row per call cost up to 35 % at 56x56); the finish
forms S = sum_p acc[p] << p per lane, narrows two groups' int64 lanes to 16 int32
 * (vpermt2d: |S| < 2^31 by the K limit), computes acc = w_mul * S + w_offset * T[r] and runs the qgemm
 * epilogue in 16 lanes (qk_avx512_epilogue.h: every output kind, bit for bit the scalar epilogue).
 * Tiles: W1A1 4 rows x 4 groups (16 accumulators), the others 4 rows x 2 groups (16 or 24
 * accumulators, beside 2 or 4 weight registers and 1 or 2 broadcasts: all in the 32 zmm).
 * Per 512 multiply-adds (8 channels x 64 k) a plane pair costs 3 instructions on the vector ports, of
 * which the vpopcntq (port 5 only on Intel cores, two pipes on Zen 4/5): W1A1 3, W1A2 / W2A1 6, W2A2
 * 12, against 8 vpdpbusd for int8 (docs/KERNELS.md "bsgemm"). Private. */
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include "qk_avx512_epilogue.h"
#include "qk_bsgemm_tile.h"
#include "qk_ukernels.h"

#define QK_BSGEMM_AVX512_INLINE static inline __attribute__((always_inline, target(QK_TARGET_AVX512VPOPCNTDQ)))
/* Loops over rows, groups and planes have constant bounds: unrolled, so the accumulators stay in
 * registers. */
#define QK_BSGEMM_AVX512_UNROLL _Pragma("clang loop unroll(full)")
#define QK_BSGEMM_AVX512_MR 4

/* popcnt on a general register. As an asm statement so the compiler cannot turn the per-row counts
 * into vector popcounts (it does for the builtin), which would compete with the loop's vpopcntq for
 * the same port instead of using the integer one. */
QK_BSGEMM_AVX512_INLINE int32_t qk_bsgemm_popcnt_scalar(uint64_t x) {
    uint64_t c;
    __asm__("popcntq %1, %0" : "=r"(c) : "rm"(x));
    return (int32_t)c;
}

/* The low int32 of each int64 lane of lo (lanes 0..7) then hi (lanes 8..15): one vpermt2d. */
QK_BSGEMM_AVX512_INLINE __m512i qk_bsgemm_avx512_narrow(__m512i lo, __m512i hi) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_epi32(lo, even, hi);
}

/* ROWS (1..4) rows from m0 x G (2 or 4) row groups from n0 (columns n0..n0+nr, nr <= 8 * G; groups
 * past nr recompute the last real group and are dropped). ROWS, G, WB, AB are constants, so every
 * array below lives in registers. */
QK_BSGEMM_AVX512_INLINE void qk_bsgemm_avx512_tile(const qk_bsgemm_args* g, size_t m0, size_t n0, size_t nr,
                                                   int ROWS, int G, int WB, int AB) {
    const int P = WB + AB - 1;
    const size_t real_groups = (nr + QK_BSGEMM_ROW_GROUP - 1) / QK_BSGEMM_ROW_GROUP;
    const size_t group_words = (size_t)WB * QK_BSGEMM_ROW_GROUP;
    const uint64_t* w[4];
    QK_BSGEMM_AVX512_UNROLL
    for (int h = 0; h < G; h++)
        w[h] = qk_bsgemm_group(g, n0, WB) + ((size_t)h < real_groups ? (size_t)h : real_groups - 1) * g->kw * group_words;
    __m512i acc[4][4][3];
    QK_BSGEMM_AVX512_UNROLL
    for (int r = 0; r < ROWS; r++)
        QK_BSGEMM_AVX512_UNROLL
        for (int h = 0; h < G; h++)
            QK_BSGEMM_AVX512_UNROLL
            for (int p = 0; p < P; p++) acc[r][h][p] = _mm512_setzero_si512();
    const uint64_t* rows[4];
    int32_t t[4] = {0, 0, 0, 0}; /* T[r] = sum of the row's codes, by scalar popcnt in the loop (its own port) */
    QK_BSGEMM_AVX512_UNROLL
    for (int r = 0; r < ROWS; r++) rows[r] = qk_bsgemm_row(g, m0 + (size_t)r);
    const size_t segs = qk_bsgemm_segs(g), sw = qk_bsgemm_seg_words(g);
    for (size_t s = 0, j = 0; s < segs; s++) {
        const size_t off = qk_bsgemm_piece_offset(g, s);
        for (size_t k = 0; k < sw; k++, j++) {
            __m512i wv[4][2];
            QK_BSGEMM_AVX512_UNROLL
            for (int h = 0; h < G; h++)
                QK_BSGEMM_AVX512_UNROLL
                for (int i = 0; i < WB; i++)
                    wv[h][i] = _mm512_loadu_si512(w[h] + j * group_words + (size_t)i * QK_BSGEMM_ROW_GROUP);
            QK_BSGEMM_AVX512_UNROLL
            for (int r = 0; r < ROWS; r++) {
                const uint64_t* a = rows[r] + off + k * (size_t)AB;
                __m512i av[2];
                QK_BSGEMM_AVX512_UNROLL
                for (int jj = 0; jj < AB; jj++) {
                    av[jj] = _mm512_set1_epi64((long long)a[jj]);
                    t[r] += qk_bsgemm_popcnt_scalar(a[jj]) << jj;
                }
                QK_BSGEMM_AVX512_UNROLL
                for (int h = 0; h < G; h++)
                    QK_BSGEMM_AVX512_UNROLL
                    for (int i = 0; i < WB; i++)
                        QK_BSGEMM_AVX512_UNROLL
                        for (int jj = 0; jj < AB; jj++)
                            acc[r][h][i + jj] = _mm512_add_epi64(
                                acc[r][h][i + jj], _mm512_popcnt_epi64(_mm512_and_si512(wv[h][i], av[jj])));
            }
        }
    }
    const __m512i mul = _mm512_set1_epi32(g->w_mul);
    QK_BSGEMM_AVX512_UNROLL
    for (int q = 0; 2 * q < G; q++) {
        if ((size_t)(16 * q) >= nr) break;
        const size_t left = nr - (size_t)(16 * q), cols = left < 16 ? left : 16, n = n0 + (size_t)(16 * q);
        const qk_avx512_epi c = qk_avx512_epi_make(&g->epi, 0, NULL, n, cols);
        QK_BSGEMM_AVX512_UNROLL
        for (int r = 0; r < ROWS; r++) {
            __m512i s[2];
            QK_BSGEMM_AVX512_UNROLL
            for (int h = 0; h < 2; h++) {
                s[h] = acc[r][2 * q + h][0];
                QK_BSGEMM_AVX512_UNROLL
                for (int p = 1; p < P; p++)
                    s[h] = _mm512_add_epi64(s[h], _mm512_slli_epi64(acc[r][2 * q + h][p], (unsigned)p));
            }
            const __m512i sum = _mm512_add_epi32(_mm512_mullo_epi32(qk_bsgemm_avx512_narrow(s[0], s[1]), mul),
                                                 _mm512_set1_epi32(g->w_offset * t[r]));
            qk_avx512_epilogue_row(&g->epi, &c, 0, m0 + (size_t)r, n, sum);
        }
    }
}

/* Rows [m0, m0 + mr) four at a time (mr may exceed MR: the driver passes row bands). */
#define QK_BSGEMM_AVX512_ROWS(G, WB, AB)                                                           \
    do {                                                                                           \
        for (; mr >= 4; mr -= 4, m0 += 4) qk_bsgemm_avx512_tile(g, m0, n0, nr, 4, G, WB, AB);        \
        switch (mr) {                                                                              \
        case 0: break;                                                                             \
        case 1: qk_bsgemm_avx512_tile(g, m0, n0, nr, 1, G, WB, AB); break;                         \
        case 2: qk_bsgemm_avx512_tile(g, m0, n0, nr, 2, G, WB, AB); break;                         \
        default: qk_bsgemm_avx512_tile(g, m0, n0, nr, 3, G, WB, AB); break;                        \
        }                                                                                          \
    } while (0)

/* The member body for wb x ab (constants in each member file): W1A1 on 4 groups (32 columns), the
 * others on 2 (16 columns). */
QK_BSGEMM_AVX512_INLINE void qk_bsgemm_avx512(const qk_bsgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr,
                                              int wb, int ab) {
    assert(mr >= 1 && nr >= 1 && g->wbits == wb && g->abits == ab);
    if (wb == 1 && ab == 1) {
        assert(nr <= 32);
        QK_BSGEMM_AVX512_ROWS(4, 1, 1);
    } else if (wb == 1) {
        assert(nr <= 16);
        QK_BSGEMM_AVX512_ROWS(2, 1, 2);
    } else if (ab == 1) {
        assert(nr <= 16);
        QK_BSGEMM_AVX512_ROWS(2, 2, 1);
    } else {
        assert(nr <= 16);
        QK_BSGEMM_AVX512_ROWS(2, 2, 2);
    }
}
#endif
