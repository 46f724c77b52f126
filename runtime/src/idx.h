/* idx.h - IDX files (the MNIST / Fashion-MNIST format), gzipped or plain.
 *
 * Layout: a 4-byte big-endian magic 0x0000TTRR (TT = element type, RR =
 * rank), RR big-endian u32 dimensions, then the elements. Only unsigned
 * bytes (TT = 0x08) are supported, which is what the MNIST family uses:
 * 0x00000801 for label files, 0x00000803 for image files. Every dimension
 * is checked (nonzero, product overflow-free and under a size limit) before
 * anything is allocated, and the data must be exactly that long. Byte
 * offsets in messages count uncompressed bytes. */
#ifndef AAIRT_IDX_H
#define AAIRT_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "rt_error.h"

/* Largest element count accepted (4 GiB of bytes). */
#define AAIRT_IDX_MAX_BYTES ((uint64_t)1 << 32)

typedef struct AairtIdx {
    int rank;          /* 1..4 */
    int64_t dims[4];   /* dims[0] = number of items */
    uint8_t *data;     /* prod(dims) bytes, owned */
    size_t size;       /* prod(dims) */
} AairtIdx;

/* Reads `path` (gzip or plain, detected by zlib). `want_rank` > 0 demands
 * that rank (1 for labels, 3 for images); 0 accepts 1..4. Returns 0, or -1
 * with err naming the file and byte offset. */
int aairt_idx_read(const char *path, int want_rank, AairtIdx *out, AairtError *err);
void aairt_idx_free(AairtIdx *idx);

/* Bytes per item: prod(dims[1:]) (1 for rank 1). */
int64_t aairt_idx_item_size(const AairtIdx *idx);

/* Converts all items to floats in [0, 255]: a malloc'd dims[0] x item_size
 * matrix (caller frees), or NULL when out of memory. */
float *aairt_idx_to_floats(const AairtIdx *idx);

#endif
