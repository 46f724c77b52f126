/* sha256.h - SHA-256 (FIPS 180-4), for the model card's file digests.
 * Small and in-tree: OpenSSL is not a dependency and zlib has no SHA. */
#ifndef AAIRT_SHA256_H
#define AAIRT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "rt_error.h"

typedef struct AairtSha256 {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64];
    size_t n;              /* bytes waiting in buf */
} AairtSha256;

void aairt_sha256_init(AairtSha256 *s);
void aairt_sha256_update(AairtSha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest. */
void aairt_sha256_final(AairtSha256 *s, unsigned char digest[32]);
/* Digest of a buffer as 64 lowercase hex digits and a NUL. */
void aairt_sha256_hex(const void *data, size_t n, char hex[65]);
/* The compression function on n_blocks 64-byte blocks: the portable
 * rounds, and the CPU's SHA instructions (returns 0, doing nothing, when
 * the CPU has none). aairt_sha256_update picks; exposed for the tests. */
void aairt_sha256_blocks_portable(uint32_t h[8], const unsigned char *p, size_t n_blocks);
int aairt_sha256_blocks_accelerated(uint32_t h[8], const unsigned char *p, size_t n_blocks);
/* Digest of a whole file (streamed). 0, or -1 with err naming the file. */
int aairt_sha256_file(const char *path, char hex[65], AairtError *err);

#endif
