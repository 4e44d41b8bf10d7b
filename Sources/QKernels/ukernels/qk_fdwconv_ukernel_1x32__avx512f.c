/* qk_fdwconv_ukernel_1x32__avx512f — depthwise 3x3 / 5x5, f32 x f32, one pixel x 32 channels per
 * step: two zmm accumulators, the tile's 18 weight vectors in registers for 3x3 (5x5's 50 do not all
 * fit, some are re-read per tap from L1), vfmadd231ps per tap;
 * masked loads/stores for the channel tail. AVX-512 F only (ISA avx512f). Body: internal/qk_fdwconv_body.h. */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

#define QK_FDW_MEMBER qk_fdwconv_ukernel_1x32__avx512f
#define QK_FDW_TARGET __attribute__((target(QK_TARGET_AVX512F)))
#define QK_FDW_INLINE static inline __attribute__((always_inline, target(QK_TARGET_AVX512F)))
#define QK_FDW_LANES 16
#define QK_FDW_VECS 2
typedef __m512 qk_fdw_v;
typedef __mmask16 qk_fdw_part;

QK_FDW_INLINE qk_fdw_part qk_fdw_part_make(size_t live) { return (__mmask16)((1u << live) - 1u); }
QK_FDW_INLINE qk_fdw_v qk_fdw_load(const float* p) { return _mm512_loadu_ps(p); }
QK_FDW_INLINE qk_fdw_v qk_fdw_load_part(const float* p, qk_fdw_part k) { return _mm512_maskz_loadu_ps(k, p); }
QK_FDW_INLINE void qk_fdw_store(float* p, qk_fdw_v v) { _mm512_storeu_ps(p, v); }
QK_FDW_INLINE void qk_fdw_store_part(float* p, qk_fdw_v v, qk_fdw_part k) { _mm512_mask_storeu_ps(p, k, v); }
QK_FDW_INLINE qk_fdw_v qk_fdw_fma(qk_fdw_v a, qk_fdw_v b, qk_fdw_v acc) { return _mm512_fmadd_ps(a, b, acc); }
QK_FDW_INLINE qk_fdw_v qk_fdw_add(qk_fdw_v a, qk_fdw_v b) { return _mm512_add_ps(a, b); }
/* maxps/minps return the second operand when either is NaN: fmaxf(y, lo) / fminf(y, hi). */
QK_FDW_INLINE qk_fdw_v qk_fdw_max(qk_fdw_v y, qk_fdw_v lo) { return _mm512_max_ps(y, lo); }
QK_FDW_INLINE qk_fdw_v qk_fdw_min(qk_fdw_v y, qk_fdw_v hi) { return _mm512_min_ps(y, hi); }
QK_FDW_INLINE qk_fdw_v qk_fdw_set1(float x) { return _mm512_set1_ps(x); }

#include "../internal/qk_fdwconv_body.h"
#endif
