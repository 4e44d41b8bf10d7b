// The plain f32 GEMM the quantizers' statistics and GPTQ updates use: the runtime's f32 kernel with an
// epilogue that only stores.
import QKernels

/// C[i][j] = sum_t A[i][t] B[j][t] (C = A B^T), f32, row-major with leading dimensions lda / ldb / ldc,
/// i < m, j < n, t < k. A and B need QK_EXTRA_BYTES of readable slack after their last element.
func floatGEMM(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
               c: UnsafeMutablePointer<Float>, ldc: Int) {
    let epilogue = qk_epilogue(scale: nil, bias: nil, clamp_lo: -.infinity, clamp_hi: .infinity,
                               residual_kind: QK_RESIDUAL_NONE, residual: nil, ldr: 0, rscale: 0, rzero: 0,
                               output_kind: QK_OUTPUT_F32, out: UnsafeMutableRawPointer(c), ldc: ldc,
                               out_inv_scale: 0, out_zero: 0, half_rows: nil)
    var args = qk_fgemm_args(M: m, N: n, K: k, a: a, lda: lda, b: b, ldb: ldb, epi: epilogue)
    qk_fgemm(qk_fgemm_select(qk_isa_active()), &args)
}
