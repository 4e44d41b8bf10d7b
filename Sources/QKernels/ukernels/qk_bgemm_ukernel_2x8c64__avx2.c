/* qk_bgemm_ukernel_2x8c64__avx2 — AVX2 bgemm member (vpshufb nibble popcount + vpsadbw), 2 rows x
 * 8 columns (body: internal/qk_bgemm_avx2.h). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include "../internal/qk_bgemm_avx2.h"

__attribute__((target("avx2,fma")))
void qk_bgemm_ukernel_2x8c64__avx2(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    qk_bgemm_avx2(g, m0, n0, mr, nr);
}
#endif
