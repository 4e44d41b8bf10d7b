/* qk_registry.c — the registries of micro-kernel members (the single source of truth for dispatch,
 * tests and benchmarks) and dispatch over them. */
#include "internal/qk_isa_internal.h"
#include "internal/qk_ukernels.h"
#include "qk_gemm.h"

#define QK_MEMBER(sym, MR, NR, KR, ISA, BITS) {#sym, sym, MR, NR, KR, ISA, BITS, QK_KIND_LUT}
#define QK_SHIFT_MEMBER(sym, MR, NR, KR, ISA, BITS) {#sym, sym, MR, NR, KR, ISA, BITS, QK_KIND_SHIFT}
#define QK_FGEMM_MEMBER(sym, MR, NR, KR, ISA) {#sym, sym, MR, NR, KR, ISA, 32}

const qk_qgemm_ukernel_desc qk_qgemm_ukernels[] = {
    QK_MEMBER(qk_lgemm_w1_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 1),
    QK_MEMBER(qk_lgemm_w2_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 2),
    QK_MEMBER(qk_lgemm_w3_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 3),
    QK_MEMBER(qk_lgemm_w4_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 4),
    QK_MEMBER(qk_qgemm_w8_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 8),
#if defined(__x86_64__)
    QK_MEMBER(qk_lgemm_w1_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 1),
    QK_MEMBER(qk_lgemm_w2_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 2),
    QK_MEMBER(qk_lgemm_w3_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 3),
    QK_MEMBER(qk_lgemm_w4_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 4),
    QK_MEMBER(qk_qgemm_w8_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 8),
    QK_MEMBER(qk_lgemm_w1_ukernel_8x32c32__avx512vnni, 8, 32, 32, QK_ISA_AVX512VNNI, 1),
    QK_MEMBER(qk_lgemm_w2_ukernel_8x32c32__avx512vnni, 8, 32, 32, QK_ISA_AVX512VNNI, 2),
    QK_MEMBER(qk_lgemm_w3_ukernel_8x32c32__avx512vnni, 8, 32, 32, QK_ISA_AVX512VNNI, 3),
    QK_MEMBER(qk_lgemm_w4_ukernel_8x32c32__avx512vnni, 8, 32, 32, QK_ISA_AVX512VNNI, 4),
    QK_MEMBER(qk_qgemm_w8_ukernel_8x32c32__avx512vnni, 8, 32, 32, QK_ISA_AVX512VNNI, 8),
#endif
#if defined(__aarch64__)
    QK_MEMBER(qk_lgemm_w1_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 1),
    QK_MEMBER(qk_lgemm_w2_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 2),
    QK_MEMBER(qk_lgemm_w3_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 3),
    QK_MEMBER(qk_lgemm_w4_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 4),
    QK_MEMBER(qk_qgemm_w8_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 8),
#endif
    /* sgemm: shift-add on shift-coded tables (scalar first) */
    QK_SHIFT_MEMBER(qk_sgemm_w2_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 2),
    QK_SHIFT_MEMBER(qk_sgemm_w3_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 3),
    QK_SHIFT_MEMBER(qk_sgemm_w4_ukernel_4x4c32__scalar, 4, 4, 32, QK_ISA_SCALAR, 4),
#if defined(__x86_64__)
    QK_SHIFT_MEMBER(qk_sgemm_w2_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 2),
    QK_SHIFT_MEMBER(qk_sgemm_w3_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 3),
    QK_SHIFT_MEMBER(qk_sgemm_w4_ukernel_2x16c32__avx2, 2, 16, 32, QK_ISA_AVX2, 4),
    QK_SHIFT_MEMBER(qk_sgemm_w2_ukernel_4x16c32__avx512vnni, 4, 16, 32, QK_ISA_AVX512VNNI, 2),
    QK_SHIFT_MEMBER(qk_sgemm_w3_ukernel_4x16c32__avx512vnni, 4, 16, 32, QK_ISA_AVX512VNNI, 3),
    QK_SHIFT_MEMBER(qk_sgemm_w4_ukernel_4x16c32__avx512vnni, 4, 16, 32, QK_ISA_AVX512VNNI, 4),
#endif
#if defined(__aarch64__)
    QK_SHIFT_MEMBER(qk_sgemm_w2_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 2),
    QK_SHIFT_MEMBER(qk_sgemm_w3_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 3),
    QK_SHIFT_MEMBER(qk_sgemm_w4_ukernel_4x16c32__neondot, 4, 16, 32, QK_ISA_NEONDOT, 4),
#endif
};
const size_t qk_qgemm_ukernel_count = sizeof(qk_qgemm_ukernels) / sizeof(qk_qgemm_ukernels[0]);

