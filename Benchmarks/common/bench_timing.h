/* bench_timing.h — what the plain C benchmarks share: a seeded generator and the median of repeated
 * timings (monotonic clock). Header-only; include once per benchmark program. */
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static uint64_t bench_state = 42;
/** A deterministic 32-bit pseudo-random number (LCG, seed 42). */
static uint32_t rnd(void) {
    bench_state = bench_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(bench_state >> 33);
}
/** Seconds on the monotonic clock. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static int bench_cmp(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}
/** The median wall time in seconds of `reps` runs of `stmt` (a GNU statement expression). */
#define TIME_MEDIAN(reps, stmt)                                                                   \
    ({ double ts_[reps]; for (int r_ = 0; r_ < (reps); r_++) { double t0_ = now(); stmt;          \
       ts_[r_] = now() - t0_; } qsort(ts_, (reps), sizeof(double), bench_cmp); ts_[(reps) / 2]; })
