/* qk_qgemm_avx512vnni.h — the body of the AVX-512 VNNI qgemm members: 4x4 output tile, 64 codes
 * (two packed blocks) per step, u8 x s8 vpdpbusd on 512-bit vectors with lanes along K.
 * Codes are expanded by one vpermb (bytes to lanes), one vpsrlvw (per-lane shift), a mask and one
 * vpshufb (the per-layer table); int8 weights load directly. At the end of K the 16 accumulators
 * are reduced by a transpose-add tree into one vector of the 16 outputs (row-major 4x4) and the
 * epilogue runs on all 16 at once. Private. */
#pragma once
#if defined(__x86_64__)
#include <assert.h>
#include "qk_x86.h"

#define QK_VNNI_MR 4
#define QK_VNNI_NR 4        /* columns per accumulator block */
#define QK_VNNI_NR_CALL 16  /* columns per call: blocks of 4 share the decoder set-up */
#define QK_VNNI_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"
#define QK_VNNI_INLINE static inline __attribute__((always_inline, target(QK_VNNI_TARGET)))

/* Where code i (0..63) of two consecutive packed blocks lives (qk_pack.h): its byte within the
 * 8*bits bytes and its bit shift. 3 bits: the low-2-bit plane (bytes 0-7 of each block) and the
 * bit-2 plane (bytes 8-11). Consecutive code pairs share a shift, as vpsrlvw needs. */
#define QK_I64(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12),  \
    F(13), F(14), F(15), F(16), F(17), F(18), F(19), F(20), F(21), F(22), F(23), F(24), F(25), F(26), \
    F(27), F(28), F(29), F(30), F(31), F(32), F(33), F(34), F(35), F(36), F(37), F(38), F(39), F(40), \
    F(41), F(42), F(43), F(44), F(45), F(46), F(47), F(48), F(49), F(50), F(51), F(52), F(53), F(54), \
    F(55), F(56), F(57), F(58), F(59), F(60), F(61), F(62), F(63)
#define QK_I32(F) F(0), F(2), F(4), F(6), F(8), F(10), F(12), F(14), F(16), F(18), F(20), F(22),     \
    F(24), F(26), F(28), F(30), F(32), F(34), F(36), F(38), F(40), F(42), F(44), F(46), F(48), F(50), \
    F(52), F(54), F(56), F(58), F(60), F(62)
#define QK_BYTE4(i) ((i) / 32 * 16 + (i) % 16)
#define QK_SHIFT4(i) (4 * ((i) % 32 / 16))
#define QK_BYTE2(i) ((i) / 32 * 8 + (i) % 8)
#define QK_SHIFT2(i) (2 * ((i) % 32 / 8))
#define QK_BYTE1(i) ((i) / 32 * 4 + (i) % 4)
#define QK_SHIFT1(i) ((i) % 32 / 4)
#define QK_BYTE3LO(i) ((i) / 32 * 12 + (i) % 8)
#define QK_BYTE3HI(i) ((i) / 32 * 12 + 8 + (i) % 4)
#define QK_IOTA(i) (i)
static const uint8_t qk_vnni_iota[64] = {QK_I64(QK_IOTA)};
static const uint8_t qk_vnni_byte4[64] = {QK_I64(QK_BYTE4)};
static const uint16_t qk_vnni_shift4[32] = {QK_I32(QK_SHIFT4)};
static const uint8_t qk_vnni_byte2[64] = {QK_I64(QK_BYTE2)};
static const uint16_t qk_vnni_shift2[32] = {QK_I32(QK_SHIFT2)};
static const uint8_t qk_vnni_byte1[64] = {QK_I64(QK_BYTE1)};
static const uint16_t qk_vnni_shift1[32] = {QK_I32(QK_SHIFT1)};
static const uint8_t qk_vnni_byte3lo[64] = {QK_I64(QK_BYTE3LO)};
static const uint8_t qk_vnni_byte3hi[64] = {QK_I64(QK_BYTE3HI)};

