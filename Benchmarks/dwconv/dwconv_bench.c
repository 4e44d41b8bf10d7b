// dwconv_bench.c — one-thread timing of the direct depthwise 3x3 / 5x5 members against the GEMM path
// (qk_conv2d_u8, groups == C) on MobileNetV2 (3x3) and EfficientNet-B0 (5x5) depthwise shapes, and of
// the plan-time weight repack.
// A plain C harness beside Benchmarks/KernelBenchmarks (which needs package fetches). From the
// repository root:
//   clang -O2 -fopenmp -ffp-contract=off -ISources/QKernels/include Sources/QKernels/*.c \
//     Sources/QKernels/ukernels/*.c Benchmarks/dwconv/dwconv_bench.c -lomp -lm -o /tmp/dwconv_bench
//   /tmp/dwconv_bench [bits]        (8 by default; 1..4 use a random table)
// (here: add -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include -L/usr/lib/llvm-14/lib and run
// with LD_LIBRARY_PATH=/usr/lib/llvm-14/lib)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "qkernels.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of `runs` timings of fn(ctx), seconds. */
#define BEST_OF(runs, stmt)                                                                   \
    ({ double best_ = 1e30; for (int r_ = 0; r_ < (runs); r_++) { const double t0_ = now_s(); \
       stmt; const double t_ = now_s() - t0_; if (t_ < best_) best_ = t_; } best_; })

int main(int argc, char** argv) {
    const int bits = argc > 1 ? atoi(argv[1]) : 8;
    qk_set_num_threads(1);
    const struct { int hw, c, k, s; } shapes[] = {{112, 32, 3, 1}, {112, 96, 3, 2}, {56, 144, 3, 1}, {28, 192, 3, 1}, {14, 576, 3, 1},
                                                 {7, 960, 3, 1}, {56, 144, 5, 2}, {28, 240, 5, 1}, {14, 672, 5, 1}, {7, 1152, 5, 1}};
    const qk_qgemm_ukernel_desc* gemm = qk_qgemm_select(bits, qk_isa_active());
    printf("bits %d, 1 thread, GEMM path member %s\n", bits, gemm->name);
    printf("%-16s %-40s %10s %10s %8s %10s\n", "shape", "direct member", "direct us", "gemm us", "speedup", "repack us");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int H = shapes[si].hw, C = shapes[si].c, K = shapes[si].k, S = shapes[si].s, P = K / 2;
        const qk_conv_geom g = {H, H, C, C, K, K, S, S, P, P, P, P, 1, 1, C};
        const size_t M = (size_t)qk_conv_out_h(&g) * (size_t)qk_conv_out_w(&g);
        uint8_t* in = malloc((size_t)H * H * C + QK_EXTRA_BYTES);
        for (size_t i = 0; i < (size_t)H * H * C + QK_EXTRA_BYTES; i++) in[i] = (uint8_t)(rand() & 255);
        int8_t lut[16];
        for (int i = 0; i < 16; i++) lut[i] = (int8_t)(rand() & 255);
        const size_t gs = qk_packed_bytes(1, K * K, bits);
        uint8_t* packed = malloc((size_t)C * gs);
        uint8_t codes[25];
        int32_t* colsum = malloc((size_t)C * 4);
        for (int c = 0; c < C; c++) {
            for (int k = 0; k < K * K; k++) codes[k] = (uint8_t)(rand() % (1 << bits));
            qk_pack_codes(codes, 1, K * K, bits, packed + (size_t)c * gs);
            qk_weight_colsums(packed + (size_t)c * gs, 1, K * K, bits, lut, colsum + c);
        }
        float* scale = malloc((size_t)C * 4);
        for (int c = 0; c < C; c++) scale[c] = 0.001f;
        uint8_t* out = malloc(M * (size_t)C);
        uint8_t* ws = malloc(qk_conv_workspace_bytes(&g, 1));
        const size_t wstride = qk_dwconv_weight_stride(C);
        int8_t* w = malloc((size_t)(K * K) * wstride);
        int32_t* wsum = malloc((size_t)C * 4);
        const double repack = BEST_OF(20, qk_dwconv_pack(packed, gs, bits, bits == 8 ? NULL : lut, K, C, w, wstride, wsum));
        qk_epilogue e = {0};
        e.scale = scale; e.clamp_lo = 0.0f; e.clamp_hi = 6.0f; e.output_kind = QK_OUTPUT_U8;
        e.out = out; e.ldc = (size_t)C; e.out_inv_scale = 20.0f; e.out_zero = 0;
        qk_qgemm_args l = {0};
        l.a_zero = 3; l.w = packed; l.w_group_stride = gs; l.bits = bits; l.lut = bits == 8 ? NULL : lut;
        l.colsum = colsum; l.epi = e;
        const double tg = BEST_OF(5, qk_conv2d_u8(gemm, &g, in, &l, ws));
        for (size_t i = 0; i < qk_dwconv_ukernel_count; i++) {
            const qk_dwconv_ukernel_desc* uk = qk_dwconv_ukernel_at(i);
            if (!qk_isa_supported(uk->isa)) continue;
            qk_dwconv_args a = {0};
            a.geom = g; a.in = in; a.a_zero = 3; a.w = w; a.w_stride = wstride; a.wsum = wsum; a.epi = e;
            const double td = BEST_OF(20, qk_dwconv(uk, &a));
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d k%d s%d", H, H, C, K, S);
            printf("%-16s %-40s %10.1f %10.1f %7.1fx %10.1f\n", shape, uk->name, td * 1e6, tg * 1e6, tg / td, repack * 1e6);
        }
        free(in); free(packed); free(colsum); free(scale); free(out); free(ws); free(w); free(wsum);
    }
    return 0;
}
