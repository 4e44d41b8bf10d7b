/* qk_fdwconv_ukernel_1x8__avx2 — depthwise 3x3 / 5x5, f32 x f32, one pixel x 8 channels per step: one
 * ymm accumulator, the tile's 9 weight vectors in registers for 3x3 (16 ymm leave no room for a
 * 16-channel tile's 18; 5x5's 25 do not all fit, some are re-read per tap from L1), vfmadd231ps per
 * tap; vmaskmovps for the channel tail. AVX2 + FMA. Body: internal/qk_fdwconv_body.h. */
#include "../internal/qk_ukernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

#define QK_FDW_MEMBER qk_fdwconv_ukernel_1x8__avx2
#define QK_FDW_TARGET __attribute__((target(QK_TARGET_AVX2)))
#define QK_FDW_INLINE static inline __attribute__((always_inline, target(QK_TARGET_AVX2)))
#define QK_FDW_LANES 8
#define QK_FDW_VECS 1
typedef __m256 qk_fdw_v;
typedef __m256i qk_fdw_part;

QK_FDW_INLINE qk_fdw_part qk_fdw_part_make(size_t live) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)live), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
QK_FDW_INLINE qk_fdw_v qk_fdw_load(const float* p) { return _mm256_loadu_ps(p); }
QK_FDW_INLINE qk_fdw_v qk_fdw_load_part(const float* p, qk_fdw_part k) { return _mm256_maskload_ps(p, k); }
QK_FDW_INLINE void qk_fdw_store(float* p, qk_fdw_v v) { _mm256_storeu_ps(p, v); }
QK_FDW_INLINE void qk_fdw_store_part(float* p, qk_fdw_v v, qk_fdw_part k) { _mm256_maskstore_ps(p, k, v); }
QK_FDW_INLINE qk_fdw_v qk_fdw_fma(qk_fdw_v a, qk_fdw_v b, qk_fdw_v acc) { return _mm256_fmadd_ps(a, b, acc); }
QK_FDW_INLINE qk_fdw_v qk_fdw_add(qk_fdw_v a, qk_fdw_v b) { return _mm256_add_ps(a, b); }
/* maxps/minps return the second operand when either is NaN: fmaxf(y, lo) / fminf(y, hi). */
QK_FDW_INLINE qk_fdw_v qk_fdw_max(qk_fdw_v y, qk_fdw_v lo) { return _mm256_max_ps(y, lo); }
QK_FDW_INLINE qk_fdw_v qk_fdw_min(qk_fdw_v y, qk_fdw_v hi) { return _mm256_min_ps(y, hi); }
QK_FDW_INLINE qk_fdw_v qk_fdw_set1(float x) { return _mm256_set1_ps(x); }

#include "../internal/qk_fdwconv_body.h"
#endif
