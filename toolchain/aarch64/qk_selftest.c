/* qk_selftest.c — the QKernels GEMM checks as a standalone C program, for architectures Swift
 * cannot run here (aarch64 under qemu-user). Every registered member whose ISA this CPU supports
 * runs the generated tail cases of Tests/QKernelsTests (M, N in 1..tile+1, 7, 13; K around the
 * 32-code block; every bit width, zero point, stride, residual, clamp and output kind) and must
 * equal a naive reference exactly (qgemm) or to rounding (fgemm), and its scalar twin exactly,
 * without writing outside its output (qgemm also reading implicit conv rows in place), and keep int32 sums exact at K = QK_MAX_K; shift-add members
 * (QK_KIND_SHIFT) get shift-coded tables. The dwconv (3x3, 5x5) members run generated depthwise cases (C 1..70 with
 * tails, H/W 1..9, strides 1/2, paddings 0..2 per side) against a naive reference, the GEMM path
 * and their scalar twin; the fdwconv (f32, 3x3 and 5x5) members run the same kind of cases against their scalar
 * twin (bit for bit), a double reference and the f32 GEMM path (to rounding). The bsgemm (bit-serial)
 * members run GEMM tail cases against a naive reference on the unpacked codes and their scalar twin,
 * and convs against a direct convolution. Dispatch of every family must return the best-ranked member
 * this CPU supports. The f32 activation steps (affine, PReLU, clamp, sign, round_to_fixed,
 * DoReFa) must equal their scalar expressions bit for bit on special values.
 * Usage: qk_selftest [--expect-isa NAME] [seed]. Exit 0 = pass. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qkernels.h"

static uint64_t rng_state;
static uint32_t rnd(void) {  /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 16);
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 100000) / 100000.0f; }

#define GUARD 64
#define GUARD_BYTE 0xA5
static int failures = 0, cases = 0;

/* A buffer with GUARD bytes of known value before and after. */
static uint8_t* guarded(size_t bytes) {
    uint8_t* p = malloc(bytes + 2 * GUARD);
    memset(p, GUARD_BYTE, bytes + 2 * GUARD);
    return p + GUARD;
}
static int guards_ok(const uint8_t* p, size_t bytes) {
    for (size_t i = 0; i < GUARD; i++)
        if (p[-1 - (long)i] != GUARD_BYTE || p[bytes + i] != GUARD_BYTE) return 0;
    return 1;
}
static void release(uint8_t* p) { free(p - GUARD); }

static float clampf(float y, float lo, float hi) { return fminf(fmaxf(y, lo), hi); }
static uint8_t requant(float y, float inv, int32_t zero) {
    float t = fminf(fmaxf(y * inv, -1024.0f), 1024.0f);
    long q = lrintf(t) + zero;
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

typedef struct {
    size_t M, N, K, lda, ldc, ldr;
    int bits, za, residual, output, bias, half;  /* half: half-step weights (w + 1/2, epi.half_rows) */
    float lo, hi, rscale, inv;
    int32_t* rows;  /* sum_k (a - za) per row */
    int32_t rzero, ozero;
    uint8_t *a, *codes, *packed;
    int8_t lut[16];
    int32_t* colsum;
    float *scale, *biasv;
    uint8_t* res;  /* u8 or f32 residual */
} qcase;

static int8_t weight(const qcase* c, size_t n, size_t k) {
    const uint8_t code = c->codes[n * c->K + k];
    return c->bits == 8 ? (int8_t)code : c->lut[code];
}

/* A shift-coded table entry: 0, +-2^e (e <= 6) or -128. */
static int8_t shift_value(void) {
    const uint32_t r = rnd() % 16;
    if (r == 0) return 0;
    if (r == 1) return -128;
    const int8_t v = (int8_t)(1 << (rnd() % 7));
    return r % 2 ? v : (int8_t)-v;
}

static qcase qcase_make(size_t M, size_t N, size_t K, int bits, int shift) {
    qcase c;
    memset(&c, 0, sizeof c);
    c.M = M; c.N = N; c.K = K; c.bits = bits;
    c.lda = K + rnd() % 3 * 7;
    c.ldc = N + rnd() % 2 * 3;
    c.ldr = N + rnd() % 2 * 5;
    const int zs[4] = {0, 128, 255, (int)(rnd() % 256)};
    c.za = zs[rnd() % 4];
    c.a = guarded(M * c.lda + QK_EXTRA_BYTES);
    for (size_t i = 0; i < M * c.lda + QK_EXTRA_BYTES; i++) c.a[i] = (uint8_t)rnd();  /* garbage past K too */
    c.codes = malloc(N * K);
    for (size_t i = 0; i < N * K; i++) c.codes[i] = (uint8_t)(rnd() & (bits == 8 ? 0xFF : (1u << bits) - 1));
    for (int i = 0; i < 16; i++) c.lut[i] = (int8_t)rnd();
    c.lut[0] = -128; c.lut[(1 << (bits == 8 ? 4 : bits)) - 1] = shift ? 64 : 127;
    if (shift) for (int i = 1; i < (1 << bits) - 1; i++) c.lut[i] = shift_value();

    c.packed = guarded(qk_packed_bytes(N, K, bits));
    qk_pack_codes(c.codes, N, K, bits, c.packed);
    c.colsum = malloc(N * sizeof(int32_t));
    qk_weight_colsums(c.packed, N, K, bits, bits == 8 ? NULL : c.lut, c.colsum);
    c.scale = malloc(N * sizeof(float));
    c.biasv = malloc(N * sizeof(float));
    for (size_t n = 0; n < N; n++) { c.scale[n] = rndf(1e-4f, 2e-3f); c.biasv[n] = rndf(-2, 2); }
    c.bias = rnd() % 2;
    c.residual = (int)(rnd() % 3);
    c.output = (int)(rnd() % 3);
    c.rscale = rndf(0.005f, 0.05f); c.rzero = (int32_t)(rnd() % 256);
    c.inv = rndf(5, 40); c.ozero = (int32_t)(rnd() % 256);
    const float clamps[4][2] = {{-INFINITY, INFINITY}, {0, INFINITY}, {0, 6}, {-0.5f, 0.7f}};
    const int ci = (int)(rnd() % 4);
    c.lo = clamps[ci][0]; c.hi = clamps[ci][1];
    c.half = rnd() % 4 == 0;
    c.rows = malloc(M * sizeof(int32_t));
    for (size_t m = 0; m < M; m++) {
        int32_t s = 0;
        for (size_t k = 0; k < K; k++) s += c.a[m * c.lda + k] - c.za;
        c.rows[m] = s;
    }
    const size_t rbytes = (M * c.ldr) * (c.residual == QK_RESIDUAL_F32 ? 4 : 1) + QK_EXTRA_BYTES;
    c.res = guarded(rbytes);
    for (size_t i = 0; i < M * c.ldr; i++) {
        if (c.residual == QK_RESIDUAL_F32) ((float*)c.res)[i] = rndf(-3, 3);
        else c.res[i] = (uint8_t)rnd();
    }
    return c;
}

static void qcase_free(qcase* c) {
    release(c->a); free(c->codes); release(c->packed); free(c->colsum); free(c->scale); free(c->biasv);
    release(c->res); free(c->rows);
}

static size_t out_elem(const qcase* c) { return c->output == QK_OUTPUT_U8 ? 1 : 4; }

/* The naive reference, output laid out like the kernel's (ldc), gap bytes left at GUARD_BYTE. */
static void qcase_reference(const qcase* c, uint8_t* out) {
    for (size_t m = 0; m < c->M; m++) {
        for (size_t n = 0; n < c->N; n++) {
            int64_t acc = 0;
            for (size_t k = 0; k < c->K; k++)
                acc += (int64_t)(c->a[m * c->lda + k] - c->za) * (c->half ? 2 * weight(c, n, k) + 1 : weight(c, n, k));
            const size_t at = (m * c->ldc + n) * out_elem(c);
            if (c->output == QK_OUTPUT_I32) { int32_t v = (int32_t)acc; memcpy(out + at, &v, 4); continue; }
            float y = (float)(int32_t)acc * c->scale[n];
            if (c->bias) y = y + c->biasv[n];
            if (c->residual == QK_RESIDUAL_U8) y = y + c->rscale * (float)((int32_t)c->res[m * c->ldr + n] - c->rzero);
            if (c->residual == QK_RESIDUAL_F32) y = y + ((const float*)c->res)[m * c->ldr + n];
            y = clampf(y, c->lo, c->hi);
            if (c->output == QK_OUTPUT_F32) memcpy(out + at, &y, 4);
            else out[at] = requant(y, c->inv, c->ozero);
        }
    }
}

/* The case's GEMM arguments, writing to out (plain rows). */
static qk_qgemm_args qcase_args(const qcase* c, uint8_t* out) {
    qk_qgemm_args g;
    memset(&g, 0, sizeof g);
    g.M = c->M; g.N = c->N; g.K = c->K; g.a = c->a; g.lda = c->lda; g.a_zero = c->za;
    g.w = c->packed; g.w_group_stride = QK_ROW_GROUP * qk_packed_row_bytes(c->K, c->bits); g.bits = c->bits;
    g.lut = c->bits == 8 ? NULL : c->lut; g.colsum = c->colsum;
    g.epi.scale = c->scale; g.epi.bias = c->bias ? c->biasv : NULL;
    g.epi.clamp_lo = c->lo; g.epi.clamp_hi = c->hi;
    g.epi.residual_kind = (qk_residual_kind)c->residual; g.epi.residual = c->res; g.epi.ldr = c->ldr;
    g.epi.rscale = c->rscale; g.epi.rzero = c->rzero;
    g.epi.output_kind = (qk_output_kind)c->output; g.epi.out = out; g.epi.ldc = c->ldc;
    g.epi.out_inv_scale = c->inv; g.epi.out_zero = c->ozero;
    g.epi.half_rows = c->half ? c->rows : NULL;
    return g;
}

static void qcase_run(const qcase* c, const qk_qgemm_ukernel_desc* uk, uint8_t* out) {
    qk_qgemm_args g = qcase_args(c, out);
    qk_qgemm(uk, &g);
}

static void check_qgemm_member(const qk_qgemm_ukernel_desc* uk) {
    const qk_qgemm_ukernel_desc* twin = qk_qgemm_select_kind(uk->bits, QK_ISA_SCALAR, uk->kind);
    const size_t Ks[] = {1, 2, 5, 31, 32, 33, 63, 64, 65, 97, 131};
    size_t sizes[2][40];  /* tile + 1 sizes, 7 and 13: up to 35 on x86 (nr 32) */
    size_t counts[2] = {0, 0};
    for (int d = 0; d < 2; d++) {
        const size_t tile = (size_t)(d == 0 ? uk->mr : uk->nr);
        for (size_t s = 1; s <= tile + 1; s++) sizes[d][counts[d]++] = s;
        if (tile + 1 < 7) sizes[d][counts[d]++] = 7;
        sizes[d][counts[d]++] = 13;
    }
    for (size_t mi = 0; mi < counts[0]; mi++) {
        for (size_t ni = 0; ni < counts[1]; ni++) {
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
                qcase c = qcase_make(sizes[0][mi], sizes[1][ni], Ks[ki], uk->bits, uk->kind == QK_KIND_SHIFT);
                const size_t bytes = c.M * c.ldc * out_elem(&c);
                uint8_t *want = guarded(bytes), *got = guarded(bytes), *scalar = guarded(bytes);
                qcase_reference(&c, want);
                qcase_run(&c, uk, got);
                qcase_run(&c, twin, scalar);
                cases++;
                const char* what = !guards_ok(got, bytes) ? "wrote outside its output"
                                 : memcmp(got, want, bytes) != 0 ? "differs from the reference"
                                 : memcmp(got, scalar, bytes) != 0 ? "differs from its scalar twin" : NULL;
                if (what != NULL) {
                    size_t at = 0;
                    while (at < bytes && got[at] == want[at]) at++;
                    fprintf(stderr, "FAIL %s M=%zu N=%zu K=%zu za=%d residual=%d output=%d half=%d: %s (first byte %zu)\n",
                            uk->name, c.M, c.N, c.K, c.za, c.residual, c.output, c.half, what, at);
                    failures++;
                }
                release(want); release(got); release(scalar);
                qcase_free(&c);
            }
        }
    }
}

