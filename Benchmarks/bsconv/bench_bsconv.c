/* bench_bsconv.c — bit-serial conv (qk_bsconv2d_packed over the dispatched bsgemm member, W1A1, W1A2,
 * W2A1, W2A2) against the int8 path (qk_conv2d_u8: im2col + the dispatched 8-bit qgemm member) at the
 * ResNet-18 3x3 shapes, one thread, both with u8 output, bias and ReLU. The bit-serial conv runs from
 * its packed input image (what a bit-serial conv step costs behind a producing step that packs its
 * codes, as the int8 conv runs from the u8 its producer wrote); the packing alone
 * (qk_bsconv_pack_image, 1- and 2-bit codes) is timed separately. Prints medians of 31 runs.
 * Build and run from the repository root (see Benchmarks/README.md):
 *   clang -O3 -fopenmp -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include -ffp-contract=off
 *     -ISources/QKernels/include Sources/QKernels/[*].c Sources/QKernels/ukernels/[*].c
 *     Benchmarks/bsconv/bench_bsconv.c -L/usr/lib/llvm-14/lib -lomp -lm -o /tmp/bench_bsconv
 *   LD_LIBRARY_PATH=/usr/lib/llvm-14/lib /tmp/bench_bsconv                                       */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "qkernels.h"
#include "../common/bench_timing.h"
#include "../common/bench_int8_conv.h"

int main(void) {
    qk_set_num_threads(1);
    const qk_isa isa = qk_isa_active();
    const qk_qgemm_ukernel_desc* q8 = qk_qgemm_select(8, isa);
    printf("ISA %s, int8 member %s, 1 thread, median of 31; bit-serial from packed input:\n", qk_isa_name(isa), q8->name);
    for (int wb = 1; wb <= 2; wb++)
        for (int ab = 1; ab <= 2; ab++) printf("  W%dA%d %s\n", wb, ab, qk_bsgemm_select(wb, ab, isa)->name);
    printf("| shape | int8 conv | W1A1 | ratio | W1A2 | ratio | W2A1 | ratio | W2A2 | ratio | packing A1 / A2 |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    const int shapes[4][2] = {{56, 64}, {28, 128}, {14, 256}, {7, 512}};
    for (int s = 0; s < 4; s++) {
        const int hw = shapes[s][0], C = shapes[s][1];
        qk_conv_geom g = {hw, hw, C, C, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        const size_t M = (size_t)hw * hw, N = (size_t)C, K = 9 * (size_t)C;
        float *scale = malloc(N * 4), *bias = malloc(N * 4);
        for (size_t n = 0; n < N; n++) { scale[n] = 1e-3f; bias[n] = 0.1f; }
        qk_epilogue epi;
        memset(&epi, 0, sizeof epi);
        epi.scale = scale; epi.bias = bias; epi.clamp_lo = 0; epi.clamp_hi = INFINITY;
        epi.output_kind = QK_OUTPUT_U8; epi.ldc = N; epi.out_inv_scale = 20;
        uint8_t* out = malloc(M * N);
        epi.out = out;
        const double t8 = time_int8_conv(q8, &g, 31);
        uint8_t* codes = malloc(N * K);
        for (size_t i = 0; i < N * K; i++) codes[i] = (uint8_t)rnd();
        /* bit-serial: codes 0..3 (DoReFa-style activations), Any-Precision levels 2q - (2^wb - 1) */
        uint8_t* acodes = malloc(M * C);
        for (size_t i = 0; i < M * C; i++) acodes[i] = (uint8_t)(rnd() & 3);
        uint64_t* image[3];
        double tpack[3];
        for (int ab = 1; ab <= 2; ab++) {
            image[ab] = malloc(qk_bsconv_image_bytes(&g, ab));
            tpack[ab] = TIME_MEDIAN(31, qk_bsconv_pack_image(&g, ab, acodes, image[ab]));
        }
        const size_t kw = qk_bsgemm_kwords(K, C);
        double t[3][3];
        for (int wb = 1; wb <= 2; wb++) {
            uint64_t* w = malloc(qk_bsgemm_packed_words(N, kw, wb) * 8);
            qk_bsgemm_pack_weights(codes, N, K, C, wb, w);
            qk_bsconv_layer layer;
            memset(&layer, 0, sizeof layer);
            layer.w = w; layer.w_mul = 2; layer.w_offset = 1 - (1 << wb); layer.epi = epi;
            for (int ab = 1; ab <= 2; ab++) {
                const qk_bsgemm_ukernel_desc* uk = qk_bsgemm_select(wb, ab, isa);
                t[wb][ab] = TIME_MEDIAN(31, qk_bsconv2d_packed(uk, &g, image[ab], &layer));
            }
            free(w);
        }
        printf("| %dx%dx%d->%d | %.3f ms | %.3f ms | %.2fx | %.3f ms | %.2fx | %.3f ms | %.2fx | %.3f ms | %.2fx | %.1f / %.1f us |\n",
               hw, hw, C, C, t8 * 1e3, t[1][1] * 1e3, t8 / t[1][1], t[1][2] * 1e3, t8 / t[1][2], t[2][1] * 1e3,
               t8 / t[2][1], t[2][2] * 1e3, t8 / t[2][2], tpack[1] * 1e6, tpack[2] * 1e6);
        free(scale); free(bias); free(out); free(codes);
        free(acodes); free(image[1]); free(image[2]);
    }
    return 0;
}
