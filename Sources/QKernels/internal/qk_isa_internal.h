/* qk_isa_internal.h — ISA ranking used by dispatch (defined in qk_isa.c). Private. */
#pragma once
#include "qk_isa.h"

/** 1 if a member of ISA `member` may serve a request for `ceiling`: scalar always; otherwise the
 *  same architecture, rank <= the ceiling's, and supported by this CPU. */
int qk_isa_within(qk_isa member, qk_isa ceiling);
/** Rank within its architecture (scalar 0). */
int qk_isa_rank(qk_isa isa);
