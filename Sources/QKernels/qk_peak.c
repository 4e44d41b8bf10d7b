/* qk_peak.c — the int8 dot-product peak probe (qk_peak.h): 12 independent accumulator chains, more
 * than latency x throughput of any target core, so the loop runs at the units' issue rate. */
#include "qk_peak.h"
#include "internal/qk_isa_internal.h"
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#if !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#include <arm_neon.h>
#endif

#define QK_PEAK_CHAINS 12

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vnni"))) static uint64_t qk_peak_vnni(uint64_t iterations) {
    __m512i acc[QK_PEAK_CHAINS];
    for (int c = 0; c < QK_PEAK_CHAINS; c++) acc[c] = _mm512_set1_epi32(c);
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-5);
    for (uint64_t i = 0; i < iterations; i++) {
        for (int c = 0; c < QK_PEAK_CHAINS; c++) acc[c] = _mm512_dpbusd_epi32(acc[c], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]),
                         "+v"(acc[5]), "+v"(acc[6]), "+v"(acc[7]), "+v"(acc[8]), "+v"(acc[9]),
                         "+v"(acc[10]), "+v"(acc[11]));
    }
    return iterations * QK_PEAK_CHAINS * 64 * 2;
}

__attribute__((target("avx2"))) static uint64_t qk_peak_avx2(uint64_t iterations) {
    __m256i acc[QK_PEAK_CHAINS];
    for (int c = 0; c < QK_PEAK_CHAINS; c++) acc[c] = _mm256_set1_epi32(c);
    const __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(-5);
    for (uint64_t i = 0; i < iterations; i++) {
        for (int c = 0; c < QK_PEAK_CHAINS; c++) acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(a, b));
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]),
                         "+x"(acc[5]), "+x"(acc[6]), "+x"(acc[7]), "+x"(acc[8]), "+x"(acc[9]),
                         "+x"(acc[10]), "+x"(acc[11]));
    }
    return iterations * QK_PEAK_CHAINS * 16 * 2;
}
#endif

#if defined(__aarch64__)
#if defined(__clang__)
__attribute__((target("dotprod")))
#endif
static uint64_t qk_peak_neondot(uint64_t iterations) {
    int32x4_t acc[QK_PEAK_CHAINS];
    for (int c = 0; c < QK_PEAK_CHAINS; c++) acc[c] = vdupq_n_s32(c);
    const int8x16_t a = vdupq_n_s8(3), b = vdupq_n_s8(-5);
    for (uint64_t i = 0; i < iterations; i++) {
        for (int c = 0; c < QK_PEAK_CHAINS; c++) acc[c] = vdotq_s32(acc[c], a, b);
        __asm__ volatile("" : "+w"(acc[0]), "+w"(acc[1]), "+w"(acc[2]), "+w"(acc[3]), "+w"(acc[4]),
                         "+w"(acc[5]), "+w"(acc[6]), "+w"(acc[7]), "+w"(acc[8]), "+w"(acc[9]),
                         "+w"(acc[10]), "+w"(acc[11]));
    }
    return iterations * QK_PEAK_CHAINS * 16 * 2;
}
#endif

static uint64_t qk_peak_scalar(uint64_t iterations) {
    volatile int32_t sink = 0;
    int32_t acc[QK_PEAK_CHAINS] = {0};
    for (uint64_t i = 0; i < iterations; i++) {
        for (int c = 0; c < QK_PEAK_CHAINS; c++) acc[c] += (int32_t)(i & 0x7F) * (c - 64);
    }
    for (int c = 0; c < QK_PEAK_CHAINS; c++) sink += acc[c];
    (void)sink;
    return iterations * QK_PEAK_CHAINS * 2;
}

uint64_t qk_peak_int8_ops(qk_isa isa, uint64_t iterations) {
    if (!qk_isa_supported(isa)) return 0;
#if defined(__x86_64__)
    if (qk_isa_has_int8_dot(isa)) return qk_peak_vnni(iterations);
    if (isa != QK_ISA_SCALAR) return qk_peak_avx2(iterations); /* avx2 and the AVX-512 sets without VNNI */
#endif
#if defined(__aarch64__)
    if (qk_isa_has_int8_dot(isa)) return qk_peak_neondot(iterations);
#endif
    return qk_peak_scalar(iterations);
}
