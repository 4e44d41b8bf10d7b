/* qk_dwconv_registry.c — the dwconv3x3 registry (the single source of truth for its dispatch, tests
 * and benchmarks) and dispatch over it. */
#include "internal/qk_dwconv_ukernels.h"
#include "internal/qk_isa_internal.h"
#include "qk_dwconv.h"

#define QK_DWCONV_MEMBER(sym, PIXELS, CHANNELS, ISA) {#sym, sym, PIXELS, CHANNELS, ISA}

const qk_dwconv_ukernel_desc qk_dwconv_ukernels[] = {
    QK_DWCONV_MEMBER(qk_dwconv3x3_ukernel_1x1__scalar, 1, 1, QK_ISA_SCALAR),
#if defined(__x86_64__)
    QK_DWCONV_MEMBER(qk_dwconv3x3_ukernel_1x16__avx2, 1, 16, QK_ISA_AVX2),
    QK_DWCONV_MEMBER(qk_dwconv3x3_ukernel_1x32__avx512vnni, 1, 32, QK_ISA_AVX512VNNI),
#endif
#if defined(__aarch64__)
    QK_DWCONV_MEMBER(qk_dwconv3x3_ukernel_1x16__neondot, 1, 16, QK_ISA_NEONDOT),
#endif
};
const size_t qk_dwconv_ukernel_count = sizeof(qk_dwconv_ukernels) / sizeof(qk_dwconv_ukernels[0]);

const qk_dwconv_ukernel_desc* qk_dwconv_ukernel_at(size_t i) {
    return i < qk_dwconv_ukernel_count ? &qk_dwconv_ukernels[i] : NULL;
}

const qk_dwconv_ukernel_desc* qk_dwconv_select(qk_isa isa) {
    const qk_dwconv_ukernel_desc* best = NULL;
    for (size_t i = 0; i < qk_dwconv_ukernel_count; i++) {
        const qk_dwconv_ukernel_desc* d = &qk_dwconv_ukernels[i];
        if (!qk_isa_within(d->isa, isa)) continue;
        if (best == NULL || qk_isa_rank(d->isa) > qk_isa_rank(best->isa)) best = d;
    }
    return best;
}
