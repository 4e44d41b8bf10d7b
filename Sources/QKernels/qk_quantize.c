/* qk_quantize.c — per-tensor quantize f32 -> u8, dequantize u8 -> f32, and min/max for dynamic
 * quantization. */
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "internal/qk_epilogue.h"
#include "internal/qk_isa_internal.h"
#include "internal/qk_parallel.h"
#include "qk_ops.h"

/* The scalar twin (and the AVX2 / default clones): qk_requant_u8 per element. */
static QK_VECTOR_CLONES void qk_quantize_u8_run(size_t n, const float* restrict in, float inv_scale, int32_t zero,
                                                uint8_t* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = qk_requant_u8(in[i], inv_scale, zero);
}

#if defined(__x86_64__)
/* AVX-512BW, 64 codes per step in 18 instructions: t = min(255 - zero, x * inv) (minps with the bound
 * first, so a NaN stays NaN), vcvtps2dq (round to nearest even under the default MXCSR: qk_requant_u8's
 * rounding; NaN and |t| >= 2^31 give INT32_MIN), packssdw to int16, + zero with signed saturation,
 * packuswb (clamps to [0, 255]), a dword permute back to memory order. The codes are qk_requant_u8's: the bound
 * keeps q + zero <= 255 with no wrap in the int16 steps; below, everything under -zero saturates to code
 * 0, INT32_MIN (NaN, -inf, huge negatives) included, as qk_requant_u8 clamps NaN and -inf to 0. */
static __attribute__((target("avx2,fma,avx512f,avx512bw")))
void qk_quantize_u8_avx512(size_t n, const float* in, float inv_scale, int32_t zero, uint8_t* out) {
    const __m512 inv = _mm512_set1_ps(inv_scale), hi = _mm512_set1_ps((float)(255 - zero));
    const __m512i z = _mm512_set1_epi16((int16_t)zero), order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i q[4];
        for (int u = 0; u < 4; u++)
            q[u] = _mm512_cvtps_epi32(_mm512_min_ps(hi, _mm512_mul_ps(_mm512_loadu_ps(in + i + 16 * u), inv)));
        /* packs work per 128-bit lane L: the bytes come out as dwords [a_L b_L c_L d_L] for L = 0..3
         * (a_L = codes 4L..4L+3 of q[0]); the dword permute (a 4x4 transpose) restores memory order */
        const __m512i ab = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), z);
        const __m512i cd = _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), z);
        _mm512_storeu_si512(out + i, _mm512_permutexvar_epi32(order, _mm512_packus_epi16(ab, cd)));
    }
    if (i < n) qk_quantize_u8_run(n - i, in + i, inv_scale, zero, out + i);
}
#endif

qk_quantize_fn qk_quantize_u8_member(int32_t zero) {
#if defined(__x86_64__)
    /* the member's bound and saturations reproduce qk_requant_u8 for zero points in [0, 255] */
    if (zero >= 0 && zero <= 255 && qk_isa_within(QK_ISA_AVX512SKX, qk_isa_active())) return qk_quantize_u8_avx512;
#else
    (void)zero;
#endif
    return qk_quantize_u8_run;
}

void qk_quantize_u8(size_t n, const float* in, float inv_scale, int32_t zero, uint8_t* out) {
    const qk_quantize_fn run = qk_quantize_u8_member(zero);
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, run(count, in + begin, inv_scale, zero, out + begin));
}

QK_VECTOR_CLONES void qk_dequantize_u8(size_t n, const uint8_t* in, float scale, int32_t zero, float* out) {
    for (size_t i = 0; i < n; i++) out[i] = scale * (float)((int32_t)in[i] - zero);
}

/* 16 lanes as one GCC / clang vector (vector_size: both compilers, C): compares give lane masks and the
 * select below is a per-lane x < lo ? x : lo. The same loop over a float[16] array was vectorised at -O3
 * into lane reversals and masked moves that ran 4x slower. A macro, not a function: vector arguments
 * would need the clone's target in every helper. */
typedef float qk_minmax_lanes __attribute__((vector_size(64)));
typedef int32_t qk_minmax_mask __attribute__((vector_size(64)));
#define QK_MINMAX_SELECT(m, a, b) ((qk_minmax_lanes)(((qk_minmax_mask)(a) & (m)) | ((qk_minmax_mask)(b) & ~(m))))

