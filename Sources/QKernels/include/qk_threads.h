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

#ifdef __cplusplus
extern "C" {
#endif

/** Restricts every member of a team of qk_get_max_threads() threads, the caller included, to the CPUs
 *  cpus[0..count) (sched_setaffinity with the whole set, read back to check), so later parallel regions
 *  run there. Stores the team size in *team_size (if not NULL). Returns the team size on success, or a
 *  negative errno: -EINVAL for a bad list or a CPU the process may not use, -ENOSYS off Linux. */
int qk_pin_team(const int *cpus, int count, int *team_size);

#ifdef __cplusplus
}
#endif
