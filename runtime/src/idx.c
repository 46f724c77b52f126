/* idx.c - IDX reader over zlib's gz* stream API, which reads gzip and
 * plain files alike. See idx.h for the format and the checks. */
#include "idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rows_alloc.h"

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* zlib's message lives in the gzFile; keep a copy that outlives gzclose. */
typedef struct {
    char text[160];
} ZMsg;

static void zmsg_set(ZMsg *z, const char *m)
{
    snprintf(z->text, sizeof z->text, "%s", m ? m : "?");
}

/* Reads up to n bytes; returns the count read (< n at end of data) or -1
 * on a zlib error, with *zmsg set. */
static int64_t gz_read_full(gzFile gz, unsigned char *dst, size_t n, ZMsg *zmsg)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (want > (size_t)INT_MAX / 2)
            want = (size_t)INT_MAX / 2;
        int r = gzread(gz, dst + got, (unsigned)want);
        if (r < 0) {
            int code;
            zmsg_set(zmsg, gzerror(gz, &code));
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    /* A truncated gzip stream reads short and reports Z_BUF_ERROR. */
    int code;
    const char *m = gzerror(gz, &code);
    if ((code != Z_OK && code != Z_BUF_ERROR) || (code == Z_BUF_ERROR && got < n)) {
        zmsg_set(zmsg, m);
        return -1;
    }
    return (int64_t)got;
}

/* Reads up to `total` bytes into a buffer that grows (doubling from 1 MiB)
 * only as data actually arrives, so a tiny or truncated file that merely
 * declares huge dimensions never makes us allocate them. Returns the
 * bytes read (< total at end of data) with *out set, or -1 on a zlib error
 * (*zmsg set) or -2 when out of memory; *out is NULL on failure. */
static int64_t gz_read_grow(gzFile gz, size_t total, unsigned char **out, ZMsg *zmsg)
{
    size_t cap = total < ((size_t)1 << 20) ? total : (size_t)1 << 20, got = 0;
    unsigned char *buf = malloc(cap ? cap : 1);
    while (buf) {
        int64_t r = gz_read_full(gz, buf + got, cap - got, zmsg);
        if (r < 0) {
            free(buf);
            *out = NULL;
            return -1;
        }
        got += (size_t)r;
        if (got < cap || got == total)
            break;
        size_t ncap = cap > total / 2 ? total : cap * 2;
        unsigned char *nb = realloc(buf, ncap);
        if (!nb)
            free(buf);
        buf = nb;
        cap = ncap;
    }
    *out = buf;
    return buf ? (int64_t)got : -2;
}

static const char *rank_name(int rank)
{
    return rank == 1 ? "a label file (magic 0x00000801)"
         : rank == 3 ? "an image file (magic 0x00000803)"
                     : "an IDX file of that rank";
}

