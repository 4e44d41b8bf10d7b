/* qk_fdwconv_ukernels.h — prototypes of the fdwconv members (one file each, file = symbol).
 * Register a new member here and in qk_fdwconv_registry.c. Private. */
#pragma once
#include "qk_fdwconv.h"

#define QK_DECLARE_FDWCONV(name) void name(const qk_fdwconv_args* args, size_t oy0, size_t oy1)

QK_DECLARE_FDWCONV(qk_fdwconv_ukernel_1x1__scalar);
#if defined(__x86_64__)
QK_DECLARE_FDWCONV(qk_fdwconv_ukernel_1x8__avx2);
QK_DECLARE_FDWCONV(qk_fdwconv_ukernel_1x32__avx512vnni);
#endif
#if defined(__aarch64__)
QK_DECLARE_FDWCONV(qk_fdwconv_ukernel_1x8__neon);
#endif