/* Implicit conv rows (qk_qgemm_args.a_width): rows read in place from a bh x bw x C image (row m = (oy, ox)
 * at oy * row_step + ox * col_step, K in runs of kw * C bytes, dh image rows apart). Each case's plain rows
 * are the same bytes gathered (an im2col), so member(implicit) must equal the reference on them, and its
 * scalar twin (implicit) exactly. */
static void qcase_run_implicit(const qcase* c, const qk_qgemm_ukernel_desc* uk, const uint8_t* image, size_t ow,
                               size_t row_step, size_t col_step, size_t seg_len, size_t seg_step, uint8_t* out) {
    qk_qgemm_args g = qcase_args(c, out);
    g.a = image; g.lda = c->K;
    g.a_width = ow; g.a_row_step = row_step; g.a_col_step = col_step; g.a_seg_len = seg_len; g.a_seg_step = seg_step;
    qk_qgemm(uk, &g);
}

static void check_qgemm_implicit(const qk_qgemm_ukernel_desc* uk) {
    const qk_qgemm_ukernel_desc* twin = qk_qgemm_select_kind(uk->bits, QK_ISA_SCALAR, uk->kind);
    /* C, kh, kw, stride, dh, oh, ow, N */
    const int shapes[][8] = {{32, 3, 3, 1, 1, 5, 7, 20}, {64, 3, 3, 2, 1, 3, 9, 33}, {32, 2, 1, 1, 2, 4, 4, 17},
                             {96, 1, 1, 2, 1, 6, 5, 40}, {32, 3, 3, 1, 2, 2, 11, 9}, {64, 1, 2, 1, 1, 9, 1, 16}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const size_t C = (size_t)shapes[t][0], kh = (size_t)shapes[t][1], kw = (size_t)shapes[t][2];
        const size_t st = (size_t)shapes[t][3], dh = (size_t)shapes[t][4], oh = (size_t)shapes[t][5];
        const size_t ow = (size_t)shapes[t][6], N = (size_t)shapes[t][7];
        const size_t bh = (oh - 1) * st + (kh - 1) * dh + 1, bw = (ow - 1) * st + kw + (size_t)(t % 2) * 3;
        const size_t M = oh * ow, K = kh * kw * C;
        const size_t row_step = st * bw * C, col_step = st * C, seg_len = kw * C, seg_step = dh * bw * C;
        qcase c = qcase_make(M, N, K, uk->bits, uk->kind == QK_KIND_SHIFT);
        uint8_t* image = guarded(bh * bw * C + QK_EXTRA_BYTES);
        for (size_t i = 0; i < bh * bw * C + QK_EXTRA_BYTES; i++) image[i] = (uint8_t)rnd();
        for (size_t m = 0; m < M; m++) {  /* the plain rows: the same bytes gathered */
            const uint8_t* row = image + m / ow * row_step + m % ow * col_step;
            int32_t sum = 0;
            for (size_t k = 0; k < K; k++) {
                c.a[m * c.lda + k] = row[k / seg_len * seg_step + k % seg_len];
                sum += c.a[m * c.lda + k] - c.za;
            }
            c.rows[m] = sum;
        }
        const size_t bytes = c.M * c.ldc * out_elem(&c);
        uint8_t *want = guarded(bytes), *got = guarded(bytes), *scalar = guarded(bytes);
        qcase_reference(&c, want);
        qcase_run_implicit(&c, uk, image, ow, row_step, col_step, seg_len, seg_step, got);
        qcase_run_implicit(&c, twin, image, ow, row_step, col_step, seg_len, seg_step, scalar);
        cases++;
        const char* what = !guards_ok(got, bytes) ? "wrote outside its output"
                         : memcmp(got, want, bytes) != 0 ? "differs from the reference"
                         : memcmp(got, scalar, bytes) != 0 ? "differs from its scalar twin" : NULL;
        if (what != NULL) {
            fprintf(stderr, "FAIL %s implicit rows, shape %zu (M=%zu N=%zu K=%zu): %s\n", uk->name, t, M, N, K, what);
            failures++;
        }
        release(want); release(got); release(scalar); release(image);
        qcase_free(&c);
    }
}

/* K = QK_MAX_K with every product at its extreme (a = 255, w = -128 or the table's largest entry,
 * za = 0 or 255): the int32 sums must stay exact (vs the int64 reference and the scalar twin). */
static void check_qgemm_deep_k(const qk_qgemm_ukernel_desc* uk) {
    const qk_qgemm_ukernel_desc* twin = qk_qgemm_select_kind(uk->bits, QK_ISA_SCALAR, uk->kind);
    for (int pattern = 0; pattern < 2; pattern++) {
        qcase c = qcase_make(2, 17, QK_MAX_K, uk->bits, uk->kind == QK_KIND_SHIFT);
        c.half = 0;   /* the deep-K bound is for plain weights (half steps double it) */
        const uint8_t hi = (uint8_t)(uk->bits == 8 ? 0x7F : (1u << uk->bits) - 1), lo = uk->bits == 8 ? 0x80 : 0;
        for (size_t i = 0; i < c.M * c.lda; i++) c.a[i] = pattern == 0 || rnd() % 2 ? 255 : 0;
        for (size_t i = 0; i < c.N * c.K; i++) c.codes[i] = pattern == 0 ? (i / c.K % 2 ? hi : lo) : (rnd() % 2 ? hi : lo);
        qk_pack_codes(c.codes, c.N, c.K, c.bits, c.packed);
        qk_weight_colsums(c.packed, c.N, c.K, c.bits, c.bits == 8 ? NULL : c.lut, c.colsum);
        c.za = pattern == 0 ? 0 : 255;
        c.output = QK_OUTPUT_I32;
        const size_t bytes = c.M * c.ldc * 4;
        uint8_t *want = guarded(bytes), *got = guarded(bytes), *scalar = guarded(bytes);
        qcase_reference(&c, want);
        qcase_run(&c, uk, got);
        qcase_run(&c, twin, scalar);
        cases++;
        if (!guards_ok(got, bytes) || memcmp(got, want, bytes) != 0 || memcmp(got, scalar, bytes) != 0) {
            fprintf(stderr, "FAIL %s deep K=%zu pattern %d\n", uk->name, c.K, pattern);
            failures++;
        }
        release(want); release(got); release(scalar);
        qcase_free(&c);
    }
}

