/* qk_qgemm_avx512vnni.h — the body of the AVX-512 VNNI qgemm members: up to 8 rows x 32 columns
 * (two row groups of 16) per call, u8 x s8 vpdpbusd with one int32 lane per output channel.
 *
 * The packed layout (qk_pack.h) stores each row group's codes as sub-steps of 16 channels x 4 k, so
 * a decoded sub-step is one zmm of weights and the activations enter as an embedded 32-bit
 * broadcast (4 k of one row) folded into vpdpbusd: every lane accumulates one finished output,
 * nothing is reduced across lanes and the epilogue runs on 16 channels of a row at a time (masked
 * for a partial group). Codes become weights with vpermb into per-layer tables built for the
 * code's bit offset inside the chunk byte (so most sub-steps need no shift; see qk_vnni_table);
 * 8-bit weights load as they are; 3-bit codes combine two planes. Private. */
#pragma once
#if defined(__x86_64__)
#include <assert.h>
#include "qk_decode.h"
#include "qk_qgemm_rows.h"
#include "qk_avx512_epilogue.h"
#include "qk_ukernels.h"
#include "qk_x86.h"

#define QK_VNNI_MR 8
#define QK_VNNI_GROUPS 2                      /* row groups of 16 columns per call */
#define QK_VNNI_NR (QK_VNNI_GROUPS * QK_ROW_GROUP)
#ifndef QK_VNNI_PREFETCH
#define QK_VNNI_PREFETCH 4096                 /* weight prefetch distance (bytes) for short tiles */
#endif
/* The tile body needs VNNI; the code decoders need VBMI (vpermb). The int8 member (qgemm_w8, ISA
 * avx512vnni) defines QK_VNNI_INT8_ONLY before including this header: its weights load as stored, so
 * neither the decoders nor its code need VBMI. */
#if defined(QK_VNNI_INT8_ONLY)
#define QK_VNNI_TARGET QK_TARGET_AVX512VNNI
#define QK_DECODE_TARGET QK_TARGET_AVX512SKX
#else
#define QK_VNNI_TARGET QK_TARGET_AVX512VNNIVBMI
#define QK_DECODE_TARGET QK_TARGET_AVX512VBMI
#endif
#define QK_VNNI_INLINE static inline __attribute__((always_inline, target(QK_VNNI_TARGET)))
#define QK_DECODE_INLINE static inline __attribute__((always_inline, target(QK_DECODE_TARGET)))

#define QK_I64(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12),  \
    F(13), F(14), F(15), F(16), F(17), F(18), F(19), F(20), F(21), F(22), F(23), F(24), F(25), F(26), \
    F(27), F(28), F(29), F(30), F(31), F(32), F(33), F(34), F(35), F(36), F(37), F(38), F(39), F(40), \
    F(41), F(42), F(43), F(44), F(45), F(46), F(47), F(48), F(49), F(50), F(51), F(52), F(53), F(54), \
    F(55), F(56), F(57), F(58), F(59), F(60), F(61), F(62), F(63)
#define QK_IOTA(i) (i)
static const uint8_t qk_vnni_iota[64] = {QK_I64(QK_IOTA)};

/* The code -> int8 table over 64 bytes for codes sitting at bit `at` of each byte: entry i is
 * lut[(i >> at) & (2^bits - 1)]. vpermb reads index bits 0-5 only, so a code at bits [at, at+bits)
 * with at + bits <= 6 is looked up in place (no shift) and whatever sits in the other bits does not
 * matter. */
QK_DECODE_INLINE __m512i qk_vnni_table(const int8_t* lut, int bits, int at) {
    if (lut == NULL || bits > 4) return _mm512_setzero_si512();
    const __m512i l = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)lut));
    const __m512i idx = _mm512_srli_epi16(_mm512_loadu_si512(qk_vnni_iota), (unsigned)at);
    return _mm512_shuffle_epi8(l, _mm512_and_si512(idx, _mm512_set1_epi8((char)((1 << bits) - 1))));
}

/* The tables of one tile: t[j] serves codes at bit bits * j of a chunk byte, for the j with
 * bits * (j + 1) <= 6 (codes above bit 5 are shifted down by 4 first and use t[j - 4 / bits]). */
typedef struct { __m512i t[6]; } qk_vnni_tables;

