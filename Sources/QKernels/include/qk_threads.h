/* qk_threads.h — the OpenMP team size used by every threaded QKernels driver. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/** Sets the number of threads QKernels drivers use; n < 1 returns to the OpenMP default.
 *  Process-wide: unlike omp_set_num_threads it applies to calls made from any thread. */
void qk_set_num_threads(int n);

/** The team size drivers will use: the value set by qk_set_num_threads, or omp_get_max_threads()
 *  (OMP_NUM_THREADS / number of CPUs) when never set. */
int qk_get_max_threads(void);

#ifdef __cplusplus
}
#endif
