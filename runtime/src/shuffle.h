/* shuffle.h - the seeded permutation behind dataset splits.
 *
 * Self-contained (xoshiro256** seeded through splitmix64) so a split
 * depends only on the seed and n, never on other users of randomness. The
 * sequence is part of the file format's meaning: changing it changes which
 * rows a saved model was tested on. */
#ifndef AAIRT_SHUFFLE_H
#define AAIRT_SHUFFLE_H

#include <stdint.h>

typedef struct AairtShuffleRng {
    uint64_t s[4]; /* xoshiro256** state, never all zero */
} AairtShuffleRng;

/* Seeds the state from one 64-bit seed (splitmix64 expansion). */
void aairt_shuffle_seed(AairtShuffleRng *rng, uint64_t seed);
/* Next 64 random bits. */
uint64_t aairt_shuffle_next(AairtShuffleRng *rng);
/* Uniform integer in [0, bound), bound > 0, without modulo bias
 * (Lemire's multiply-and-reject). */
uint64_t aairt_shuffle_below(AairtShuffleRng *rng, uint64_t bound);
/* Fills idx with 0..n-1 and Fisher-Yates shuffles it (i from n-1 down to
 * 1, swapping with a uniform j in [0, i]). */
void aairt_shuffle_perm(int64_t *idx, int64_t n, uint64_t seed);

#endif
