/* bench_int8_conv.h — the int8 baseline the plain C conv benchmarks compare with: qk_conv2d_u8
 * (im2col + the given 8-bit qgemm member) on random u8 input (zero point 3) and random int8 weights,
 * u8 output with bias and ReLU, as the runtime runs a u8 conv. Include after bench_timing.h. */
#pragma once
#include <math.h>
#include <string.h>
#include "qkernels.h"

/** The median time in seconds of `reps` runs of the int8 conv of geometry g with member q8. */
static double time_int8_conv(const qk_qgemm_ukernel_desc* q8, const qk_conv_geom* g, int reps) {
    const size_t M = (size_t)qk_conv_out_h(g) * (size_t)qk_conv_out_w(g), N = (size_t)g->out_c;
    const size_t K = (size_t)(g->kernel_h * g->kernel_w * g->in_c), inputs = (size_t)(g->in_h * g->in_w * g->in_c);
    uint8_t* in8 = malloc(inputs + 64);
    for (size_t i = 0; i < inputs + 64; i++) in8[i] = (uint8_t)rnd();
    uint8_t* codes = malloc(N * K);
    for (size_t i = 0; i < N * K; i++) codes[i] = (uint8_t)rnd();
    uint8_t* packed = malloc(qk_packed_bytes(N, K, 8));
    qk_pack_codes(codes, N, K, 8, packed);
    int32_t* colsum = malloc(N * 4);
    qk_weight_colsums(packed, N, K, 8, NULL, colsum);
    float *scale = malloc(N * 4), *bias = malloc(N * 4);
    for (size_t n = 0; n < N; n++) { scale[n] = 1e-4f; bias[n] = 0.1f; }
    uint8_t* out = malloc(M * N);
    uint8_t* ws = malloc(qk_conv_workspace_bytes(g, 1));
    qk_qgemm_args L;
    memset(&L, 0, sizeof L);
    L.a_zero = 3; L.w = packed; L.w_group_stride = QK_ROW_GROUP * qk_packed_row_bytes(K, 8); L.bits = 8;
    L.colsum = colsum;
    L.epi.scale = scale; L.epi.bias = bias; L.epi.clamp_lo = 0; L.epi.clamp_hi = INFINITY;
    L.epi.output_kind = QK_OUTPUT_U8; L.epi.out = out; L.epi.ldc = N; L.epi.out_inv_scale = 20;
    const double t = TIME_MEDIAN(reps, qk_conv2d_u8(q8, g, in8, &L, ws));
    free(in8); free(codes); free(packed); free(colsum); free(scale); free(bias); free(out); free(ws);
    return t;
}
