// fdwconv_bench.c — one-thread timing of the f32 direct depthwise members (fdwconv, 3x3 and 5x5)
// against the f32 GEMM path (qk_conv2d_f32, groups == C, weight rows [C][K*K]) on MobileNetV2 (3x3)
// and MnasNet (5x5) depthwise shapes, with bias and ReLU6, and of the plan-time weight repack. The f32 twin of dwconv_bench.c. From the
// repository root:
//   clang -O2 -fopenmp -ffp-contract=off -ISources/QKernels/include Sources/QKernels/*.c \
//     Sources/QKernels/ukernels/*.c Benchmarks/dwconv/fdwconv_bench.c -lomp -lm -o /tmp/fdwconv_bench
//   /tmp/fdwconv_bench
// (here: add -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include -L/usr/lib/llvm-14/lib and run
// with LD_LIBRARY_PATH=/usr/lib/llvm-14/lib)
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "qkernels.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of `runs` timings of stmt, seconds. */
#define BEST_OF(runs, stmt)                                                                   \
    ({ double best_ = 1e30; for (int r_ = 0; r_ < (runs); r_++) { const double t0_ = now_s(); \
       stmt; const double t_ = now_s() - t0_; if (t_ < best_) best_ = t_; } best_; })

static float rnd_unit(void) { return (float)(rand() % 20001) / 10000.0f - 1.0f; }

int main(void) {
    qk_set_num_threads(1);
    const struct { int hw, c, s, k; } shapes[] = {{112, 32, 1, 3}, {112, 96, 2, 3}, {56, 144, 1, 3}, {28, 192, 1, 3},
                                                  {14, 576, 1, 3}, {7, 960, 1, 3}, {56, 72, 2, 5}, {28, 120, 1, 5},
                                                  {28, 240, 2, 5}, {14, 480, 1, 5}, {14, 576, 2, 5}, {7, 1152, 1, 5}};
    const qk_fgemm_ukernel_desc* gemm = qk_fgemm_select(qk_isa_active());
    printf("f32, 1 thread, GEMM path member %s\n", gemm->name);
    printf("%-20s %-40s %10s %8s %10s %8s %10s\n", "shape", "direct member", "direct us", "GFLOP/s", "gemm us", "speedup",
           "repack us");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int H = shapes[si].hw, C = shapes[si].c, S = shapes[si].s, K = shapes[si].k, KK = K * K, P = K / 2;
        const qk_conv_geom g = {H, H, C, C, K, K, S, S, P, P, P, P, 1, 1, C};
        const size_t M = (size_t)qk_conv_out_h(&g) * (size_t)qk_conv_out_w(&g), n_in = (size_t)H * H * C;
        float* in = malloc(n_in * sizeof(float) + QK_EXTRA_BYTES);
        for (size_t i = 0; i < n_in; i++) in[i] = rnd_unit();
        float* rows = malloc((size_t)C * KK * sizeof(float) + QK_EXTRA_BYTES);
        for (size_t i = 0; i < (size_t)C * KK; i++) rows[i] = rnd_unit();
        float* bias = malloc((size_t)C * sizeof(float));
        for (int c = 0; c < C; c++) bias[c] = rnd_unit();
        float* out = malloc(M * (size_t)C * sizeof(float));
        float* ws = malloc(qk_conv_workspace_bytes(&g, 4));
        const size_t wstride = qk_fdwconv_weight_stride(C);
        float* w = malloc((size_t)KK * wstride * sizeof(float));
        const double repack = BEST_OF(20, qk_fdwconv_pack(rows, (size_t)KK, KK, C, w, wstride));
        qk_epilogue e = {0};
        e.bias = bias; e.clamp_lo = 0.0f; e.clamp_hi = 6.0f; e.output_kind = QK_OUTPUT_F32; e.out = out; e.ldc = (size_t)C;
        qk_fgemm_args l = {0};
        l.b = rows; l.ldb = (size_t)KK; l.epi = e;
        const double tg = BEST_OF(5, qk_conv2d_f32(gemm, &g, in, &l, ws));
        for (size_t i = 0; i < qk_fdwconv_ukernel_count; i++) {
            const qk_fdwconv_ukernel_desc* uk = qk_fdwconv_ukernel_at(i);
            if (!qk_isa_supported(uk->isa)) continue;
            qk_fdwconv_args a = {0};
            a.geom = g; a.in = in; a.w = w; a.w_stride = wstride; a.epi = e;
            const double td = BEST_OF(20, qk_fdwconv(uk, &a));
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d k%d s%d", H, H, C, K, S);
            printf("%-20s %-40s %10.1f %8.1f %10.1f %7.1fx %10.1f\n", shape, uk->name, td * 1e6,
                   2.0 * KK * (double)M * C / td * 1e-9, tg * 1e6, tg / td, repack * 1e6);
        }
        free(in); free(rows); free(bias); free(out); free(ws); free(w);
    }
    return 0;
}