QK_DECODE_INLINE qk_vnni_tables qk_vnni_tables_make(const int8_t* lut, int bits) {
    qk_vnni_tables r;
    for (int j = 0; j < 6; j++)
        r.t[j] = bits <= 4 && bits != 3 && bits * (j + 1) <= 6 ? qk_vnni_table(lut, bits, bits * j)
                                                              : _mm512_setzero_si512();
    if (bits == 3) r.t[0] = qk_vnni_table(lut, 3, 0);
    return r;
}

/* Weights of sub-step s (0..7) of a row group's block at blk: lane j = channel j/4, k j%4. */
QK_DECODE_INLINE __m512i qk_vnni_substep(const uint8_t* blk, int s, int bits, const qk_vnni_tables* tables) {
#if defined(QK_VNNI_INT8_ONLY)
    assert(bits == 8);
    (void)tables;
    return _mm512_loadu_si512(blk + s * QK_CHUNK_BYTES);
#else
    switch (bits) {
    case 8: return _mm512_loadu_si512(blk + s * QK_CHUNK_BYTES);
    case 3: {
        const __m512i lo = _mm512_srli_epi16(_mm512_loadu_si512(blk + s / 4 * QK_CHUNK_BYTES), (unsigned)(2 * (s % 4)));
        const __m512i hi = _mm512_srli_epi16(_mm512_loadu_si512(blk + 2 * QK_CHUNK_BYTES), (unsigned)s);
        const __m512i code = _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi8(3)),
                                             _mm512_slli_epi16(_mm512_and_si512(hi, _mm512_set1_epi8(1)), 2));
        return _mm512_permutexvar_epi8(code, tables->t[0]);
    }
    default: {  /* 1, 2, 4: sub-step s in chunk s / (8/bits) at bit bits * (s % (8/bits)) */
        const int per = 8 / bits, j = s % per;
        const __m512i x = _mm512_loadu_si512(blk + s / per * QK_CHUNK_BYTES);
        if (bits * (j + 1) <= 6) return _mm512_permutexvar_epi8(x, tables->t[j]);
        return _mm512_permutexvar_epi8(_mm512_srli_epi16(x, 4), tables->t[j - 4 / bits]);
    }
    }
#endif
}

/* The body for exactly `rows` (a constant, 1..8) rows [m0, m0+rows) and columns [n0, n0+nr),
 * nr <= 32, n0 a multiple of 16. A past K is zero: the last partial block of each row is copied
 * into a zeroed buffer, so every step broadcasts from plain loads. A second row group past nr
 * repeats the first (results dropped). */
/* `rows` rows x `G` row groups (1 for a tile of at most 16 columns: a 16-channel layer would otherwise
 * compute a second, discarded group), both constants in every instantiation. */
