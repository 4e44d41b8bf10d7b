/* qk_eltwise.c — elementwise add (u8 with per-input quantization, f32), the option-A shortcut
 * (stride-2 subsample with zero channel padding, CIFAR ResNet), the f32 activation steps (affine,
 * PReLU, clamp, sign, round_to_fixed, DoReFa, hardswish, hardsigmoid, sigmoid, SiLU), squeeze-excite's
 * per-channel multiply, channel concat / slice copies and the HWC -> CHW flatten. */
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "internal/qk_epilogue.h"
#include "internal/qk_isa_internal.h"
#include "internal/qk_parallel.h"
#include "qk_ops.h"

void qk_add_u8(size_t n, const uint8_t* a, float a_scale, int32_t a_zero, const uint8_t* b,
               float b_scale, int32_t b_zero, float clamp_lo, float clamp_hi, float out_inv_scale,
               int32_t out_zero, uint8_t* out) {
    const long long nn = (long long)n;
    QK_PARALLEL_FOR(i_, nn, n >= QK_PARALLEL_MIN_WORK, {
        const long long i = (long long)i_;
        const float ya = a_scale * (float)((int32_t)a[i] - a_zero);
        const float yb = b_scale * (float)((int32_t)b[i] - b_zero);
        const float y = fminf(fmaxf(ya + yb, clamp_lo), clamp_hi);
        out[i] = qk_requant_u8(y, out_inv_scale, out_zero);
    });
}

void qk_add_f32(size_t n, const float* a, const float* b, float clamp_lo, float clamp_hi, float* out) {
    for (size_t i = 0; i < n; i++) out[i] = fminf(fmaxf(a[i] + b[i], clamp_lo), clamp_hi);
}

#define QK_SHORTCUT_A_BODY(T)                                                                  \
    do {                                                                                       \
        const int32_t oh = (in_h + 1) / 2, ow = (in_w + 1) / 2;                               \
        /* channels [lo, hi) are copied: [pad, pad + in_c) within [0, out_c) */               \
        const int32_t lo = pad < out_c ? pad : out_c;                                          \
        const int32_t hi = pad + in_c < out_c ? pad + in_c : out_c;                            \
        for (int32_t y = 0; y < oh; y++) {                                                     \
            for (int32_t x = 0; x < ow; x++) {                                                 \
                T* o = out + ((size_t)y * (size_t)ow + (size_t)x) * (size_t)out_c;            \
                const T* s = in + ((size_t)(2 * y) * (size_t)in_w + (size_t)(2 * x)) * (size_t)in_c; \
                /* three plain loops (zeros, the copy, zeros; each clipped to out_c): a branch per \
                 * element took 7 us for 16x16x32 floats */                                    \
                for (int32_t c = 0; c < lo; c++) o[c] = zero_value;                            \
                for (int32_t c = lo; c < hi; c++) o[c] = s[c - pad];                           \
                for (int32_t c = hi; c < out_c; c++) o[c] = zero_value;                        \
            }                                                                                  \
        }                                                                                      \
    } while (0)

void qk_shortcut_a_u8(const uint8_t* in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t pad,
                      int32_t out_c, uint8_t zero_value, uint8_t* out) {
    QK_SHORTCUT_A_BODY(uint8_t);
}

void qk_shortcut_a_f32(const float* in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t pad,
                       int32_t out_c, float zero_value, float* out) {
    QK_SHORTCUT_A_BODY(float);
}

/* ---- f32 activation steps ----
 * Each public function splits [0, n) into chunks (on the OpenMP team when n is large) and calls a
 * run function compiled per ISA (QK_VECTOR_CLONES). Per-channel steps (channel of element i is
 * i % channels) never take a modulo per element: the run function loops over periods of whole
 * pixels and, inside one, over the channel parameters tiled to the period's length. Elementwise,
 * so every chunking and every team size gives the same bits. */

/** A period is at least this many elements (four AVX-512 vectors) ... */
#define QK_PERIOD_MIN ((size_t)64)
/** ... and at most this many: lcm(channels, 16) * 2^j for channels < QK_PERIOD_MIN is <= 1008. */
#define QK_PERIOD_MAX ((size_t)1024)

/** The period of a per-channel step: `channels` itself when that is long enough, else the smallest
 *  multiple of lcm(channels, 16) (whole vectors, whole pixels) with at least QK_PERIOD_MIN elements. */
static size_t qk_channel_period(size_t channels) {
    if (channels >= QK_PERIOD_MIN) return channels;
    const size_t low_bit = channels & (~channels + 1); /* largest power of two dividing channels */
    size_t period = channels * (16 / (low_bit < 16 ? low_bit : 16));
    while (period < QK_PERIOD_MIN) period *= 2;
    return period;
}