/* An fgemm member (pf == NULL) or a pfgemm member (B packed for its panels first) against float64. */
static void check_f32_gemm(const qk_fgemm_ukernel_desc* uk, const qk_pfgemm_ukernel_desc* pf) {
    const size_t Ks[] = {1, 3, 4, 5, 8, 9, 27, 31, 33, 64, 131};
    for (size_t M = 1; M <= 11; M += 2) {
        for (size_t N = 1; N <= 19; N += pf != NULL && N >= 7 ? 3 : 2) {
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
                const size_t K = Ks[ki], lda = K + 1, ldb = K + 2, ldc = N + 1;
                float* a = (float*)guarded((M * lda + 16) * 4);
                float* b = (float*)guarded((N * ldb + 16) * 4);
                for (size_t i = 0; i < M * lda + 16; i++) a[i] = i % lda < K ? rndf(-1, 1) : NAN;
                for (size_t i = 0; i < N * ldb + 16; i++) b[i] = i % ldb < K ? rndf(-1, 1) : NAN;
                float* out = (float*)guarded(M * ldc * 4);
                qk_fgemm_args g;
                memset(&g, 0, sizeof g);
                g.M = M; g.N = N; g.K = K; g.a = a; g.lda = lda; g.b = b; g.ldb = ldb;
                g.epi.clamp_lo = -INFINITY; g.epi.clamp_hi = INFINITY;
                g.epi.output_kind = QK_OUTPUT_F32; g.epi.out = out; g.epi.ldc = ldc;
                float* packed = NULL;
                if (pf != NULL) {
                    packed = (float*)guarded(qk_pfgemm_packed_floats(N, K, (size_t)pf->nr) * 4);
                    qk_pfgemm_pack(b, N, K, ldb, (size_t)pf->nr, packed);
                    g.b = packed;
                    qk_pfgemm(pf, &g);
                } else {
                    qk_fgemm(uk, &g);
                }
                cases++;
                int bad = !guards_ok((uint8_t*)out, M * ldc * 4);
                for (size_t m = 0; m < M; m++) {
                    for (size_t n = 0; n < N; n++) {
                        double want = 0, mag = 0;
                        for (size_t k = 0; k < K; k++) {
                            want += (double)a[m * lda + k] * b[n * ldb + k];
                            mag += fabs((double)a[m * lda + k] * b[n * ldb + k]);
                        }
                        if (!(fabs(out[m * ldc + n] - want) <= 1e-5 * (mag + 1))) bad = 1;
                    }
                }
                if (bad) {
                    fprintf(stderr, "FAIL %s M=%zu N=%zu K=%zu\n", pf != NULL ? pf->name : uk->name, M, N, K);
                    failures++;
                }
                release((uint8_t*)a); release((uint8_t*)b); release((uint8_t*)out);
                if (packed != NULL) release((uint8_t*)packed);
            }
        }
    }
}


/* Case t of a conv check over the bit-plane families: H, W in 1..9, in_c from cs[], out_c in
 * 1..max_out, 3x3 (1x1 every 4th, 3x2 every 8th), strides 1/2, asymmetric paddings 0-2, dilation 2
 * every 5th, groups 1. The output may be empty (callers skip those). */
static qk_conv_geom random_conv_geom(int t, const int32_t* cs, size_t ncs, int32_t max_out) {
    qk_conv_geom g;
    memset(&g, 0, sizeof g);
    g.in_h = 1 + (int32_t)(rnd() % 9); g.in_w = 1 + (int32_t)(rnd() % 9); g.in_c = cs[rnd() % ncs];
    g.out_c = 1 + (int32_t)(rnd() % (uint32_t)max_out);
    g.kernel_h = t % 4 == 3 ? 1 : 3; g.kernel_w = t % 8 == 7 ? 2 : g.kernel_h;
    g.stride_h = g.stride_w = 1 + (int32_t)(rnd() % 2);
    g.pad_top = (int32_t)(rnd() % 3); g.pad_left = (int32_t)(rnd() % 2);
    g.pad_bottom = (int32_t)(rnd() % 2); g.pad_right = (int32_t)(rnd() % 3);
    g.dilation_h = g.dilation_w = t % 5 == 4 ? 2 : 1; g.groups = 1;
    return g;
}

/* The int32 sums of a direct NHWC convolution (groups 1) into out[m * ldc + n]: taps outside the
 * image add nothing; act [in_h][in_w][C], w [N][kh * kw * C] in (ky, kx, c) order. */
static void direct_conv_i32(const qk_conv_geom* g, const int32_t* act, const int32_t* w, int32_t* out, size_t ldc) {
    const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g);
    const size_t C = (size_t)g->in_c, K = (size_t)(g->kernel_h * g->kernel_w) * C;
    for (int32_t oy = 0; oy < oh; oy++)
        for (int32_t ox = 0; ox < ow; ox++)
            for (size_t n = 0; n < (size_t)g->out_c; n++) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < g->kernel_h; ky++)
                    for (int32_t kx = 0; kx < g->kernel_w; kx++) {
                        const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
                        const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
                        if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
                        for (size_t c = 0; c < C; c++)
                            acc += act[((size_t)iy * g->in_w + ix) * C + c] * w[n * K + (size_t)(ky * g->kernel_w + kx) * C + c];
                    }
                out[((size_t)oy * ow + ox) * ldc + n] = acc;
            }
}

/* ---- the output side of the bit-plane GEMM checks (bgemm, bsgemm): a random epilogue, the expected
 * bytes from exact sums, guarded outputs for the member and its scalar twin, and the verdict ---- */
typedef struct {
    size_t M, N, ldc, elem, bytes;
    int output, residual;
    float *scale, *bias, *res;
    float lo, hi, inv;
    int32_t ozero;
    uint8_t *want, *got, *scalar;
} ocase;

static ocase ocase_make(size_t M, size_t N, int output, float scale_max) {
    ocase o;
    memset(&o, 0, sizeof o);
    o.M = M; o.N = N; o.ldc = N + rnd() % 2 * 3; o.output = output;
    o.scale = malloc(N * 4); o.bias = malloc(N * 4); o.res = malloc(M * o.ldc * 4);
    for (size_t n = 0; n < N; n++) { o.scale[n] = rndf(-scale_max, scale_max); o.bias[n] = rndf(-2, 2); }
    for (size_t i = 0; i < M * o.ldc; i++) o.res[i] = rndf(-3, 3);
    o.residual = output == QK_OUTPUT_I32 ? 0 : (int)(rnd() % 2);
    o.lo = rnd() % 2 ? -INFINITY : -1.5f; o.hi = rnd() % 2 ? INFINITY : 2.0f;
    o.inv = rndf(5, 40); o.ozero = (int32_t)(rnd() % 256);
    o.elem = output == QK_OUTPUT_U8 ? 1 : 4; o.bytes = M * o.ldc * o.elem;
    o.want = guarded(o.bytes); o.got = guarded(o.bytes); o.scalar = guarded(o.bytes);
    return o;
}

/* The expected output (m, n) of exact sum acc: the scalar epilogue's float ops in its order. */
static void ocase_expect(const ocase* o, size_t m, size_t n, int32_t acc) {
    const size_t at = (m * o->ldc + n) * o->elem;
    if (o->output == QK_OUTPUT_I32) { memcpy(o->want + at, &acc, 4); return; }
    float y = (float)acc * o->scale[n] + o->bias[n];
    if (o->residual) y = y + o->res[m * o->ldc + n];
    y = clampf(y, o->lo, o->hi);
    if (o->output == QK_OUTPUT_F32) memcpy(o->want + at, &y, 4);
    else o->want[at] = requant(y, o->inv, o->ozero);
}

static qk_epilogue ocase_epilogue(const ocase* o, uint8_t* out) {
    qk_epilogue e;
    memset(&e, 0, sizeof e);
    e.scale = o->scale; e.bias = o->bias; e.clamp_lo = o->lo; e.clamp_hi = o->hi;
    e.residual_kind = o->residual ? QK_RESIDUAL_F32 : QK_RESIDUAL_NONE; e.residual = o->res; e.ldr = o->ldc;
    e.output_kind = (qk_output_kind)o->output; e.out = out; e.ldc = o->ldc;
    e.out_inv_scale = o->inv; e.out_zero = o->ozero;
    return e;
}

/* NULL if the member's output is right, else what is wrong (and *at the first differing byte). */
static const char* ocase_verdict(const ocase* o, size_t* at) {
    const char* what = !guards_ok(o->got, o->bytes) ? "wrote outside its output"
                     : memcmp(o->got, o->want, o->bytes) != 0 ? "differs from the reference"
                     : memcmp(o->got, o->scalar, o->bytes) != 0 ? "differs from its scalar twin" : NULL;
    for (*at = 0; *at < o->bytes && o->got[*at] == o->want[*at]; (*at)++) {}
    return what;
}

static void ocase_free(ocase* o) {
    release(o->want); release(o->got); release(o->scalar); free(o->scale); free(o->bias); free(o->res);
}

/* ---- bgemm: sign activations x {-1,0,+1} weights (qk_bgemm.h) ---- */

/* A value in {-1, 0, +1}; zeros only when `zeros`. */
static int8_t ternary(int zeros) {
    const uint32_t r = rnd() % (zeros ? 3 : 2);
    return r == 0 ? 1 : r == 1 ? -1 : 0;
}
/* An f32 whose sign() is v: zeros are +0, -0 or NaN (packed as 0, the documented choice). */
static float signed_float(int8_t v) {
    if (v == 0) { const uint32_t r = rnd() % 3; return r == 0 ? 0.0f : r == 1 ? -0.0f : NAN; }
    return (float)v * rndf(1e-6f, 3.0f);
}

