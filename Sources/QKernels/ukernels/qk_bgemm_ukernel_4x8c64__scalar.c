/* qk_bgemm_ukernel_4x8c64__scalar — the reference bgemm member (portable C): every output is
 * qk_bgemm_dot_scalar (popcount formulas of qk_bgemm.h) followed by the shared scalar epilogue. */
#include "../internal/qk_bgemm_tile.h"
#include "../internal/qk_ukernels.h"

void qk_bgemm_ukernel_4x8c64__scalar(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr,
                                     size_t nr) {
    assert(mr >= 1 && nr >= 1 && nr <= 8); /* any mr: the driver passes row bands */
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++)
            qk_bgemm_finish_scalar(g, m0 + i, n0 + j, qk_bgemm_dot_scalar(g, m0 + i, n0 + j));
}