const qk_fgemm_ukernel_desc qk_fgemm_ukernels[] = {
    QK_FGEMM_MEMBER(qk_fgemm_ukernel_4x4c1__scalar, 4, 4, 1, QK_ISA_SCALAR),
#if defined(__x86_64__)
    QK_FGEMM_MEMBER(qk_fgemm_ukernel_2x4c8__avx2, 2, 4, 8, QK_ISA_AVX2),
#endif
#if defined(__x86_64__)
    /* AVX-512: 1.2-1.8x the AVX2 member at ResNet-18 shapes, one thread (docs/KERNELS.md) */
    QK_FGEMM_MEMBER(qk_fgemm_ukernel_4x4c16__avx512vnni, 4, 4, 16, QK_ISA_AVX512VNNI),
#endif
#if defined(__aarch64__)
    QK_FGEMM_MEMBER(qk_fgemm_ukernel_4x4c4__neon, 4, 4, 4, QK_ISA_NEONDOT),
#endif
};
const size_t qk_fgemm_ukernel_count = sizeof(qk_fgemm_ukernels) / sizeof(qk_fgemm_ukernels[0]);

const qk_qgemm_ukernel_desc* qk_qgemm_ukernel_at(size_t i) {
    return i < qk_qgemm_ukernel_count ? &qk_qgemm_ukernels[i] : NULL;
}

const qk_fgemm_ukernel_desc* qk_fgemm_ukernel_at(size_t i) {
    return i < qk_fgemm_ukernel_count ? &qk_fgemm_ukernels[i] : NULL;
}

const qk_qgemm_ukernel_desc* qk_qgemm_select(int bits, qk_isa isa) {
    return qk_qgemm_select_kind(bits, isa, QK_KIND_LUT);
}

const qk_qgemm_ukernel_desc* qk_qgemm_select_kind(int bits, qk_isa isa, qk_qgemm_kind kind) {
    const qk_qgemm_ukernel_desc* best = NULL;
    for (size_t i = 0; i < qk_qgemm_ukernel_count; i++) {
        const qk_qgemm_ukernel_desc* d = &qk_qgemm_ukernels[i];
        if (d->bits != bits || d->kind != kind || !qk_isa_within(d->isa, isa)) continue;
        if (best == NULL || qk_isa_rank(d->isa) > qk_isa_rank(best->isa)) best = d;
    }
    return best;
}

const qk_fgemm_ukernel_desc* qk_fgemm_select(qk_isa isa) {
    const qk_fgemm_ukernel_desc* best = NULL;
    for (size_t i = 0; i < qk_fgemm_ukernel_count; i++) {
        const qk_fgemm_ukernel_desc* d = &qk_fgemm_ukernels[i];
        if (!qk_isa_within(d->isa, isa)) continue;
        if (best == NULL || qk_isa_rank(d->isa) > qk_isa_rank(best->isa)) best = d;
    }
    return best;
}

int qk_lut_is_shift(const int8_t* lut, int bits) {
    if (lut == NULL || bits < 1 || bits > 4) return 0;
    for (int c = 0; c < (1 << bits); c++) {
        const int v = lut[c], m = v < 0 ? -v : v;
        if (v != 0 && (m & (m - 1)) != 0) return 0;  /* 0, +-1, +-2, ..., +-64, -128 */
    }
    return 1;
}

/* ---- bgemm family (qk_bgemm.h) ---- */
#define QK_BGEMM_MEMBER(sym, MR, NR, ISA) {#sym, sym, MR, NR, 64, ISA}

const qk_bgemm_ukernel_desc qk_bgemm_ukernels[] = {
    QK_BGEMM_MEMBER(qk_bgemm_ukernel_4x8c64__scalar, 4, 8, QK_ISA_SCALAR),
#if defined(__x86_64__)
    QK_BGEMM_MEMBER(qk_bgemm_ukernel_2x8c64__avx2, 2, 8, QK_ISA_AVX2),
    QK_BGEMM_MEMBER(qk_bgemm_ukernel_4x32c64__avx512vnni, 4, 32, QK_ISA_AVX512VNNI),
#endif
#if defined(__aarch64__)
    QK_BGEMM_MEMBER(qk_bgemm_ukernel_4x8c64__neon, 4, 8, QK_ISA_NEONDOT),
#endif
};
const size_t qk_bgemm_ukernel_count = sizeof(qk_bgemm_ukernels) / sizeof(qk_bgemm_ukernels[0]);

const qk_bgemm_ukernel_desc* qk_bgemm_ukernel_at(size_t i) {
    return i < qk_bgemm_ukernel_count ? &qk_bgemm_ukernels[i] : NULL;
}

const qk_bgemm_ukernel_desc* qk_bgemm_select(qk_isa isa) {
    const qk_bgemm_ukernel_desc* best = NULL;
    for (size_t i = 0; i < qk_bgemm_ukernel_count; i++) {
        const qk_bgemm_ukernel_desc* d = &qk_bgemm_ukernels[i];
        if (!qk_isa_within(d->isa, isa)) continue;
        if (best == NULL || qk_isa_rank(d->isa) > qk_isa_rank(best->isa)) best = d;
    }
    return best;
}
