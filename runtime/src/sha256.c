/* sha256.c - SHA-256, FIPS 180-4 (see sha256.h).
 *
 * Blocks go through the CPU's SHA extensions where it has them (x86-64
 * SHA-NI: about five times the portable code, which matters because
 * `train` hashes every data file for the model card on each run), else
 * through the portable rounds below. Both give the same digest; the tests
 * compare them. */
#include "sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AAIRT_SHA_NI 1
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
    h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void aairt_sha256_blocks_portable(uint32_t h[8], const unsigned char *p, size_t n_blocks) {
    for (size_t i = 0; i < n_blocks; i++) block(h, p + 64 * i);
}

#ifdef AAIRT_SHA_NI
/* Four rounds per step: the two state registers hold ABEF and CDGH, as
 * sha256rnds2 wants them, and msg[4] the last sixteen message words. */
__attribute__((target("sha,sse4.1")))
static void blocks_shani(uint32_t h[8], const unsigned char *p, size_t n_blocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* BADC */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* HGFE */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                                      /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);                                          /* CDGH */
    for (size_t b = 0; b < n_blocks; b++, p += 64) {
        __m128i abef = s0, cdgh = s1, msg[4];
        for (int g = 0; g < 16; g++) {
            __m128i w;
            if (g < 4) {
                w = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
            } else {
                /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at a time */
                w = _mm_sha256msg1_epu32(msg[g % 4], msg[(g - 3) % 4]);
                w = _mm_add_epi32(w, _mm_alignr_epi8(msg[(g - 1) % 4], msg[(g - 2) % 4], 4));
                w = _mm_sha256msg2_epu32(w, msg[(g - 1) % 4]);
            }
            msg[g % 4] = w;
            __m128i wk = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, wk);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(wk, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);                               /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);                              /* DCHG */
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, s1, 0xF0)); /* DCBA */
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(s1, t, 8));    /* HGFE */
}
#endif

int aairt_sha256_blocks_accelerated(uint32_t h[8], const unsigned char *p, size_t n_blocks) {
#ifdef AAIRT_SHA_NI
    if (__builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1")) {
        blocks_shani(h, p, n_blocks);
        return 1;
    }
#endif
    (void)h, (void)p, (void)n_blocks;
    return 0;
}

static void blocks(uint32_t h[8], const unsigned char *p, size_t n_blocks) {
    if (!aairt_sha256_blocks_accelerated(h, p, n_blocks))
        aairt_sha256_blocks_portable(h, p, n_blocks);
}

void aairt_sha256_init(AairtSha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
    s->n = 0;
}

void aairt_sha256_update(AairtSha256 *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->len += n;
    while (n > 0) {
        if (s->n == 0 && n >= 64) { /* whole blocks straight from the input */
            size_t whole = n / 64;
            blocks(s->h, p, whole);
            p += 64 * whole;
            n -= 64 * whole;
            continue;
        }
        size_t take = 64 - s->n < n ? 64 - s->n : n;
        memcpy(s->buf + s->n, p, take);
        s->n += take;
        p += take;
        n -= take;
        if (s->n == 64) {
            blocks(s->h, s->buf, 1);
            s->n = 0;
        }
    }
}

void aairt_sha256_final(AairtSha256 *s, unsigned char digest[32]) {
    uint64_t bits = s->len * 8;
    unsigned char pad[72] = {0x80};
    size_t padn = (s->n < 56 ? 56 - s->n : 120 - s->n);
    for (int i = 0; i < 8; i++) pad[padn + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    aairt_sha256_update(s, pad, padn + 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) digest[4 * i + j] = (unsigned char)(s->h[i] >> (24 - 8 * j));
}

static void to_hex(const unsigned char d[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

void aairt_sha256_hex(const void *data, size_t n, char hex[65]) {
    AairtSha256 s;
    unsigned char d[32];
    aairt_sha256_init(&s);
    aairt_sha256_update(&s, data, n);
    aairt_sha256_final(&s, d);
    to_hex(d, hex);
}

int aairt_sha256_file(const char *path, char hex[65], AairtError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return aairt_error_set(err, "%s: %s", path, strerror(errno));
    AairtSha256 s;
    aairt_sha256_init(&s);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) aairt_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return aairt_error_set(err, "%s: read error", path);
    unsigned char d[32];
    aairt_sha256_final(&s, d);
    to_hex(d, hex);
    return 0;
}