int aairt_idx_read(const char *path, int want_rank, AairtIdx *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return aairt_error_set(err, "%s: cannot open: %s", path,
                               errno ? strerror(errno) : "out of memory");
    ZMsg zmsg = {""};
    unsigned char head[4 + 4 * 4];
    int64_t got = gz_read_full(gz, head, 4, &zmsg);
    if (got < 0) {
        gzclose(gz);
        return aairt_error_set(err, "%s: byte 0: cannot decompress: %s", path, zmsg.text);
    }
    if (got == 0) {
        gzclose(gz);
        return aairt_error_set(err, "%s: empty file (expected an IDX header)", path);
    }
    if (got < 4) {
        gzclose(gz);
        return aairt_error_set(err, "%s: byte %lld: file ends inside the 4-byte IDX magic",
                               path, (long long)got);
    }
    uint32_t magic = be32(head);
    int type = (int)(magic >> 8 & 0xff), rank = (int)(magic & 0xff);
    if ((magic >> 16) != 0) {
        gzclose(gz);
        return aairt_error_set(err,
                               "%s: byte 0: bad IDX magic 0x%08x (expected 0x00000801 for "
                               "labels or 0x00000803 for images)",
                               path, (unsigned)magic);
    }
    if (type != 0x08) {
        gzclose(gz);
        return aairt_error_set(err,
                               "%s: byte 2: unsupported IDX element type 0x%02x (only unsigned "
                               "bytes, 0x08, are supported)",
                               path, (unsigned)type);
    }
    if (rank < 1 || rank > 4 || (want_rank > 0 && rank != want_rank)) {
        gzclose(gz);
        if (want_rank > 0)
            return aairt_error_set(err, "%s: byte 3: IDX rank %d, expected %d: this should be %s",
                                   path, rank, want_rank, rank_name(want_rank));
        return aairt_error_set(err, "%s: byte 3: IDX rank %d (expected 1..4)", path, rank);
    }
    size_t hdr = 4 * (size_t)rank;
    got = gz_read_full(gz, head + 4, hdr, &zmsg);
    if (got < 0 || (size_t)got < hdr) {
        gzclose(gz);
        return aairt_error_set(err, "%s: byte %lld: file ends inside the dimensions (%d "
                                    "expected)%s%s",
                               path, 4 + (long long)(got < 0 ? 0 : got), rank,
                               got < 0 ? ": " : "", got < 0 ? zmsg.text : "");
    }
    uint64_t total = 1;
    for (int i = 0; i < rank; i++) {
        uint32_t d = be32(head + 4 + 4 * i);
        if (d == 0) {
            gzclose(gz);
            return aairt_error_set(err, "%s: byte %d: dimension %d is 0", path, 4 + 4 * i, i);
        }
        if (total > AAIRT_IDX_MAX_BYTES / d) {
            gzclose(gz);
            return aairt_error_set(err,
                                   "%s: byte %d: dimensions describe more than %llu bytes of "
                                   "data (dimension %d is %u)",
                                   path, 4 + 4 * i, (unsigned long long)AAIRT_IDX_MAX_BYTES, i,
                                   (unsigned)d);
        }
        total *= d;
        out->dims[i] = d;
    }
    out->rank = rank;
    out->size = (size_t)total;
    got = gz_read_grow(gz, out->size, &out->data, &zmsg);
    if (got == -2) {
        gzclose(gz);
        memset(out, 0, sizeof *out);
        return aairt_error_set(err, "%s: out of memory for %llu bytes", path,
                               (unsigned long long)total);
    }
    if (got < 0 || (uint64_t)got < total) {
        gzclose(gz);
        long long at = (long long)hdr + 4 + (got < 0 ? 0 : got);
        aairt_idx_free(out);
        if (got < 0)
            return aairt_error_set(err, "%s: byte %lld (uncompressed): cannot decompress: %s",
                                   path, at, zmsg.text);
        return aairt_error_set(err,
                               "%s: byte %lld: data ends early: the dimensions promise %llu "
                               "bytes after the %lld-byte header, the file has %lld",
                               path, at, (unsigned long long)total, (long long)hdr + 4,
                               (long long)got);
    }
    unsigned char extra;
    got = gz_read_full(gz, &extra, 1, &zmsg);
    gzclose(gz);
    if (got != 0) {
        long long at = (long long)hdr + 4 + (long long)total;
        aairt_idx_free(out);
        if (got < 0)
            return aairt_error_set(err, "%s: byte %lld (uncompressed): cannot decompress: %s",
                                   path, at, zmsg.text);
        return aairt_error_set(err,
                               "%s: byte %lld: unexpected data after the %llu bytes the "
                               "dimensions describe",
                               path, at, (unsigned long long)total);
    }
    return 0;
}

void aairt_idx_free(AairtIdx *idx)
{
    if (!idx)
        return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

int64_t aairt_idx_item_size(const AairtIdx *idx)
{
    int64_t s = 1;
    for (int i = 1; i < idx->rank; i++)
        s *= idx->dims[i];
    return s;
}

float *aairt_idx_to_floats(const AairtIdx *idx)
{
    float *f = aairt_rows_alloc(idx->size * sizeof *f + 1);
    if (!f)
        return NULL;
    for (size_t i = 0; i < idx->size; i++)
        f[i] = (float)idx->data[i];
    return f;
}
