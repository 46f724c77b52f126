/* shuffle.c - xoshiro256** (Blackman & Vigna) and a Fisher-Yates shuffle.
 * See shuffle.h for why this does not share the trainer's generator. */
#include "shuffle.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void aairt_shuffle_seed(AairtShuffleRng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t aairt_shuffle_next(AairtShuffleRng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t aairt_shuffle_below(AairtShuffleRng *rng, uint64_t bound)
{
    unsigned __int128 m = (unsigned __int128)aairt_shuffle_next(rng) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            m = (unsigned __int128)aairt_shuffle_next(rng) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

void aairt_shuffle_perm(int64_t *idx, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    AairtShuffleRng rng;
    aairt_shuffle_seed(&rng, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)aairt_shuffle_below(&rng, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
