/* qk_dwconv_ukernels.h — prototypes of the dwconv3x3 members (one file each, file = symbol).
 * Register a new member here and in qk_dwconv_registry.c. Private. */
#pragma once
#include "qk_dwconv.h"

#define QK_DECLARE_DWCONV(name) void name(const qk_dwconv_args* args, size_t oy0, size_t oy1)

QK_DECLARE_DWCONV(qk_dwconv3x3_ukernel_1x1__scalar);
#if defined(__x86_64__)
QK_DECLARE_DWCONV(qk_dwconv3x3_ukernel_1x16__avx2);
QK_DECLARE_DWCONV(qk_dwconv3x3_ukernel_1x32__avx512vnni);
#endif
#if defined(__aarch64__)
QK_DECLARE_DWCONV(qk_dwconv3x3_ukernel_1x16__neondot);
#endif
