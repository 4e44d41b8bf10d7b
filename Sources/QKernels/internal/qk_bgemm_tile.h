/* qk_bgemm_tile.h — what every bgemm member shares: word access to the packed planes, the scalar
 * tile body (the reference member's loop) and the scalar tile finish (padding correction + the
 * qgemm epilogue). The formulas are in qk_bgemm.h; the layout is restated here:
 *   weights: word (g * kw + j) * 16 + plane * 8 + r   (group g = n / 8, row r = n % 8, plane 0 = mask)
 *   activations: a[m * lda + 2 * j + plane]. Private. */
#pragma once
#include <assert.h>
#include <stdint.h>
#include "qk_bgemm.h"
#include "qk_epilogue.h"

/** uint64 words per packed weight group and k-word (8 mask + 8 sign). */
#define QK_BGEMM_GROUP_WORDS (2 * QK_BGEMM_ROW_GROUP)

/** The first word of row n's group (its mask plane at k-word 0). */
static inline const uint64_t* qk_bgemm_group(const qk_bgemm_args* g, size_t n) {
    return g->w + n / QK_BGEMM_ROW_GROUP * g->kw * QK_BGEMM_GROUP_WORDS;
}

/** Pieces of an activation row (1 unless the rows are implicit). */
static inline size_t qk_bgemm_segs(const qk_bgemm_args* g) { return g->a_rows != NULL ? g->segs : 1; }
/** k-words per piece. */
static inline size_t qk_bgemm_seg_words(const qk_bgemm_args* g) {
    return g->a_rows != NULL ? g->seg_words : g->kw;
}
/** Activation row m (piece 0 starts at row + qk_bgemm_piece_offset(g, 0)). */
static inline const uint64_t* qk_bgemm_row(const qk_bgemm_args* g, size_t m) {
    return g->a_rows != NULL ? g->a + g->a_rows[m] : g->a + m * g->lda;
}
/** uint64 offset of piece s from its row. */
static inline size_t qk_bgemm_piece_offset(const qk_bgemm_args* g, size_t s) {
    return g->a_rows != NULL ? g->a_segs[s] : 0;
}
/** The first (mask, sign) pair of piece s of activation row m. */
static inline const uint64_t* qk_bgemm_piece(const qk_bgemm_args* g, size_t m, size_t s) {
    return qk_bgemm_row(g, m) + qk_bgemm_piece_offset(g, s);
}

/** Exact popcount of a 64-bit word (portable; the scalar member's only bit trick). */
static inline int32_t qk_bgemm_popcount64(uint64_t x) { return (int32_t)__builtin_popcountll(x); }

/** acc of one output (m, n), before correction (x = sa ^ sw, sums over the row's words):
 *    GENERAL:  popcount(ma & mw) - 2 * popcount(ma & mw & x)
 *    SIGN_ACT: nz[n] - 2 * popcount(mw & x)
 *    BINARY:   K - 2 * popcount(x)                                                      */
static inline int32_t qk_bgemm_dot_scalar(const qk_bgemm_args* g, size_t m, size_t n) {
    const uint64_t* w = qk_bgemm_group(g, n) + n % QK_BGEMM_ROW_GROUP;
    const size_t segs = qk_bgemm_segs(g), sw = qk_bgemm_seg_words(g);
    int32_t nonzero = 0, negative = 0;
    for (size_t s = 0; s < segs; s++) {
        for (size_t i = 0; i < sw; i++, w += QK_BGEMM_GROUP_WORDS) {
            const uint64_t* a = qk_bgemm_piece(g, m, s) + 2 * i;
            const uint64_t x = a[1] ^ w[QK_BGEMM_ROW_GROUP];
            if (g->path == QK_BGEMM_BINARY) {
                negative += qk_bgemm_popcount64(x);
            } else if (g->path == QK_BGEMM_SIGN_ACT) {
                negative += qk_bgemm_popcount64(w[0] & x);
            } else {
                const uint64_t t = a[0] & w[0];
                nonzero += qk_bgemm_popcount64(t);
                negative += qk_bgemm_popcount64(t & x);
            }
        }
    }
    const int32_t base = g->path == QK_BGEMM_BINARY ? (int32_t)g->K
                       : g->path == QK_BGEMM_SIGN_ACT ? g->w_nonzero[n] : nonzero;
    return base - 2 * negative;
}

/** Padding correction of a SIGN_ACT / BINARY row: corr[corr_row[m]][n] (0 without a table or for
 *  QK_BGEMM_NO_CORRECTION rows). */
static inline int32_t qk_bgemm_correction(const qk_bgemm_args* g, size_t m, size_t n) {
    if (g->path == QK_BGEMM_GENERAL || g->corr == NULL || g->corr_row[m] == QK_BGEMM_NO_CORRECTION) return 0;
    return g->corr[(size_t)g->corr_row[m] * g->N + n];
}

/** Finishes one output: correction, then the qgemm epilogue with acc' = acc. */
static inline void qk_bgemm_finish_scalar(const qk_bgemm_args* g, size_t m, size_t n, int32_t acc) {
    qk_qgemm_epilogue(&g->epi, m, n, acc - qk_bgemm_correction(g, m, n));
}

/** Finishes an mr x nr tile of accumulators acc[i * ld + j] at (m0, n0). */
static inline void qk_bgemm_finish_tile_scalar(const qk_bgemm_args* g, size_t m0, size_t n0,
                                               size_t mr, size_t nr, const int32_t* acc, size_t ld) {
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) qk_bgemm_finish_scalar(g, m0 + i, n0 + j, acc[i * ld + j]);
}

/** The scalar member: every output is qk_bgemm_dot_scalar, then the shared scalar finish (any mr:
 *  the driver passes row bands). */
static inline void qk_bgemm_scalar(const qk_bgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr) {
    assert(mr >= 1 && nr >= 1 && nr <= 8);
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++)
            qk_bgemm_finish_scalar(g, m0 + i, n0 + j, qk_bgemm_dot_scalar(g, m0 + i, n0 + j));
}