/* One generated bgemm case against the naive int reference and the scalar twin. */
static void check_bgemm_case(const qk_bgemm_ukernel_desc* uk, size_t M, size_t N, size_t K, int zeros,
                             int output) {
    const qk_bgemm_ukernel_desc* twin = qk_bgemm_select(QK_ISA_SCALAR);
    const size_t kw = qk_bgemm_kwords(K, K), lda = 2 * kw + rnd() % 2 * 3;
    int8_t* av = malloc(M * K);
    int8_t* wv = malloc(N * K);
    float* x = malloc(M * K * sizeof(float));
    for (size_t i = 0; i < M * K; i++) { av[i] = ternary(zeros & 1); x[i] = signed_float(av[i]); }
    for (size_t i = 0; i < N * K; i++) wv[i] = ternary(zeros & 2);
    uint64_t* a = (uint64_t*)guarded(M * lda * 8);
    uint64_t* w = (uint64_t*)guarded(qk_bgemm_packed_words(N, kw) * 8);
    const int a_zero = qk_bgemm_pack_f32(x, M, K, K, a, lda);
    const int w_zero = qk_bgemm_pack_weights(wv, N, K, K, w);
    ocase o = ocase_make(M, N, output, 0.1f);
    for (size_t m = 0; m < M; m++) {
        for (size_t n = 0; n < N; n++) {
            int32_t acc = 0;
            for (size_t k = 0; k < K; k++) acc += av[m * K + k] * wv[n * K + k];
            ocase_expect(&o, m, n, acc);
        }
    }
    qk_bgemm_args g;
    memset(&g, 0, sizeof g);
    g.M = M; g.N = N; g.kw = kw; g.K = K; g.a = a; g.lda = lda; g.w = w;
    int32_t* nz = malloc(N * sizeof(int32_t));
    qk_bgemm_row_nonzeros(w, N, kw, nz);
    g.w_nonzero = nz;
    /* the path the packers' flags allow; sometimes a more general one (always valid) */
    g.path = a_zero ? QK_BGEMM_GENERAL : w_zero ? QK_BGEMM_SIGN_ACT : QK_BGEMM_BINARY;
    if (rnd() % 4 == 0) g.path = (qk_bgemm_path)(rnd() % (g.path + 1));
    g.epi = ocase_epilogue(&o, o.got);
    qk_bgemm(uk, &g);
    g.epi.out = o.scalar;
    qk_bgemm(twin, &g);
    cases++;
    size_t at;
    const char* what = (zeros & 1) == 0 && a_zero ? "packing reported a zero activation"
                     : (zeros & 2) == 0 && w_zero ? "packing reported a zero weight" : ocase_verdict(&o, &at);
    if (what != NULL) {
        fprintf(stderr, "FAIL %s M=%zu N=%zu K=%zu zeros=%d path=%d output=%d: %s (first byte %zu)\n", uk->name,
                M, N, K, zeros, (int)g.path, output, what, at);
        failures++;
    }
    ocase_free(&o);
    release((uint8_t*)a); release((uint8_t*)w);
    free(av); free(wv); free(x); free(nz);
}

static void check_bgemm_member(const qk_bgemm_ukernel_desc* uk) {
    const size_t Ks[] = {1, 2, 5, 63, 64, 65, 100, 127, 128, 129, 192, 255, 256, 257, 300};
    const size_t Ms[] = {1, 2, 3, 4, 5, 7, 13}, Ns[] = {1, 3, 7, 8, 9, 15, 16, 17, 33};
    size_t i = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++, i++)
                check_bgemm_case(uk, Ms[mi], Ns[ni], Ks[ki], (int)(i % 4), (int)(rnd() % 3));
}

/* Binary conv (NHWC, f32 input) against a direct convolution of sign values, int32 output. */
static void check_bconv_member(const qk_bgemm_ukernel_desc* uk) {
    for (int t = 0; t < 48; t++) {
        const int32_t cs[] = {1, 3, 64, 65, 130};
        qk_conv_geom g = random_conv_geom(t, cs, 5, 19);
        const int32_t oh = qk_conv_out_h(&g), ow = qk_conv_out_w(&g);
        if (oh <= 0 || ow <= 0) continue;
        const int zeros = t % 4;
        const size_t taps = (size_t)(g.kernel_h * g.kernel_w), C = (size_t)g.in_c, N = (size_t)g.out_c;
        const size_t K = taps * C, kw = qk_bgemm_kwords(K, C), M = (size_t)oh * (size_t)ow;
        const size_t npix = (size_t)g.in_h * (size_t)g.in_w * C;
        int8_t* av = malloc(npix);
        float* x = malloc(npix * 4);
        int8_t* wv = malloc(N * K);
        for (size_t i = 0; i < npix; i++) { av[i] = ternary(zeros & 1); x[i] = signed_float(av[i]); }
        for (size_t i = 0; i < N * K; i++) wv[i] = ternary(zeros & 2);
        uint64_t* w = malloc(qk_bgemm_packed_words(N, kw) * 8);
        int32_t* sums = malloc(N * taps * 4);
        int32_t* nz = malloc(N * 4);
        qk_bconv_layer layer;
        memset(&layer, 0, sizeof layer);
        layer.w_has_zero = qk_bgemm_pack_weights(wv, N, K, C, w);
        qk_bgemm_segment_sums(w, N, kw, (C + 63) / 64, sums);
        qk_bgemm_row_nonzeros(w, N, kw, nz);
        layer.w = w; layer.tap_sums = sums; layer.w_nonzero = nz;
        const size_t ldc = N + 2, bytes = M * ldc * 4;
        int32_t* want = (int32_t*)guarded(bytes);
        int32_t* got = (int32_t*)guarded(bytes);
        layer.epi.output_kind = QK_OUTPUT_I32; layer.epi.out = got; layer.epi.ldc = ldc;
        void* ws = malloc(qk_bconv_workspace_bytes(&g));
        qk_bconv2d_f32(uk, &g, x, &layer, ws);
        int32_t *ai = malloc(npix * 4), *wi = malloc(N * K * 4);
        for (size_t i = 0; i < npix; i++) ai[i] = av[i];
        for (size_t i = 0; i < N * K; i++) wi[i] = wv[i];
        direct_conv_i32(&g, ai, wi, want, ldc);
        free(ai); free(wi);
        cases++;
        int bad = !guards_ok((uint8_t*)got, bytes);
        size_t at = 0;
        for (size_t m = 0; m < M && !bad; m++)
            for (size_t n = 0; n < N; n++)
                if (got[m * ldc + n] != want[m * ldc + n]) { bad = 1; at = m * ldc + n; break; }
        if (bad) {
            fprintf(stderr, "FAIL %s conv %dx%dx%d -> %d k%dx%d s%d pad %d,%d,%d,%d d%d zeros=%d: index %zu got %d want %d\n",
                    uk->name, g.in_h, g.in_w, g.in_c, g.out_c, g.kernel_h, g.kernel_w, g.stride_h, g.pad_top,
                    g.pad_left, g.pad_bottom, g.pad_right, g.dilation_h, zeros, at, got[at], want[at]);
            failures++;
        }
        release((uint8_t*)want); release((uint8_t*)got);
        free(av); free(x); free(wv); free(w); free(sums); free(nz); free(ws);
    }
}

/* ---- bsgemm: bit-serial, 1-2 bit unsigned weight codes x 1-2 bit unsigned activation codes ---- */

/* The affine weight levels a case uses: DoReFa 2q - (2^wb - 1), plain q, and the limits' extremes. */
static void bs_coefs(int wb, int* mul, int* offset) {
    const int which = (int)(rnd() % 4);
    *mul = which == 0 ? 2 : which == 1 ? 1 : which == 2 ? -QK_BSGEMM_MAX_COEF : QK_BSGEMM_MAX_COEF;
    *offset = which == 0 ? 1 - (1 << wb) : which == 1 ? 0 : which == 2 ? QK_BSGEMM_MAX_COEF : -(int)(rnd() % 65);
}

/* One generated bsgemm case (plain rows with garbage in the row gap) against a naive reference on
 * the unpacked codes and against the scalar twin, guard bytes around the output. */
