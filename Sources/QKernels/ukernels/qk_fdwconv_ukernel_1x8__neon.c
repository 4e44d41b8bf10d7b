/* qk_fdwconv_ukernel_1x8__neon — depthwise 3x3 / 5x5, f32 x f32, one pixel x 8 channels per step: two
 * float32x4 accumulators, the tile's 18 weight vectors in registers for 3x3 (5x5's 50 do not all
 * fit, some are re-read per tap from L1), fmla per tap; the channel
 * tail goes through a zeroed 4-float buffer. Base ASIMD (ISA neon). Body: internal/qk_fdwconv_body.h. */
#include "../internal/qk_ukernels.h"
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#define QK_FDW_MEMBER qk_fdwconv_ukernel_1x8__neon
#define QK_FDW_TARGET
#define QK_FDW_INLINE static inline __attribute__((always_inline))
#define QK_FDW_LANES 4
#define QK_FDW_VECS 2
typedef float32x4_t qk_fdw_v;
typedef size_t qk_fdw_part;  /* live lanes */

QK_FDW_INLINE qk_fdw_part qk_fdw_part_make(size_t live) { return live; }
QK_FDW_INLINE qk_fdw_v qk_fdw_load(const float* p) { return vld1q_f32(p); }
QK_FDW_INLINE qk_fdw_v qk_fdw_load_part(const float* p, qk_fdw_part live) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, live * sizeof(float));
    return vld1q_f32(t);
}
QK_FDW_INLINE void qk_fdw_store(float* p, qk_fdw_v v) { vst1q_f32(p, v); }
QK_FDW_INLINE void qk_fdw_store_part(float* p, qk_fdw_v v, qk_fdw_part live) {
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, live * sizeof(float));
}
QK_FDW_INLINE qk_fdw_v qk_fdw_fma(qk_fdw_v a, qk_fdw_v b, qk_fdw_v acc) { return vfmaq_f32(acc, a, b); }
QK_FDW_INLINE qk_fdw_v qk_fdw_add(qk_fdw_v a, qk_fdw_v b) { return vaddq_f32(a, b); }
/* fmaxnm/fminnm return the number when one operand is NaN, as fmaxf/fminf (fmax/fmin would not). */
QK_FDW_INLINE qk_fdw_v qk_fdw_max(qk_fdw_v y, qk_fdw_v lo) { return vmaxnmq_f32(y, lo); }
QK_FDW_INLINE qk_fdw_v qk_fdw_min(qk_fdw_v y, qk_fdw_v hi) { return vminnmq_f32(y, hi); }
QK_FDW_INLINE qk_fdw_v qk_fdw_set1(float x) { return vdupq_n_f32(x); }

#include "../internal/qk_fdwconv_body.h"
#endif
