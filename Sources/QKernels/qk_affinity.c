/* qk_affinity.c — pin the OpenMP team to a set of CPUs (qbench --cores), as ncnn's powersave modes do. */
#define _GNU_SOURCE
#include <errno.h>
#include "internal/qk_omp.h"
#include "internal/qk_parallel.h"
#include "qk_threads.h"

#ifdef __linux__
#include <sched.h>

int qk_pin_team(const int *cpus, int count, int *team_size) {
    if (count < 1 || cpus == NULL) return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return -EINVAL;
        CPU_SET(cpus[i], &set);
    }
    const int team = qk_get_max_threads();
    int pinned = 0, first_error = 0, members = 1;
    /* Every member, the calling thread included, first moves to one CPU of the set (member i to the
     * i-th, round robin) so the team starts spread out even when it was narrowed before, then widens
     * its mask to the whole set, as ncnn does, and reads it back. Threads libomp starts later are
     * created by a pinned thread and inherit the set. */
#pragma omp parallel num_threads(team) reduction(+ : pinned)
    {
        const int me = omp_get_thread_num();
        if (me == 0) members = omp_get_num_threads();
        cpu_set_t one, got;
        CPU_ZERO(&one);
        CPU_SET(cpus[me % count], &one);
        int ok = sched_setaffinity(0, sizeof one, &one) == 0;
#pragma omp barrier
        ok = ok && sched_setaffinity(0, sizeof set, &set) == 0 && sched_getaffinity(0, sizeof got, &got) == 0 &&
             CPU_EQUAL(&got, &set);
        if (ok) {
            pinned += 1;
        } else {
#pragma omp critical(qk_pin_team_error)
            if (first_error == 0) first_error = errno ? errno : EINVAL;
        }
    }
    if (team_size) *team_size = members;
    return pinned == members ? pinned : -first_error;
}

#else

int qk_pin_team(const int *cpus, int count, int *team_size) {
    (void)cpus;
    (void)count;
    if (team_size) *team_size = 0;
    return -ENOSYS;
}

#endif
