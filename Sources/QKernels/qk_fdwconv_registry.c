/* qk_fdwconv_registry.c — the fdwconv registry (the single source of truth for its dispatch, tests
 * and benchmarks) and dispatch over it. */
#include "internal/qk_fdwconv_ukernels.h"
#include "internal/qk_isa_internal.h"
#include "qk_fdwconv.h"

#define QK_FDWCONV_MEMBER(sym, PIXELS, CHANNELS, LANES, ISA) {#sym, sym, PIXELS, CHANNELS, LANES, ISA}

const qk_fdwconv_ukernel_desc qk_fdwconv_ukernels[] = {
    QK_FDWCONV_MEMBER(qk_fdwconv_ukernel_1x1__scalar, 1, 1, 1, QK_ISA_SCALAR),
#if defined(__x86_64__)
    QK_FDWCONV_MEMBER(qk_fdwconv_ukernel_1x8__avx2, 1, 8, 8, QK_ISA_AVX2),
    QK_FDWCONV_MEMBER(qk_fdwconv_ukernel_1x32__avx512vnni, 1, 32, 16, QK_ISA_AVX512VNNI),
#endif
#if defined(__aarch64__)
    QK_FDWCONV_MEMBER(qk_fdwconv_ukernel_1x8__neon, 1, 8, 4, QK_ISA_NEONDOT),
#endif
};
const size_t qk_fdwconv_ukernel_count = sizeof(qk_fdwconv_ukernels) / sizeof(qk_fdwconv_ukernels[0]);

const qk_fdwconv_ukernel_desc* qk_fdwconv_ukernel_at(size_t i) {
    return i < qk_fdwconv_ukernel_count ? &qk_fdwconv_ukernels[i] : NULL;
}

const qk_fdwconv_ukernel_desc* qk_fdwconv_select(qk_isa isa) {
    const qk_fdwconv_ukernel_desc* best = NULL;
    for (size_t i = 0; i < qk_fdwconv_ukernel_count; i++) {
        const qk_fdwconv_ukernel_desc* d = &qk_fdwconv_ukernels[i];
        if (!qk_isa_within(d->isa, isa)) continue;
        if (best == NULL || qk_isa_rank(d->isa) > qk_isa_rank(best->isa)) best = d;
    }
    return best;
}

const qk_fdwconv_ukernel_desc* qk_fdwconv_select_for(qk_isa isa, int32_t channels) {
    const qk_fdwconv_ukernel_desc* best = NULL;
    for (size_t i = 0; i < qk_fdwconv_ukernel_count; i++) {
        const qk_fdwconv_ukernel_desc* d = &qk_fdwconv_ukernels[i];
        if (d->isa == QK_ISA_SCALAR || !qk_isa_within(d->isa, isa) || channels % d->lanes != 0) continue;
        if (best == NULL || qk_isa_rank(d->isa) > qk_isa_rank(best->isa)) best = d;
    }
    return best != NULL ? best : qk_fdwconv_select(isa);
}