static void check_bsgemm_case(const qk_bsgemm_ukernel_desc* uk, size_t M, size_t N, size_t K, int output) {
    const int wb = uk->wbits, ab = uk->abits;
    const qk_bsgemm_ukernel_desc* twin = qk_bsgemm_select(wb, ab, QK_ISA_SCALAR);
    const size_t kw = qk_bsgemm_kwords(K, K), lda = (size_t)ab * kw + rnd() % 2 * 3;
    uint8_t* av = malloc(M * K);
    uint8_t* qv = malloc(N * K);
    for (size_t i = 0; i < M * K; i++) av[i] = (uint8_t)(rnd() % 4 == 0 ? 0 : rnd() & ((1u << ab) - 1));
    for (size_t i = 0; i < N * K; i++) qv[i] = (uint8_t)(rnd() & ((1u << wb) - 1));
    uint64_t* a = (uint64_t*)guarded(M * lda * 8);
    for (size_t i = 0; i < M * lda; i++) a[i] = (uint64_t)rnd() << 32 | rnd();  /* gap garbage */
    qk_bsgemm_pack_rows(av, M, K, K, ab, a, lda);
    uint64_t* w = (uint64_t*)guarded(qk_bsgemm_packed_words(N, kw, wb) * 8);
    qk_bsgemm_pack_weights(qv, N, K, K, wb, w);
    int mul, offset;
    bs_coefs(wb, &mul, &offset);
    ocase o = ocase_make(M, N, output, 0.05f);
    for (size_t m = 0; m < M; m++) {
        for (size_t n = 0; n < N; n++) {
            int64_t acc = 0;
            for (size_t k = 0; k < K; k++) acc += (int64_t)(mul * qv[n * K + k] + offset) * av[m * K + k];
            ocase_expect(&o, m, n, (int32_t)acc);
        }
    }
    qk_bsgemm_args g;
    memset(&g, 0, sizeof g);
    g.M = M; g.N = N; g.kw = kw; g.wbits = wb; g.abits = ab; g.a = a; g.lda = lda; g.w = w;
    g.w_mul = mul; g.w_offset = offset;
    g.epi = ocase_epilogue(&o, o.got);
    qk_bsgemm(uk, &g);
    g.epi.out = o.scalar;
    qk_bsgemm(twin, &g);
    cases++;
    size_t at;
    const char* what = ocase_verdict(&o, &at);
    if (what != NULL) {
        fprintf(stderr, "FAIL %s M=%zu N=%zu K=%zu mul=%d offset=%d output=%d: %s (first byte %zu)\n", uk->name,
                M, N, K, mul, offset, output, what, at);
        failures++;
    }
    ocase_free(&o);
    release((uint8_t*)a); release((uint8_t*)w);
    free(av); free(qv);
}

