/* qk_conv.h — NHWC convolution: geometry, im2col (u8 and f32) and the conv drivers over the GEMMs.
 *
 * Input [in_h][in_w][in_c] (batch 1). Output [out_h][out_w][out_c] with
 *   out_h = (in_h + pad_top + pad_bottom - dilation_h*(kernel_h-1) - 1) / stride_h + 1 (same for w).
 * GEMM view, per group g (Cg = in_c/groups, OCg = out_c/groups):
 *   M = out_h*out_w (m = oy*out_w + ox), N = OCg, K = kernel_h*kernel_w*Cg ordered (ky, kx, c),
 *   A[m][(ky*kernel_w + kx)*Cg + c] = in[oy*stride_h - pad_top + ky*dilation_h]
 *                                      [ox*stride_w - pad_left + kx*dilation_w][g*Cg + c]
 *   and the pad value (u8: the activation zero point = real 0; f32: 0) outside the image.
 * Depthwise conv = groups == in_c. Depthwise 3x3 with u8 activations also has a direct family,
 * qk_dwconv.h (the runtime's choice; same bits as qk_conv2d_u8).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "qk_gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The shape of one 2-D convolution (all fields >= 0; kernel, stride, dilation, groups >= 1). */
typedef struct qk_conv_geom {
    int32_t in_h, in_w, in_c;
    int32_t out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t dilation_h, dilation_w;
    int32_t groups;              /**< divides in_c and out_c */
} qk_conv_geom;

/** Output height / width (0 if the padded input is smaller than the dilated kernel). */
int32_t qk_conv_out_h(const qk_conv_geom* g);
int32_t qk_conv_out_w(const qk_conv_geom* g);
/** K of the per-group GEMM: kernel_h * kernel_w * in_c / groups. */
size_t qk_conv_gemm_k(const qk_conv_geom* g);
/** 1 if the conv reads the input directly as A (1x1, stride 1, no padding): no im2col needed. */
int qk_conv_is_direct(const qk_conv_geom* g);
/** Workspace bytes qk_conv2d_u8 (elem_size 1) / qk_conv2d_f32 (elem_size 4) need: 0 when direct,
 *  else out_h*out_w*K*elem_size + QK_EXTRA_BYTES. */
size_t qk_conv_workspace_bytes(const qk_conv_geom* g, size_t elem_size);

/** Extra workspace bytes qk_conv2d_u8 needs, after its qk_conv_workspace_bytes(g, 1), when the
 *  layer has half-step weights: in_h*in_w + out_h*out_w int32 row sums (+ alignment). */
size_t qk_conv_half_step_bytes(const qk_conv_geom* g);
/** im2col for u8: writes rows m < out_h*out_w of A (K = kernel_h*kernel_w*c_count) to out with row
 *  stride ld_out (>= K), taking channels [c_begin, c_begin + c_count); pad_value outside the image. */
void qk_im2col_u8(const qk_conv_geom* g, const uint8_t* in, int32_t c_begin, int32_t c_count,
                  uint8_t pad_value, uint8_t* out, size_t ld_out);
/** im2col for f32 (pad value 0). */
void qk_im2col_f32(const qk_conv_geom* g, const float* in, int32_t c_begin, int32_t c_count,
                   float* out, size_t ld_out);

/** Quantized conv = (im2col +) qk_qgemm per group.
 *  `layer` describes the whole layer: w (per conv group, a packed matrix of out_c/groups rows of K = qk_conv_gemm_k codes, the groups
 *  one after the other), w_group_stride,
 *  bits, lut, colsum[out_c], a_zero (= the input's zero point, also the im2col pad value) and epi
 *  with arrays over out_c and out/residual [out_h*out_w][ldc >= out_c]. Its M, N, K, a, lda are
 *  ignored: the driver sets them per group. workspace: qk_conv_workspace_bytes(g, 1) bytes.
 *  Half-step weights (qk_gemm.h): layer->epi.half_rows != NULL asks for them; the driver does not read
 *  that pointer but computes each group's row sums sum_k (A[m][k] - a_zero) into the workspace past
 *  qk_conv_workspace_bytes(g, 1), which then needs qk_conv_half_step_bytes(g) more bytes. */
void qk_conv2d_u8(const qk_qgemm_ukernel_desc* uk, const qk_conv_geom* g, const uint8_t* in,
                  const qk_qgemm_args* layer, uint8_t* workspace);
/** f32 conv: as qk_conv2d_u8 with layer->b = out_c rows of ldb (>= K) floats, workspace
 *  qk_conv_workspace_bytes(g, 4) bytes (float aligned). */
void qk_conv2d_f32(const qk_fgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                   const qk_fgemm_args* layer, float* workspace);
/** f32 conv on a pfgemm member: as qk_conv2d_f32 with layer->b = each group's out_c/groups rows
 *  packed by qk_pfgemm_pack for uk->nr, the groups one after the other
 *  (qk_pfgemm_packed_floats(out_c / groups, K, uk->nr) floats each); ldb unused. */
void qk_conv2d_pf32(const qk_pfgemm_ukernel_desc* uk, const qk_conv_geom* g, const float* in,
                    const qk_fgemm_args* layer, float* workspace);

#ifdef __cplusplus
}
#endif
