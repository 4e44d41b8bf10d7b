/* qk_qgemm_avx512vnni.h — the body of the AVX-512 VNNI qgemm members: 4 rows x 16 columns per call,
 * one packed block (32 codes) per step, u8 x s8 vpdpbusd on 512-bit vectors.
 *
 * Lanes run along output channels: a packed row group (4 rows, block-interleaved, qk_pack.h) is
 * decoded into two vectors whose four 128-bit lanes are the four rows (k 0-15 and k 16-31 of the
 * block), and each row of A is broadcast 16 bytes at a time to all four lanes. So one vpdpbusd
 * feeds 4 output channels x 16 k, the accumulators never need a 16-lane reduction (only the 4
 * partial sums inside each lane, folded by one transpose-add per 16 outputs at the end), and
 * nothing is repacked at load. Codes become weights with vpermb (gather each code's byte into its
 * lane), vpsrlvw (its bit offset) and vpermb into the per-layer table repeated over 64 bytes (the
 * bits above the code do not matter). Private. */
#pragma once
#if defined(__x86_64__)
#include <assert.h>
#include "qk_decode.h"
#include "qk_x86.h"

#define QK_VNNI_MR 4
#define QK_VNNI_GROUPS 4                      /* row groups of 4 columns per call */
#define QK_VNNI_NR (QK_VNNI_GROUPS * QK_ROW_GROUP)
#define QK_VNNI_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"
#define QK_VNNI_INLINE static inline __attribute__((always_inline, target(QK_VNNI_TARGET)))

/* Decoding tables over one row group's block: byte i of a vector is lane r = i / 16, position
 * p = i % 16, i.e. code k = p (low vector) or p + 16 (high vector) of row r. Code k of a b-bit
 * block lives at byte k % (4b), bit b * (k / (4b)); the 3-bit planes are a 2-bit block at offset
 * 0 and a 1-bit block at offset 8 of a 12-byte block. Word e (pairs of bytes share a shift). */
#define QK_I64(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12),  \
    F(13), F(14), F(15), F(16), F(17), F(18), F(19), F(20), F(21), F(22), F(23), F(24), F(25), F(26), \
    F(27), F(28), F(29), F(30), F(31), F(32), F(33), F(34), F(35), F(36), F(37), F(38), F(39), F(40), \
    F(41), F(42), F(43), F(44), F(45), F(46), F(47), F(48), F(49), F(50), F(51), F(52), F(53), F(54), \
    F(55), F(56), F(57), F(58), F(59), F(60), F(61), F(62), F(63)
#define QK_I32(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12),  \
    F(13), F(14), F(15), F(16), F(17), F(18), F(19), F(20), F(21), F(22), F(23), F(24), F(25), F(26), \
    F(27), F(28), F(29), F(30), F(31)
#define QK_LANE(i) ((i) / 16)
#define QK_POS(i) ((i) % 16)
#define QK_WPOS(e) (2 * ((e) % 8))
#define QK_BYTE1(i) (QK_LANE(i) * 4 + QK_POS(i) % 4)
#define QK_BYTE2(i) (QK_LANE(i) * 8 + QK_POS(i) % 8)
#define QK_BYTE3LO(i) (QK_LANE(i) * 12 + QK_POS(i) % 8)
#define QK_BYTE3HI(i) (QK_LANE(i) * 12 + 8 + QK_POS(i) % 4)
#define QK_SHL1(e) (QK_WPOS(e) / 4)
#define QK_SHH1(e) ((QK_WPOS(e) + 16) / 4)
#define QK_SHL2(e) (2 * (QK_WPOS(e) / 8))
#define QK_SHH2(e) (2 * ((QK_WPOS(e) + 16) / 8))
#define QK_IOTA(i) (i)
static const uint8_t qk_vnni_iota[64] = {QK_I64(QK_IOTA)};
static const uint8_t qk_vnni_byte1[64] = {QK_I64(QK_BYTE1)};
static const uint8_t qk_vnni_byte2[64] = {QK_I64(QK_BYTE2)};
static const uint8_t qk_vnni_byte3lo[64] = {QK_I64(QK_BYTE3LO)};
static const uint8_t qk_vnni_byte3hi[64] = {QK_I64(QK_BYTE3HI)};
static const uint16_t qk_vnni_shl1[32] = {QK_I32(QK_SHL1)};
static const uint16_t qk_vnni_shh1[32] = {QK_I32(QK_SHH1)};
static const uint16_t qk_vnni_shl2[32] = {QK_I32(QK_SHL2)};
static const uint16_t qk_vnni_shh2[32] = {QK_I32(QK_SHH2)};
/* 4x4 int32 transpose inside 16 bytes: byte r*4 + i <- byte i*4 + r. */
static const uint8_t qk_vnni_t4x4[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
/* Spreads 4 per-column values over the 4 elements of each column's lane. */
static const uint32_t qk_vnni_spread[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};

/* The per-layer decoding constants, set up once per call. */
typedef struct {
    __m512i table, lut, byte, shift_lo, shift_hi, byte_hi;
} qk_vnni_decoder;

QK_VNNI_INLINE qk_vnni_decoder qk_vnni_decoder_make(int bits, const int8_t* lut) {
    qk_vnni_decoder d;
    d.lut = lut == NULL ? _mm512_setzero_si512()
                        : _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)lut));
    const __m512i period = _mm512_set1_epi8((char)((1 << (bits > 4 ? 4 : bits)) - 1));
    d.table = _mm512_shuffle_epi8(d.lut, _mm512_and_si512(_mm512_loadu_si512(qk_vnni_iota), period));
    d.byte = _mm512_loadu_si512(bits == 1 ? qk_vnni_byte1 : bits == 2 ? qk_vnni_byte2 : qk_vnni_byte3lo);
    d.byte_hi = _mm512_loadu_si512(qk_vnni_byte3hi);
    d.shift_lo = _mm512_loadu_si512(bits == 1 ? qk_vnni_shl1 : qk_vnni_shl2);
    d.shift_hi = _mm512_loadu_si512(bits == 1 ? qk_vnni_shh1 : qk_vnni_shh2);
    return d;
}

