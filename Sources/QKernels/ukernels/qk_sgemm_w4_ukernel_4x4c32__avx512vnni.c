/* qk_sgemm_w4_ukernel_4x4c32__avx512vnni — shift-add GEMM for shift-coded 4-bit weights
 * (w = sign * 2^e or 0) with per-lane variable shifts and no multiplications: activations widened
 * to 16 bits, shifted by each weight's exponent (vpsllvw, zero weights masked off), negated where
 * the weight is negative (masked subtract), and the 16-bit terms (|a << e| <= 32640) folded into
 * 32-bit accumulators with shifts and adds. Uses AVX-512 BW only; registered at the avx512vnni
 * level (the ISA family this CPU class is dispatched by). 4x4 tile, 32 codes per step. It exists
 * to be measured against the table-lookup path on the same weights (docs/PERFORMANCE.md). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <assert.h>
#include <immintrin.h>
#include "../internal/qk_decode.h"
#include "../internal/qk_epilogue.h"
#include "../internal/qk_shift.h"

#define QK_SHIFT_TARGET "avx2,avx512f,avx512bw,avx512vl"

/* acc += the 32 int16 lanes of t, pairwise into 16 int32 lanes: no multiply. */
static inline __attribute__((always_inline, target(QK_SHIFT_TARGET))) __m512i qk_shift_accumulate(__m512i acc, __m512i t) {
    const __m512i even = _mm512_srai_epi32(_mm512_slli_epi32(t, 16), 16);
    const __m512i odd = _mm512_srai_epi32(t, 16);
    return _mm512_add_epi32(acc, _mm512_add_epi32(even, odd));
}

void __attribute__((target(QK_SHIFT_TARGET)))
qk_sgemm_w4_ukernel_4x4c32__avx512vnni(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && mr <= 4 && nr >= 1 && nr <= 4 && g->bits == 4);
    const qk_shift_table t = qk_shift_table_make(g->lut, 4);
    const __m256i exp_tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)t.exponent));
    const __m256i neg_tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)t.negative));
    const __m256i nz_tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)t.nonzero));
    const __m128i nibble = _mm_set1_epi8(0x0F);
    const uint8_t* a[4];
    const uint8_t* w[4];
    for (size_t i = 0; i < 4; i++) a[i] = g->a + (m0 + (i < mr ? i : mr - 1)) * g->lda;
    for (size_t j = 0; j < 4; j++) w[j] = qk_packed_block(g->w, g->w_group_stride, n0 + (j < nr ? j : nr - 1), 0, 4);
    __m512i acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_si512();
    const __m512i zero = _mm512_setzero_si512();
    const size_t K = g->K;
    for (size_t kb = 0; kb < K; kb += 32) {
        const __mmask32 live = K - kb >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (K - kb)) - 1);
        __m512i a16[4];
        for (int i = 0; i < 4; i++) a16[i] = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(live, a[i] + kb));
        for (int j = 0; j < 4; j++) {
            const __m128i x = _mm_loadu_si128((const __m128i*)(w[j] + kb / 32 * QK_ROW_GROUP * 16));
            const __m256i codes = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), nibble), _mm_and_si128(x, nibble));
            const __m512i e16 = _mm512_cvtepu8_epi16(_mm256_shuffle_epi8(exp_tbl, codes));
            const __m256i neg = _mm256_shuffle_epi8(neg_tbl, codes), nz = _mm256_shuffle_epi8(nz_tbl, codes);
            const __mmask32 kneg = _mm256_test_epi8_mask(neg, neg), knz = _mm256_test_epi8_mask(nz, nz);
            for (int i = 0; i < 4; i++) {
                __m512i v = _mm512_maskz_sllv_epi16(knz, a16[i], e16);
                v = _mm512_mask_sub_epi16(v, kneg, zero, v);
                acc[i][j] = qk_shift_accumulate(acc[i][j], v);
            }
        }
    }
    for (size_t i = 0; i < mr; i++) {
        for (size_t j = 0; j < nr; j++) {
            const int32_t zc = g->a_zero == 0 ? 0 : g->a_zero * g->colsum[n0 + j];
            qk_qgemm_epilogue(&g->epi, m0 + i, n0 + j, _mm512_reduce_add_epi32(acc[i][j]) - zc);
        }
    }
}
#endif