/** `params` repeated to `period` elements in `tiled` (whole copies, as period % channels == 0);
 *  returns `params` itself when no tiling is needed. */
static const float* qk_tile_params(const float* params, size_t channels, size_t period, float* tiled) {
    if (period == channels) return params;
    for (size_t j = 0; j < period; j += channels) memcpy(tiled + j, params, channels * sizeof(float));
    return tiled;
}

/** Swift's min(max(x, lo), hi): max(x, y) is `y >= x ? y : x`, min(x, y) is `y < x ? y : x`,
 *  so a NaN x passes through and ties pick lo / x (the sign of a zero follows). */
static inline float qk_swift_clamp(float x, float lo, float hi) {
    const float t = lo >= x ? lo : x;
    return hi < t ? hi : t;
}

/* The run functions: n elements from a period boundary; `period` elements of parameters. */
#define QK_PER_CHANNEL_RUN(EXPR)                                                                      \
    size_t i = 0;                                                                                     \
    for (; i + period <= n; i += period) {                                                            \
        const float* restrict x = in + i;                                                             \
        float* restrict y = out + i;                                                                  \
        for (size_t j = 0; j < period; j++) y[j] = (EXPR);                                            \
    }                                                                                                 \
    const float* restrict x = in + i;                                                                 \
    float* restrict y = out + i;                                                                      \
    for (size_t j = 0; j < n - i; j++) y[j] = (EXPR)

static QK_FMA_CLONES void qk_affine_run(size_t n, size_t period, const float* restrict in,
                                       const float* restrict scale, const float* restrict shift,
                                       float* restrict out) {
    QK_PER_CHANNEL_RUN(fmaf(x[j], scale[j], shift[j]));
}

static QK_VECTOR_CLONES void qk_prelu_run(size_t n, size_t period, const float* restrict in,
                                          const float* restrict slope, float* restrict out) {
    QK_PER_CHANNEL_RUN(x[j] >= 0.0f ? x[j] : slope[j] * x[j]);
}

void qk_affine_f32(size_t n, size_t channels, const float* in, const float* scale, const float* shift,
                   float* out) {
    float tiled_scale[QK_PERIOD_MAX], tiled_shift[QK_PERIOD_MAX];
    const size_t period = qk_channel_period(channels);
    const float* s = qk_tile_params(scale, channels, period, tiled_scale);
    const float* b = qk_tile_params(shift, channels, period, tiled_shift);
    const size_t chunk = period * ((QK_ELTWISE_CHUNK + period - 1) / period);
    QK_FOR_CHUNKS(n, chunk, begin, count, qk_affine_run(count, period, in + begin, s, b, out + begin));
}

/** BatchNorm -> DoReFa -> quantize as one pass: qk_affine_f32's fused multiply-add, qk_dorefa_f32's clamp
 *  and rounding, then the code itself: DoReFa's P / levels quantized with scale 1 / levels is P again
 *  (|P / levels * inv_scale - P| <= 255 * 2^-22), so the division and the second multiply are left out and
 *  P goes through qk_requant_u8 with inverse scale 1 (a NaN gives 0, as through the three steps). The
 *  codes are the three steps' bits (EltwiseTests compares them on NaN, infinities and DoReFa's ties). */
static QK_FMA_CLONES void qk_affine_dorefa_u8_run(size_t n, size_t period, const float* restrict in,
                                                 const float* restrict scale, const float* restrict shift,
                                                 float levels, uint8_t* restrict out) {
    size_t i = 0;
    for (; i < n; i += period) {
        const size_t count = n - i < period ? n - i : period;
        const float* restrict x = in + i;
        uint8_t* restrict y = out + i;
        for (size_t j = 0; j < count; j++) {
            y[j] = qk_requant_u8(rintf(qk_swift_clamp(fmaf(x[j], scale[j], shift[j]), 0.0f, 1.0f) * levels), 1.0f, 0);
        }
    }
}

void qk_affine_dorefa_u8(size_t n, size_t channels, const float* in, const float* scale, const float* shift,
                         float levels, uint8_t* out) {
    float tiled_scale[QK_PERIOD_MAX], tiled_shift[QK_PERIOD_MAX];
    const size_t period = qk_channel_period(channels);
    const float* s = qk_tile_params(scale, channels, period, tiled_scale);
    const float* b = qk_tile_params(shift, channels, period, tiled_shift);
    const size_t chunk = period * ((QK_ELTWISE_CHUNK + period - 1) / period);
    QK_FOR_CHUNKS(n, chunk, begin, count,
                  qk_affine_dorefa_u8_run(count, period, in + begin, s, b, levels, out + begin));
}

/** A per-channel step with one parameter array: `run` over chunks of whole periods. */
typedef void (*qk_one_param_run)(size_t n, size_t period, const float* restrict in, const float* restrict param,
                                 float* restrict out);