/* The per-bits decoding constants, loaded once per tile. `table` holds the code -> int8 table
 * repeated over 64 bytes (period 2^bits), so vpermb can look codes up without masking: it reads
 * index bits 0-5 only, and bits above the code repeat the same entries. */
typedef struct {
    __m512i table, lut, byte, shift, byte_hi, shift_hi;
} qk_vnni_decoder;

QK_VNNI_INLINE qk_vnni_decoder qk_vnni_decoder_make(int bits, const int8_t* lut) {
    qk_vnni_decoder d;
    d.lut = lut == NULL ? _mm512_setzero_si512()
                        : _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)lut));
    const __m512i period = _mm512_set1_epi8((char)((1 << (bits > 4 ? 4 : bits)) - 1));
    d.table = _mm512_shuffle_epi8(d.lut, _mm512_and_si512(_mm512_loadu_si512(qk_vnni_iota), period));
    const uint8_t* byte = bits == 4 ? qk_vnni_byte4 : bits == 2 ? qk_vnni_byte2
                        : bits == 1 ? qk_vnni_byte1 : qk_vnni_byte3lo;
    const uint16_t* shift = bits == 4 ? qk_vnni_shift4 : bits == 1 ? qk_vnni_shift1 : qk_vnni_shift2;
    d.byte = _mm512_loadu_si512(byte);
    d.shift = _mm512_loadu_si512(shift);
    d.byte_hi = _mm512_loadu_si512(qk_vnni_byte3hi);
    d.shift_hi = _mm512_loadu_si512(qk_vnni_shift1);
    return d;
}

/* The 64 int8 weights of two packed blocks at p (8*bits bytes, or 4*bits when only one block is
 * left: `live` masks the load so nothing past the row is touched). Bits 1, 2, 4: gather each
 * code's byte (vpermb), shift it down (vpsrlvw; the bits above the code are don't-care), look it
 * up (vpermb in the repeated table). Bits 3: both planes, masked and combined, then vpshufb. */
QK_VNNI_INLINE __m512i qk_vnni_decode(const uint8_t* p, __mmask64 live, int bits,
                                      const qk_vnni_decoder* d) {
    const __m512i x = _mm512_maskz_loadu_epi8(live, p);
    if (bits == 8) return x;
    const __m512i codes = _mm512_srlv_epi16(_mm512_permutexvar_epi8(d->byte, x), d->shift);
    if (bits != 3) return _mm512_permutexvar_epi8(codes, d->table);
    const __m512i hi = _mm512_and_si512(
        _mm512_srlv_epi16(_mm512_permutexvar_epi8(d->byte_hi, x), d->shift_hi), _mm512_set1_epi8(1));
    const __m512i code3 = _mm512_or_si512(_mm512_and_si512(codes, _mm512_set1_epi8(3)),
                                          _mm512_slli_epi16(hi, 2));
    return _mm512_shuffle_epi8(d->lut, code3);
}

/* One step of up to 64 codes: acc[i][j] += a_i . w_j (4 products per int32 lane). */
QK_VNNI_INLINE void qk_vnni_step(__m512i acc[QK_VNNI_MR][QK_VNNI_NR], const __m512i av[QK_VNNI_MR],
                                 const uint8_t* const w[QK_VNNI_NR], size_t offset, __mmask64 wlive,
                                 int bits, const qk_vnni_decoder* d) {
    for (int j = 0; j < QK_VNNI_NR; j++) {
        const __m512i wv = qk_vnni_decode(w[j] + offset, wlive, bits, d);
        for (int i = 0; i < QK_VNNI_MR; i++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av[i], wv);
    }
}

/* Row i's four accumulators -> one vector whose 128-bit lane l holds partial sums of
 * [acc0, acc1, acc2, acc3] (lane l's share). */
QK_VNNI_INLINE __m512i qk_vnni_fold4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

