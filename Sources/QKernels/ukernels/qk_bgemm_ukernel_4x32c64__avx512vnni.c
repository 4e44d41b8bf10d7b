/* qk_bgemm_ukernel_4x32c64__avx512vnni — AVX-512 VPOPCNTDQ bgemm member, 4 rows x 32 columns
 * (body: internal/qk_bgemm_avx512.h). Registered at the avx512vnni level, whose detection includes
 * VPOPCNTDQ (qk_isa.h). */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include "../internal/qk_bgemm_avx512.h"

__attribute__((target(QK_BGEMM_AVX512_TARGET)))
void qk_bgemm_ukernel_4x32c64__avx512vnni(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                          size_t nr) {
    qk_bgemm_avx512(g, m0, n0, mr, nr);
}
#endif