static QK_VECTOR_CLONES void qk_minmax_run(size_t n, const float* in, float* out_min, float* out_max) {
    /* 16 independent lanes, then their reduction; NaNs are skipped as fminf / fmaxf skip them (a NaN
     * compares false). Which zero of +-0 wins may differ from a serial fminf. */
    /* four (lo, hi) pairs, so four independent min / max chains hide the instruction latency */
    qk_minmax_lanes lo[4], hi[4];
    for (int u = 0; u < 4; u++)
        for (int j = 0; j < 16; j++) { lo[u][j] = INFINITY; hi[u][j] = -INFINITY; }
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int u = 0; u < 4; u++) {
            qk_minmax_lanes x;
            memcpy(&x, in + i + 16 * (size_t)u, sizeof x);
            lo[u] = QK_MINMAX_SELECT(x < lo[u], x, lo[u]);
            hi[u] = QK_MINMAX_SELECT(x > hi[u], x, hi[u]);
        }
    }
    for (; i + 16 <= n; i += 16) {
        qk_minmax_lanes x;
        memcpy(&x, in + i, sizeof x);
        lo[0] = QK_MINMAX_SELECT(x < lo[0], x, lo[0]);
        hi[0] = QK_MINMAX_SELECT(x > hi[0], x, hi[0]);
    }
    for (int u = 1; u < 4; u++) {
        lo[0] = QK_MINMAX_SELECT(lo[u] < lo[0], lo[u], lo[0]);
        hi[0] = QK_MINMAX_SELECT(hi[u] > hi[0], hi[u], hi[0]);
    }
    float l = lo[0][0], h = hi[0][0];
    for (int j = 1; j < 16; j++) {
        l = lo[0][j] < l ? lo[0][j] : l;
        h = hi[0][j] > h ? hi[0][j] : h;
    }
    for (; i < n; i++) {
        l = in[i] < l ? in[i] : l;
        h = in[i] > h ? in[i] : h;
    }
    *out_min = l;
    *out_max = h;
}

QK_VECTOR_CLONES void qk_minmax_rows_f32(size_t rows, size_t cols, const float* p, size_t ld, float* lo_out, float* hi_out) {
    /* a conv's output tile, just written and in L1; two pairs of 16-lane chains (a 32-column tile row) */
    qk_minmax_lanes lo[2], hi[2];
    for (int u = 0; u < 2; u++)
        for (int j = 0; j < 16; j++) { lo[u][j] = INFINITY; hi[u][j] = -INFINITY; }
    float l = *lo_out, h = *hi_out;
    for (size_t r = 0; r < rows; r++) {
        const float* row = p + r * ld;
        size_t j = 0;
        for (; j + 32 <= cols; j += 32) {
            qk_minmax_lanes x, y;
            memcpy(&x, row + j, sizeof x);
            memcpy(&y, row + j + 16, sizeof y);
            lo[0] = QK_MINMAX_SELECT(x < lo[0], x, lo[0]);
            hi[0] = QK_MINMAX_SELECT(x > hi[0], x, hi[0]);
            lo[1] = QK_MINMAX_SELECT(y < lo[1], y, lo[1]);
            hi[1] = QK_MINMAX_SELECT(y > hi[1], y, hi[1]);
        }
        if (j + 16 <= cols) {
            qk_minmax_lanes x;
            memcpy(&x, row + j, sizeof x);
            lo[0] = QK_MINMAX_SELECT(x < lo[0], x, lo[0]);
            hi[0] = QK_MINMAX_SELECT(x > hi[0], x, hi[0]);
            j += 16;
        }
        for (; j < cols; j++) {
            l = row[j] < l ? row[j] : l;
            h = row[j] > h ? row[j] : h;
        }
    }
    for (int u = 0; u < 2; u++)
        for (int j = 0; j < 16; j++) {
            l = lo[u][j] < l ? lo[u][j] : l;
            h = hi[u][j] > h ? hi[u][j] : h;
        }
    *lo_out = l;
    *hi_out = h;
}

void qk_minmax_f32(size_t n, const float* in, float* out_min, float* out_max) {
    if (n < QK_PARALLEL_MIN_WORK || qk_team_size() == 1) {
        qk_minmax_run(n, in, out_min, out_max);
        return;
    }
    /* the chunks of QK_FOR_CHUNKS (a static schedule gives each thread the same ones as the quantize
     * step that follows, so it finds them in its cache), each thread's range merged into the result */
    float range[2] = {INFINITY, -INFINITY};
    const long long chunks = (long long)((n + QK_ELTWISE_CHUNK - 1) / QK_ELTWISE_CHUNK);
    _Pragma("omp parallel num_threads(qk_team_size())")
    {
        float lo = INFINITY, hi = -INFINITY;
        _Pragma("omp for schedule(static)")
        for (long long k = 0; k < chunks; k++) {
            const size_t begin = (size_t)k * QK_ELTWISE_CHUNK;
            float l, h;
            qk_minmax_run(n - begin < QK_ELTWISE_CHUNK ? n - begin : QK_ELTWISE_CHUNK, in + begin, &l, &h);
            lo = l < lo ? l : lo;
            hi = h > hi ? h : hi;
        }
        _Pragma("omp critical(qk_out_range)")
        qk_out_range_merge(range, lo, hi);
    }
    *out_min = range[0];
    *out_max = range[1];
}
