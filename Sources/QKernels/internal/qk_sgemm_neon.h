/* qk_sgemm_neon.h — the body of the NEON shift-add members: 4 rows x 16 columns (one row group)
 * per call, no multiplications. The same design as the x86 bodies with int16 terms: a packed
 * sub-step register (4 channels x 4 k, the tbl decoder of the table-lookup members) gives per-lane
 * shift counts (-16 for a zero weight: sshl by -16 is a right shift to 0 for a >= 0) and sign
 * bytes, widened to two int16 halves (channels 4q, 4q+1 | 4q+2, 4q+3); per row the 4 activations
 * are repeated over 8 int16 lanes (and negated once), and per half
 *     acc += pairwise (negative ? -a : a) << count      bsl + sshl + sadalp  (|term| <= 255*128)
 * into int32 lanes (channel, k pair), folded to one lane per channel (addp) after the K loop. The
 * two halves of the row group (channels 0-7, 8-15) run one after the other over the whole K, so
 * the 4 rows x 8 channels x 2 k-pair accumulators fit 16 registers beside their operands. Uses only base Advanced SIMD (ISA neon: no
 * dot product, so it also runs on cores without FEAT_DotProd). Private. */
#pragma once
#if defined(__aarch64__)
#include <assert.h>
#include "qk_neon_common.h"
#include "qk_qgemm_rows.h"
#include "qk_shift.h"

#define QK_SGEMM_NEON_MR 4
#define QK_SGEMM_NEON_NR QK_ROW_GROUP

/* The member body: rows [m0, m0+mr) (mr <= 4; missing rows repeat the last, results dropped),
 * columns [n0, n0+nr), nr <= 16, n0 a multiple of 16. A past K is zero (the last partial block of
 * each row is copied into a zeroed buffer); the table must be shift-coded (qk_lut_is_shift). */
QK_NEON_BASE_INLINE void qk_sgemm_tile_neon_rows(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr,
                                               size_t nr, int bits, int implicit) {
    assert(mr >= 1 && mr <= QK_SGEMM_NEON_MR && nr >= 1 && nr <= QK_SGEMM_NEON_NR &&
           n0 % QK_ROW_GROUP == 0 && g->bits == bits);
    int8_t counts[16], negative[16];
    qk_shift_operands(g->lut, bits, -16, counts, negative);
    const int8x16_t count_tbl = vld1q_s8(counts), sign_tbl = vld1q_s8(negative);
    const uint8_t* a[QK_SGEMM_NEON_MR];
    for (size_t i = 0; i < QK_SGEMM_NEON_MR; i++) a[i] = qk_qgemm_row_as(g, m0 + (i < mr ? i : mr - 1), implicit);
    const uint8_t* w = g->w + n0 / QK_ROW_GROUP * g->w_group_stride;
    const size_t K = g->K, K_full = K / 32 * 32;
    uint8_t tail[QK_SGEMM_NEON_MR][32];
    if (K_full < K) {
        for (int i = 0; i < QK_SGEMM_NEON_MR; i++) {
            memset(tail[i], 0, 32);
            memcpy(tail[i], a[i] + K_full, K - K_full);
        }
    }
    int32_t sums[QK_SGEMM_NEON_MR][16];
    for (int h = 0; h < 2 && 8 * (size_t)h < nr; h++) {
        /* row, half of quarter 2h + r (channels 8h + 4r + 2x, +1), k pairs: sadalp accumulators */
        int32x4_t acc[QK_SGEMM_NEON_MR][2][2];
        for (int i = 0; i < QK_SGEMM_NEON_MR; i++)
            for (int r = 0; r < 2; r++) acc[i][r][0] = acc[i][r][1] = vdupq_n_s32(0);
        qk_qgemm_kwalk kwalk = qk_qgemm_kwalk_start(g);
        for (size_t kb = 0; kb < K; kb += 32, implicit ? qk_qgemm_kwalk_next(g, &kwalk) : (void)0) {
            const uint8_t* blk = w + kb / 32 * QK_GROUP_BLOCK_BYTES(bits);
            for (int s = 0; s < 8; s++) {
                int16x8_t a16[QK_SGEMM_NEON_MR], na16[QK_SGEMM_NEON_MR];
                for (int i = 0; i < QK_SGEMM_NEON_MR; i++) {
                    uint32_t a4;
                    memcpy(&a4, (kb < K_full ? a[i] + (implicit ? kwalk.off : kb) : tail[i]) + 4 * s, 4);
                    a16[i] = vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(a4))));
                    na16[i] = vnegq_s16(a16[i]);
                }
                for (int r = 0; r < 2; r++) {
                    const int8x16_t count8 = qk_neon_substep(blk, s, 2 * h + r, bits, count_tbl);
                    const int8x16_t sign8 = qk_neon_substep(blk, s, 2 * h + r, bits, sign_tbl);
                    const int16x8_t count_lo = vmovl_s8(vget_low_s8(count8)), count_hi = vmovl_high_s8(count8);
                    const uint16x8_t neg_lo = vreinterpretq_u16_s16(vmovl_s8(vget_low_s8(sign8)));
                    const uint16x8_t neg_hi = vreinterpretq_u16_s16(vmovl_high_s8(sign8));
                    for (int i = 0; i < QK_SGEMM_NEON_MR; i++) {
                        acc[i][r][0] = vpadalq_s16(acc[i][r][0], vshlq_s16(vbslq_s16(neg_lo, na16[i], a16[i]), count_lo));
                        acc[i][r][1] = vpadalq_s16(acc[i][r][1], vshlq_s16(vbslq_s16(neg_hi, na16[i], a16[i]), count_hi));
                    }
                }
            }
        }
        /* Spill the channel sums once with constant indices (see the table-lookup body). */
        for (int i = 0; i < QK_SGEMM_NEON_MR; i++)
            for (int r = 0; r < 2; r++)
                vst1q_s32(&sums[i][8 * h + 4 * r], vpaddq_s32(acc[i][r][0], acc[i][r][1]));
    }
    qk_neon_finish_tile(g, sums, m0, n0, mr, nr, -g->a_zero);   /* acc' = acc - za * colsum */
}

/* The member body: implicit conv rows (qk_qgemm_rows.h) compiled apart, so plain rows run the loop they
 * always did. */
QK_NEON_BASE_INLINE void qk_sgemm_tile_neon(const qk_qgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr, int bits) {
    if (g->a_width != 0) qk_sgemm_tile_neon_rows(g, m0, n0, mr, nr, bits, 1);
    else qk_sgemm_tile_neon_rows(g, m0, n0, mr, nr, bits, 0);
}

#endif /* __aarch64__ */