/* The 16 sums of the tile, lane 4*i + j = sum of acc[i][j]. */
QK_VNNI_INLINE __m512i qk_vnni_reduce(__m512i acc[QK_VNNI_MR][QK_VNNI_NR]) {
    __m512i r[4];
    for (int i = 0; i < 4; i++) r[i] = qk_vnni_fold4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    /* lanes of u01: [r0 l0+l2, r0 l1+l3, r1 l0+l2, r1 l1+l3] */
    const __m512i u01 = _mm512_add_epi32(_mm512_shuffle_i64x2(r[0], r[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                         _mm512_shuffle_i64x2(r[0], r[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512i u23 = _mm512_add_epi32(_mm512_shuffle_i64x2(r[2], r[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                         _mm512_shuffle_i64x2(r[2], r[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_epi32(_mm512_shuffle_i64x2(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i64x2(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The epilogue of a full 4x4 tile on one vector (lane 4*i + j = row m0+i, column n0+j): the same
 * float operations in the same order as qk_epilogue.h. */
QK_VNNI_INLINE void qk_vnni_epilogue16(const qk_qgemm_args* g, size_t m0, size_t n0, __m512i acc) {
    const qk_epilogue* e = &g->epi;
    if (g->a_zero != 0) {
        const __m512i cs = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)(g->colsum + n0)));
        acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(g->a_zero), cs));
    }
    if (e->output_kind == QK_OUTPUT_I32) {
        int32_t v[16];
        _mm512_storeu_si512(v, acc);
        for (int i = 0; i < 4; i++) memcpy((int32_t*)e->out + (m0 + i) * e->ldc + n0, v + 4 * i, 16);
        return;
    }
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_broadcast_f32x4(_mm_loadu_ps(e->scale + n0)));
    if (e->bias != NULL) y = _mm512_add_ps(y, _mm512_broadcast_f32x4(_mm_loadu_ps(e->bias + n0)));
    if (e->residual_kind == QK_RESIDUAL_U8) {
        const uint8_t* r = (const uint8_t*)e->residual + m0 * e->ldr + n0;
        int32_t w[4];
        for (int i = 0; i < 4; i++) memcpy(&w[i], r + (size_t)i * e->ldr, 4);
        const __m512i rv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)w)),
                                            _mm512_set1_epi32(e->rzero));
        y = _mm512_add_ps(y, _mm512_mul_ps(_mm512_set1_ps(e->rscale), _mm512_cvtepi32_ps(rv)));
    } else if (e->residual_kind == QK_RESIDUAL_F32) {
        const float* r = (const float*)e->residual + m0 * e->ldr + n0;
        __m512 rv = _mm512_castps128_ps512(_mm_loadu_ps(r));
        rv = _mm512_insertf32x4(rv, _mm_loadu_ps(r + e->ldr), 1);
        rv = _mm512_insertf32x4(rv, _mm_loadu_ps(r + 2 * e->ldr), 2);
        rv = _mm512_insertf32x4(rv, _mm_loadu_ps(r + 3 * e->ldr), 3);
        y = _mm512_add_ps(y, rv);
    }
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(e->clamp_lo)), _mm512_set1_ps(e->clamp_hi));
    if (e->output_kind == QK_OUTPUT_F32) {
        float* o = (float*)e->out + m0 * e->ldc + n0;
        for (int i = 0; i < 4; i++) {
            __m128 row;
            switch (i) {
            case 0: row = _mm512_extractf32x4_ps(y, 0); break;
            case 1: row = _mm512_extractf32x4_ps(y, 1); break;
            case 2: row = _mm512_extractf32x4_ps(y, 2); break;
            default: row = _mm512_extractf32x4_ps(y, 3); break;
            }
            _mm_storeu_ps(o + (size_t)i * e->ldc, row);
        }
        return;
    }
    __m512 t = _mm512_mul_ps(y, _mm512_set1_ps(e->out_inv_scale));
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-QK_REQUANT_TMAX)), _mm512_set1_ps(QK_REQUANT_TMAX));
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(e->out_zero));
    const __m128i q8 = _mm512_cvtusepi32_epi8(_mm512_max_epi32(q, _mm512_setzero_si512()));
    int32_t bytes[4];
    _mm_storeu_si128((__m128i*)bytes, q8);
    uint8_t* o = (uint8_t*)e->out + m0 * e->ldc + n0;
    for (int i = 0; i < 4; i++) memcpy(o + (size_t)i * e->ldc, &bytes[i], 4);
}

