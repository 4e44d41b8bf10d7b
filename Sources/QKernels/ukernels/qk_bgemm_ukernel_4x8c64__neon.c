/* qk_bgemm_ukernel_4x8c64__neon — NEON `cnt` + `udot` bgemm member, 4 rows x 8 columns (body:
 * internal/qk_bgemm_neon.h). Registered under the neondot ISA (the aarch64 dispatch level, which
 * guarantees the dot product instructions it sums bytes with). */
#include "../internal/qk_ukernels.h"
#if defined(__aarch64__)
#include "../internal/qk_bgemm_neon.h"

__attribute__((target(QK_BGEMM_NEON_TARGET)))
void qk_bgemm_ukernel_4x8c64__neon(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    qk_bgemm_neon(g, m0, n0, mr, nr);
}
#endif
