/* qk_dwconv_ukernel_1x64__avx512vnni
 * Depthwise 3x3 / 5x5, u8 activations x int8 weights, one pixel x 64 channels per step, on vpdpbusd
 * (AVX-512 F/BW/DQ/VL + VNNI): each int32 lane (one channel) multiplies and sums 4 horizontal taps
 * of one kernel row at once, so a 3x3 pixel costs 3 vpdpbusd per 16 channels (5x5: 10, the second
 * group of each row holding one tap).
 *
 * Tap groups: for input row iy, column ix and channel c the "entry" E[ix][c] is the 32-bit lane
 * {in[iy][ix][c], in[iy][ix+1][c], in[iy][ix+2][c], in[iy][ix+3][c]} (a_zero outside the image), and
 * the weights of kernel row ky, group j are the lane {w[ky][4j][c], ..., w[ky][4j+3][c]} (0 past K).
 * Output pixel ox then sums vpdpbusd(E_ky[ix0 + 4j], W[ky][j]) over ky and j, ix0 = ox*stride - pad:
 * exact (|sum| <= 25 * 255 * 128 < 2^31, vpdpbusd does not saturate). Entries are built right to
 * left, E[ix] = (E[ix+1] << 8) | zx(in[ix]): one vpmovzxbd, one shift and one or per 16 channels and
 * input column, and each built row serves every output row that reads it (kept in a ring of K rows
 * on the stack, slot = iy mod K), so at stride 1 the build is a third of a shuffle per 3x3 pixel where
 * the avx512skx member spends ~10.
 *
 * Loop order: 64-channel block (its 4 x K x ceil(K/4) weight vectors built once), then a chunk of
 * output columns (whose entries fit the ring: QK_DWV_ENTRIES + 3 per row, ~13 KiB; the ring is 3 or 5
 * rows, up to 65 KiB of the calling thread's stack), then the output rows
 * [oy0, oy1) (the ring advances with them), then the pixels of the chunk. Channels stay in order, so
 * the AVX-512 qgemm epilogue (qk_avx512_epilogue.h, colsum = wsum) runs on the accumulators as they
 * are; u8 output of 32 or 64 whole channels is packed and stored at once (qk_avx512_epilogue_u8_packed),
 * a channel tail uses masked loads and stores. */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <string.h>
#include "../internal/qk_dwconv_common.h"
#include "../internal/qk_avx512_epilogue.h"

#define QK_DWV_INLINE static inline __attribute__((always_inline, target(QK_TARGET_AVX512VNNI)))
/* Channels per block (4 vectors of 16 int32 lanes). */
#define QK_DWV_CB 64
#define QK_DWV_VECS (QK_DWV_CB / 16)
/* Entries per ring row (each QK_DWV_VECS vectors): bounds the output columns of one chunk. */
#define QK_DWV_ENTRIES 48
/* 4-tap groups per kernel row, at most (K = 5). */
#define QK_DWV_GROUPS 2

/* One ring row: the entries of one input row for the chunk's columns (+ 3 written by the build). */
typedef __m512i qk_dwv_row[QK_DWV_ENTRIES + 3][QK_DWV_VECS];

/* One step of the right-to-left build: entry <- (entry << 8) | d, stored at dst[i] (every column
 * stores; at stride 2 the even column's store comes last and stays). */
QK_DWV_INLINE void qk_dwv_step(__m512i* e, __m512i d, __m512i* dst) {
    *e = _mm512_or_si512(_mm512_slli_epi32(*e, 8), d);
    _mm512_store_si512(dst, *e);
}

/* Steps through input columns [lo, hi] of row `row` (all in the image), right to left, for the nq
 * vectors of the block at c0; `masked` (a constant) = the last vector is a channel tail. */
QK_DWV_INLINE void qk_dwv_inside(const uint8_t* row, size_t C, int32_t lo, int32_t hi, int32_t ix_first, int32_t sw,
                                 size_t c0, int nq, __mmask16 tail, int masked, __m512i e[QK_DWV_VECS], qk_dwv_row dst) {
    const uint8_t* p = row + (size_t)hi * C + c0;
    for (int32_t ix = hi; ix >= lo; ix--, p -= C) {
        __m512i* out = dst[(ix - ix_first) >> (sw - 1)];
        for (int q = 0; q < nq; q++) {
            const __m128i b = masked && q == nq - 1 ? _mm_maskz_loadu_epi8(tail, p + 16 * q) : _mm_loadu_si128((const __m128i*)(p + 16 * q));
            qk_dwv_step(&e[q], _mm512_cvtepu8_epi32(b), &out[q]);
        }
    }
}