static void check_bsgemm_member(const qk_bsgemm_ukernel_desc* uk) {
    const size_t Ks[] = {1, 2, 5, 63, 64, 65, 127, 128, 129, 200, 257};
    size_t sizes[2][40];
    size_t counts[2] = {0, 0};
    for (int d = 0; d < 2; d++) {
        const size_t tile = (size_t)(d == 0 ? uk->mr : uk->nr);
        for (size_t s = 1; s <= tile + 1; s++) sizes[d][counts[d]++] = s;
        if (tile + 1 < 7) sizes[d][counts[d]++] = 7;
        sizes[d][counts[d]++] = 13;
    }
    for (size_t mi = 0; mi < counts[0]; mi++)
        for (size_t ni = 0; ni < counts[1]; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                check_bsgemm_case(uk, sizes[0][mi], sizes[1][ni], Ks[ki], (int)(rnd() % 3));
}

/* Bit-serial conv (NHWC u8 codes) against a direct convolution of the levels, int32 output. */
static void check_bsconv_member(const qk_bsgemm_ukernel_desc* uk) {
    const int wb = uk->wbits, ab = uk->abits;
    for (int t = 0; t < 40; t++) {
        const int32_t cs[] = {1, 3, 63, 64, 65, 130};
        qk_conv_geom g = random_conv_geom(t, cs, 6, 37);
        if (!qk_bsconv_supports(&g)) continue;
        const int32_t oh = qk_conv_out_h(&g), ow = qk_conv_out_w(&g);
        const size_t taps = (size_t)(g.kernel_h * g.kernel_w), C = (size_t)g.in_c, N = (size_t)g.out_c;
        const size_t K = taps * C, kw = qk_bsgemm_kwords(K, C), M = (size_t)oh * (size_t)ow;
        const size_t npix = (size_t)g.in_h * (size_t)g.in_w * C;
        uint8_t* av = malloc(npix);
        uint8_t* qv = malloc(N * K);
        for (size_t i = 0; i < npix; i++) av[i] = (uint8_t)(rnd() & ((1u << ab) - 1));
        for (size_t i = 0; i < N * K; i++) qv[i] = (uint8_t)(rnd() & ((1u << wb) - 1));
        uint64_t* w = malloc(qk_bsgemm_packed_words(N, kw, wb) * 8);
        qk_bsgemm_pack_weights(qv, N, K, C, wb, w);
        qk_bsconv_layer layer;
        memset(&layer, 0, sizeof layer);
        layer.w = w;
        bs_coefs(wb, &layer.w_mul, &layer.w_offset);
        const size_t ldc = N + 2, bytes = M * ldc * 4;
        int32_t* want = (int32_t*)guarded(bytes);
        int32_t* got = (int32_t*)guarded(bytes);
        layer.epi.output_kind = QK_OUTPUT_I32; layer.epi.out = got; layer.epi.ldc = ldc;
        const size_t image_bytes = qk_bsconv_image_bytes(&g, ab);
        uint8_t* image = guarded(image_bytes);
        qk_bsconv2d_u8(uk, &g, av, &layer, image);
        int32_t *ai = malloc(npix * 4), *wi = malloc(N * K * 4);
        for (size_t i = 0; i < npix; i++) ai[i] = av[i];
        for (size_t i = 0; i < N * K; i++) wi[i] = layer.w_mul * qv[i] + layer.w_offset;
        direct_conv_i32(&g, ai, wi, want, ldc);
        free(ai); free(wi);
        cases++;
        int bad = !guards_ok((uint8_t*)got, bytes) || !guards_ok(image, image_bytes);
        size_t at = 0;
        for (size_t m = 0; m < M && !bad; m++)
            for (size_t n = 0; n < N; n++)
                if (got[m * ldc + n] != want[m * ldc + n]) { bad = 1; at = m * ldc + n; break; }
        if (bad) {
            fprintf(stderr, "FAIL %s conv %dx%dx%d -> %d k%dx%d s%d pad %d,%d,%d,%d d%d: index %zu got %d want %d\n",
                    uk->name, g.in_h, g.in_w, g.in_c, g.out_c, g.kernel_h, g.kernel_w, g.stride_h, g.pad_top,
                    g.pad_left, g.pad_bottom, g.pad_right, g.dilation_h, at, got[at], want[at]);
            failures++;
        }
        release((uint8_t*)want); release((uint8_t*)got); release(image);
        free(av); free(qv); free(w);
    }
}

/* ---- dwconv (3x3 and 5x5): every member vs a naive reference, vs the GEMM path (qk_conv2d_u8 with groups ==
 * C through the dispatched qgemm member) and vs its scalar twin, with guard bytes and a row gap. */
typedef struct {
    qk_conv_geom g;
    int kernel, taps;
    int bits, za, residual, output, bias;
    size_t ldc, ldr, M;
    float lo, hi, rscale, inv;
    int32_t rzero, ozero;
    uint8_t *in, *codes, *packed, *res;
    int8_t lut[16];
    int8_t* w;
    int32_t *wsum, *colsum;
    float *scale, *biasv;
} dwcase;

static dwcase dwcase_make(int32_t C, int32_t H, int32_t W, int kernel, int sh, int sw, const int pads[4], int bits) {
    dwcase d;
    memset(&d, 0, sizeof d);
    d.g = (qk_conv_geom){H, W, C, C, kernel, kernel, sh, sw, pads[0], pads[1], pads[2], pads[3], 1, 1, C};
    d.kernel = kernel;
    d.taps = kernel * kernel;
    const size_t T = (size_t)d.taps;
    d.bits = bits;
    const int zs[4] = {0, 128, 255, (int)(rnd() % 256)};
    d.za = zs[rnd() % 4];
    d.residual = (int)(rnd() % 3);
    d.output = (int)(rnd() % 3);
    d.bias = (int)(rnd() % 2);
    const float los[3] = {-INFINITY, 0.0f, -0.5f}, his[3] = {INFINITY, 6.0f, 0.25f};
    const int cl = (int)(rnd() % 3);
    d.lo = los[cl]; d.hi = his[cl];
    d.rscale = rndf(0.001f, 0.05f); d.rzero = (int32_t)(rnd() % 256);
    d.inv = 1.0f / rndf(0.005f, 0.1f); d.ozero = (int32_t)(rnd() % 256);
    d.M = (size_t)qk_conv_out_h(&d.g) * (size_t)qk_conv_out_w(&d.g);
    d.ldc = (size_t)C + rnd() % 3; d.ldr = (size_t)C + rnd() % 3;
    const size_t in_bytes = (size_t)H * (size_t)W * (size_t)C;
    d.in = malloc(in_bytes + QK_EXTRA_BYTES);
    for (size_t i = 0; i < in_bytes + QK_EXTRA_BYTES; i++) d.in[i] = (uint8_t)rnd();
    for (int i = 0; i < 16; i++) d.lut[i] = (int8_t)(rnd() % 256);
    d.lut[0] = -128; d.lut[1] = 127;
    d.codes = malloc((size_t)C * T);
    for (size_t i = 0; i < (size_t)C * T; i++) d.codes[i] = (uint8_t)(rnd() % (1u << bits));
    const size_t gs = qk_packed_bytes(1, T, bits);
    d.packed = malloc((size_t)C * gs);
    d.colsum = malloc((size_t)C * sizeof(int32_t));
    for (int32_t c = 0; c < C; c++) {
        qk_pack_codes(d.codes + (size_t)c * T, 1, T, bits, d.packed + (size_t)c * gs);
        qk_weight_colsums(d.packed + (size_t)c * gs, 1, T, bits, d.lut, d.colsum + c);
    }
    const size_t ws = qk_dwconv_weight_stride(C);
    d.w = malloc(T * ws);
    d.wsum = malloc((size_t)C * sizeof(int32_t));
    qk_dwconv_pack(d.packed, gs, bits, bits == 8 ? NULL : d.lut, kernel, C, d.w, ws, d.wsum);
    d.scale = malloc((size_t)C * sizeof(float)); d.biasv = malloc((size_t)C * sizeof(float));
    for (int32_t c = 0; c < C; c++) { d.scale[c] = rndf(0.00001f, 0.002f); d.biasv[c] = rndf(-2.0f, 2.0f); }
    const size_t rbytes = d.M * d.ldr * 4 + QK_EXTRA_BYTES;
    d.res = malloc(rbytes);
    for (size_t i = 0; i < rbytes / 4; i++) {
        if (d.residual == QK_RESIDUAL_F32) { const float f = rndf(-3.0f, 3.0f); memcpy(d.res + 4 * i, &f, 4); }
        else memset(d.res + 4 * i, (int)(rnd() % 256), 4);
    }
    return d;
}

static void dwcase_free(dwcase* d) {
    free(d->in); free(d->codes); free(d->packed); free(d->colsum); free(d->w); free(d->wsum);
    free(d->scale); free(d->biasv); free(d->res);
}

static size_t dw_out_elem(const dwcase* d) { return d->output == QK_OUTPUT_U8 ? 1 : 4; }

static qk_epilogue dw_epilogue(const dwcase* d, uint8_t* out) {
    qk_epilogue e;
    memset(&e, 0, sizeof e);
    e.scale = d->scale; e.bias = d->bias ? d->biasv : NULL; e.clamp_lo = d->lo; e.clamp_hi = d->hi;
    e.residual_kind = (qk_residual_kind)d->residual; e.residual = d->res; e.ldr = d->ldr;
    e.rscale = d->rscale; e.rzero = d->rzero;
    e.output_kind = (qk_output_kind)d->output; e.out = out; e.ldc = d->ldc;
    e.out_inv_scale = d->inv; e.out_zero = d->ozero;
    return e;
}

/* Direct convolution on the unpacked codes, Int64 sums, the epilogue in the documented order. */
static void dwcase_reference(const dwcase* d, uint8_t* out) {
    const qk_conv_geom* g = &d->g;
    const int32_t oh = qk_conv_out_h(g), ow = qk_conv_out_w(g), C = g->in_c;
    for (int32_t oy = 0; oy < oh; oy++) for (int32_t ox = 0; ox < ow; ox++) for (int32_t c = 0; c < C; c++) {
        int64_t acc = 0;
        for (int ky = 0; ky < d->kernel; ky++) for (int kx = 0; kx < d->kernel; kx++) {
            const int32_t iy = oy * g->stride_h - g->pad_top + ky, ix = ox * g->stride_w - g->pad_left + kx;
            if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
            const uint8_t code = d->codes[(size_t)c * (size_t)d->taps + (size_t)(ky * d->kernel + kx)];
            const int8_t wv = d->bits == 8 ? (int8_t)code : d->lut[code];
            acc += (int64_t)(d->in[((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)C + (size_t)c] - d->za) * wv;
        }
        const size_t m = (size_t)oy * (size_t)ow + (size_t)ox, at = (m * d->ldc + (size_t)c) * dw_out_elem(d);
        if (d->output == QK_OUTPUT_I32) { int32_t v = (int32_t)acc; memcpy(out + at, &v, 4); continue; }
        float y = (float)(int32_t)acc * d->scale[c];
        if (d->bias) y = y + d->biasv[c];
        if (d->residual == QK_RESIDUAL_U8) y = y + d->rscale * (float)((int32_t)d->res[m * d->ldr + (size_t)c] - d->rzero);
        if (d->residual == QK_RESIDUAL_F32) { float r; memcpy(&r, d->res + 4 * (m * d->ldr + (size_t)c), 4); y = y + r; }
        y = clampf(y, d->lo, d->hi);
        if (d->output == QK_OUTPUT_F32) memcpy(out + at, &y, 4);
        else out[at] = requant(y, d->inv, d->ozero);
    }
}

static void dwcase_run(const dwcase* d, const qk_dwconv_ukernel_desc* uk, uint8_t* out) {
    qk_dwconv_args a;
    memset(&a, 0, sizeof a);
    a.geom = d->g; a.in = d->in; a.a_zero = d->za;
    a.w = d->w; a.w_stride = qk_dwconv_weight_stride(d->g.in_c); a.wsum = d->wsum;
    a.epi = dw_epilogue(d, out);
    qk_dwconv(uk, &a);
}

static void dwcase_run_gemm(const dwcase* d, uint8_t* out) {
    qk_qgemm_args l;
    memset(&l, 0, sizeof l);
    l.a_zero = d->za; l.w = d->packed; l.w_group_stride = qk_packed_bytes(1, (size_t)d->taps, d->bits); l.bits = d->bits;
    l.lut = d->bits == 8 ? NULL : d->lut; l.colsum = d->colsum;
    l.epi = dw_epilogue(d, out);
    uint8_t* ws = malloc(qk_conv_workspace_bytes(&d->g, 1));
    qk_conv2d_u8(qk_qgemm_select(d->bits, qk_isa_active()), &d->g, d->in, &l, ws);
    free(ws);
}

static void check_dwconv_member(const qk_dwconv_ukernel_desc* uk) {
    const qk_dwconv_ukernel_desc* twin = qk_dwconv_select(QK_ISA_SCALAR);
    const int32_t Cs[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 70};
    const int bitss[5] = {8, 2, 4, 1, 3};
    for (size_t ci = 0; ci < sizeof Cs / sizeof Cs[0]; ci++) {
        for (int rep = 0; rep < 10; rep++) {
            const int kernel = rep % 2 ? 5 : 3;
            const unsigned pm = (unsigned)kernel;
            const int pads[4] = {(int)(rnd() % pm), (int)(rnd() % pm), (int)(rnd() % pm), (int)(rnd() % pm)};
            const int32_t H = 1 + (int32_t)(rnd() % 9), W = 1 + (int32_t)(rnd() % 9);
            const int sh = 1 + (int)(rnd() % 2), sw = 1 + (int)(rnd() % 2);
            dwcase d = dwcase_make(Cs[ci], H, W, kernel, sh, sw, pads, bitss[rep % 5]);
            if (!qk_dwconv_supports(&d.g)) { dwcase_free(&d); continue; }
            const size_t bytes = d.M * d.ldc * dw_out_elem(&d);
            uint8_t *want = guarded(bytes), *got = guarded(bytes), *scalar = guarded(bytes), *gemm = guarded(bytes);
            dwcase_reference(&d, want);
            dwcase_run(&d, uk, got);
            dwcase_run(&d, twin, scalar);
            dwcase_run_gemm(&d, gemm);
            cases++;
            const char* what = !guards_ok(got, bytes) ? "wrote outside its output"
                             : memcmp(got, want, bytes) != 0 ? "differs from the reference"
                             : memcmp(got, scalar, bytes) != 0 ? "differs from its scalar twin"
                             : memcmp(got, gemm, bytes) != 0 ? "differs from the GEMM path" : NULL;
            if (what != NULL) {
                size_t at = 0;
                while (at < bytes && got[at] == want[at]) at++;
                fprintf(stderr, "FAIL %s %dx%d C=%d H=%d W=%d stride=%dx%d pads=%d,%d,%d,%d bits=%d za=%d residual=%d "
                        "output=%d: %s (first byte %zu)\n", uk->name, d.kernel, d.kernel, d.g.in_c, H, W, sh, sw, pads[0], pads[1],
                        pads[2], pads[3], d.bits, d.za, d.residual, d.output, what, at);
                failures++;
            }
            release(want); release(got); release(scalar); release(gemm);
            dwcase_free(&d);
        }
    }
}

/* ---- fdwconv (f32 depthwise 3x3 and 5x5): every member equals its scalar twin bit for bit (one fmaf
 * chain over the in-image taps in (ky, kx) order, then the fgemm epilogue), stays within rounding of
 * a double reference and of the f32 GEMM path, and writes nothing outside out[m][c < C]. */
static void check_fdwconv_member(const qk_fdwconv_ukernel_desc* uk) {
    const qk_fdwconv_ukernel_desc* twin = qk_fdwconv_select(QK_ISA_SCALAR);
    const int32_t Cs[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 69};
    for (size_t ci = 0; ci < sizeof Cs / sizeof Cs[0]; ci++) {
        for (int rep = 0; rep < 12; rep++) {
            const int32_t C = Cs[ci], K = rep < 6 ? 3 : 5, KK = K * K;
            qk_conv_geom g;
            memset(&g, 0, sizeof g);
            g.in_h = 1 + (int32_t)(rnd() % 9); g.in_w = 1 + (int32_t)(rnd() % 9);
            g.in_c = g.out_c = g.groups = C; g.kernel_h = g.kernel_w = K; g.dilation_h = g.dilation_w = 1;
            g.stride_h = 1 + (int32_t)(rnd() % 2); g.stride_w = 1 + (int32_t)(rnd() % 2);
            g.pad_top = (int32_t)(rnd() % 3); g.pad_left = (int32_t)(rnd() % 3);
            g.pad_bottom = (int32_t)(rnd() % 3); g.pad_right = (int32_t)(rnd() % 3);
            if (!qk_fdwconv_supports(&g)) continue;
            const int32_t oh = qk_conv_out_h(&g), ow = qk_conv_out_w(&g);
            const size_t M = (size_t)oh * (size_t)ow, ldc = (size_t)C + rnd() % 3, ldr = (size_t)C + rnd() % 2;
            const size_t n_in = (size_t)g.in_h * (size_t)g.in_w * (size_t)C;
            float* in = malloc(n_in * sizeof(float));
            for (size_t i = 0; i < n_in; i++) in[i] = rndf(-2.0f, 2.0f);
            float* rows = malloc((size_t)C * (size_t)KK * sizeof(float));
            for (size_t i = 0; i < (size_t)C * (size_t)KK; i++) rows[i] = rndf(-1.0f, 1.0f);
            float* bias = malloc((size_t)C * sizeof(float));
            for (int32_t c = 0; c < C; c++) bias[c] = rndf(-1.0f, 1.0f);
            float* res = malloc(M * ldr * sizeof(float));
            for (size_t i = 0; i < M * ldr; i++) res[i] = rndf(-3.0f, 3.0f);
            const size_t ws = qk_fdwconv_weight_stride(C);
            float* w = malloc((size_t)KK * ws * sizeof(float));
            qk_fdwconv_pack(rows, (size_t)KK, KK, C, w, ws);
            qk_fdwconv_args a;
            memset(&a, 0, sizeof a);
            a.geom = g; a.in = in; a.w = w; a.w_stride = ws;
            a.epi.bias = rep % 2 ? bias : NULL;
            a.epi.clamp_lo = rep % 3 == 0 ? -INFINITY : (rep % 3 == 1 ? 0.0f : -0.5f);
            a.epi.clamp_hi = rep % 3 == 0 ? INFINITY : (rep % 3 == 1 ? 6.0f : 0.75f);
            a.epi.residual_kind = rep >= 3 ? QK_RESIDUAL_F32 : QK_RESIDUAL_NONE;
            a.epi.residual = res; a.epi.ldr = ldr;
            a.epi.output_kind = QK_OUTPUT_F32; a.epi.ldc = ldc;
            const size_t bytes = M * ldc * sizeof(float);
            uint8_t *got = guarded(bytes), *scalar = guarded(bytes), *gemm = guarded(bytes);
            a.epi.out = got;
            qk_fdwconv(uk, &a);
            a.epi.out = scalar;
            qk_fdwconv(twin, &a);
            qk_fgemm_args f;
            memset(&f, 0, sizeof f);
            f.b = rows; f.ldb = (size_t)KK; f.epi = a.epi; f.epi.out = gemm;
            float* wsp = malloc(qk_conv_workspace_bytes(&g, 4));
            qk_conv2d_f32(qk_fgemm_select(qk_isa_active()), &g, in, &f, wsp);
            free(wsp);
            cases++;
            const char* what = !guards_ok(got, bytes) ? "wrote outside its output"
                             : memcmp(got, scalar, bytes) != 0 ? "differs from its scalar twin" : NULL;
            for (size_t m = 0; what == NULL && m < M; m++) {
                const int32_t oy = (int32_t)(m / (size_t)ow), ox = (int32_t)(m % (size_t)ow);
                for (int32_t c = 0; what == NULL && c < C; c++) {
                    double acc = 0.0, mag = 0.0;
                    for (int ky = 0; ky < K; ky++) {
                        for (int kx = 0; kx < K; kx++) {
                            const int32_t iy = oy * g.stride_h - g.pad_top + ky, ix = ox * g.stride_w - g.pad_left + kx;
                            if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
                            const double p = (double)in[((size_t)iy * (size_t)g.in_w + (size_t)ix) * (size_t)C + (size_t)c]
                                           * rows[(size_t)c * (size_t)KK + (size_t)(ky * K + kx)];
                            acc += p;
                            mag += fabs(p);
                        }
                    }
                    if (a.epi.bias != NULL) { acc += bias[c]; mag += fabs(bias[c]); }
                    if (a.epi.residual_kind == QK_RESIDUAL_F32) { acc += res[m * ldr + (size_t)c]; mag += fabs(res[m * ldr + (size_t)c]); }
                    acc = fmin(fmax(acc, a.epi.clamp_lo), a.epi.clamp_hi);
                    float v, vg;
                    memcpy(&v, got + (m * ldc + (size_t)c) * 4, 4);
                    memcpy(&vg, gemm + (m * ldc + (size_t)c) * 4, 4);
                    const double tol = 1e-6 * (double)KK / 9.0 * (mag + 1.0);  /* error grows with the chain length */
                    if (fabs(v - acc) > tol) what = "differs from the double reference";
                    else if (fabs(v - vg) > 2 * tol) what = "differs from the f32 GEMM path beyond rounding";
                }
            }
            if (what != NULL) {
                fprintf(stderr, "FAIL %s %dx%d C=%d H=%d W=%d stride=%dx%d pads=%d,%d,%d,%d rep=%d: %s\n", uk->name, K, K, C, g.in_h,
                        g.in_w, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.pad_bottom, g.pad_right, rep, what);
                failures++;
            }
            release(got); release(scalar); release(gemm);
            free(in); free(rows); free(bias); free(res); free(w);
        }
    }
}

/* ---- f32 activation steps (qk_eltwise.c): NEON gets them by auto-vectorisation, so they must
 * equal, bit for bit, these scalar forms of the Swift expressions they replaced (Tests/QKernelsTests/
 * EltwiseTests.swift), special values included. */
static float bits_float(uint32_t b) { float f; memcpy(&f, &b, sizeof f); return f; }
static uint32_t float_bits(float f) { uint32_t b; memcpy(&b, &f, sizeof b); return b; }
static float eltwise_input(void) {
    static const uint32_t specials[] = {0x7fc00000u, 0xffc00000u, 0x7fc01234u, 0x7f800055u, 0x80000000u, 0u,
                                        0x7f800000u, 0xff800000u, 1u, 0x80000001u, 0x00200000u, 0x3f000000u,
                                        0xbf000000u, 0x40200000u, 0x3f7fffffu, 0x3f800001u};
    switch (rnd() % 3) {
    case 0: return bits_float(rnd() << 16 ^ rnd());
    case 1: return rndf(-4.0f, 4.0f);
    default: return bits_float(specials[rnd() % (sizeof specials / sizeof specials[0])]);
    }
}
static float swift_clamp(float x, float lo, float hi) {
    const float t = lo >= x ? lo : x;  /* Swift.max(x, lo) */
    return hi < t ? hi : t;            /* Swift.min(t, hi) */
}
static void check_eltwise_f32(const char* what, size_t n, size_t c, const float* x, const float* got,
                              const float* scale, const float* shift, int op, float p0, float p1, float p2) {
    cases++;
    if (!guards_ok((const uint8_t*)got, n * sizeof(float))) {
        fprintf(stderr, "FAIL %s n %zu channels %zu: wrote outside its output\n", what, n, c);
        failures++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        float want;
        switch (op) {
        case 0: want = fmaf(v, scale[i % c], shift[i % c]); break; /* one fused multiply-add */
        case 1: want = v >= 0.0f ? v : scale[i % c] * v; break;
        case 2: want = swift_clamp(v, p0, p1); break;
        case 3: want = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); break;
        case 4: want = swift_clamp(floorf(v / p0) * p0, p1, p2); break;
        default: want = rintf(swift_clamp(v, 0.0f, 1.0f) * p0) / p0; break;
        }
        if (float_bits(got[i]) != float_bits(want)) {
            fprintf(stderr, "FAIL %s n %zu channels %zu at %zu: x 0x%08x got 0x%08x want 0x%08x\n", what, n, c, i,
                    float_bits(v), float_bits(got[i]), float_bits(want));
            failures++;
            return;
        }
    }
}
static void check_eltwise(void) {
    static const size_t channel_counts[] = {1, 3, 8, 16, 17, 64, 69};
    for (size_t ci = 0; ci < sizeof channel_counts / sizeof channel_counts[0]; ci++) {
        const size_t c = channel_counts[ci];
        float scale[69], shift[69];
        for (size_t j = 0; j < c; j++) {
            scale[j] = eltwise_input();
            shift[j] = eltwise_input();
            if (isnan(scale[j])) scale[j] = -0.0f;  /* NaN in both operands: payload unspecified */
            if (isnan(shift[j])) shift[j] = INFINITY;
        }
        const size_t lengths[] = {0, 1, 15, 17, 65, c + 1, 5 * c + 3, 33 * c + c / 2, (32768 / c + 7) * c + 5};
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            const size_t n = lengths[li], bytes = n * sizeof(float);
            float* x = malloc(bytes + sizeof(float));
            for (size_t i = 0; i < n; i++) x[i] = eltwise_input();
            float* y = (float*)guarded(bytes);
            qk_affine_f32(n, c, x, scale, shift, y);
            check_eltwise_f32("affine", n, c, x, y, scale, shift, 0, 0, 0, 0);
            qk_prelu_f32(n, c, x, scale, y);
            check_eltwise_f32("prelu", n, c, x, y, scale, shift, 1, 0, 0, 0);
            qk_clamp_f32(n, x, -1.0f, 6.0f, y);
            check_eltwise_f32("clamp", n, c, x, y, scale, shift, 2, -1.0f, 6.0f, 0);
            qk_clamp_f32(n, x, -0.0f, 0.0f, y);
            check_eltwise_f32("clamp zeros", n, c, x, y, scale, shift, 2, -0.0f, 0.0f, 0);
            qk_sign_f32(n, x, y);
            check_eltwise_f32("sign", n, c, x, y, scale, shift, 3, 0, 0, 0);
            qk_round_to_fixed_f32(n, x, 1.0f / 64, -8.0f, 7.0f, y);
            check_eltwise_f32("round_to_fixed", n, c, x, y, scale, shift, 4, 1.0f / 64, -8.0f, 7.0f);
            qk_round_to_fixed_f32(n, x, 0.3f, -5.0f, 5.0f, y);
            check_eltwise_f32("round_to_fixed 0.3", n, c, x, y, scale, shift, 4, 0.3f, -5.0f, 5.0f);
            qk_dorefa_f32(n, x, 3.0f, y);
            check_eltwise_f32("dorefa", n, c, x, y, scale, shift, 5, 3.0f, 0, 0);
            release((uint8_t*)y);
            free(x);
        }
    }
}

