/* qk_bgemm_pack.c — bit-plane packing for bgemm (layout in qk_bgemm.h / docs/FORMAT.md): weights
 * offline from int8 {-1, 0, +1}, activations online from f32 as sign(x), and per-segment weight
 * sums for the conv padding correction.
 *   value:      +1   -1    0
 *   mask bit:    1    1    0
 *   sign bit:    0    1    0        (f32: x > 0 -> +1, x < 0 -> -1, +-0 and NaN -> 0) */
#include <assert.h>
#include <string.h>
#include "internal/qk_bgemm_tile.h"
#include "qk_bgemm.h"

size_t qk_bgemm_kwords(size_t K, size_t seg) {
    if (K == 0 || seg == 0) return 0;
    assert(K % seg == 0);
    return K / seg * ((seg + 63) / 64);
}

size_t qk_bgemm_packed_words(size_t N, size_t kw) {
    return (N + QK_BGEMM_ROW_GROUP - 1) / QK_BGEMM_ROW_GROUP * QK_BGEMM_GROUP_WORDS * kw;
}

int qk_bgemm_pack_weights(const int8_t* w, size_t N, size_t K, size_t seg, uint64_t* out) {
    const size_t kw = qk_bgemm_kwords(K, seg), seg_words = (seg + 63) / 64;
    memset(out, 0, qk_bgemm_packed_words(N, kw) * sizeof(uint64_t));
    int has_zero = 0;
    for (size_t n = 0; n < N; n++) {
        uint64_t* group = out + n / QK_BGEMM_ROW_GROUP * kw * QK_BGEMM_GROUP_WORDS + n % QK_BGEMM_ROW_GROUP;
        for (size_t k = 0; k < K; k++) {
            const int8_t v = w[n * K + k];
            const size_t s = k / seg, c = k % seg, j = s * seg_words + c / 64;
            const uint64_t bit = (uint64_t)1 << (c % 64);
            if (v == 0) {
                has_zero = 1;
                continue;
            }
            group[j * QK_BGEMM_GROUP_WORDS] |= bit;
            if (v < 0) group[j * QK_BGEMM_GROUP_WORDS + QK_BGEMM_ROW_GROUP] |= bit;
        }
    }
    return has_zero;
}

void qk_bgemm_row_nonzeros(const uint64_t* packed, size_t N, size_t kw, int32_t* nz) {
    for (size_t n = 0; n < N; n++) {
        const uint64_t* w = packed + n / QK_BGEMM_ROW_GROUP * kw * QK_BGEMM_GROUP_WORDS + n % QK_BGEMM_ROW_GROUP;
        int32_t count = 0;
        for (size_t j = 0; j < kw; j++) count += qk_bgemm_popcount64(w[j * QK_BGEMM_GROUP_WORDS]);
        nz[n] = count;
    }
}

