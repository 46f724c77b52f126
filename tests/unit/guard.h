/* guard.h - output buffers fenced by guard floats, for the tests of
 * libaairt functions that write with wide vector stores: anything written
 * outside the buffer changes a guard. */
#ifndef AAI_TEST_GUARD_H
#define AAI_TEST_GUARD_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

enum { GUARD = 16 };
static const float guard_value = 12345.0f;

/* n floats between GUARD guard floats on each side; returns the inside
 * (free with guarded_free). */
static inline float *guarded(int64_t n) {
    float *p = malloc((size_t)(n + 2 * GUARD) * sizeof *p);
    cr_assert(p);
    for (int64_t i = 0; i < n + 2 * GUARD; i++) p[i] = guard_value;
    return p + GUARD;
}

static inline void guarded_free(float *inside) { free(inside - GUARD); }

static inline void expect_guards(const float *inside, int64_t n, const char *what) {
    for (int64_t i = 1; i <= GUARD; i++) {
        cr_expect_eq(inside[-i], guard_value, "%s: float %lld before the buffer written", what,
                     (long long)i);
        cr_expect_eq(inside[n - 1 + i], guard_value, "%s: float %lld after the buffer written",
                     what, (long long)i);
    }
}

#endif