/* One 4x4 block. Rows past mr / columns past nr repeat the last valid one (results discarded), so
 * the loop has no branches; A past K is masked to 0, which cancels whatever the padding codes
 * decode to. */
QK_VNNI_INLINE void qk_vnni_block(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr,
                                  int bits, const qk_vnni_decoder* dp) {
    const qk_vnni_decoder d = *dp;
    const uint8_t* a[QK_VNNI_MR];
    const uint8_t* w[QK_VNNI_NR];
    for (size_t i = 0; i < QK_VNNI_MR; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    for (size_t j = 0; j < QK_VNNI_NR; j++) w[j] = g->w + (n0 + (j < nr ? j : nr - 1)) * g->w_stride;
    __m512i acc[QK_VNNI_MR][QK_VNNI_NR];
    for (int i = 0; i < QK_VNNI_MR; i++)
        for (int j = 0; j < QK_VNNI_NR; j++) acc[i][j] = _mm512_setzero_si512();
    const size_t K = g->K, step_bytes = 8 * (size_t)bits;
    const __mmask64 two_blocks = bits == 8 ? ~(__mmask64)0 : (((__mmask64)1 << step_bytes) - 1);
    __m512i av[QK_VNNI_MR];
    size_t kb = 0;
    for (; kb + 64 <= K; kb += 64) {
        for (int i = 0; i < QK_VNNI_MR; i++) av[i] = _mm512_loadu_si512(a[i] + kb);
        qk_vnni_step(acc, av, w, kb / 64 * step_bytes, two_blocks, bits, &d);
    }
    if (kb < K) {
        const size_t left = K - kb;
        const __mmask64 alive = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        const __mmask64 wlive = left > 32 ? two_blocks : (((__mmask64)1 << (step_bytes / 2)) - 1);
        for (int i = 0; i < QK_VNNI_MR; i++) av[i] = _mm512_maskz_loadu_epi8(alive, a[i] + kb);
        qk_vnni_step(acc, av, w, kb / 64 * step_bytes, wlive, bits, &d);
    }
    const __m512i sums = qk_vnni_reduce(acc);
    if (mr == 4 && nr == 4) {
        qk_vnni_epilogue16(g, m0, n0, sums);
        return;
    }
    for (size_t i = 0; i < mr; i++) {
        __m128i row;
        switch (i) {
        case 0: row = _mm512_extracti32x4_epi32(sums, 0); break;
        case 1: row = _mm512_extracti32x4_epi32(sums, 1); break;
        case 2: row = _mm512_extracti32x4_epi32(sums, 2); break;
        default: row = _mm512_extracti32x4_epi32(sums, 3); break;
        }
        qk_x86_qgemm_epilogue4(g, m0 + i, n0, nr, row);
    }
}

/* The member body: up to 4 rows x 16 columns, in blocks of 4 columns. */
QK_VNNI_INLINE void qk_qgemm_tile_avx512vnni(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                             size_t nr, int bits) {
    assert(mr >= 1 && mr <= QK_VNNI_MR && nr >= 1 && nr <= QK_VNNI_NR_CALL);
    const qk_vnni_decoder d = qk_vnni_decoder_make(bits, g->lut);
    for (size_t j = 0; j < nr; j += QK_VNNI_NR) {
        qk_vnni_block(g, m0, n0 + j, mr, nr - j < QK_VNNI_NR ? nr - j : QK_VNNI_NR, bits, &d);
    }
}

#endif /* __x86_64__ */
