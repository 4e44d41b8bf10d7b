/* qk_isa.h — instruction-set families, CPU feature detection and the QK_ISA override.
 *
 * A member's ISA suffix names exactly the CPU features it needs (XNNPACK's convention), and dispatch
 * checks exactly those: an AVX-512 member that needs only AVX-512 F says `avx512f`, the binary
 * kernels that need VPOPCNTDQ say `avx512vpopcntdq`. Each ISA also has a rank within its
 * architecture (x86-64: scalar 0 < avx2 1 < every avx512* 2; aarch64: scalar 0 < neon 1 < neondot 2):
 * dispatch takes the best-ranked member whose features this CPU has and whose rank is not above the
 * requested one (the QK_ISA override caps the rank).
 *
 *   ISA              features a member of it may use                                  rank
 *   scalar           portable C                                                          0
 *   avx2             AVX2 + FMA                                                          1
 *   avx512f          + AVX-512 F                                                         2
 *   avx512skx        + AVX-512 BW, DQ, VL (Skylake-X's set)                              2
 *   avx512vpopcntdq  avx512skx + VPOPCNTDQ (vpopcntq)                                     2
 *   avx512vbmi       avx512skx + VBMI (vpermb)                                           2
 *   avx512vnni       avx512skx + VNNI (vpdpbusd)                                         2
 *   avx512vnnivbmi   avx512skx + VNNI + VBMI                                             2
 *   neon             aarch64 Advanced SIMD (every aarch64 CPU)                           1
 *   neondot          + FEAT_DotProd (sdot / udot, ARMv8.2)                               2
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/** An instruction-set family (the feature set a member needs). Values are stable (Swift, tests). */
typedef enum qk_isa {
    QK_ISA_SCALAR = 0,          /**< portable C, every CPU (the reference members) */
    QK_ISA_AVX2 = 1,            /**< x86-64 AVX2 + FMA */
    QK_ISA_AVX512VNNI = 2,      /**< AVX-512 F/BW/DQ/VL + VNNI (vpdpbusd): Cascade Lake, Ice Lake, Zen 4 and later */
    QK_ISA_NEONDOT = 3,         /**< aarch64 ASIMD + dot product (sdot/udot, ARMv8.2 dotprod) */
    QK_ISA_AVX512F = 4,         /**< AVX-512 F only (f32 members) */
    QK_ISA_AVX512SKX = 5,       /**< AVX-512 F/BW/DQ/VL */
    QK_ISA_AVX512VPOPCNTDQ = 6, /**< AVX-512 F/BW/DQ/VL + VPOPCNTDQ (vpopcntq): Ice Lake, Zen 4 and later */
    QK_ISA_AVX512VBMI = 7,      /**< AVX-512 F/BW/DQ/VL + VBMI (vpermb): Cannon Lake, Ice Lake, Zen 4 and later */
    QK_ISA_AVX512VNNIVBMI = 8,  /**< AVX-512 F/BW/DQ/VL + VNNI + VBMI: Ice Lake, Zen 4 and later */
    QK_ISA_NEON = 9,            /**< aarch64 Advanced SIMD (base ASIMD, every aarch64 CPU) */
} qk_isa;

/** Number of qk_isa values. */
#define QK_ISA_COUNT 10

/** Lower-case name ("scalar", "avx2", "avx512vnni", ...), as in member suffixes; "unknown" for
 *  anything else. */
const char* qk_isa_name(qk_isa isa);

/** Parses a name as written by qk_isa_name. Returns 1 and sets *out on success, 0 otherwise. */
int qk_isa_parse(const char* name, qk_isa* out);

/** 1 if this CPU and OS have every feature of `isa` (scalar always), 0 otherwise. */
int qk_isa_supported(qk_isa isa);

/** The rank of an ISA within its architecture (the table above; -1 for an unknown value). Dispatch
 *  prefers the highest rank among the members it may use. */
int qk_isa_rank(qk_isa isa);

/** The dispatch level of this CPU: the supported ISA of the highest rank, preferring within a rank
 *  the first of avx512vnni, avx512f, ... in table order (x86: cpuid via __builtin_cpu_supports;
 *  aarch64: HWCAP_ASIMDDP). The name qbench reports; members are then checked feature by feature. */
qk_isa qk_isa_detect(void);

/** The ISA dispatch should use now: QK_ISA from the environment when set and parseable, capped at
 *  the detected level (an ISA of the other architecture clips to scalar; an unsupported one of the
 *  same architecture to the best supported ISA of no higher rank); otherwise qk_isa_detect(). Read
 *  on every call (cheap; used at plan time). */
qk_isa qk_isa_active(void);

#ifdef __cplusplus
}
#endif
