/* qk_isa_internal.h — ISA ranking and the one dispatch loop every registry uses (defined in
 * qk_isa.c). Private. */
#pragma once
#include <stddef.h>
#include "qk_isa.h"

/** 1 if a member of ISA `member` may serve a request for `ceiling`: scalar always; otherwise the
 *  same architecture, rank <= the ceiling's, and every feature of `member` present on this CPU. */
int qk_isa_within(qk_isa member, qk_isa ceiling);
/** 1 if the ISA's features include an int8 dot product instruction (VNNI vpdpbusd, NEON sdot). */
int qk_isa_has_int8_dot(qk_isa isa);

/** A family's own condition on a descriptor (bit width, kind, lanes ...), `want` its argument. */
typedef int (*qk_member_filter)(const void* desc, const void* want);
/** Dispatch over a registry of `count` descriptors of `size` bytes whose qk_isa field sits at
 *  `isa_offset`: the member that passes `keep` (NULL = any) and qk_isa_within(isa, ceiling), of the
 *  highest rank; ties go to the first registered. NULL if none. Every family's select is this loop. */
const void* qk_select_member(const void* members, size_t count, size_t size, size_t isa_offset, qk_isa ceiling,
                             qk_member_filter keep, const void* want);

/** Dispatch over a registry array `table` of `count` descriptors (their `isa` field) — the call
 *  every family's select makes. */
#define QK_SELECT(table, count, ceiling, keep, want) \
    qk_select_member((table), (count), sizeof *(table), offsetof(__typeof__(*(table)), isa), (ceiling), (keep), (want))

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
