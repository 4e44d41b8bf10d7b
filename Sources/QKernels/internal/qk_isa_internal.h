/* qk_isa_internal.h — ISA ranking used by dispatch (defined in qk_isa.c). Private. */
#pragma once
#include "qk_isa.h"

/** 1 if a member of ISA `member` may serve a request for `ceiling`: scalar always; otherwise the
 *  same architecture, rank <= the ceiling's, and supported by this CPU. */
int qk_isa_within(qk_isa member, qk_isa ceiling);
/** Rank within its architecture (scalar 0). */
int qk_isa_rank(qk_isa isa);

/* Elementwise loops the compiler vectorises: on x86-64 also compiled for AVX2 and AVX-512 and picked
 * by the CPU at load (ifunc); the same C float operations, so every clone gives the same bits. */
#if defined(__x86_64__)
#define QK_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
/* The same for loops that call fmaf: "avx2" alone has no FMA (fmaf would be a libm call per element),
 * Haswell is AVX2 + FMA; the default clone keeps the exact libm fmaf. */
#define QK_FMA_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define QK_VECTOR_CLONES
#define QK_FMA_CLONES
#endif
