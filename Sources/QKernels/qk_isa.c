/* qk_isa.c — CPU feature detection (x86 cpuid via __builtin_cpu_supports, aarch64 HWCAP) and the
 * QK_ISA environment override. */
#include <stdlib.h>
#include <string.h>
#include "qk_isa.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

/* Architecture and rank of each ISA; dispatch compares ranks only within one architecture. */
enum { QK_ARCH_ANY = 0, QK_ARCH_X86 = 1, QK_ARCH_ARM = 2 };
static const struct { const char* name; int arch; int rank; } qk_isa_table[QK_ISA_COUNT] = {
    [QK_ISA_SCALAR] = {"scalar", QK_ARCH_ANY, 0},
    [QK_ISA_AVX2] = {"avx2", QK_ARCH_X86, 1},
    [QK_ISA_AVX512VNNI] = {"avx512vnni", QK_ARCH_X86, 2},
    [QK_ISA_NEONDOT] = {"neondot", QK_ARCH_ARM, 1},
};

const char* qk_isa_name(qk_isa isa) {
    return (unsigned)isa < QK_ISA_COUNT ? qk_isa_table[isa].name : "unknown";
}

int qk_isa_parse(const char* name, qk_isa* out) {
    if (name == NULL) return 0;
    for (int i = 0; i < QK_ISA_COUNT; i++) {
        if (strcmp(name, qk_isa_table[i].name) == 0) {
            *out = (qk_isa)i;
            return 1;
        }
    }
    return 0;
}

int qk_isa_supported(qk_isa isa) {
    switch (isa) {
    case QK_ISA_SCALAR: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case QK_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case QK_ISA_AVX512VNNI:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")
            && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512vpopcntdq"); /* bgemm: vpopcntq, vpmovqd */
#endif
#if defined(__aarch64__) && defined(__linux__)
    case QK_ISA_NEONDOT: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__aarch64__) && defined(__APPLE__)
    case QK_ISA_NEONDOT: return 1; /* every Apple arm64 CPU has FEAT_DotProd */
#endif
    default: return 0;
    }
}

/* The best supported ISA of arch `arch` (or any) with rank <= max_rank; scalar at worst. */
static qk_isa qk_isa_best(int arch, int max_rank) {
    qk_isa best = QK_ISA_SCALAR;
    for (int i = 0; i < QK_ISA_COUNT; i++) {
        const int same_arch = arch == QK_ARCH_ANY || qk_isa_table[i].arch == arch;
        if (same_arch && qk_isa_table[i].rank <= max_rank
            && qk_isa_table[i].rank > qk_isa_table[best].rank && qk_isa_supported((qk_isa)i)) {
            best = (qk_isa)i;
        }
    }
    return best;
}

qk_isa qk_isa_detect(void) { return qk_isa_best(QK_ARCH_ANY, 1 << 30); }

qk_isa qk_isa_active(void) {
    qk_isa requested;
    if (!qk_isa_parse(getenv("QK_ISA"), &requested)) return qk_isa_detect();
    if (requested == QK_ISA_SCALAR) return QK_ISA_SCALAR;
    return qk_isa_best(qk_isa_table[requested].arch, qk_isa_table[requested].rank);
}

/* Used by dispatch (qk_registry.c): 1 if a member of ISA `member` may serve a request for `ceiling`. */
int qk_isa_within(qk_isa member, qk_isa ceiling) {
    if (member == QK_ISA_SCALAR) return 1;
    if ((unsigned)member >= QK_ISA_COUNT || (unsigned)ceiling >= QK_ISA_COUNT) return 0;
    return qk_isa_table[member].arch == qk_isa_table[ceiling].arch
        && qk_isa_table[member].rank <= qk_isa_table[ceiling].rank && qk_isa_supported(member);
}

/* Used by dispatch: the rank of an ISA (0 = scalar). */
int qk_isa_rank(qk_isa isa) { return (unsigned)isa < QK_ISA_COUNT ? qk_isa_table[isa].rank : -1; }
