/* qk_omp.h — the few OpenMP runtime entry points QKernels calls (libomp), declared here so that no
 * public header depends on omp.h. Private to the QKernels target. */
#pragma once

int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