/* Fills ring row `dst` with the entries ix_first + sw * i, i < n, of input row `row` (NULL: outside
 * the image, every byte a_zero) for the nq vectors of the channel block at c0 (`tail` = the lanes of the
 * last one). Right to left, one column at a time, in three runs (right padding, image, left padding)
 * with no per-column checks; dst has 3 entries of slack for the columns past the last entry. */
QK_DWV_INLINE void qk_dwv_build(const qk_dwconv_args* args, const uint8_t* row, int32_t ix_first, int32_t n, int32_t sw,
                                size_t c0, int nq, __mmask16 tail, qk_dwv_row dst) {
    if (row == NULL) {
        memset(dst, args->a_zero, (size_t)n * sizeof dst[0]);
        return;
    }
    const size_t C = (size_t)args->geom.in_c;
    const int32_t in_w = args->geom.in_w;
    const __m512i za = _mm512_set1_epi32(args->a_zero);
    __m512i e[QK_DWV_VECS];
    for (int q = 0; q < nq; q++) e[q] = za;
    int32_t ix = ix_first + (n - 1) * sw + 3;  /* the last column the last entry reads */
    for (; ix >= ix_first && ix >= in_w; ix--)
        for (int q = 0; q < nq; q++) qk_dwv_step(&e[q], za, &dst[(ix - ix_first) >> (sw - 1)][q]);
    const int32_t lo = ix_first > 0 ? ix_first : 0;
    if (ix >= lo) {
        if (tail == 0xffff) qk_dwv_inside(row, C, lo, ix, ix_first, sw, c0, nq, tail, 0, e, dst);
        else qk_dwv_inside(row, C, lo, ix, ix_first, sw, c0, nq, tail, 1, e, dst);
        ix = lo - 1;
    }
    for (; ix >= ix_first; ix--)
        for (int q = 0; q < nq; q++) qk_dwv_step(&e[q], za, &dst[(ix - ix_first) >> (sw - 1)][q]);
}

/* Weight lanes of kernel row ky, group j, vector q of the block at c0: {w[ky][4j + b][c]} for b < 4
 * (0 for taps past K). Reads within w[K*K][w_stride] (w_stride is a multiple of QK_DWV_CB). */
QK_DWV_INLINE __m512i qk_dwv_weights(const qk_dwconv_args* args, int K, int ky, int j, size_t c) {
    __m512i v = _mm512_setzero_si512();
    for (int b = 0; b < 4 && 4 * j + b < K; b++) {
        const int8_t* p = args->w + (size_t)(ky * K + 4 * j + b) * args->w_stride + c;
        const __m512i t = _mm512_and_si512(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)p)), _mm512_set1_epi32(0xff));
        v = _mm512_or_si512(v, _mm512_slli_epi32(t, 8 * b));
    }
    return v;
}

/* The output pixels [ox0, ox1) of row oy for the nq vectors of the block at c0 (K, nq constants after
 * inlining for the common cases); ring[ky] = the entries of the pixel row's kernel row ky, from the
 * chunk's first column. */
QK_DWV_INLINE void qk_dwv_pixels(const qk_dwconv_args* args, const qk_avx512_epi epi[QK_DWV_VECS], int K, int sw, int nq,
                                 const __m512i w[QK_DWCONV_MAX_KERNEL][QK_DWV_GROUPS][QK_DWV_VECS],
                                 qk_dwv_row* const ring[QK_DWCONV_MAX_KERNEL], size_t oy, size_t ox0, size_t ox1, size_t c0) {
    const size_t ow = (size_t)qk_conv_out_w(&args->geom), step = 4 / (size_t)sw;
    const int J = (K + 3) / 4;
    const int packed = (nq == 4 || nq == 2) && epi[nq - 1].live == 0xffff && args->epi.output_kind == QK_OUTPUT_U8
                    && args->epi.half_rows == NULL;
    for (size_t ox = ox0; ox < ox1; ox++) {
        const size_t e = ox - ox0;
        __m512i acc[QK_DWV_VECS];
        for (int q = 0; q < nq; q++) acc[q] = _mm512_sub_epi32(_mm512_setzero_si512(), epi[q].zc);  /* - a_zero * wsum */
        for (int ky = 0; ky < K; ky++) {
            for (int j = 0; j < J; j++) {
                for (int q = 0; q < nq; q++) acc[q] = _mm512_dpbusd_epi32(acc[q], (*ring[ky])[e + step * (size_t)j][q], w[ky][j][q]);
            }
        }
        if (packed) qk_avx512_epilogue_u8_packed(&args->epi, epi, nq, oy * ow + ox, c0, acc);
        else for (int q = 0; q < nq; q++)
            qk_avx512_epilogue_row(&args->epi, &epi[q], 0, oy * ow + ox, c0 + 16 * (size_t)q, acc[q]);
    }
}

