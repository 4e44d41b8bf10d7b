/* qk_isa.h — instruction-set families, CPU feature detection and the QK_ISA override. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/** An instruction-set family a micro-kernel is written for. Ranks within one architecture:
 *  x86-64: scalar < avx2 < avx512vnni;  aarch64: scalar < neondot. */
typedef enum qk_isa {
    QK_ISA_SCALAR = 0,      /**< portable C, every CPU (the reference members) */
    QK_ISA_AVX2 = 1,        /**< x86-64 AVX2 + FMA */
    QK_ISA_AVX512VNNI = 2,  /**< x86-64 AVX-512 F/BW/VL/VBMI + VNNI (vpdpbusd, vpermb): Ice Lake, Zen 4 and later;
                                 the level also requires DQ and VPOPCNTDQ (bgemm's vpopcntq), which
                                 every VBMI + VNNI CPU we target (Ice Lake, Zen 4) has */
    QK_ISA_NEONDOT = 3,     /**< aarch64 ASIMD dot product (sdot/udot, ARMv8.2 dotprod) */
} qk_isa;

/** Number of qk_isa values. */
#define QK_ISA_COUNT 4

/** Lower-case name ("scalar", "avx2", "avx512vnni", "neondot"); "unknown" for anything else. */
const char* qk_isa_name(qk_isa isa);

/** Parses a name as written by qk_isa_name. Returns 1 and sets *out on success, 0 otherwise. */
int qk_isa_parse(const char* name, qk_isa* out);

/** 1 if this CPU and OS can run code of `isa` (scalar always), 0 otherwise. */
int qk_isa_supported(qk_isa isa);

/** The best ISA this CPU supports (x86: cpuid via __builtin_cpu_supports; aarch64: HWCAP_ASIMDDP). */
qk_isa qk_isa_detect(void);

/** The ISA dispatch should use now: QK_ISA from the environment when set and parseable, clipped to
 *  the best supported ISA not above it on the same architecture (an ISA of the other architecture
 *  clips to scalar); otherwise qk_isa_detect(). Read on every call (cheap; used at plan time). */
qk_isa qk_isa_active(void);

#ifdef __cplusplus
}
#endif
