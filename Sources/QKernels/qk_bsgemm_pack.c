/* qk_bsgemm_pack.c — bit-plane packing for bsgemm (layout in qk_bsgemm.h): weight codes offline,
 * activation codes online (u8 codes -> ab plane words per 64 positions; AVX-512 BW: one vptestmb per
 * plane and 64 codes, AVX2: a shift and vpmovmskb per plane and 32 codes, portable C otherwise; all
 * write the same bits). Bit p of a code is plane p; positions past the data are 0. */
#include <assert.h>
#include <string.h>
#include "internal/qk_bsgemm_pack.h"
#include "internal/qk_isa_internal.h"
#include "qk_bsgemm.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include "internal/qk_ukernels.h"
#endif

size_t qk_bsgemm_kwords(size_t K, size_t seg) {
    if (K == 0 || seg == 0) return 0;
    assert(K % seg == 0);
    return K / seg * ((seg + 63) / 64);
}

size_t qk_bsgemm_packed_words(size_t N, size_t kw, int wbits) {
    return (N + QK_BSGEMM_ROW_GROUP - 1) / QK_BSGEMM_ROW_GROUP * QK_BSGEMM_ROW_GROUP * (size_t)wbits * kw;
}

void qk_bsgemm_pack_weights(const uint8_t* q, size_t N, size_t K, size_t seg, int wbits, uint64_t* out) {
    assert(wbits == 1 || wbits == 2);
    const size_t kw = qk_bsgemm_kwords(K, seg), seg_words = (seg + 63) / 64;
    const size_t group_words = (size_t)wbits * QK_BSGEMM_ROW_GROUP;
    memset(out, 0, qk_bsgemm_packed_words(N, kw, wbits) * sizeof(uint64_t));
    for (size_t n = 0; n < N; n++) {
        uint64_t* row = out + n / QK_BSGEMM_ROW_GROUP * kw * group_words + n % QK_BSGEMM_ROW_GROUP;
        for (size_t k = 0; k < K; k++) {
            const size_t s = k / seg, c = k % seg, j = s * seg_words + c / 64;
            for (int i = 0; i < wbits; i++)
                row[j * group_words + (size_t)i * QK_BSGEMM_ROW_GROUP] |= (uint64_t)((q[n * K + k] >> i) & 1) << (c % 64);
        }
    }
}

/* Rows of C codes (row r at a + r * lda) into ceil(C/64) groups of ab plane words at out + r * ldo
 * (portable). */
static void qk_bsgemm_pack_rows_scalar(const uint8_t* rows_a, size_t rows, size_t C, size_t lda, int ab,
                                       uint64_t* rows_out, size_t ldo) {
    for (size_t r = 0; r < rows; r++) {
        const uint8_t* a = rows_a + r * lda;
        uint64_t* out = rows_out + r * ldo;
        for (size_t j = 0; j * 64 < C; j++) {
            const size_t n = C - 64 * j < 64 ? C - 64 * j : 64;
            for (int p = 0; p < ab; p++) {
                uint64_t word = 0;
                for (size_t b = 0; b < n; b++) word |= (uint64_t)((a[64 * j + b] >> p) & 1) << b;
                out[(size_t)ab * j + (size_t)p] = word;
            }
        }
    }
}

#if defined(__x86_64__)
__attribute__((target(QK_TARGET_AVX512SKX)))
static void qk_bsgemm_pack_rows_avx512(const uint8_t* rows_a, size_t rows, size_t C, size_t lda, int ab,
                                       uint64_t* rows_out, size_t ldo) {
    const size_t full = C / 64, tail = C % 64;
    const __mmask64 live = ((__mmask64)1 << tail) - 1;
    const __m512i bit0 = _mm512_set1_epi8(1), bit1 = _mm512_set1_epi8(2);
    for (size_t r = 0; r < rows; r++) {
        const uint8_t* a = rows_a + r * lda;
        uint64_t* out = rows_out + r * ldo;
        for (size_t j = 0; j <= full; j++) {
            if (j == full && tail == 0) break;
            const __m512i v = j < full ? _mm512_loadu_si512(a + 64 * j) : _mm512_maskz_loadu_epi8(live, a + 64 * j);
            out[(size_t)ab * j] = (uint64_t)_mm512_test_epi8_mask(v, bit0);
            if (ab == 2) out[2 * j + 1] = (uint64_t)_mm512_test_epi8_mask(v, bit1);
        }
    }
}

__attribute__((target(QK_TARGET_AVX2)))
static void qk_bsgemm_pack_rows_avx2(const uint8_t* rows_a, size_t rows, size_t C, size_t lda, int ab,
                                     uint64_t* rows_out, size_t ldo) {
    for (size_t r = 0; r < rows; r++) {
        const uint8_t* a = rows_a + r * lda;
        uint64_t* out = rows_out + r * ldo;
        for (size_t j = 0; j * 64 < C; j++) {
            const size_t n = C - 64 * j;
            uint8_t tail[64];
            const uint8_t* src = a + 64 * j;
            if (n < 64) { /* never read past C */
                memset(tail, 0, sizeof tail);
                memcpy(tail, src, n);
                src = tail;
            }
            const __m256i lo = _mm256_loadu_si256((const __m256i*)src), hi = _mm256_loadu_si256((const __m256i*)(src + 32));
            for (int p = 0; p < ab; p++) { /* bit p to the byte's sign bit, then one bit per byte */
                const __m128i shift = _mm_cvtsi32_si128(7 - p);
                const uint32_t l = (uint32_t)_mm256_movemask_epi8(_mm256_sll_epi16(lo, shift));
                const uint32_t h = (uint32_t)_mm256_movemask_epi8(_mm256_sll_epi16(hi, shift));
                out[(size_t)ab * j + (size_t)p] = (uint64_t)h << 32 | l;
            }
        }
    }
}
#endif

qk_bsgemm_row_packer qk_bsgemm_packer(void) {
#if defined(__x86_64__)
    const qk_isa active = qk_isa_active(); /* QK_ISA=avx2 / scalar select the other packers (tests) */
    if (qk_isa_within(QK_ISA_AVX512SKX, active)) return qk_bsgemm_pack_rows_avx512;
    if (qk_isa_within(QK_ISA_AVX2, active)) return qk_bsgemm_pack_rows_avx2;
#endif
    return qk_bsgemm_pack_rows_scalar;
}

void qk_bsgemm_pack_rows(const uint8_t* a, size_t rows, size_t C, size_t lda, int abits, uint64_t* out, size_t ldo) {
    assert(abits == 1 || abits == 2);
    qk_bsgemm_packer()(a, rows, C, lda, abits, out, ldo);
}