/* The weights of one row group's block at p: *lo = k 0-15, *hi = k 16-31, lane r = row r. */
QK_VNNI_INLINE void qk_vnni_decode(const uint8_t* p, int bits, const qk_vnni_decoder* d, __m512i* lo,
                                   __m512i* hi) {
    switch (bits) {
    case 8:  /* stored by halves (qk_pack.h): the lanes are the rows already */
        *lo = _mm512_loadu_si512(p);
        *hi = _mm512_loadu_si512(p + QK_HALF8_OFFSET);
        return;
    case 4: {
        const __m512i x = _mm512_loadu_si512(p);  /* lane r = row r's 16 bytes */
        *lo = _mm512_permutexvar_epi8(x, d->table);
        *hi = _mm512_permutexvar_epi8(_mm512_srli_epi16(x, 4), d->table);
        return;
    }
    case 3: {
        const __m512i x = _mm512_maskz_loadu_epi8(0xFFFFFFFFFFFFull, p);  /* 48 bytes */
        const __m512i l = _mm512_permutexvar_epi8(d->byte, x), h = _mm512_permutexvar_epi8(d->byte_hi, x);
        const __m512i three = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
        const __m512i shl1 = _mm512_loadu_si512(qk_vnni_shl1), shh1 = _mm512_loadu_si512(qk_vnni_shh1);
        const __m512i c0 = _mm512_or_si512(
            _mm512_and_si512(_mm512_srlv_epi16(l, d->shift_lo), three),
            _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(h, shl1), one), 2));
        const __m512i c1 = _mm512_or_si512(
            _mm512_and_si512(_mm512_srlv_epi16(l, d->shift_hi), three),
            _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(h, shh1), one), 2));
        *lo = _mm512_shuffle_epi8(d->lut, c0);
        *hi = _mm512_shuffle_epi8(d->lut, c1);
        return;
    }
    default: {  /* 1 and 2 bits */
        const __m512i x = _mm512_maskz_loadu_epi8(bits == 2 ? 0xFFFFFFFFull : 0xFFFFull, p);
        const __m512i y = _mm512_permutexvar_epi8(d->byte, x);
        *lo = _mm512_permutexvar_epi8(_mm512_srlv_epi16(y, d->shift_lo), d->table);
        *hi = _mm512_permutexvar_epi8(_mm512_srlv_epi16(y, d->shift_hi), d->table);
        return;
    }
    }
}

/* Lane r, element i of the result = the full sum of acc[i]'s lane r (4 rows of one group). */
QK_VNNI_INLINE __m512i qk_vnni_fold(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
}

/* Per-column values n..n+3 spread over their lanes. */
QK_VNNI_INLINE __m512 qk_vnni_spread_ps(const float* v) {
    return _mm512_permutexvar_ps(_mm512_loadu_si512(qk_vnni_spread), _mm512_castps128_ps512(_mm_loadu_ps(v)));
}

