/* qk_isa.c — the ISA table (name, architecture, rank, required CPU features), CPU feature detection
 * (x86 cpuid via __builtin_cpu_supports, aarch64 HWCAP) and the QK_ISA environment override. */
#include <stdlib.h>
#include <string.h>
#include "internal/qk_isa_internal.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

/* CPU features, one bit each; an ISA requires a set of them. */
enum {
    QK_FEAT_AVX2 = 1u << 0,       /* AVX2 + FMA */
    QK_FEAT_AVX512F = 1u << 1,
    QK_FEAT_AVX512SKX = 1u << 2,  /* AVX-512 BW + DQ + VL */
    QK_FEAT_VPOPCNTDQ = 1u << 3,
    QK_FEAT_VBMI = 1u << 4,
    QK_FEAT_VNNI = 1u << 5,
    QK_FEAT_DOTPROD = 1u << 6,
};
#define QK_FEAT_SKX (QK_FEAT_AVX2 | QK_FEAT_AVX512F | QK_FEAT_AVX512SKX)

/* Architecture and rank of each ISA; dispatch compares ranks only within one architecture. */
enum { QK_ARCH_ANY = 0, QK_ARCH_X86 = 1, QK_ARCH_ARM = 2 };
static const struct { const char* name; int arch; int rank; unsigned features; } qk_isa_table[QK_ISA_COUNT] = {
    [QK_ISA_SCALAR] = {"scalar", QK_ARCH_ANY, 0, 0},
    [QK_ISA_AVX2] = {"avx2", QK_ARCH_X86, 1, QK_FEAT_AVX2},
    [QK_ISA_AVX512F] = {"avx512f", QK_ARCH_X86, 2, QK_FEAT_AVX2 | QK_FEAT_AVX512F},
    [QK_ISA_AVX512SKX] = {"avx512skx", QK_ARCH_X86, 2, QK_FEAT_SKX},
    [QK_ISA_AVX512VPOPCNTDQ] = {"avx512vpopcntdq", QK_ARCH_X86, 2, QK_FEAT_SKX | QK_FEAT_VPOPCNTDQ},
    [QK_ISA_AVX512VBMI] = {"avx512vbmi", QK_ARCH_X86, 2, QK_FEAT_SKX | QK_FEAT_VBMI},
    [QK_ISA_AVX512VNNI] = {"avx512vnni", QK_ARCH_X86, 2, QK_FEAT_SKX | QK_FEAT_VNNI},
    [QK_ISA_AVX512VNNIVBMI] = {"avx512vnnivbmi", QK_ARCH_X86, 2, QK_FEAT_SKX | QK_FEAT_VNNI | QK_FEAT_VBMI},
    [QK_ISA_NEON] = {"neon", QK_ARCH_ARM, 1, 0},
    [QK_ISA_NEONDOT] = {"neondot", QK_ARCH_ARM, 2, QK_FEAT_DOTPROD},
};

/* The dispatch levels qk_isa_detect reports, best first (the first supported one wins). */
static const qk_isa qk_isa_levels[] = {
    QK_ISA_AVX512VNNI, QK_ISA_AVX512SKX, QK_ISA_AVX512F, QK_ISA_AVX2, QK_ISA_NEONDOT, QK_ISA_NEON, QK_ISA_SCALAR,
};

/* The features of this CPU (and OS), as QK_FEAT_* bits. */
static unsigned qk_cpu_features(void) {
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= QK_FEAT_AVX2;
    if (__builtin_cpu_supports("avx512f")) f |= QK_FEAT_AVX512F;
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        f |= QK_FEAT_AVX512SKX;
    if (__builtin_cpu_supports("avx512vpopcntdq")) f |= QK_FEAT_VPOPCNTDQ;
    if (__builtin_cpu_supports("avx512vbmi")) f |= QK_FEAT_VBMI;
    if (__builtin_cpu_supports("avx512vnni")) f |= QK_FEAT_VNNI;
#elif defined(__aarch64__) && defined(__linux__)
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) f |= QK_FEAT_DOTPROD;
#elif defined(__aarch64__) && defined(__APPLE__)
    f |= QK_FEAT_DOTPROD; /* every Apple arm64 CPU has FEAT_DotProd */
#endif
    return f;
}

/* The architecture this library was compiled for. */
static int qk_arch_here(void) {
#if defined(__x86_64__) || defined(__i386__)
    return QK_ARCH_X86;
#elif defined(__aarch64__)
    return QK_ARCH_ARM;
#else
    return QK_ARCH_ANY;
#endif
}

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
    if ((unsigned)isa >= QK_ISA_COUNT) return 0;
    if (isa == QK_ISA_SCALAR) return 1;
    if (qk_isa_table[isa].arch != qk_arch_here()) return 0;
    const unsigned need = qk_isa_table[isa].features;
    return (qk_cpu_features() & need) == need;
}

/* The first supported dispatch level of architecture `arch` (or any) with rank <= max_rank. */
static qk_isa qk_isa_best(int arch, int max_rank) {
    for (size_t i = 0; i < sizeof qk_isa_levels / sizeof qk_isa_levels[0]; i++) {
        const qk_isa l = qk_isa_levels[i];
        const int same_arch = arch == QK_ARCH_ANY || qk_isa_table[l].arch == arch || l == QK_ISA_SCALAR;
        if (same_arch && qk_isa_table[l].rank <= max_rank && qk_isa_supported(l)) return l;
    }
    return QK_ISA_SCALAR;
}

qk_isa qk_isa_detect(void) { return qk_isa_best(QK_ARCH_ANY, 1 << 30); }

qk_isa qk_isa_active(void) {
    qk_isa requested;
    if (!qk_isa_parse(getenv("QK_ISA"), &requested)) return qk_isa_detect();
    if (requested == QK_ISA_SCALAR || qk_isa_table[requested].arch != qk_arch_here()) return QK_ISA_SCALAR;
    if (qk_isa_supported(requested)) return requested;
    return qk_isa_best(qk_isa_table[requested].arch, qk_isa_table[requested].rank);
}

int qk_isa_within(qk_isa member, qk_isa ceiling) {
    if (member == QK_ISA_SCALAR) return 1;
    if ((unsigned)member >= QK_ISA_COUNT || (unsigned)ceiling >= QK_ISA_COUNT) return 0;
    return qk_isa_table[member].arch == qk_isa_table[ceiling].arch
        && qk_isa_table[member].rank <= qk_isa_table[ceiling].rank && qk_isa_supported(member);
}

int qk_isa_rank(qk_isa isa) { return (unsigned)isa < QK_ISA_COUNT ? qk_isa_table[isa].rank : -1; }

int qk_isa_has_int8_dot(qk_isa isa) {
    return (unsigned)isa < QK_ISA_COUNT && (qk_isa_table[isa].features & (QK_FEAT_VNNI | QK_FEAT_DOTPROD)) != 0;
}

const void* qk_select_member(const void* members, size_t count, size_t size, size_t isa_offset, qk_isa ceiling,
                             qk_member_filter keep, const void* want) {
    const char* best = NULL;
    for (size_t i = 0; i < count; i++) {
        const char* d = (const char*)members + i * size;
        qk_isa isa;
        memcpy(&isa, d + isa_offset, sizeof isa);
        if (!qk_isa_within(isa, ceiling) || (keep != NULL && !keep(d, want))) continue;
        if (best == NULL) { best = d; continue; }
        qk_isa best_isa;
        memcpy(&best_isa, best + isa_offset, sizeof best_isa);
        if (qk_isa_rank(isa) > qk_isa_rank(best_isa)) best = d;
    }
    return best;
}