QK_VNNI_INLINE void qk_vnni_tile_rows(const qk_qgemm_args* g, size_t m0, size_t n0, size_t nr, int bits,
                                      int rows, int G, int prefetch, int implicit) {
    const qk_vnni_tables tables = qk_vnni_tables_make(g->lut, bits);
    const size_t groups = (nr + QK_ROW_GROUP - 1) / QK_ROW_GROUP, block_bytes = QK_GROUP_BLOCK_BYTES(bits);
    /* fewer than ~10 independent vpdpbusd chains leave its latency exposed: then odd sub-steps go to acc2 */
    const int split = rows * G <= 8;
    const uint8_t* a[QK_VNNI_MR] = {0};
    const uint8_t* w[QK_VNNI_GROUPS];
    for (int i = 0; i < rows; i++) a[i] = qk_qgemm_row_as(g, m0 + (size_t)i, implicit);
    for (size_t j = 0; j < QK_VNNI_GROUPS; j++)
        w[j] = g->w + (n0 / QK_ROW_GROUP + (j < groups ? j : groups - 1)) * g->w_group_stride;
    __m512i acc[QK_VNNI_MR][QK_VNNI_GROUPS], acc2[QK_VNNI_MR][QK_VNNI_GROUPS];
    for (int i = 0; i < QK_VNNI_MR; i++)
        for (int j = 0; j < QK_VNNI_GROUPS; j++) acc[i][j] = acc2[i][j] = _mm512_setzero_si512();
    const size_t K = g->K, K_full = K / 32 * 32;
    /* The next column tile's weights, fetched into L2 while this one computes (`prefetch`, a constant: the
     * full row tiles inside g->prefetch_rows): those tiles each prefetch their share of it, spread over
     * their K blocks. The weights of late layers come from L3 or memory in short per-group streams that
     * the hardware prefetcher ramps up too late (ResNet-50's 7x7 layers ran at 2/3 of their warm-cache
     * speed). Every other tile compiles without it (its bookkeeping cost small-K tiles 5 %). */
    const uint8_t* next[QK_VNNI_GROUPS] = {0};
    size_t pf_lo = 0, pf_hi = 0, pf_lines = 0;
    if (prefetch && n0 + QK_VNNI_NR < g->N) {
        const size_t kblocks = (K + 31) / 32, tile_bytes = kblocks * block_bytes;
        const size_t t = m0 / QK_VNNI_MR, tiles = g->prefetch_rows / QK_VNNI_MR;
        const size_t next_groups = (g->N - n0 - QK_VNNI_NR + QK_ROW_GROUP - 1) / QK_ROW_GROUP;
        for (size_t j = 0; j < QK_VNNI_GROUPS; j++)
            next[j] = g->w + (n0 / QK_ROW_GROUP + QK_VNNI_GROUPS + (j < next_groups ? j : 0)) * g->w_group_stride;
        pf_lo = tile_bytes * t / tiles / 64 * 64;
        pf_hi = tile_bytes * (t + 1) / tiles;
        pf_lines = ((pf_hi - pf_lo + 63) / 64 + kblocks - 1) / kblocks;
    }
    /* the last, partial block runs all 8 sub-steps too (its padding multiplies zeros): skipping them with a
     * run-time bound kept the sub-step loop from unrolling and cost 5-8 % on every conv of ResNet-18 for
     * 0.05 ms on MobileNetV2's K = 16 / 24 layers (docs/PERFORMANCE.md) */
    uint8_t tail[QK_VNNI_MR][32];
    if (K_full < K) {
        const __mmask32 live = (__mmask32)((1ull << (K - K_full)) - 1);
        for (int i = 0; i < rows; i++)
            _mm256_storeu_si256((__m256i*)tail[i], _mm256_maskz_loadu_epi8(live, a[i] + K_full));
    }
    /* implicit rows (a constant: plain tiles compile as if it did not exist; the walk's registers made the
     * compiler spill this loop's accumulators) */
    qk_qgemm_kwalk kwalk = qk_qgemm_kwalk_start(g);
    for (size_t kb = 0; kb < K; kb += 32) {
        const uint8_t* p[QK_VNNI_MR];
        for (int i = 0; i < rows; i++) p[i] = kb < K_full ? a[i] + (implicit ? kwalk.off : kb) : tail[i];
        if (implicit) qk_qgemm_kwalk_next(g, &kwalk);
        const uint8_t* blk0 = w[0] + kb / 32 * block_bytes;
        const uint8_t* blk1 = w[1] + kb / 32 * block_bytes;
        if (prefetch) {
            for (size_t q = 0, off = pf_lo + kb / 32 * pf_lines * 64; q < pf_lines && off < pf_hi; q++, off += 64) {
                _mm_prefetch((const char*)next[0] + off, _MM_HINT_T1);
                if (G > 1) _mm_prefetch((const char*)next[1] + off, _MM_HINT_T1);
            }
        }
        if (rows <= 4 && bits < 8) {
            /* few rows: the codes stream from memory once per tile and decoding them keeps the core
             * busy; prefetch them QK_VNNI_PREFETCH bytes ahead in both row groups (the hardware
             * prefetcher alone left DRAM half idle: 4x8192x8192 4-bit 0.98x -> 2.0x of int8). int8
             * tiles do not need it (measured slower with it). */
            for (size_t off = 0; off < block_bytes; off += 64) {
                _mm_prefetch((const char*)blk0 + QK_VNNI_PREFETCH + off, _MM_HINT_T0);
                _mm_prefetch((const char*)blk1 + QK_VNNI_PREFETCH + off, _MM_HINT_T0);
            }
        }
        for (int s = 0; s < 8; s++) {
            const __m512i w0 = qk_vnni_substep(blk0, s, bits, &tables);
            const __m512i w1 = G > 1 ? qk_vnni_substep(blk1, s, bits, &tables) : w0;
            for (int i = 0; i < rows; i++) {
                int32_t a4;
                memcpy(&a4, p[i] + 4 * s, 4);
                const __m512i av = _mm512_set1_epi32(a4);
                if (split && (s & 1)) {
                    acc2[i][0] = _mm512_dpbusd_epi32(acc2[i][0], av, w0);
                    if (G > 1) acc2[i][1] = _mm512_dpbusd_epi32(acc2[i][1], av, w1);
                } else {
                    acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], av, w0);
                    if (G > 1) acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], av, w1);
                }
            }
        }
    }
    if (split) {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < G; j++) acc[i][j] = _mm512_add_epi32(acc[i][j], acc2[i][j]);
    }
    /* the group index is known only at run time: epilogues with constant indices keep acc in registers */
    const size_t cols0 = nr < 16 ? nr : 16;
    const qk_avx512_epi c0 = qk_avx512_epi_make(&g->epi, g->a_zero, g->colsum, n0, cols0);
    if (G > 1 && groups > 1) {
        const qk_avx512_epi c1 = qk_avx512_epi_make(&g->epi, g->a_zero, g->colsum, n0 + 16, nr - 16);
        if (nr == QK_VNNI_NR && g->epi.output_kind == QK_OUTPUT_U8 && g->epi.half_rows == NULL) {
            /* u8 rows of 32 whole columns: both groups packed and stored at once */
            const qk_avx512_epi c[2] = {c0, c1};
            for (int i = 0; i < rows; i++) {
                __m512i r[2] = {acc[i][0], acc[i][1]};
                if (g->a_zero != 0) for (int j = 0; j < 2; j++) r[j] = _mm512_sub_epi32(r[j], c[j].zc);
                qk_avx512_epilogue_u8_packed(&g->epi, c, 2, m0 + (size_t)i, n0, r);
            }
            return;
        }
        for (int i = 0; i < rows; i++) qk_avx512_epilogue_row(&g->epi, &c0, g->a_zero, m0 + (size_t)i, n0, acc[i][0]);
        for (int i = 0; i < rows; i++) qk_avx512_epilogue_row(&g->epi, &c1, g->a_zero, m0 + (size_t)i, n0 + 16, acc[i][1]);
        return;
    }
    for (int i = 0; i < rows; i++) qk_avx512_epilogue_row(&g->epi, &c0, g->a_zero, m0 + (size_t)i, n0, acc[i][0]);
}