/* Epilogue of a full 4x4 block: s lane r element i = acc of (row m0+i, column n+r). Same float
 * operations in the same order as qk_epilogue.h. */
QK_VNNI_INLINE void qk_vnni_epilogue_block(const qk_qgemm_args* g, size_t m0, size_t n, __m512i s) {
    const qk_epilogue* e = &g->epi;
    const __m128i t4x4 = _mm_loadu_si128((const __m128i*)qk_vnni_t4x4);
    if (g->a_zero != 0) {
        const __m512i cs = _mm512_permutexvar_epi32(_mm512_loadu_si512(qk_vnni_spread),
                                                    _mm512_castsi128_si512(_mm_loadu_si128((const __m128i*)(g->colsum + n))));
        s = _mm512_sub_epi32(s, _mm512_mullo_epi32(_mm512_set1_epi32(g->a_zero), cs));
    }
    if (e->output_kind != QK_OUTPUT_U8 || e->residual_kind == QK_RESIDUAL_F32) {
        /* rarer kinds (f32 / int32 output, f32 residual): the scalar epilogue per element */
        int32_t v[16];
        _mm512_storeu_si512(v, s);
        for (int r = 0; r < 4; r++)
            for (int i = 0; i < 4; i++) qk_qgemm_epilogue(e, m0 + (size_t)i, n + (size_t)r, v[r * 4 + i]);
        return;
    }
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(s), qk_vnni_spread_ps(e->scale + n));
    if (e->bias != NULL) y = _mm512_add_ps(y, qk_vnni_spread_ps(e->bias + n));
    if (e->residual_kind == QK_RESIDUAL_U8) {
        const uint8_t* r = (const uint8_t*)e->residual + m0 * e->ldr + n;
        int32_t w[4];
        for (int i = 0; i < 4; i++) memcpy(&w[i], r + (size_t)i * e->ldr, 4);
        const __m128i cols = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)w), t4x4);
        const __m512i rv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(cols), _mm512_set1_epi32(e->rzero));
        y = _mm512_add_ps(y, _mm512_mul_ps(_mm512_set1_ps(e->rscale), _mm512_cvtepi32_ps(rv)));
    }
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(e->clamp_lo)), _mm512_set1_ps(e->clamp_hi));
    __m512 t = _mm512_mul_ps(y, _mm512_set1_ps(e->out_inv_scale));
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-QK_REQUANT_TMAX)), _mm512_set1_ps(QK_REQUANT_TMAX));
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(e->out_zero));
    const __m128i rows = _mm_shuffle_epi8(_mm512_cvtusepi32_epi8(_mm512_max_epi32(q, _mm512_setzero_si512())), t4x4);
    uint8_t* o = (uint8_t*)e->out + m0 * e->ldc + n;
    const size_t ldc = e->ldc;
    _mm_storeu_si32(o, rows);
    _mm_storeu_si32(o + ldc, _mm_bsrli_si128(rows, 4));
    _mm_storeu_si32(o + 2 * ldc, _mm_bsrli_si128(rows, 8));
    _mm_storeu_si32(o + 3 * ldc, _mm_bsrli_si128(rows, 12));
}

/* One block step: every row's 32 activations (broadcast as a0 = k 0-15, a1 = k 16-31) against
 * every group's decoded block. With 1 or 2 rows the k 16-31 half goes to a second set of
 * accumulators (acc2), so there are enough independent vpdpbusd chains to hide its latency. */
QK_VNNI_INLINE void qk_vnni_step(__m512i acc[QK_VNNI_MR][QK_VNNI_GROUPS], __m512i acc2[QK_VNNI_MR][QK_VNNI_GROUPS],
                                 const __m512i a0[QK_VNNI_MR], const __m512i a1[QK_VNNI_MR],
                                 const uint8_t* const w[QK_VNNI_GROUPS], size_t offset, int bits, int rows,
                                 const qk_vnni_decoder* d) {
    for (int j = 0; j < QK_VNNI_GROUPS; j++) {
        __m512i wlo, whi;
        qk_vnni_decode(w[j] + offset, bits, d, &wlo, &whi);
        for (int i = 0; i < rows; i++) {
            acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], a0[i], wlo);
            if (rows <= 2) acc2[i][j] = _mm512_dpbusd_epi32(acc2[i][j], a1[i], whi);
            else acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], a1[i], whi);
        }
    }
}

