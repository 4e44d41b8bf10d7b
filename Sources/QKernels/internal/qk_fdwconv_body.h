/* qk_fdwconv_body.h — the tile body every SIMD fdwconv member instantiates (one portable source
 * over a small vector interface, so AVX2, AVX-512 and NEON compute the same thing the same way).
 * Private; include it once per member file, after defining:
 *
 *   QK_FDW_MEMBER           the member's symbol
 *   QK_FDW_TARGET           its function attributes (e.g. __attribute__((target("avx2,fma")))), or empty
 *   QK_FDW_INLINE           static inline __attribute__((always_inline[, target(...)]))
 *   QK_FDW_LANES            floats per vector;  QK_FDW_VECS  vectors per channel tile (1...4)
 *   qk_fdw_v, qk_fdw_part   the vector type, and a description of the first `live` lanes of one
 *   and these QK_FDW_INLINE functions (partial forms neither read nor write the other lanes; they
 *   read as 0):
 *     qk_fdw_part qk_fdw_part_make(size_t live)                     1 <= live <= QK_FDW_LANES
 *     qk_fdw_v qk_fdw_load(const float* p)      qk_fdw_v qk_fdw_load_part(const float* p, qk_fdw_part k)
 *     void qk_fdw_store(float* p, qk_fdw_v v)   void qk_fdw_store_part(float* p, qk_fdw_v v, qk_fdw_part k)
 *     qk_fdw_v qk_fdw_fma(qk_fdw_v a, qk_fdw_v b, qk_fdw_v acc)      a*b + acc, one rounding
 *     qk_fdw_v qk_fdw_add(qk_fdw_v a, qk_fdw_v b)
 *     qk_fdw_v qk_fdw_max(qk_fdw_v y, qk_fdw_v lo)   fmaxf(y, lo) per lane (NaN y -> lo)
 *     qk_fdw_v qk_fdw_min(qk_fdw_v y, qk_fdw_v hi)   fminf(y, hi) per lane (NaN y -> hi)
 *     qk_fdw_v qk_fdw_set1(float x)
 *
 * What it computes (bit for bit the scalar member, qk_fdwconv_common.h): the member reads the kernel
 * size K (3 or 5) from the geometry once per call and runs the body compiled for that K (a constant
 * in the always-inline helpers below: the tap loops unroll). Per output row, per tile of
 * QK_FDW_LANES * QK_FDW_VECS channels, the tile's K*K x QK_FDW_VECS weight vectors are loaded once
 * (for 5x5 the wider tiles exceed the register file and the compiler keeps some on the stack);
 * per pixel each vector lane runs the fused multiply-add chain acc = fma(x, w, acc) from +0 over
 * the in-image taps in (ky, kx) order, then the fgemm epilogue in vector form (bias add, f32
 * residual add, max with clamp_lo, min with clamp_hi: the operations of qk_fgemm_epilogue in its
 * order). Interior pixels (all K*K taps in the image) are compiled without per-tap checks. The last,
 * partial channel tile runs the same code compiled for its vector count `nv` (a constant: every
 * loop unrolls and the accumulators stay in registers) with the partial form for its last vector,
 * whose lane description is made once per tile. */
#include "qk_fdwconv_common.h"
#include "qk_ukernels.h"

#if QK_FDW_VECS < 1 || QK_FDW_VECS > 4
#error "QK_FDW_VECS must be 1...4"
#endif
#define QK_FDW_TILE (QK_FDW_LANES * QK_FDW_VECS)
#define QK_FDW_MAX_TAPS (QK_FDWCONV_MAX_KERNEL * QK_FDWCONV_MAX_KERNEL)

/* Vector j of nv: the partial form for the last vector of a tail tile (constants after inlining). */
QK_FDW_INLINE qk_fdw_v qk_fdw_get(const float* p, int j, int nv, int tail, qk_fdw_part part) {
    return tail && j == nv - 1 ? qk_fdw_load_part(p, part) : qk_fdw_load(p);
}
QK_FDW_INLINE void qk_fdw_put(float* p, qk_fdw_v v, int j, int nv, int tail, qk_fdw_part part) {
    if (tail && j == nv - 1) qk_fdw_store_part(p, v, part); else qk_fdw_store(p, v);
}

/* The accumulators of one pixel: `interior` (a constant after inlining) = every tap is inside. */
QK_FDW_INLINE void qk_fdw_pixel(const qk_fdwconv_args* a, const float* const rows[QK_FDWCONV_MAX_KERNEL], int K,
                                int32_t ix0, size_t c0, int nv, int tail, qk_fdw_part part,
                                qk_fdw_v w[QK_FDW_MAX_TAPS][QK_FDW_VECS], int interior, qk_fdw_v acc[QK_FDW_VECS]) {
    const size_t C = (size_t)a->geom.in_c;
    for (int j = 0; j < nv; j++) acc[j] = qk_fdw_set1(0.0f);
    for (int ky = 0; ky < K; ky++) {
        if (!interior && rows[ky] == NULL) continue;
        for (int kx = 0; kx < K; kx++) {
            const int32_t ix = ix0 + kx;
            if (!interior && (ix < 0 || ix >= a->geom.in_w)) continue;
            const float* p = rows[ky] + (size_t)ix * C + c0;
            for (int j = 0; j < nv; j++)
                acc[j] = qk_fdw_fma(qk_fdw_get(p + j * QK_FDW_LANES, j, nv, tail, part), w[ky * K + kx][j], acc[j]);
        }
    }
}

