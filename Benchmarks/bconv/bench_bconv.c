/* bench_bconv.c — binary conv (qk_bconv2d_f32 over the dispatched bgemm member) against the int8
 * path (qk_conv2d_u8: im2col + the dispatched 8-bit qgemm member) at the ResNet-18 3x3 shapes,
 * one thread. Binary, whole conv from f32 input (sign packing into a padded image + implicit GEMM), on its three
 * paths: general (ternary weights and a third of the inputs exactly 0), sign-act (ternary weights,
 * no zero input: Equal Bits with a prune rate) and binary (no zeros); from packed input
 * (qk_bconv2d_packed: the implicit GEMM with its corrections and epilogue, as the runtime runs a
 * binary conv behind a sign step), and the sign packing alone (qk_bconv_pack_image).
 * Prints medians of 31 runs. Build and run from the repository root (see Benchmarks/README.md):
 *   clang -O3 -fopenmp -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include -ffp-contract=off
 *     -ISources/QKernels/include Sources/QKernels/[*].c Sources/QKernels/ukernels/[*].c
 *     Benchmarks/bconv/bench_bconv.c -L/usr/lib/llvm-14/lib -lomp -lm -o /tmp/bench_bconv
 *   LD_LIBRARY_PATH=/usr/lib/llvm-14/lib /tmp/bench_bconv                                        */
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
    const qk_bgemm_ukernel_desc* bk = qk_bgemm_select(isa);
    printf("ISA %s, int8 member %s, binary member %s, 1 thread, median times\n", qk_isa_name(isa), q8->name,
           bk->name);
    printf("| shape | int8 conv | general | ratio | sign-act | ratio | binary | ratio | from packed input: general / sign-act / binary | binary ratio | sign packing |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    const int shapes[4][2] = {{56, 64}, {28, 128}, {14, 256}, {7, 512}};
    for (int s = 0; s < 4; s++) {
        const int hw = shapes[s][0], C = shapes[s][1];
        qk_conv_geom g = {hw, hw, C, C, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        const size_t M = (size_t)hw * hw, N = (size_t)C, K = 9 * (size_t)C;
        const double t8 = time_int8_conv(q8, &g, 31);
        float *scale = malloc(N * 4), *bias = malloc(N * 4);
        for (size_t n = 0; n < N; n++) { scale[n] = 1e-4f; bias[n] = 0.1f; }
        /* binary */
        float *inf = malloc(M * C * 4), *inz = malloc(M * C * 4);
        for (size_t i = 0; i < M * C; i++) {
            inf[i] = (rnd() & 1 ? 1.0f : -1.0f) * (float)(1 + rnd() % 100);
            inz[i] = rnd() % 3 == 0 ? 0.0f : inf[i];
        }
        int8_t* wt = malloc(N * K);
        int8_t* wb = malloc(N * K);
        for (size_t i = 0; i < N * K; i++) { wt[i] = (int8_t)((int)(rnd() % 3) - 1); wb[i] = rnd() & 1 ? 1 : -1; }
        const size_t kw = qk_bgemm_kwords(K, C), segw = ((size_t)C + 63) / 64;
        uint64_t *pt = malloc(qk_bgemm_packed_words(N, kw) * 8), *pb = malloc(qk_bgemm_packed_words(N, kw) * 8);
        int32_t *st = malloc(N * 9 * 4), *sb = malloc(N * 9 * 4);
        qk_bconv_layer lt, lb;
        memset(&lt, 0, sizeof lt);
        lt.w_has_zero = qk_bgemm_pack_weights(wt, N, K, C, pt);
        qk_bgemm_segment_sums(pt, N, kw, segw, st);
        int32_t *nzt = malloc(N * 4), *nzb = malloc(N * 4);
        qk_bgemm_row_nonzeros(pt, N, kw, nzt);
        qk_bgemm_row_nonzeros(pb, N, kw, nzb);
        lt.w = pt; lt.tap_sums = st; lt.w_nonzero = nzt;
        lb = lt;
        lb.w_has_zero = qk_bgemm_pack_weights(wb, N, K, C, pb);
        qk_bgemm_segment_sums(pb, N, kw, segw, sb);
        lb.w = pb; lb.tap_sums = sb; lb.w_nonzero = nzb;
        float* outf = malloc(M * N * 4);
        lt.epi.scale = scale; lt.epi.bias = bias; lt.epi.clamp_lo = -INFINITY; lt.epi.clamp_hi = INFINITY;
        lt.epi.output_kind = QK_OUTPUT_F32; lt.epi.out = outf; lt.epi.ldc = N;
        lb.epi = lt.epi;
        void* wsb = malloc(qk_bconv_workspace_bytes(&g));
        /* plan-time row tables, as the runtime builds them (the int8 side packs its weights at plan time too) */
        void *tt = malloc(qk_bconv_tables_bytes(&g)), *tb = malloc(qk_bconv_tables_bytes(&g));
        qk_bconv_prepare(&g, &lt, tt);
        qk_bconv_prepare(&g, &lb, tb);
        lt.tables = tt; lb.tables = tb;
        if (!lt.w_has_zero || lb.w_has_zero) { fprintf(stderr, "weights not as intended\n"); return 1; }
        const double tg = TIME_MEDIAN(31, qk_bconv2d_f32(bk, &g, inz, &lt, wsb));
        const double ts = TIME_MEDIAN(31, qk_bconv2d_f32(bk, &g, inf, &lt, wsb));
        const double tf = TIME_MEDIAN(31, qk_bconv2d_f32(bk, &g, inf, &lb, wsb));
        /* From packed input (qk_bconv2d_packed): what a binary conv costs when the op in front of it
         * writes packed signs (the runtime's sign step), padding corrections included; and the
         * packing alone (qk_bconv_pack_image) */
        uint64_t *imz = malloc(qk_bconv_image_bytes(&g)), *imf = malloc(qk_bconv_image_bytes(&g));
        const int zz = qk_bconv_pack_image(&g, inz, imz);
        const double tp = TIME_MEDIAN(31, qk_bconv_pack_image(&g, inf, imf));
        const double gg = TIME_MEDIAN(31, qk_bconv2d_packed(bk, &g, imz, zz, &lt));
        const double gs = TIME_MEDIAN(31, qk_bconv2d_packed(bk, &g, imf, 0, &lt));
        const double gf = TIME_MEDIAN(31, qk_bconv2d_packed(bk, &g, imf, 0, &lb));
        printf("| %dx%dx%d->%d | %.3f ms | %.3f ms | %.2fx | %.3f ms | %.2fx | %.3f ms | %.2fx | %.3f / %.3f / %.3f ms | %.2fx | %.1f us |\n",
               hw, hw, C, C, t8 * 1e3, tg * 1e3, t8 / tg, ts * 1e3, t8 / ts, tf * 1e3, t8 / tf, gg * 1e3, gs * 1e3,
               gf * 1e3, t8 / gf, tp * 1e6);
        free(scale); free(bias);
        free(inf); free(inz); free(nzt); free(nzb); free(wt); free(wb); free(pt); free(pb); free(st); free(sb); free(outf); free(wsb); free(tt); free(tb); free(imz); free(imf);
    }
    return 0;
}
