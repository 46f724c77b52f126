/* rng.h - seeded pseudo-random streams for the runtime (PCG32).
 *
 * Every use of randomness (weight init, epoch shuffle) draws from its own
 * stream, derived from the user's seed and a fixed stream id, so that
 * changing one consumer never shifts another's numbers and the same seed
 * always gives bitwise the same run. PCG32 (O'Neill, pcg-random.org):
 * 64-bit LCG state, XSH-RR output; the stream id selects the increment. */
#ifndef AAIRT_RNG_H
#define AAIRT_RNG_H

#include <stdint.h>

/* Fixed stream ids: the numbering is part of the reproducibility contract. */
enum {
    AAIRT_RNG_STREAM_INIT = 1,    /* parameter initialisation */
    AAIRT_RNG_STREAM_SHUFFLE = 2, /* per-epoch minibatch order */
    AAIRT_RNG_STREAM_DROPOUT = 3, /* reserved */
};

typedef struct AairtRng {
    uint64_t state; /* LCG state */
    uint64_t inc;   /* odd increment: selects the stream */
} AairtRng;

/* Seeds `rng` for (seed, stream); two different streams of one seed are
 * independent sequences. */
void aairt_rng_seed(AairtRng *rng, uint64_t seed, uint64_t stream);
/* Next 32 uniformly distributed bits. */
uint32_t aairt_rng_u32(AairtRng *rng);
/* Uniform in [0, n) without modulo bias; n >= 1. */
uint64_t aairt_rng_below(AairtRng *rng, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float aairt_rng_uniform(AairtRng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double aairt_rng_uniform_f64(AairtRng *rng);
/* Standard normal (Box-Muller on 53-bit uniforms; no cached second value,
 * so the draw count per call is always two u64). */
double aairt_rng_normal(AairtRng *rng);
/* Fisher-Yates shuffle of idx[0..n). */
void aairt_rng_shuffle(AairtRng *rng, int64_t *idx, int64_t n);

#endif
