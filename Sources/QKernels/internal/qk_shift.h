/* qk_shift.h — shift-coded tables: each code's weight as sign * 2^e (or 0), for the shift-add
 * members (no multiplications). Private. */
#pragma once
#include <stdint.h>

/** Per code: exponent e (|w| = 2^e), negative flag, nonzero flag. */
typedef struct {
    uint8_t exponent[16], negative[16], nonzero[16];
} qk_shift_table;

/** Decomposes a shift-coded table (qk_lut_is_shift) of 2^bits entries; other entries are zero. */
static inline qk_shift_table qk_shift_table_make(const int8_t* lut, int bits) {
    qk_shift_table t = {{0}, {0}, {0}};
    for (int c = 0; c < (1 << bits); c++) {
        const int v = lut[c];
        int m = v < 0 ? -v : v, e = 0;
        while (m > 1) { m >>= 1; e++; }
        t.exponent[c] = (uint8_t)e;
        t.negative[c] = v < 0;
        t.nonzero[c] = v != 0;
    }
    return t;
}
