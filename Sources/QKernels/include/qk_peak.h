/* qk_peak.h — a peak-throughput probe: independent chains of the ISA's int8 dot-product
 * instruction (vpdpbusd zmm on AVX-512 VNNI, vpmaddwd ymm on AVX2, sdot on NEON) with nothing else
 * in the loop. Benchmarks and qbench time it in the same process as a GEMM, so a kernel's speed can
 * be stated as a share of what this core's units can do. */
#pragma once
#include <stdint.h>
#include "qk_isa.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Runs `iterations` rounds of the probe for `isa` (which must be supported; scalar runs a
 *  multiply-add loop) and returns the int8 operations done (2 per multiply-accumulate). */
uint64_t qk_peak_int8_ops(qk_isa isa, uint64_t iterations);

#ifdef __cplusplus
}
#endif
