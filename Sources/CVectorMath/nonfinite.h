// The NaN/±∞ check the narrowing kernels share (internal to CVectorMath).
#ifndef CAPG_NONFINITE_H
#define CAPG_NONFINITE_H
#include <stdint.h>
#include <string.h>

// The largest exponent field seen so far, updated with f's: a branch-free running maximum
// that vectorizes, where a test per value would not. f is NaN or ±∞ iff its field is all ones.
static inline uint32_t capg_worst_exponent(uint32_t worst, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t e = bits & 0x7F800000u;
    return e > worst ? e : worst;
}

// Whether a running maximum from `capg_worst_exponent` saw a NaN or ±∞.
static inline int capg_exponent_nonfinite(uint32_t worst) { return worst == 0x7F800000u; }

#endif
