/* qk_bsgemm_neon.h — the body of the NEON bsgemm members (ISA neondot: `cnt` counts bits per byte,
 * `udot` weights and sums the byte counts): up to 4 rows x 8 columns (one packed row group = four q
 * registers of 2 channels x 64 k per weight plane) per call. An activation plane word is duplicated
 * into both lanes; per plane pair
 *     acc[r][q] = udot(acc[r][q], cnt(Wplane_i[q] AND Aplane_j[r]), dup(2^(i+j)))
 * (udot multiplies each byte count by the pair's power of two and adds 4 bytes into a 32-bit lane:
 * three instructions per 128 positions and pair, one accumulator whatever the widths; at most
 * 8 * 4 * 4 = 128 per lane and word). Lanes (0,1) of acc[r][q] hold channel 2q, lanes (2,3) channel
 * 2q + 1; vpaddq folds them after the K loop. Then acc = w_mul * S + w_offset * T and the qgemm
 * epilogue, 4 columns at a time in float32x4 lanes (qk_neon_epilogue4), a partial group and int32
 * output through the scalar code. 16 accumulators, 4 * wb weight registers, ab activation registers
 * and 3 weight vectors fit the 32 q registers. Private. */
#pragma once
#if defined(__aarch64__)
#include "qk_neon_common.h"
#include "qk_ukernels.h"
#if !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod") /* GCC checks intrinsics' targets per translation unit */
#endif
#include <arm_neon.h>
#include "qk_bsgemm_tile.h"

#define QK_BSGEMM_NEON_INLINE static inline __attribute__((always_inline, target(QK_TARGET_NEONDOT)))
#define QK_BSGEMM_NEON_MR 4

QK_BSGEMM_NEON_INLINE void qk_bsgemm_neon_tile(const qk_bsgemm_args* g, size_t m0, size_t n0, size_t nr, int ROWS,
                                               int WB, int AB) {
    const size_t group_words = (size_t)WB * QK_BSGEMM_ROW_GROUP;
    const uint64_t* w = qk_bsgemm_group(g, n0, WB);
    const uint8x16_t power[3] = {vdupq_n_u8(1), vdupq_n_u8(2), vdupq_n_u8(4)};
    uint32x4_t acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_u32(0);
    const uint64_t* rows[4];
    for (int r = 0; r < ROWS; r++) rows[r] = qk_bsgemm_row(g, m0 + (size_t)r);
    const size_t segs = qk_bsgemm_segs(g), sw = qk_bsgemm_seg_words(g);
    for (size_t s = 0, j = 0; s < segs; s++) {
        const size_t off = qk_bsgemm_piece_offset(g, s);
        for (size_t k = 0; k < sw; k++, j++) {
            uint8x16_t wv[2][4];
            for (int i = 0; i < WB; i++)
                for (int q = 0; q < 4; q++)
                    wv[i][q] = vreinterpretq_u8_u64(vld1q_u64(w + j * group_words + (size_t)i * QK_BSGEMM_ROW_GROUP + 2 * (size_t)q));
            for (int r = 0; r < ROWS; r++) {
                const uint64_t* a = rows[r] + off + k * (size_t)AB;
                uint8x16_t av[2];
                for (int jj = 0; jj < AB; jj++) av[jj] = vreinterpretq_u8_u64(vdupq_n_u64(a[jj]));
                for (int q = 0; q < 4; q++)
                    for (int i = 0; i < WB; i++)
                        for (int jj = 0; jj < AB; jj++)
                            acc[r][q] = vdotq_u32(acc[r][q], vcntq_u8(vandq_u8(wv[i][q], av[jj])), power[i + jj]);
            }
        }
    }
    int32_t t[4];
    qk_bsgemm_act_sums(g, m0, ROWS, AB, t);
    const qk_epilogue* e = &g->epi;
    for (int r = 0; r < ROWS; r++) {
        const size_t m = m0 + (size_t)r;
        const int32x4_t tv = vdupq_n_s32(g->w_offset * t[r]);
        int32x4_t half[2];
        for (int h = 0; h < 2; h++) {
            const int32x4_t s4 = vreinterpretq_s32_u32(vpaddq_u32(acc[r][2 * h], acc[r][2 * h + 1]));
            half[h] = vaddq_s32(vmulq_n_s32(s4, g->w_mul), tv);
        }
        for (int h = 0; h < 2 && 4 * (size_t)h < nr; h++) {
            const size_t c = 4 * (size_t)h;
            if (nr - c >= 4 && e->output_kind != QK_OUTPUT_I32) {
                qk_neon_epilogue4(e, m, n0 + c, half[h]);
            } else {
                int32_t v[4];
                vst1q_s32(v, half[h]);
                for (size_t x = 0; x < 4 && c + x < nr; x++) qk_qgemm_epilogue(e, m, n0 + c + x, v[x]);
            }
        }
    }
}

/* The member body for wb x ab (constants in each member file): rows [m0, m0 + mr) four at a time
 * (mr may exceed MR: the driver passes row bands). */
QK_BSGEMM_NEON_INLINE void qk_bsgemm_neon(const qk_bsgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr,
                                          int wb, int ab) {
    assert(mr >= 1 && nr >= 1 && nr <= 8 && g->wbits == wb && g->abits == ab);
    for (; mr >= 4; mr -= 4, m0 += 4) qk_bsgemm_neon_tile(g, m0, n0, nr, 4, wb, ab);
    switch (mr) {
    case 0: break;
    case 1: qk_bsgemm_neon_tile(g, m0, n0, nr, 1, wb, ab); break;
    case 2: qk_bsgemm_neon_tile(g, m0, n0, nr, 2, wb, ab); break;
    default: qk_bsgemm_neon_tile(g, m0, n0, nr, 3, wb, ab); break;
    }
}
#endif