/* Output rows [oy0, oy1) of the channel block at c0 (`cols` channels, nq = ceil(cols / 16) vectors) for
 * kernel size K (K and nq constants after inlining). */
QK_DWV_INLINE void qk_dwv_block(const qk_dwconv_args* args, size_t oy0, size_t oy1, int K, int sw, size_t c0, size_t cols, int nq) {
    const qk_conv_geom* g = &args->geom;
    const size_t ow = (size_t)qk_conv_out_w(g), in_row = (size_t)g->in_w * (size_t)g->in_c;
    const int J = (K + 3) / 4;
    const int32_t span = 4 * (J - 1) / sw;  /* kept entries past a pixel's first one */
    const size_t chunk = (size_t)(QK_DWV_ENTRIES - span);
    qk_dwv_row ring_rows[QK_DWCONV_MAX_KERNEL];
    __mmask16 live[QK_DWV_VECS];
    qk_avx512_epi epi[QK_DWV_VECS];
    __m512i w[QK_DWCONV_MAX_KERNEL][QK_DWV_GROUPS][QK_DWV_VECS];
    for (int q = 0; q < nq; q++) {
        const size_t n = cols - 16 * (size_t)q < 16 ? cols - 16 * (size_t)q : 16;
        live[q] = (__mmask16)((1u << n) - 1u);
        epi[q] = qk_avx512_epi_make(&args->epi, args->a_zero, args->wsum, c0 + 16 * (size_t)q, n);
        for (int ky = 0; ky < K; ky++)
            for (int j = 0; j < J; j++) w[ky][j][q] = qk_dwv_weights(args, K, ky, j, c0 + 16 * (size_t)q);
    }
    for (size_t ox0 = 0; ox0 < ow; ox0 += chunk) {
        const size_t ox1 = ow - ox0 < chunk ? ow : ox0 + chunk;
        const int32_t ix_first = (int32_t)ox0 * sw - g->pad_left;
        const int32_t n = (int32_t)(ox1 - ox0) + span;
        int32_t slot_iy[QK_DWCONV_MAX_KERNEL];
        for (int s = 0; s < K; s++) slot_iy[s] = INT32_MIN;
        for (size_t oy = oy0; oy < oy1; oy++) {
            qk_dwv_row* ring[QK_DWCONV_MAX_KERNEL];
            for (int ky = 0; ky < K; ky++) {
                const int32_t iy = (int32_t)oy * g->stride_h - g->pad_top + ky;
                const int s = (int)(((iy % K) + K) % K);
                if (slot_iy[s] != iy) {
                    const uint8_t* row = iy >= 0 && iy < g->in_h ? args->in + (size_t)iy * in_row : NULL;
                    qk_dwv_build(args, row, ix_first, n, sw, c0, nq, live[nq - 1], ring_rows[s]);
                    slot_iy[s] = iy;
                }
                ring[ky] = &ring_rows[s];
            }
            qk_dwv_pixels(args, epi, K, sw, nq, w, ring, oy, ox0, ox1, c0);
        }
    }
}

/* Output rows [oy0, oy1) for kernel size K and horizontal stride sw (constants): block by block, the
 * vector count a constant. */
QK_DWV_INLINE void qk_dwv_rows(const qk_dwconv_args* args, size_t oy0, size_t oy1, int K, int sw) {
    const size_t C = (size_t)args->geom.in_c;
    for (size_t c0 = 0; c0 < C; c0 += QK_DWV_CB) {
        const size_t cols = C - c0 < QK_DWV_CB ? C - c0 : QK_DWV_CB;
        switch ((cols + 15) / 16) {
        case 4: qk_dwv_block(args, oy0, oy1, K, sw, c0, cols, 4); break;
        case 3: qk_dwv_block(args, oy0, oy1, K, sw, c0, cols, 3); break;
        case 2: qk_dwv_block(args, oy0, oy1, K, sw, c0, cols, 2); break;
        default: qk_dwv_block(args, oy0, oy1, K, sw, c0, cols, 1); break;
        }
    }
}

void __attribute__((target(QK_TARGET_AVX512VNNI)))
qk_dwconv_ukernel_1x64__avx512vnni(const qk_dwconv_args* args, size_t oy0, size_t oy1) {
    const int sw2 = args->geom.stride_w == 2;
    if (args->geom.kernel_h == 5) {
        if (sw2) qk_dwv_rows(args, oy0, oy1, 5, 2);
        else qk_dwv_rows(args, oy0, oy1, 5, 1);
    } else {
        if (sw2) qk_dwv_rows(args, oy0, oy1, 3, 2);
        else qk_dwv_rows(args, oy0, oy1, 3, 1);
    }
}
#endif
