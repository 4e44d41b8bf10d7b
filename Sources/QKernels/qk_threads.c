/* qk_threads.c — the process-wide team size (an atomic, so it holds for callers on any thread). */
#include <stdatomic.h>
#include "internal/qk_omp.h"
#include "internal/qk_parallel.h"
#include "qk_threads.h"

static atomic_int qk_num_threads = 0; /* 0: not set, use omp_get_max_threads() */

void qk_set_num_threads(int n) { atomic_store(&qk_num_threads, n < 1 ? 0 : n); }

int qk_get_max_threads(void) {
    const int n = atomic_load(&qk_num_threads);
    return n > 0 ? n : omp_get_max_threads();
}

int qk_team_size(void) { return qk_get_max_threads(); }