/* Dispatch check: `picked` must be the first member of `table` (registry order) of the highest rank
 * among those passing `cond` (over `d`) that this CPU supports with rank <= the active ISA's. */
#define EXPECT_PICK(what, picked, table, count, cond)                                                  \
    do {                                                                                             \
        const __typeof__((table)[0])* want_ = NULL;                                                  \
        for (size_t i_ = 0; i_ < (count); i_++) {                                                    \
            const __typeof__((table)[0])* d = &(table)[i_];                                          \
            if (!(cond) || !qk_isa_supported(d->isa) || qk_isa_rank(d->isa) > qk_isa_rank(active)) continue; \
            if (want_ == NULL || qk_isa_rank(d->isa) > qk_isa_rank(want_->isa)) want_ = d;           \
        }                                                                                            \
        const __typeof__((table)[0])* got_ = (picked);                                               \
        if (got_ == NULL || got_ != want_) {                                                         \
            fprintf(stderr, "FAIL dispatch %s picked %s under %s, want %s\n", (what), got_ ? got_->name : "nothing", \
                    qk_isa_name(active), want_ ? want_->name : "nothing");                           \
            failures++;                                                                              \
        } else {                                                                                     \
            printf("dispatch %s -> %s\n", (what), got_->name);                                       \
        }                                                                                            \
    } while (0)