static void qk_one_param_f32(qk_one_param_run run, size_t n, size_t channels, const float* in, const float* param,
                             float* out) {
    float tiled[QK_PERIOD_MAX];
    const size_t period = qk_channel_period(channels);
    const float* a = qk_tile_params(param, channels, period, tiled);
    const size_t chunk = period * ((QK_ELTWISE_CHUNK + period - 1) / period);
    QK_FOR_CHUNKS(n, chunk, begin, count, run(count, period, in + begin, a, out + begin));
}

void qk_prelu_f32(size_t n, size_t channels, const float* in, const float* slope, float* out) {
    qk_one_param_f32(qk_prelu_run, n, channels, in, slope, out);
}

static QK_VECTOR_CLONES void qk_clamp_run(size_t n, const float* restrict in, float lo, float hi,
                                          float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = qk_swift_clamp(in[i], lo, hi);
}

static QK_VECTOR_CLONES void qk_sign_run(size_t n, const float* restrict in, float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? 1.0f : (in[i] < 0.0f ? -1.0f : 0.0f);
}

static QK_VECTOR_CLONES void qk_round_to_fixed_run(size_t n, const float* restrict in, float delta,
                                                   float lo, float hi, float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = qk_swift_clamp(floorf(in[i] / delta) * delta, lo, hi);
}

static QK_VECTOR_CLONES void qk_dorefa_run(size_t n, const float* restrict in, float levels,
                                           float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = rintf(qk_swift_clamp(in[i], 0.0f, 1.0f) * levels) / levels;
}

void qk_clamp_f32(size_t n, const float* in, float lo, float hi, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, qk_clamp_run(count, in + begin, lo, hi, out + begin));
}

void qk_sign_f32(size_t n, const float* in, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, qk_sign_run(count, in + begin, out + begin));
}

void qk_round_to_fixed_f32(size_t n, const float* in, float delta, float lo, float hi, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count,
                  qk_round_to_fixed_run(count, in + begin, delta, lo, hi, out + begin));
}

void qk_dorefa_f32(size_t n, const float* in, float levels, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, qk_dorefa_run(count, in + begin, levels, out + begin));
}

static QK_VECTOR_CLONES void qk_hardswish_run(size_t n, const float* restrict in, float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] * qk_swift_clamp(in[i] + 3.0f, 0.0f, 6.0f) / 6.0f;
}

static QK_VECTOR_CLONES void qk_hardsigmoid_run(size_t n, const float* restrict in, float alpha, float beta,
                                                float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = qk_swift_clamp(alpha * in[i] + beta, 0.0f, 1.0f);
}

/** e^x for the sigmoids, branch-free so the loops vectorize (libm's expf does not): x clamped to
 *  [-87.33, 89] (a NaN passes through; from 88.38 on, n = 128 makes 2^n and the result +inf, so
 *  1 / (1 + e^x) and x / (1 + e^x) go to 0 as they should), x = n ln2 + r with n = round(x / ln2) by the 1.5 * 2^23 trick
 *  (no float -> int conversion), ln2 split in two for r, Cephes' degree-6 polynomial for e^r on
 *  |r| <= ln2 / 2, 2^n built in the exponent bits. Within 2 ulp of e^x below 88.38 (the tests
 *  check the sigmoids against float64); the same operations in every clone (no contraction), so every
 *  ISA gives the same bits. */
static inline float qk_exp_approx(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer in the low bits */
    x = qk_swift_clamp(x, -87.33f, 89.0f);
    const float t = x * 1.44269504088896341f + magic;
    const float n = t - magic;
    int32_t t_bits, m_bits;
    memcpy(&t_bits, &t, 4);
    memcpy(&m_bits, &magic, 4);
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float er = p * (r * r) + r + 1.0f;
    const int32_t scale_bits = (int32_t)((uint32_t)(t_bits - m_bits + 127) << 23);
    float scale;
    memcpy(&scale, &scale_bits, 4);
    return er * scale;
}

static QK_VECTOR_CLONES void qk_sigmoid_run(size_t n, const float* restrict in, float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + qk_exp_approx(-in[i]));
}

static QK_VECTOR_CLONES void qk_silu_run(size_t n, const float* restrict in, float* restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] / (1.0f + qk_exp_approx(-in[i]));
}

static QK_VECTOR_CLONES void qk_channel_mul_run(size_t n, size_t period, const float* restrict in,
                                                const float* restrict scale, float* restrict out) {
    QK_PER_CHANNEL_RUN(x[j] * scale[j]);
}

void qk_hardswish_f32(size_t n, const float* in, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, qk_hardswish_run(count, in + begin, out + begin));
}

