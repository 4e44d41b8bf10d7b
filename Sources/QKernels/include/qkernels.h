/* qkernels.h — umbrella header of the QKernels C target (micro-kernels, packing, dispatch, drivers).
 * See docs/KERNELS.md for the naming grammar, the packed layout, the epilogue and rounding rule,
 * the memory contract and how to add a SIMD member. */
#pragma once
#include "qk_isa.h"
#include "qk_threads.h"
#include "qk_peak.h"
#include "qk_pack.h"
#include "qk_gemm.h"
#include "qk_conv.h"
#include "qk_dwconv.h"
#include "qk_fdwconv.h"
#include "qk_ops.h"
#include "qk_spatial.h"
#include "qk_bgemm.h"
#include "qk_bsgemm.h"
