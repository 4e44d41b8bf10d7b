/* qk_sgemm_w4_ukernel_4x16c32__avx512vnni — shift-add GEMM for shift-coded 4-bit weights
 * (w = sign * 2^e or 0) with per-lane variable shifts and no multiplications. Per packed sub-step
 * (16 channels x 4 k) the row's 4 activations are repeated across the channels and widened to
 * int16, shifted by each weight's exponent (vpsllvw, zero weights masked off), negated where the
 * weight is negative (masked subtract), and the int16 terms (|a << e| <= 32640) are folded into
 * int32 pair sums with shifts and adds. AVX-512 BW only; registered at the avx512vnni level (the
 * ISA family this CPU class is dispatched by). 4 rows x 16 columns (one row group). It exists to be
 * measured against the table-lookup path on the same weights (docs/PERFORMANCE.md). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <assert.h>
#include <immintrin.h>
#include <string.h>
#include "../internal/qk_decode.h"
#include "../internal/qk_epilogue.h"
#include "../internal/qk_shift.h"

#define QK_SHIFT_TARGET "avx2,avx512f,avx512bw,avx512vl,avx512vbmi"
#define QK_SHIFT_INLINE static inline __attribute__((always_inline, target(QK_SHIFT_TARGET)))

/* acc += the 32 int16 lanes of t summed in pairs into 16 int32 lanes: no multiply. */
QK_SHIFT_INLINE __m512i qk_shift_accumulate(__m512i acc, __m512i t) {
    const __m512i even = _mm512_srai_epi32(_mm512_slli_epi32(t, 16), 16);
    const __m512i odd = _mm512_srai_epi32(t, 16);
    return _mm512_add_epi32(acc, _mm512_add_epi32(even, odd));
}

/* A 16-byte table (one entry per code) repeated over 64 bytes, for vpermb on 4-bit codes. */
QK_SHIFT_INLINE __m512i qk_shift_table64(const uint8_t t[16]) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)t));
}

void __attribute__((target(QK_SHIFT_TARGET)))
qk_sgemm_w4_ukernel_4x16c32__avx512vnni(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= 4 && nr >= 1 && nr <= QK_ROW_GROUP && n0 % QK_ROW_GROUP == 0 && g->bits == 4);
    const qk_shift_table t = qk_shift_table_make(g->lut, 4);
    const __m512i exp_tbl = qk_shift_table64(t.exponent), neg_tbl = qk_shift_table64(t.negative);
    const __m512i nz_tbl = qk_shift_table64(t.nonzero);
    const uint8_t* a[4];
    for (size_t i = 0; i < 4; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    const uint8_t* w = g->w + n0 / QK_ROW_GROUP * g->w_group_stride;
    __m512i acc[4][2];  /* row, half (channels 8h..8h+7): int32 pair sums, channel c at lanes 2c, 2c+1 */
    for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm512_setzero_si512();
    const __m512i zero = _mm512_setzero_si512();
    const size_t K = g->K, K_full = K / 32 * 32;
    uint8_t tail[4][32];
    if (K_full < K) {
        for (int i = 0; i < 4; i++) {
            memset(tail[i], 0, 32);
            memcpy(tail[i], a[i] + K_full, K - K_full);
        }
    }
    for (size_t kb = 0; kb < K; kb += 32) {
        const uint8_t* blk = w + kb / 32 * QK_GROUP_BLOCK_BYTES(4);
        for (int s = 0; s < 8; s++) {
            const __m512i x = _mm512_loadu_si512(blk + s / 2 * QK_CHUNK_BYTES);
            const __m512i codes = _mm512_and_si512(s % 2 ? _mm512_srli_epi16(x, 4) : x, _mm512_set1_epi8(0x0F));
            const __m512i e8 = _mm512_permutexvar_epi8(codes, exp_tbl);
            const __mmask64 kneg = _mm512_test_epi8_mask(_mm512_permutexvar_epi8(codes, neg_tbl), _mm512_set1_epi8(1));
            const __mmask64 knz = _mm512_test_epi8_mask(_mm512_permutexvar_epi8(codes, nz_tbl), _mm512_set1_epi8(1));
            for (int h = 0; h < 2; h++) {
                const __m512i e16 = _mm512_cvtepu8_epi16(h ? _mm512_extracti64x4_epi64(e8, 1) : _mm512_castsi512_si256(e8));
                const __mmask32 hneg = (__mmask32)(kneg >> (32 * h)), hnz = (__mmask32)(knz >> (32 * h));
                for (int i = 0; i < 4; i++) {
                    int32_t a4;
                    memcpy(&a4, (kb < K_full ? a[i] + kb : tail[i]) + 4 * s, 4);
                    /* the row's 4 activations (k 4s..4s+3) under every channel's 4 codes, as int16 */
                    const __m512i a16 = _mm512_cvtepu8_epi16(_mm256_set1_epi32(a4));
                    __m512i v = _mm512_maskz_sllv_epi16(hnz, a16, e16);
                    v = _mm512_mask_sub_epi16(v, hneg, zero, v);
                    acc[i][h] = qk_shift_accumulate(acc[i][h], v);
                }
            }
        }
    }
    for (size_t i = 0; i < mr; i++) {
        int32_t sums[16];
        for (int h = 0; h < 2; h++) {
            /* channel c of the half: lanes 2c and 2c+1 */
            const __m512i pairs = _mm512_add_epi32(acc[i][h], _mm512_srli_epi64(acc[i][h], 32));
            _mm256_storeu_si256((__m256i*)(sums + 8 * h), _mm512_cvtepi64_epi32(pairs));
        }
        for (size_t j = 0; j < nr; j++) {
            const int32_t zc = g->a_zero == 0 ? 0 : g->a_zero * g->colsum[n0 + j];
            qk_qgemm_epilogue(&g->epi, m0 + i, n0 + j, sums[j] - zc);
        }
    }
}
#endif