void qk_bgemm_segment_sums(const uint64_t* packed, size_t N, size_t kw, size_t seg_words,
                           int32_t* sums) {
    const size_t segs = seg_words == 0 ? 0 : kw / seg_words;
    for (size_t n = 0; n < N; n++) {
        const uint64_t* w = packed + n / QK_BGEMM_ROW_GROUP * kw * QK_BGEMM_GROUP_WORDS + n % QK_BGEMM_ROW_GROUP;
        for (size_t s = 0; s < segs; s++) {
            int32_t sum = 0; /* (#+1) - (#-1) = popcount(mask) - 2 popcount(mask & sign) */
            for (size_t j = s * seg_words; j < (s + 1) * seg_words; j++) {
                const uint64_t m = w[j * QK_BGEMM_GROUP_WORDS], sg = w[j * QK_BGEMM_GROUP_WORDS + QK_BGEMM_ROW_GROUP];
                sum += qk_bgemm_popcount64(m) - 2 * qk_bgemm_popcount64(m & sg);
            }
            sums[s * N + n] = sum;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
/* The AVX-512 form of the f32 packer. First pass (whole 64-channel words only): the sign plane is
 * the floats' sign bits (vpmovd2m, joined in mask registers), and a zero or NaN anywhere is caught
 * by an unsigned max over (bits & 0x7FFFFFFF) - 1, which is >= 0x7F800000 exactly for +-0 (wraps
 * to 0xFFFFFFFF) and NaN; with neither present, sign bit = (x < 0) and every position is nonzero,
 * so the planes are exact. Otherwise (zeros, NaN, or a partial word) the exact compare packer
 * below runs instead: one ordered compare per 16 floats and sign (NaN is neither > 0 nor < 0). */
__attribute__((target("avx512f,avx512bw,avx512dq")))
static int qk_bgemm_pack_f32_signs_avx512(const float* x, size_t rows, size_t C, size_t ldx, uint64_t* out,
                                          size_t ldo) {
    const size_t cw = C / 64;
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), one = _mm512_set1_epi32(1);
    __m512i worst[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()}; /* one per quarter word: no serial max chain */
    for (size_t r = 0; r < rows; r++) {
        const float* xr = x + r * ldx;
        uint64_t* o = out + r * ldo;
        for (size_t j = 0; j < cw; j++, xr += 64) {
            __m512i v[4];
            for (int q = 0; q < 4; q++) {
                v[q] = _mm512_loadu_si512(xr + 16 * q);
                worst[q] = _mm512_max_epu32(worst[q], _mm512_sub_epi32(_mm512_and_si512(v[q], magnitude), one));
            }
            const __mmask32 lo = _mm512_kunpackw(_mm512_movepi32_mask(v[1]), _mm512_movepi32_mask(v[0]));
            const __mmask32 hi = _mm512_kunpackw(_mm512_movepi32_mask(v[3]), _mm512_movepi32_mask(v[2]));
            o[2 * j] = ~(uint64_t)0;
            o[2 * j + 1] = (uint64_t)_mm512_kunpackd(hi, lo);
        }
    }
    const __m512i all = _mm512_max_epu32(_mm512_max_epu32(worst[0], worst[1]), _mm512_max_epu32(worst[2], worst[3]));
    return _mm512_reduce_max_epu32(all) >= 0x7F800000u;
}

__attribute__((target("avx512f,avx512bw")))
static int qk_bgemm_pack_f32_avx512(const float* x, size_t rows, size_t C, size_t ldx, uint64_t* out,
                                    size_t ldo) {
    if (C % 64 == 0 && !qk_bgemm_pack_f32_signs_avx512(x, rows, C, ldx, out, ldo)) return 0;
    const size_t cw = (C + 63) / 64;
    const __m512 zero = _mm512_setzero_ps();
    uint64_t any_zero = 0;
    for (size_t r = 0; r < rows; r++) {
        const float* xr = x + r * ldx;
        uint64_t* o = out + r * ldo;
        for (size_t j = 0; j < cw; j++) {
            uint64_t pos = 0, neg = 0;
            for (size_t q = 0; q < 4; q++) {
                const size_t c0 = 64 * j + 16 * q;
                if (c0 >= C) break;
                const __mmask16 valid = C - c0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c0)) - 1u);
                const __m512 v = _mm512_maskz_loadu_ps(valid, xr + c0);
                const __mmask16 p = _mm512_mask_cmp_ps_mask(valid, v, zero, _CMP_GT_OQ);
                const __mmask16 n = _mm512_mask_cmp_ps_mask(valid, v, zero, _CMP_LT_OQ);
                pos |= (uint64_t)p << (16 * q);
                neg |= (uint64_t)n << (16 * q);
                any_zero |= (uint64_t)(valid & (__mmask16)~(p | n));
            }
            o[2 * j] = pos | neg;
            o[2 * j + 1] = neg;
        }
    }
    return any_zero != 0;
}
#endif

int qk_bgemm_pack_f32(const float* x, size_t rows, size_t C, size_t ldx, uint64_t* out, size_t ldo) {
#if defined(__x86_64__)
    if (qk_isa_supported(QK_ISA_AVX512SKX)) return qk_bgemm_pack_f32_avx512(x, rows, C, ldx, out, ldo);
#endif
    const size_t cw = (C + 63) / 64;
    uint64_t any_zero = 0;
    for (size_t r = 0; r < rows; r++) {
        const float* xr = x + r * ldx;
        uint64_t* o = out + r * ldo;
        for (size_t j = 0; j < cw; j++) {
            const size_t c0 = 64 * j, n = C - c0 < 64 ? C - c0 : 64;
            uint64_t pos = 0, neg = 0;
            for (size_t b = 0; b < n; b++) { /* branch-free; vectorises to compares + movemask */
                pos |= (uint64_t)(xr[c0 + b] > 0.0f) << b;
                neg |= (uint64_t)(xr[c0 + b] < 0.0f) << b;
            }
            const uint64_t valid = n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
            any_zero |= valid & ~(pos | neg);
            o[2 * j] = pos | neg;
            o[2 * j + 1] = neg;
        }
    }
    return any_zero != 0;
}