void qk_hardsigmoid_f32(size_t n, const float* in, float alpha, float beta, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count,
                  qk_hardsigmoid_run(count, in + begin, alpha, beta, out + begin));
}

void qk_sigmoid_f32(size_t n, const float* in, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, qk_sigmoid_run(count, in + begin, out + begin));
}

void qk_silu_f32(size_t n, const float* in, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, qk_silu_run(count, in + begin, out + begin));
}

/* The scalar twin: one table load per byte. */
static void qk_lookup_u8_scalar(size_t n, const uint8_t* in, const uint8_t* table, uint8_t* out) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {   /* four independent loads per step */
        const uint8_t a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
        out[i] = a; out[i + 1] = b; out[i + 2] = c; out[i + 3] = d;
    }
    for (; i < n; i++) out[i] = table[in[i]];
}

#if defined(__x86_64__)
/* AVX-512 VBMI: the 256-entry table in four zmm; vpermi2b looks 64 codes up in two 128-entry halves (index
 * bits 0-6) and bit 7 picks the half (vpmovb2m + masked blend): 64 bytes in four instructions. */
static __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi")))
void qk_lookup_u8_avx512vbmi(size_t n, const uint8_t* in, const uint8_t* table, uint8_t* out) {
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    for (size_t i = 0; i < n; i += 64) {
        const __mmask64 live = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        const __m512i x = _mm512_maskz_loadu_epi8(live, in + i);
        const __m512i lo = _mm512_permutex2var_epi8(t0, x, t1), hi = _mm512_permutex2var_epi8(t2, x, t3);
        _mm512_mask_storeu_epi8(out + i, live, _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi));
    }
}
#endif

void qk_lookup_u8(size_t n, const uint8_t* in, const uint8_t* table, uint8_t* out) {
    void (*run)(size_t, const uint8_t*, const uint8_t*, uint8_t*) = qk_lookup_u8_scalar;
#if defined(__x86_64__)
    if (qk_isa_within(QK_ISA_AVX512VBMI, qk_isa_active())) run = qk_lookup_u8_avx512vbmi;   /* QK_ISA forces the twin */
#endif
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, run(count, in + begin, table, out + begin));
}

static void qk_lookup_f32_run(size_t n, const uint8_t* in, const float* table, float* out) {
    for (size_t i = 0; i < n; i++) out[i] = table[in[i]];
}

void qk_lookup_f32(size_t n, const uint8_t* in, const float* table, float* out) {
    QK_FOR_CHUNKS(n, QK_ELTWISE_CHUNK, begin, count, qk_lookup_f32_run(count, in + begin, table, out + begin));
}

void qk_channel_mul_f32(size_t n, size_t channels, const float* in, const float* scale, float* out) {
    qk_one_param_f32(qk_channel_mul_run, n, channels, in, scale, out);
}

void qk_copy_channels_f32(size_t pixels, size_t count, const float* in, size_t in_stride, size_t in_offset,
                          float* out, size_t out_stride, size_t out_offset) {
    for (size_t p = 0; p < pixels; p++)
        memcpy(out + p * out_stride + out_offset, in + p * in_stride + in_offset, count * sizeof(float));
}

/* HWC -> CHW in square tiles, so both the strided reads and the strided writes stay in a few cache
 * lines per tile; h*w == 1 or channels == 1 is a plain copy. */
#define QK_TRANSPOSE_TILE ((size_t)16)
#define QK_HWC_TO_CHW_BODY(T)                                                                         \
    do {                                                                                              \
        if (hw == 1 || channels == 1) {                                                               \
            memcpy(out, in, hw * channels * sizeof(T));                                               \
            return;                                                                                   \
        }                                                                                             \
        for (size_t p0 = 0; p0 < hw; p0 += QK_TRANSPOSE_TILE) {                                       \
            const size_t p1 = p0 + QK_TRANSPOSE_TILE < hw ? p0 + QK_TRANSPOSE_TILE : hw;              \
            for (size_t c0 = 0; c0 < channels; c0 += QK_TRANSPOSE_TILE) {                             \
                const size_t c1 = c0 + QK_TRANSPOSE_TILE < channels ? c0 + QK_TRANSPOSE_TILE : channels; \
                for (size_t c = c0; c < c1; c++)                                                      \
                    for (size_t p = p0; p < p1; p++) out[c * hw + p] = in[p * channels + c];          \
            }                                                                                         \
        }                                                                                             \
    } while (0)

void qk_hwc_to_chw_f32(size_t hw, size_t channels, const float* in, float* out) {
    QK_HWC_TO_CHW_BODY(float);
}

void qk_hwc_to_chw_u8(size_t hw, size_t channels, const uint8_t* in, uint8_t* out) {
    QK_HWC_TO_CHW_BODY(uint8_t);
}