int main(int argc, char** argv) {
    const char* expect = NULL;
    rng_state = 20261123;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expect-isa") == 0 && i + 1 < argc) expect = argv[++i];
        else rng_state = strtoull(argv[i], NULL, 0);
    }
    const qk_isa active = qk_isa_active();
    printf("detected ISA: %s, seed %llu\n", qk_isa_name(active), (unsigned long long)rng_state);
    if (expect != NULL && strcmp(expect, qk_isa_name(active)) != 0) {
        fprintf(stderr, "FAIL expected ISA %s, detected %s\n", expect, qk_isa_name(active));
        failures++;
    }
    int ran = 0, skipped = 0;
    for (size_t i = 0; i < qk_qgemm_ukernel_count; i++) {
        const qk_qgemm_ukernel_desc* uk = qk_qgemm_ukernel_at(i);
        if (!qk_isa_supported(uk->isa)) { printf("skip %s (CPU lacks %s)\n", uk->name, qk_isa_name(uk->isa)); skipped++; continue; }
        check_qgemm_member(uk);
        check_qgemm_implicit(uk);
        check_qgemm_deep_k(uk);
        ran++;
    }
    for (size_t i = 0; i < qk_fgemm_ukernel_count; i++) {
        const qk_fgemm_ukernel_desc* uk = qk_fgemm_ukernel_at(i);
        if (!qk_isa_supported(uk->isa)) { printf("skip %s (CPU lacks %s)\n", uk->name, qk_isa_name(uk->isa)); skipped++; continue; }
        check_f32_gemm(uk, NULL);
        ran++;
    }
    for (size_t i = 0; i < qk_pfgemm_ukernel_count; i++) {
        const qk_pfgemm_ukernel_desc* uk = qk_pfgemm_ukernel_at(i);
        if (!qk_isa_supported(uk->isa)) { printf("skip %s (CPU lacks %s)\n", uk->name, qk_isa_name(uk->isa)); skipped++; continue; }
        check_f32_gemm(NULL, uk);
        ran++;
    }
    for (size_t i = 0; i < qk_bgemm_ukernel_count; i++) {
        const qk_bgemm_ukernel_desc* uk = qk_bgemm_ukernel_at(i);
        if (!qk_isa_supported(uk->isa)) { printf("skip %s (CPU lacks %s)\n", uk->name, qk_isa_name(uk->isa)); skipped++; continue; }
        check_bgemm_member(uk);
        check_bconv_member(uk);
        ran++;
    }
    for (size_t i = 0; i < qk_bsgemm_ukernel_count; i++) {
        const qk_bsgemm_ukernel_desc* uk = qk_bsgemm_ukernel_at(i);
        if (!qk_isa_supported(uk->isa)) { printf("skip %s (CPU lacks %s)\n", uk->name, qk_isa_name(uk->isa)); skipped++; continue; }
        check_bsgemm_member(uk);
        check_bsconv_member(uk);
        ran++;
    }
    for (size_t i = 0; i < qk_dwconv_ukernel_count; i++) {
        const qk_dwconv_ukernel_desc* uk = qk_dwconv_ukernel_at(i);
        if (!qk_isa_supported(uk->isa)) { printf("skip %s (CPU lacks %s)\n", uk->name, qk_isa_name(uk->isa)); skipped++; continue; }
        check_dwconv_member(uk);
        ran++;
    }
    for (size_t i = 0; i < qk_fdwconv_ukernel_count; i++) {
        const qk_fdwconv_ukernel_desc* uk = qk_fdwconv_ukernel_at(i);
        if (!qk_isa_supported(uk->isa)) { printf("skip %s (CPU lacks %s)\n", uk->name, qk_isa_name(uk->isa)); skipped++; continue; }
        check_fdwconv_member(uk);
        ran++;
    }
    /* Dispatch: every select must return the member of the highest rank this CPU supports, not above
     * the active ISA (on cortex-a53, without dotprod: the neon members where a family has one, else
     * scalar; on cortex-a76 the neondot ones). */
    EXPECT_PICK("bgemm", qk_bgemm_select(active), qk_bgemm_ukernels, qk_bgemm_ukernel_count, 1);
    EXPECT_PICK("dwconv", qk_dwconv_select(active), qk_dwconv_ukernels, qk_dwconv_ukernel_count, 1);
    EXPECT_PICK("fdwconv", qk_fdwconv_select(active), qk_fdwconv_ukernels, qk_fdwconv_ukernel_count, 1);
    EXPECT_PICK("fgemm", qk_fgemm_select(active), qk_fgemm_ukernels, qk_fgemm_ukernel_count, 1);
    EXPECT_PICK("pfgemm", qk_pfgemm_select(active), qk_pfgemm_ukernels, qk_pfgemm_ukernel_count, 1);
    for (int32_t c = 1; c <= 70; c++) {  /* per channel count: a SIMD member whose lanes divide C, else the plain pick */
        const qk_fdwconv_ukernel_desc* f = qk_fdwconv_select_for(active, c);
        const qk_fdwconv_ukernel_desc* want = NULL;
        for (size_t i = 0; i < qk_fdwconv_ukernel_count; i++) {
            const qk_fdwconv_ukernel_desc* d = &qk_fdwconv_ukernels[i];
            if (d->isa == QK_ISA_SCALAR || c % d->lanes != 0 || !qk_isa_supported(d->isa)
                || qk_isa_rank(d->isa) > qk_isa_rank(active)) continue;
            if (want == NULL || qk_isa_rank(d->isa) > qk_isa_rank(want->isa)) want = d;
        }
        if (want == NULL) want = qk_fdwconv_select(active);
        if (f != want) { fprintf(stderr, "FAIL fdwconv dispatch for C=%d picked %s\n", c, f ? f->name : "nothing"); failures++; }
    }
    for (int bits = 1; bits <= 8; bits++) {
        if (bits > 4 && bits < 8) continue;
        char what[32];
        snprintf(what, sizeof what, "%d bits", bits);
        EXPECT_PICK(what, qk_qgemm_select(bits, active), qk_qgemm_ukernels, qk_qgemm_ukernel_count,
                    d->bits == bits && d->kind == QK_KIND_LUT);
        if (bits >= 2 && bits <= 4) {
            snprintf(what, sizeof what, "shift %d bits", bits);
            EXPECT_PICK(what, qk_qgemm_select_kind(bits, active, QK_KIND_SHIFT), qk_qgemm_ukernels, qk_qgemm_ukernel_count,
                        d->bits == bits && d->kind == QK_KIND_SHIFT);
        }
    }
    for (int wb = 1; wb <= 2; wb++)
        for (int ab = 1; ab <= 2; ab++) {
            char what[32];
            snprintf(what, sizeof what, "bsgemm w%da%d", wb, ab);
            EXPECT_PICK(what, qk_bsgemm_select(wb, ab, active), qk_bsgemm_ukernels, qk_bsgemm_ukernel_count,
                        d->wbits == wb && d->abits == ab);
        }
    check_eltwise();
    printf("%d members run, %d skipped, %d cases, %d failures\n", ran, skipped, cases, failures);
    return failures == 0 ? 0 : 1;
}
