/* qk_spatial.h — f32 NHWC spatial ops of segmentation nets: resize (nearest, bilinear) from per-axis
 * source tables, border padding (constant, reflect, edge) and softmax over channels. Plain C loops
 * the compiler vectorises over channels (no hand-written SIMD members, so no scalar twins). */
#pragma once
#include <stddef.h>
#include <stdint.h>

/** A resize of in [in_h][in_w][channels] to out [out_h][out_w][channels]: output row oy reads input rows
 *  row0[oy] and row1[oy] with weight row_w[oy] on row1 (columns likewise); nearest reads row0 / col0
 *  only. Indices are within the input (the caller's tables, QGraph's Resize.sourceTable). */
typedef struct {
    int32_t in_h, in_w, channels, out_h, out_w;
    const int32_t* row0;
    const int32_t* row1;
    const float* row_w;
    const int32_t* col0;
    const int32_t* col1;
    const float* col_w;
} qk_resize_geom;

/** out[oy][ox][c] = in[row0[oy]][col0[ox]][c] (a copy: every bit pattern survives). */
void qk_resize_nearest_f32(const qk_resize_geom* g, const float* in, float* out);
/** out[oy][ox][c] = (1 - wy) * top + wy * bottom, top = (1 - wx) * in[r0][c0][c] + wx * in[r0][c1][c],
 *  bottom the same on row r1 (wy = row_w[oy], wx = col_w[ox]), in f32 in that order. */
void qk_resize_bilinear_f32(const qk_resize_geom* g, const float* in, float* out);

/** Border modes of qk_pad_f32. */
enum { QK_PAD_CONSTANT = 0, QK_PAD_REFLECT = 1, QK_PAD_EDGE = 2 };

/** out [h + top + bottom][w + left + right][c]: in placed at (top, left); the border holds `value`
 *  (constant), the mirror image without the edge pixel (reflect: pads < h, w) or the edge pixel
 *  (edge). Pads >= 0; in and out do not overlap. */
void qk_pad_f32(const float* in, int32_t h, int32_t w, int32_t c, int32_t top, int32_t left, int32_t bottom,
                int32_t right, int32_t mode, float value, float* out);

/** Operations of qk_channel_arith_f32. */
enum { QK_ARITH_ADD = 0, QK_ARITH_SUB = 1, QK_ARITH_MUL = 2, QK_ARITH_DIV = 3 };

/** out[i] = a[i % a_period] op b[i % b_period] for i < n, each period n (a full tensor) or the channel
 *  count (a per-channel vector broadcast over NHWC pixels; n a multiple of it); one f32 operation, IEEE
 *  semantics (x / 0 is +-inf or NaN). out may equal a full-size input. */
void qk_channel_arith_f32(size_t n, const float* a, size_t a_period, const float* b, size_t b_period, int32_t op,
                          float* out);

/** Softmax over each pixel's channels: out[p][k] = exp(in[p][k] - m) / sum_j exp(in[p][j] - m), m the
 *  pixel's max (expf; within 2e-6 + (m - in) 2^-23 relative of the float64 softmax, the second
 *  term f32's rounding of in - m). in may equal out. */
void qk_softmax_f32(size_t pixels, size_t channels, const float* in, float* out);