/* The fgemm epilogue of one pixel's tile, vector form of qk_fgemm_epilogue. */
QK_FDW_INLINE void qk_fdw_finish(const qk_epilogue* e, size_t m, size_t c0, int nv, int tail, qk_fdw_part part,
                                 const qk_fdw_v acc[QK_FDW_VECS], qk_fdw_v lo, qk_fdw_v hi) {
    for (int j = 0; j < nv; j++) {
        const size_t c = c0 + (size_t)j * QK_FDW_LANES;
        qk_fdw_v y = acc[j];
        if (e->bias != NULL) y = qk_fdw_add(y, qk_fdw_get(e->bias + c, j, nv, tail, part));
        if (e->residual_kind == QK_RESIDUAL_F32)
            y = qk_fdw_add(y, qk_fdw_get((const float*)e->residual + m * e->ldr + c, j, nv, tail, part));
        y = qk_fdw_min(qk_fdw_max(y, lo), hi);
        qk_fdw_put((float*)e->out + m * e->ldc + c, y, j, nv, tail, part);
    }
}

/* Channels [c0, c0 + n) of output row oy with nv vectors (a constant; tail: the last is partial),
 * kernel size K (a constant). */
QK_FDW_INLINE void qk_fdw_row_tile(const qk_fdwconv_args* a, const float* const rows[QK_FDWCONV_MAX_KERNEL], int K,
                                   size_t oy, size_t c0, size_t n, int nv, int tail, size_t in_lo, size_t in_hi) {
    const qk_conv_geom* g = &a->geom;
    const size_t ow = (size_t)qk_conv_out_w(g);
    int full_rows = 1;
    for (int ky = 0; ky < K; ky++) full_rows &= rows[ky] != NULL;
    const qk_fdw_part part = qk_fdw_part_make(n - (size_t)(nv - 1) * QK_FDW_LANES);
    qk_fdw_v w[QK_FDW_MAX_TAPS][QK_FDW_VECS];
    for (int t = 0; t < K * K; t++) {
        for (int j = 0; j < nv; j++)
            w[t][j] = qk_fdw_get(a->w + (size_t)t * a->w_stride + c0 + (size_t)j * QK_FDW_LANES, j, nv, tail, part);
    }
    const qk_fdw_v lo = qk_fdw_set1(a->epi.clamp_lo), hi = qk_fdw_set1(a->epi.clamp_hi);
    for (size_t ox = 0; ox < ow; ox++) {
        const int32_t ix0 = (int32_t)ox * g->stride_w - g->pad_left;
        qk_fdw_v acc[QK_FDW_VECS];
        if (full_rows && ox >= in_lo && ox < in_hi) {
            qk_fdw_pixel(a, rows, K, ix0, c0, nv, tail, part, w, 1, acc);
        } else {
            qk_fdw_pixel(a, rows, K, ix0, c0, nv, tail, part, w, 0, acc);
        }
        qk_fdw_finish(&a->epi, oy * ow + ox, c0, nv, tail, part, acc, lo, hi);
    }
}

/* Output rows [oy0, oy1) for kernel size K (a constant after inlining). */
QK_FDW_INLINE void qk_fdw_rows(const qk_fdwconv_args* args, int K, size_t oy0, size_t oy1) {
    const size_t C = (size_t)args->geom.in_c;
    size_t in_lo, in_hi;
    qk_dw_interior_cols(&args->geom, &in_lo, &in_hi);
    for (size_t oy = oy0; oy < oy1; oy++) {
        const float* rows[QK_FDWCONV_MAX_KERNEL];
        qk_fdwconv_rows(args, oy, rows);
        size_t c0 = 0;
        for (; c0 + QK_FDW_TILE <= C; c0 += QK_FDW_TILE)
            qk_fdw_row_tile(args, rows, K, oy, c0, QK_FDW_TILE, QK_FDW_VECS, 0, in_lo, in_hi);
        const size_t rest = C - c0;
        if (rest == 0) continue;
        /* the tail tile, compiled once per vector count */
        switch ((rest + QK_FDW_LANES - 1) / QK_FDW_LANES) {
        case 1: qk_fdw_row_tile(args, rows, K, oy, c0, rest, 1, 1, in_lo, in_hi); break;
#if QK_FDW_VECS >= 2
        case 2: qk_fdw_row_tile(args, rows, K, oy, c0, rest, 2, 1, in_lo, in_hi); break;
#endif
#if QK_FDW_VECS >= 3
        case 3: qk_fdw_row_tile(args, rows, K, oy, c0, rest, 3, 1, in_lo, in_hi); break;
#endif
#if QK_FDW_VECS >= 4
        case 4: qk_fdw_row_tile(args, rows, K, oy, c0, rest, 4, 1, in_lo, in_hi); break;
#endif
        default: break;
        }
    }
}

/* The member: one compiled body per kernel size (qk_fdwconv_supports: 3 or 5). */
void QK_FDW_TARGET QK_FDW_MEMBER(const qk_fdwconv_args* args, size_t oy0, size_t oy1) {
    if (args->geom.kernel_h == 5) qk_fdw_rows(args, 5, oy0, oy1);
    else qk_fdw_rows(args, 3, oy0, oy1);
}
