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

/** The per-code operands of the SIMD shift-add bodies (one design for every ISA):
 *    term = (negative[c] ? -a : a) << count[c]        summed in int32, no multiplication
 *  count[c] = e for a nonzero weight and `zero_count` for a zero weight: a count at which the
 *  ISA's variable shift yields 0 for a >= 0 (32 for x86 vpsllvd, -16 = a right shift by 16 for NEON
 *  sshl on int16). negative[c] = -1 (all bits set) for a negative weight, 0 otherwise (zero weights
 *  select +a, so the out-of-range shift gives 0 also for an arithmetic right shift). */
static inline void qk_shift_operands(const int8_t* lut, int bits, int8_t zero_count, int8_t count[16],
                                     int8_t negative[16]) {
    const qk_shift_table t = qk_shift_table_make(lut, bits);
    for (int c = 0; c < 16; c++) {
        count[c] = t.nonzero[c] ? (int8_t)t.exponent[c] : zero_count;
        negative[c] = t.negative[c] ? (int8_t)-1 : (int8_t)0;
    }
}
