/* qk_parallel.h — when and with how many threads a driver runs an OpenMP loop. Private. */
#pragma once
#include <stddef.h>

/** Team size for a parallel region (qk_get_max_threads). */
int qk_team_size(void);

/** Work (multiply-adds or element visits) below which a driver stays single-threaded: a team
 *  costs a few microseconds to wake. Any value gives identical results. */
#define QK_PARALLEL_MIN_WORK ((size_t)1 << 15)

/* Activation rows per panel: tiles are visited panel by panel (QK_PANEL_BYTES of A, which stays in
 * L1) and, inside a panel, column tile by column tile, so each weight tile is read from L2 once
 * per panel and reused from L1 by every row tile of the panel. Used by qk_qgemm and the fused
 * conv driver. */
#define QK_PANEL_BYTES ((size_t)16384)
/* The fused im2col conv path needs at least this many panels per thread (else load balance
 * suffers and the driver makes one im2col, then splits panels and column tiles). */
#define QK_FUSED_PANELS_PER_THREAD 4