/* One instantiation per row count, G row groups, plain or implicit rows (I). */
#define QK_VNNI_ROWS_CASES(G, I)                                           \
    switch (mr) {                                                          \
    case 1: qk_vnni_tile_rows(g, m0, n0, nr, bits, 1, G, 0, I); break;     \
    case 2: qk_vnni_tile_rows(g, m0, n0, nr, bits, 2, G, 0, I); break;     \
    case 3: qk_vnni_tile_rows(g, m0, n0, nr, bits, 3, G, 0, I); break;     \
    case 4: qk_vnni_tile_rows(g, m0, n0, nr, bits, 4, G, 0, I); break;     \
    case 5: qk_vnni_tile_rows(g, m0, n0, nr, bits, 5, G, 0, I); break;     \
    case 6: qk_vnni_tile_rows(g, m0, n0, nr, bits, 6, G, 0, I); break;     \
    case 7: qk_vnni_tile_rows(g, m0, n0, nr, bits, 7, G, 0, I); break;     \
    default:                                                               \
        if (m0 + QK_VNNI_MR <= g->prefetch_rows) qk_vnni_tile_rows(g, m0, n0, nr, bits, 8, G, 1, I); \
        else qk_vnni_tile_rows(g, m0, n0, nr, bits, 8, G, 0, I);           \
        break;                                                             \
    }

/* The member body: rows [m0, m0+mr), mr <= 8, each row count compiled on its own so that short
 * tiles (a linear layer's single row, the last rows of a conv) do no wasted work, and tiles of at most
 * 16 columns on one row group. */
QK_VNNI_INLINE void qk_qgemm_tile_avx512vnni(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                             size_t nr, int bits) {
    assert(mr >= 1 && mr <= QK_VNNI_MR && nr >= 1 && nr <= QK_VNNI_NR && n0 % QK_ROW_GROUP == 0);
    if (g->a_width != 0) {
        if (nr <= QK_ROW_GROUP) {
            QK_VNNI_ROWS_CASES(1, 1)
        } else {
            QK_VNNI_ROWS_CASES(2, 1)
        }
    } else if (nr <= QK_ROW_GROUP) {
        QK_VNNI_ROWS_CASES(1, 0)
    } else {
        QK_VNNI_ROWS_CASES(2, 0)
    }
}

#endif /* __x86_64__ */
