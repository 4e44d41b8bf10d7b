/* qk_lgemm_w2_ukernel_4x4c32__scalar — 2-bit codes through the per-layer LUT, u8 activations,
 * 4x4 output tile, K in packed blocks of 32; portable C reference member. */
#include "../internal/qk_qgemm_scalar.h"
#include "../internal/qk_ukernels.h"

void qk_lgemm_w2_ukernel_4x4c32__scalar(const qk_qgemm_args* args, size_t m0, size_t n0,
                                        size_t mr, size_t nr) {
    qk_qgemm_scalar_tile(args, m0, n0, mr, nr, 2);
}
