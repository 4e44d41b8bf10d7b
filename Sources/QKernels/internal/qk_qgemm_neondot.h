/* qk_qgemm_neondot.h — the body of the NEON dot-product qgemm members (aarch64 + FEAT_DotProd, e.g.
 * Cortex-A76/A78/X1/A55): 4 rows x 16 columns (one row group) per call. A packed sub-step (16
 * channels x 4 k, qk_pack.h) is four registers of 4 channels x 4 k, and `sdot` by lane multiplies
 * each with 4 activations picked from a register holding 16 k of the row.
 * sdot multiplies s8 x s8 only, so activations enter as a - 128 (an eor with 0x80) and the
 * epilogue adds 128 * colsum[n] back: acc' = sum (a - 128) w + (128 - za) colsum[n], exact in
 * int32. Codes are expanded with tbl (vqtbl1q_s8) from the per-layer table. The epilogue uses
 * fmaxnm/fminnm (NaN behaves as fmaxf/fminf) and fcvtns (round half to even). Private. */
#pragma once
#if defined(__aarch64__)
#include "qk_neon_common.h"
#include "qk_ukernels.h"
#if !defined(__clang__)
/* GCC checks intrinsics' targets per translation unit and accepts only a full arch string here:
 * enable dotprod for the member files (they run only after dispatch has seen HWCAP_ASIMDDP). */
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#include <arm_neon.h>
#include <assert.h>
#include <string.h>
#include "qk_decode.h"
#include "qk_qgemm_rows.h"
#include "qk_epilogue.h"

#define QK_NEONDOT_MR 4
#define QK_NEONDOT_NR QK_ROW_GROUP
#define QK_NEONDOT_TARGET QK_TARGET_NEONDOT
#define QK_NEON_INLINE static inline __attribute__((always_inline, target(QK_NEONDOT_TARGET)))

/* acc += w . (the 4 activations of lane `lane` of a): sdot by lane needs a constant lane. */
#define QK_NEON_DOT_LANE(acc, w, a, lane)                                   \
    do {                                                                    \
        switch (lane) {                                                     \
        case 0: (acc) = vdotq_laneq_s32((acc), (w), (a), 0); break;         \
        case 1: (acc) = vdotq_laneq_s32((acc), (w), (a), 1); break;         \
        case 2: (acc) = vdotq_laneq_s32((acc), (w), (a), 2); break;         \
        default: (acc) = vdotq_laneq_s32((acc), (w), (a), 3); break;        \
        }                                                                   \
    } while (0)


/* Sub-steps 4*half .. 4*half+3 of a block: 16 k of each row (as a - 128) against 4 sub-steps of
 * weights. `half` is a constant at both call sites, so everything unrolls into registers. */
QK_NEON_INLINE void qk_neon_half(int32x4_t acc[QK_NEONDOT_MR][4], const uint8_t* const p[QK_NEONDOT_MR],
                                 const uint8_t* blk, int half, int bits, int8x16_t lut) {
    const uint8x16_t bias = vdupq_n_u8(0x80);
    int8x16_t av[QK_NEONDOT_MR];
    for (int i = 0; i < QK_NEONDOT_MR; i++) av[i] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(p[i] + 16 * half), bias));
    for (int t = 0; t < 4; t++) {
        for (int q = 0; q < 4; q++) {
            const int8x16_t wq = qk_neon_substep(blk, 4 * half + t, q, bits, lut);
            for (int i = 0; i < QK_NEONDOT_MR; i++) QK_NEON_DOT_LANE(acc[i][q], wq, av[i], t);
        }
    }
}


/* The member body: rows [m0, m0+mr) (mr <= 4; missing rows repeat the last, results dropped),
 * columns [n0, n0+nr), nr <= 16, n0 a multiple of 16. Activations enter as a - 128 (s8); past K
 * they must contribute 0, so the last partial block of each row is copied into a buffer of 128s. */
QK_NEON_INLINE void qk_qgemm_tile_neondot_rows(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                               size_t nr, int bits, int implicit) {
    assert(mr >= 1 && mr <= QK_NEONDOT_MR && nr >= 1 && nr <= QK_NEONDOT_NR && n0 % QK_ROW_GROUP == 0);
    const int8x16_t lut = g->lut == NULL ? vdupq_n_s8(0) : vld1q_s8(g->lut);
    const uint8_t* a[QK_NEONDOT_MR];
    for (size_t i = 0; i < QK_NEONDOT_MR; i++) a[i] = qk_qgemm_row_as(g, m0 + (i < mr ? i : mr - 1), implicit);
    const uint8_t* w = g->w + n0 / QK_ROW_GROUP * g->w_group_stride;
    int32x4_t acc[QK_NEONDOT_MR][4];
    for (int i = 0; i < QK_NEONDOT_MR; i++)
        for (int q = 0; q < 4; q++) acc[i][q] = vdupq_n_s32(0);
    const size_t K = g->K, K_full = K / 32 * 32;
    uint8_t tail[QK_NEONDOT_MR][32];
    if (K_full < K) {
        for (int i = 0; i < QK_NEONDOT_MR; i++) {
            memset(tail[i], 0x80, 32);
            memcpy(tail[i], a[i] + K_full, K - K_full);
        }
    }
    qk_qgemm_kwalk kwalk = qk_qgemm_kwalk_start(g);
    for (size_t kb = 0; kb < K; kb += 32, implicit ? qk_qgemm_kwalk_next(g, &kwalk) : (void)0) {
        const uint8_t* blk = w + kb / 32 * QK_GROUP_BLOCK_BYTES(bits);
        const uint8_t* p[QK_NEONDOT_MR];
        for (int i = 0; i < QK_NEONDOT_MR; i++) p[i] = kb < K_full ? a[i] + (implicit ? kwalk.off : kb) : tail[i];
        qk_neon_half(acc, p, blk, 0, bits, lut);
        qk_neon_half(acc, p, blk, 1, bits, lut);
    }
    /* Spill the sums once with constant indices: the epilogue below indexes them at run time, and an
     * accumulator array indexed that way would live in memory for the whole loop. */
    int32_t sums[QK_NEONDOT_MR][16];
    for (int i = 0; i < QK_NEONDOT_MR; i++)
        for (int q = 0; q < 4; q++) vst1q_s32(&sums[i][4 * q], acc[i][q]);
    /* acc' = S + (128 - za) * colsum */
    qk_neon_finish_tile(g, sums, m0, n0, mr, nr, 128 - g->a_zero);
}

/* The member body: implicit conv rows (qk_qgemm_rows.h) compiled apart, so plain rows run the loop they
 * always did. */
QK_NEON_INLINE void qk_qgemm_tile_neondot(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr, int bits) {
    if (g->a_width != 0) qk_qgemm_tile_neondot_rows(g, m0, n0, mr, nr, bits, 1);
    else qk_qgemm_tile_neondot_rows(g, m0, n0, mr, nr, bits, 0);
}

#endif /* __aarch64__ */
