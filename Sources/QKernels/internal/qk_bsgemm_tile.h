/* qk_bsgemm_tile.h — what every bsgemm member shares: word access to the packed planes, the per-row
 * activation sum T, the scalar dot product S (the reference member's loop), the scalar member and
 * its finish (acc = w_mul * S + w_offset * T, then the qgemm epilogue). The formulas are in
 * qk_bsgemm.h; the layout is restated here:
 *   weights: word ((g * kw + j) * wb + i) * 8 + r   (group g = n / 8, row r = n % 8, plane i)
 *   activations: plane p of word w of a piece at piece + ab * w + p. Private. */
#pragma once
#include <assert.h>
#include <stdint.h>
#include "qk_bsgemm.h"
#include "qk_epilogue.h"

/** The first word of row n's group (plane 0 at k-word 0). */
static inline const uint64_t* qk_bsgemm_group(const qk_bsgemm_args* g, size_t n, int wb) {
    return g->w + n / QK_BSGEMM_ROW_GROUP * g->kw * (size_t)wb * QK_BSGEMM_ROW_GROUP;
}

/** Pieces of an activation row (1 without a_segs). */
static inline size_t qk_bsgemm_segs(const qk_bsgemm_args* g) { return g->a_segs != NULL ? g->segs : 1; }
/** k-words per piece. */
static inline size_t qk_bsgemm_seg_words(const qk_bsgemm_args* g) {
    return g->a_segs != NULL ? g->seg_words : g->kw;
}
/** uint64 offset of piece s from its row. */
static inline size_t qk_bsgemm_piece_offset(const qk_bsgemm_args* g, size_t s) {
    return g->a_segs != NULL ? g->a_segs[s] : 0;
}
/** Activation row m: plain (m * lda) or an implicit conv row (oy * a_row_step + ox * a_col_step). */
static inline const uint64_t* qk_bsgemm_row(const qk_bsgemm_args* g, size_t m) {
    if (g->a_width == 0) return g->a + m * g->lda;
    return g->a + m / g->a_width * g->a_row_step + m % g->a_width * g->a_col_step;
}

/** T[m] = sum_{j<ab} 2^j popcount(Aplane_j) over the row's words: the sum of its activation codes. */
static inline int32_t qk_bsgemm_act_sum(const qk_bsgemm_args* g, size_t m, int ab) {
    const uint64_t* row = qk_bsgemm_row(g, m);
    const size_t segs = qk_bsgemm_segs(g), sw = qk_bsgemm_seg_words(g);
    int32_t t = 0;
    for (size_t s = 0; s < segs; s++) {
        const uint64_t* a = row + qk_bsgemm_piece_offset(g, s);
        for (size_t i = 0; i < sw * (size_t)ab; i++) t += (int32_t)__builtin_popcountll(a[i]) << (int)(i % (size_t)ab);
    }
    return t;
}

/** T of `rows` rows from m0 into t[], or zeros when w_offset == 0 (the term then vanishes). */
static inline void qk_bsgemm_act_sums(const qk_bsgemm_args* g, size_t m0, int rows, int ab, int32_t* t) {
    for (int r = 0; r < rows; r++) t[r] = g->w_offset != 0 ? qk_bsgemm_act_sum(g, m0 + (size_t)r, ab) : 0;
}

/** acc = w_mul * S + w_offset * T (int32, exact within the K limit of qk_bsgemm.h). */
static inline int32_t qk_bsgemm_level_sum(const qk_bsgemm_args* g, int32_t s, int32_t t) {
    return g->w_mul * s + g->w_offset * t;
}

/** S[m][n] = sum over words and plane pairs of 2^(i+j) popcount(Wplane_i AND Aplane_j). */
static inline int32_t qk_bsgemm_dot_scalar(const qk_bsgemm_args* g, size_t m, size_t n, int wb, int ab) {
    const uint64_t* w = qk_bsgemm_group(g, n, wb) + n % QK_BSGEMM_ROW_GROUP;
    const uint64_t* row = qk_bsgemm_row(g, m);
    const size_t segs = qk_bsgemm_segs(g), sw = qk_bsgemm_seg_words(g);
    int32_t s = 0;
    for (size_t p = 0; p < segs; p++) {
        const uint64_t* a = row + qk_bsgemm_piece_offset(g, p);
        for (size_t k = 0; k < sw; k++, w += (size_t)wb * QK_BSGEMM_ROW_GROUP, a += ab)
            for (int i = 0; i < wb; i++)
                for (int j = 0; j < ab; j++)
                    s += (int32_t)__builtin_popcountll(w[i * QK_BSGEMM_ROW_GROUP] & a[j]) << (i + j);
    }
    return s;
}

/** The scalar member: every output is w_mul * S + w_offset * T, then the shared scalar epilogue
 *  (any mr: the driver passes row bands). */
static inline void qk_bsgemm_scalar(const qk_bsgemm_args* g, size_t m0, size_t n0, size_t mr, size_t nr, int wb,
                                    int ab) {
    assert(mr >= 1 && nr >= 1 && nr <= 8 && g->wbits == wb && g->abits == ab);
    for (size_t i = 0; i < mr; i++) {
        const int32_t t = g->w_offset != 0 ? qk_bsgemm_act_sum(g, m0 + i, ab) : 0;
        for (size_t j = 0; j < nr; j++)
            qk_qgemm_epilogue(&g->epi, m0 + i, n0 + j,
                              qk_bsgemm_level_sum(g, qk_bsgemm_dot_scalar(g, m0 + i, n0 + j, wb, ab), t));
    }
}
