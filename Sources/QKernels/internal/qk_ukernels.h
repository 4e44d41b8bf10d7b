/* qk_ukernels.h — prototypes of every micro-kernel member (one file each, file = symbol).
 * Register a new member here and in qk_registry.c. Private. */
#pragma once
#include "qk_gemm.h"

#define QK_DECLARE_QGEMM(name) \
    void name(const qk_qgemm_args* args, size_t m0, size_t n0, size_t mr, size_t nr)
#define QK_DECLARE_FGEMM(name) \
    void name(const qk_fgemm_args* args, size_t m0, size_t n0, size_t mr, size_t nr)

/* scalar (every architecture) */
QK_DECLARE_QGEMM(qk_lgemm_w1_ukernel_4x4c32__scalar);
QK_DECLARE_QGEMM(qk_lgemm_w2_ukernel_4x4c32__scalar);
QK_DECLARE_QGEMM(qk_lgemm_w3_ukernel_4x4c32__scalar);
QK_DECLARE_QGEMM(qk_lgemm_w4_ukernel_4x4c32__scalar);
QK_DECLARE_QGEMM(qk_qgemm_w8_ukernel_4x4c32__scalar);
QK_DECLARE_FGEMM(qk_fgemm_ukernel_4x4c1__scalar);
QK_DECLARE_QGEMM(qk_sgemm_w4_ukernel_4x4c32__scalar);

#if defined(__x86_64__)
QK_DECLARE_QGEMM(qk_lgemm_w1_ukernel_2x16c32__avx2);
QK_DECLARE_QGEMM(qk_lgemm_w2_ukernel_2x16c32__avx2);
QK_DECLARE_QGEMM(qk_lgemm_w3_ukernel_2x16c32__avx2);
QK_DECLARE_QGEMM(qk_lgemm_w4_ukernel_2x16c32__avx2);
QK_DECLARE_QGEMM(qk_qgemm_w8_ukernel_2x16c32__avx2);
QK_DECLARE_QGEMM(qk_lgemm_w1_ukernel_8x32c32__avx512vnni);
QK_DECLARE_QGEMM(qk_lgemm_w2_ukernel_8x32c32__avx512vnni);
QK_DECLARE_QGEMM(qk_lgemm_w3_ukernel_8x32c32__avx512vnni);
QK_DECLARE_QGEMM(qk_lgemm_w4_ukernel_8x32c32__avx512vnni);
QK_DECLARE_QGEMM(qk_qgemm_w8_ukernel_8x32c32__avx512vnni);
QK_DECLARE_FGEMM(qk_fgemm_ukernel_2x4c8__avx2);
QK_DECLARE_QGEMM(qk_sgemm_w4_ukernel_4x16c32__avx512vnni);
#endif

#if defined(__aarch64__)
QK_DECLARE_QGEMM(qk_lgemm_w1_ukernel_4x16c32__neondot);
QK_DECLARE_QGEMM(qk_lgemm_w2_ukernel_4x16c32__neondot);
QK_DECLARE_QGEMM(qk_lgemm_w3_ukernel_4x16c32__neondot);
QK_DECLARE_QGEMM(qk_lgemm_w4_ukernel_4x16c32__neondot);
QK_DECLARE_QGEMM(qk_qgemm_w8_ukernel_4x16c32__neondot);
QK_DECLARE_FGEMM(qk_fgemm_ukernel_4x4c4__neon);
#endif

/* ---- bgemm family (qk_bgemm.h) ---- */
#include "qk_bgemm.h"
#define QK_DECLARE_BGEMM(name) \
    void name(const qk_bgemm_args* args, size_t m0, size_t n0, size_t mr, size_t nr)
QK_DECLARE_BGEMM(qk_bgemm_ukernel_4x8c64__scalar);
#if defined(__x86_64__)
QK_DECLARE_BGEMM(qk_bgemm_ukernel_2x8c64__avx2);
QK_DECLARE_BGEMM(qk_bgemm_ukernel_4x16c64__avx512vnni);
#endif
#if defined(__aarch64__)
QK_DECLARE_BGEMM(qk_bgemm_ukernel_4x8c64__neon);
#endif
