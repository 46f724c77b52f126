/* rng.c - PCG32 streams (see rng.h). */
#include "rng.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

void aairt_rng_seed(AairtRng *rng, uint64_t seed, uint64_t stream) {
    /* pcg32_srandom_r: the increment must be odd. */
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    (void)aairt_rng_u32(rng);
    rng->state += seed;
    (void)aairt_rng_u32(rng);
}

uint32_t aairt_rng_u32(AairtRng *rng) {
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

static uint64_t rng_u64(AairtRng *rng) {
    uint64_t hi = aairt_rng_u32(rng);
    return (hi << 32) | aairt_rng_u32(rng);
}

uint64_t aairt_rng_below(AairtRng *rng, uint64_t n) {
    if (n <= 1) return 0;
    if (n <= UINT32_MAX) {
        /* Rejection below 2^32 mod n keeps r % n unbiased. */
        uint32_t bound = (uint32_t)n;
        uint32_t threshold = (uint32_t)(-bound) % bound;
        for (;;) {
            uint32_t r = aairt_rng_u32(rng);
            if (r >= threshold) return r % bound;
        }
    }
    uint64_t threshold = (uint64_t)(-n) % n;
    for (;;) {
        uint64_t r = rng_u64(rng);
        if (r >= threshold) return r % n;
    }
}

float aairt_rng_uniform(AairtRng *rng) {
    return (float)(aairt_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

double aairt_rng_uniform_f64(AairtRng *rng) {
    return (double)(rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
}

double aairt_rng_normal(AairtRng *rng) {
    double u1 = aairt_rng_uniform_f64(rng);
    double u2 = aairt_rng_uniform_f64(rng);
    /* 1 - u1 is in (0, 1], so the log is finite. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

void aairt_rng_shuffle(AairtRng *rng, int64_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)aairt_rng_below(rng, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
