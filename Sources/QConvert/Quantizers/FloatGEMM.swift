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
                               out_inv_scale: 0, out_zero: 0, half_rows: nil, out_range: nil)
    var args = qk_fgemm_args(M: m, N: n, K: k, a: a, lda: lda, b: b, ldb: ldb, epi: epilogue)
    qk_fgemm(qk_fgemm_select(qk_isa_active()), &args)
}

/// The f32 GEMM on packed B (qk_pfgemm) the statistics use: B's rows in panels of `floatPanelWidth`
/// columns, [ceil(N / width)][K][width] (zeros past N), so the kernel broadcasts A against whole panel
/// rows (no horizontal sums). Each output element depends only on its row of A, its column of B and K:
/// not on which rows or columns are computed together, nor on the threads.
nonisolated(unsafe) private let packedMember = qk_pfgemm_select(qk_isa_active())!

/// Columns per panel of packed B (the selected pfgemm member's NR).
let floatPanelWidth = Int(packedMember.pointee.nr)

/// Floats of B [n][k] packed in `floatPanelWidth` panels (before the kernels' read slack).
func floatPanelCount(n: Int, k: Int) -> Int { qk_pfgemm_packed_floats(n, k, floatPanelWidth) }

/// Packs B [n][ldb] (k used per row) into `floatPanelWidth` panels at `packed` (`floatPanelCount` floats).
func packFloatPanels(_ b: UnsafePointer<Float>, n: Int, k: Int, ldb: Int, into packed: UnsafeMutablePointer<Float>) {
    qk_pfgemm_pack(b, n, k, ldb, floatPanelWidth, packed)
}

/// C[i][j] = sum_t A[i][t] B[j][t] (C = A B^T), f32, B packed by `packFloatPanels` (or laid out so: panel p
/// holds B's rows p * width ..< (p + 1) * width as [k][width]). A and packed B need QK_EXTRA_BYTES of
/// readable slack after their last element.
func packedFloatGEMM(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int) {
    let epilogue = qk_epilogue(scale: nil, bias: nil, clamp_lo: -.infinity, clamp_hi: .infinity,
                               residual_kind: QK_RESIDUAL_NONE, residual: nil, ldr: 0, rscale: 0, rzero: 0,
                               output_kind: QK_OUTPUT_F32, out: UnsafeMutableRawPointer(c), ldc: ldc,
                               out_inv_scale: 0, out_zero: 0, half_rows: nil, out_range: nil)
    var args = qk_fgemm_args(M: m, N: n, K: k, a: a, lda: lda, b: packed, ldb: k, epi: epilogue)
    qk_pfgemm(packedMember, &args)
}

/// The upper triangle of the Gram matrix C = X^T X of `rows` rows x of length n (SYRK): C[i][j] for
/// i <= j (entries below the diagonal are left unspecified), from X^T as `xt` (n rows of `rows`, row-major)
/// and X packed as panels (`packed`: panel p = X's columns p * width ..< (p + 1) * width, [rows][width],
/// zeros past n). Row blocks of `gramBlockRows` each multiply only the panels from their diagonal on, half
/// the GEMM; every entry is `packedFloatGEMM`'s, so C[i][j] is bit for bit what the full GEMM computes.
func floatGramUpper(n: Int, rows: Int, xt: UnsafePointer<Float>, packed: UnsafePointer<Float>,
                    c: UnsafeMutablePointer<Float>, ldc: Int) {
    let width = floatPanelWidth
    for i0 in stride(from: 0, to: n, by: gramBlockRows) {
        let j0 = i0 / width * width
        packedFloatGEMM(m: Swift.min(gramBlockRows, n - i0), n: n - j0, k: rows, a: xt + i0 * rows, lda: rows,
                        packed: packed + j0 * rows, c: c + i0 * ldc + j0, ldc: ldc)
    }
}

/// Rows of the Gram matrix per GEMM: large enough that X's panels stream past once per 256 rows.
private let gramBlockRows = 256