/* The body for exactly `rows` (a constant, 1..4) rows [m0, m0+rows) and columns [n0, n0+nr),
 * nr <= 16, n0 a multiple of 4. Groups past nr repeat the last valid group (results discarded);
 * columns of a partial group are padding rows of the packed matrix, computed and dropped. A past K
 * is zero (the last partial block of each row is copied into a zeroed buffer, so every step uses
 * the same plain broadcast loads): whatever the padding codes decode to is cancelled. */
QK_VNNI_INLINE void qk_vnni_tile_rows(const qk_qgemm_args* g, size_t m0, size_t n0, size_t nr, int bits,
                                      int rows) {
    const qk_vnni_decoder d = qk_vnni_decoder_make(bits, g->lut);
    const size_t groups = (nr + QK_ROW_GROUP - 1) / QK_ROW_GROUP, block_step = QK_ROW_GROUP * 4 * (size_t)bits;
    const uint8_t* a[QK_VNNI_MR];
    const uint8_t* w[QK_VNNI_GROUPS];
    for (int i = 0; i < rows; i++) a[i] = g->a + (m0 + (size_t)i) * g->lda;
    for (size_t j = 0; j < QK_VNNI_GROUPS; j++)
        w[j] = g->w + (n0 / QK_ROW_GROUP + (j < groups ? j : groups - 1)) * g->w_group_stride;
    __m512i acc[QK_VNNI_MR][QK_VNNI_GROUPS], acc2[QK_VNNI_MR][QK_VNNI_GROUPS];
    for (int i = 0; i < QK_VNNI_MR; i++)
        for (int j = 0; j < QK_VNNI_GROUPS; j++) acc[i][j] = acc2[i][j] = _mm512_setzero_si512();
    const size_t K = g->K, K_full = K / 32 * 32;
    uint8_t tail[QK_VNNI_MR][32];
    if (K_full < K) {
        const __mmask32 live = (__mmask32)((1ull << (K - K_full)) - 1);
        for (int i = 0; i < rows; i++)
            _mm256_storeu_si256((__m256i*)tail[i], _mm256_maskz_loadu_epi8(live, a[i] + K_full));
    }
    for (size_t kb = 0; kb < K; kb += 32) {
        __m512i a0[QK_VNNI_MR], a1[QK_VNNI_MR];
        for (int i = 0; i < rows; i++) {
            const uint8_t* p = kb < K_full ? a[i] + kb : tail[i];
            a0[i] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)p));
            a1[i] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)(p + 16)));
        }
        qk_vnni_step(acc, acc2, a0, a1, w, kb / 32 * block_step, bits, rows, &d);
    }
    if (rows <= 2) {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < QK_VNNI_GROUPS; j++) acc[i][j] = _mm512_add_epi32(acc[i][j], acc2[i][j]);
    }
    for (size_t j = 0; j < groups; j++) {
        const __m512i s = qk_vnni_fold(acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
        const size_t n = n0 + j * QK_ROW_GROUP, cols = nr - j * QK_ROW_GROUP < 4 ? nr - j * QK_ROW_GROUP : 4;
        if (rows == 4 && cols == 4) {
            qk_vnni_epilogue_block(g, m0, n, s);
            continue;
        }
        int32_t v[16];
        _mm512_storeu_si512(v, s);
        for (size_t r = 0; r < cols; r++) {
            const int32_t zc = g->a_zero * g->colsum[n + r];
            for (int i = 0; i < rows; i++) qk_qgemm_epilogue(&g->epi, m0 + (size_t)i, n + r, v[r * 4 + i] - zc);
        }
    }
}

/* The member body: rows [m0, m0+mr), mr <= 4, each row count compiled on its own so that short
 * tiles (a linear layer's single row, the last rows of a conv) do no wasted work. */
QK_VNNI_INLINE void qk_qgemm_tile_avx512vnni(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                             size_t nr, int bits) {
    assert(mr >= 1 && mr <= QK_VNNI_MR && nr >= 1 && nr <= QK_VNNI_NR && n0 % QK_ROW_GROUP == 0);
    switch (mr) {
    case 1: qk_vnni_tile_rows(g, m0, n0, nr, bits, 1); break;
    case 2: qk_vnni_tile_rows(g, m0, n0, nr, bits, 2); break;
    case 3: qk_vnni_tile_rows(g, m0, n0, nr, bits, 3); break;
    default: qk_vnni_tile_rows(g, m0, n0, nr, bits, 4); break;
    }
}

#endif /* __x86_64__ */
