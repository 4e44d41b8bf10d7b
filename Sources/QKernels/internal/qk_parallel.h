/* qk_parallel.h — when and with how many threads a driver runs an OpenMP loop. Private. */
#pragma once
#include <stddef.h>

/** Team size for a parallel region (qk_get_max_threads). */
int qk_team_size(void);

/** Work (multiply-adds or element visits) below which a driver stays single-threaded: a team
 *  costs a few microseconds to wake. Any value gives identical results. */
#define QK_PARALLEL_MIN_WORK ((size_t)1 << 15)
