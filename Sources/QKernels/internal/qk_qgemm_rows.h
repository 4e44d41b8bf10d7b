/* qk_qgemm_rows.h — where a qgemm member finds activation row m and its K block at kb: plain rows
 * (a + m * lda + kb) or implicit conv rows (qk_qgemm_args.a_width > 0: the image is read in place,
 * no im2col). Every qgemm body reads A through these two. Private. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_gemm.h"

/** The first byte of activation row m, `implicit` saying which layout (a constant in the SIMD bodies, which
 *  compile plain and implicit rows apart: the implicit form's divisions cost short-K tiles several percent). */
static inline __attribute__((always_inline)) const uint8_t* qk_qgemm_row_as(const qk_qgemm_args* g, size_t m, int implicit) {
    if (!implicit) return g->a + m * g->lda;
    return g->a + m / g->a_width * g->a_row_step + m % g->a_width * g->a_col_step;
}

/** The first byte of activation row m, either layout. */
static inline const uint8_t* qk_qgemm_row(const qk_qgemm_args* g, size_t m) {
    return qk_qgemm_row_as(g, m, g->a_width != 0);
}

/** Offset from a row's first byte of its bytes [kb, kb + 32) (kb a multiple of 32): contiguous in both
 *  layouts, since implicit runs are whole multiples of 32 bytes. */
static inline __attribute__((always_inline)) size_t qk_qgemm_k_offset(const qk_qgemm_args* g, size_t kb) {
    const size_t run = g->a_width != 0 ? g->a_seg_len : SIZE_MAX;
    return kb / run * g->a_seg_step + kb % run;
}

/** Activation k of row m (the scalar members' reference read). */
static inline uint8_t qk_qgemm_a(const qk_qgemm_args* g, size_t m, size_t k) {
    return qk_qgemm_row(g, m)[qk_qgemm_k_offset(g, k / 32 * 32) + k % 32];
}

/** A walk over a row's K blocks in order without divisions: `off` is qk_qgemm_k_offset of the current
 *  block; qk_qgemm_kwalk_next moves it 32 bytes on (plain rows never reach the end of a run). */
typedef struct { size_t off, left; } qk_qgemm_kwalk;

static inline __attribute__((always_inline)) qk_qgemm_kwalk qk_qgemm_kwalk_start(const qk_qgemm_args* g) {
    qk_qgemm_kwalk w = {0, g->a_width != 0 ? g->a_seg_len : SIZE_MAX};
    return w;
}

static inline __attribute__((always_inline)) void qk_qgemm_kwalk_next(const qk_qgemm_args* g, qk_qgemm_kwalk* w) {
    w->off += 32;
    w->left -= 32;
    if (w->left == 0) {
        w->off += g->a_seg_step - g->a_seg_len;
        w->left = g->a_seg_len;
    }
}
