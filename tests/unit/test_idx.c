/* test_idx.c - the IDX reader on tiny hand-made files (gzipped and plain),
 * each malformed-header case, and Fashion-MNIST when it is installed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"
#include "rows_alloc.h"

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/aai_idx_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(idx, .init = setup, .fini = teardown);

/* Writes bytes to tmpdir/name, gzipped when gz. Returns the path. */
static const char *put(const char *name, const unsigned char *data, size_t n, int gz)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        cr_assert_not_null(f);
        if (n)
            cr_assert_eq(gzwrite(f, data, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *fp = fopen(path, "wb");
        fwrite(data, 1, n, fp);
        fclose(fp);
    }
    return path;
}

/* An image file: 2 images of 2x3. */
static const unsigned char images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                       0, 1, 2, 3, 4, 5, 255, 254, 253, 252, 251, 250};
static const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 9};

static const char *read_fail(const char *path, int rank)
{
    static AairtError err;
    AairtIdx idx;
    cr_assert_eq(aairt_idx_read(path, rank, &idx, &err), -1);
    cr_assert_null(idx.data);
    return err.msg;
}

Test(idx, reads_gzipped_images_and_labels)
{
    AairtError err;
    AairtIdx im, lb;
    cr_assert_eq(aairt_idx_read(put("im.gz", images, sizeof images, 1), 3, &im, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(im.rank, 3);
    cr_assert_eq(im.dims[0], 2);
    cr_assert_eq(aairt_idx_item_size(&im), 6);
    float *f = aairt_idx_to_floats(&im);
    cr_assert_float_eq(f[5], 5.0f, 0);
    cr_assert_float_eq(f[6], 255.0f, 0);
    free(f);
    aairt_idx_free(&im);
    cr_assert_eq(aairt_idx_read(put("lb.gz", labels, sizeof labels, 1), 1, &lb, &err), 0);
    cr_assert_eq(lb.size, 2);
    cr_assert_eq(lb.data[1], 9);
    aairt_idx_free(&lb);
}

Test(idx, reads_plain_files)
{
    AairtError err;
    AairtIdx im;
    cr_assert_eq(aairt_idx_read(put("im", images, sizeof images, 0), 0, &im, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(im.size, 12);
    cr_assert_eq(im.data[11], 250);
    aairt_idx_free(&im);
}

Test(idx, error_bad_magic)
{
    unsigned char b[sizeof labels];
    memcpy(b, labels, sizeof b);
    b[0] = 0x1f;
    const char *msg = read_fail(put("m", b, sizeof b, 0), 0);
    cr_assert(strstr(msg, "byte 0: bad IDX magic 0x1f000801"), "%s", msg);
}

Test(idx, error_unsupported_type)
{
    unsigned char b[sizeof labels];
    memcpy(b, labels, sizeof b);
    b[2] = 0x0d;
    const char *msg = read_fail(put("t.gz", b, sizeof b, 1), 0);
    cr_assert(strstr(msg, "t.gz: byte 2: unsupported IDX element type 0x0d"), "%s", msg);
}

Test(idx, error_wrong_rank)
{
    const char *msg = read_fail(put("lb", labels, sizeof labels, 0), 3);
    cr_assert(strstr(msg, "byte 3: IDX rank 1, expected 3"), "%s", msg);
}

Test(idx, error_zero_dimension)
{
    unsigned char b[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3};
    const char *msg = read_fail(put("z", b, sizeof b, 0), 3);
    cr_assert(strstr(msg, "byte 8: dimension 1 is 0"), "%s", msg);
}

Test(idx, error_dims_overflow_before_allocating)
{
    unsigned char b[] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                         0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    const char *msg = read_fail(put("o.gz", b, sizeof b, 1), 3);
    cr_assert(strstr(msg, "byte 8: dimensions describe more than"), "%s", msg);
}

Test(idx, error_truncated_data)
{
    const char *msg = read_fail(put("tr.gz", images, sizeof images - 2, 1), 3);
    cr_assert(strstr(msg, "tr.gz: byte 26: data ends early: the dimensions promise 12 bytes "
                          "after the 16-byte header, the file has 10"),
              "%s", msg);
}

Test(idx, error_truncated_header)
{
    const char *msg = read_fail(put("th", images, 10, 0), 3);
    cr_assert(strstr(msg, "file ends inside the dimensions"), "%s", msg);
    msg = read_fail(put("tm", images, 2, 0), 0);
    cr_assert(strstr(msg, "file ends inside the 4-byte IDX magic"), "%s", msg);
    msg = read_fail(put("empty", images, 0, 0), 0);
    cr_assert(strstr(msg, "empty: empty file"), "%s", msg);
}

Test(idx, error_trailing_data)
{
    unsigned char b[sizeof labels + 1];
    memcpy(b, labels, sizeof labels);
    b[sizeof labels] = 1;
    const char *msg = read_fail(put("x", b, sizeof b, 0), 1);
    cr_assert(strstr(msg, "byte 10: unexpected data after the 2 bytes"), "%s", msg);
}

Test(idx, error_corrupt_gzip_stream)
{
    /* A gzip file cut in half: zlib reports the damage. */
    const char *p = put("cut.gz", images, sizeof images, 1);
    FILE *fp = fopen(p, "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    const char *msg = read_fail(put("cut2.gz", buf, n / 2, 0), 3);
    cr_assert(strstr(msg, "cut2.gz: byte"), "%s", msg);
}

Test(idx, error_missing_file)
{
    const char *msg = read_fail("/nonexistent/train-images.gz", 3);
    cr_assert(strstr(msg, "/nonexistent/train-images.gz: cannot open"), "%s", msg);
}

#define FMNIST "/usr/share/datasets/fashion-mnist/"

Test(idx, fashion_mnist_when_installed, .timeout = 120)
{
    if (access(FMNIST "train-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("Fashion-MNIST is not installed");
    AairtError err;
    AairtIdx im, lb;
    cr_assert_eq(aairt_idx_read(FMNIST "train-images-idx3-ubyte.gz", 3, &im, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(im.dims[0], 60000);
    cr_assert_eq(aairt_idx_item_size(&im), 784);
    aairt_idx_free(&im);
    cr_assert_eq(aairt_idx_read(FMNIST "train-labels-idx1-ubyte.gz", 1, &lb, &err), 0);
    cr_assert_eq(lb.dims[0], 60000);
    int counts[10] = {0};
    for (size_t i = 0; i < lb.size; i++) {
        cr_assert_lt(lb.data[i], 10);
        counts[lb.data[i]]++;
    }
    for (int c = 0; c < 10; c++)
        cr_assert_eq(counts[c], 6000); /* Fashion-MNIST is balanced */
    aairt_idx_free(&lb);
    cr_assert_eq(aairt_idx_read(FMNIST "t10k-images-idx3-ubyte.gz", 3, &im, &err), 0);
    cr_assert_eq(im.dims[0], 10000);
    cr_assert_eq(im.dims[1], 28);
    cr_assert_eq(im.dims[2], 28);
    aairt_idx_free(&im);
}

/* The huge-page advice covers only the whole 2 MiB pages inside a block;
 * the ragged ends on either side must stay ordinary, usable memory. */
Test(idx, rows_alloc_gives_the_whole_block)
{
    const size_t n = (5u << 20) + 3;
    unsigned char *p = aairt_rows_alloc(n);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + 7);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(p[i], (unsigned char)(i * 31 + 7), "byte %zu", i);
    free(p);
    void *none = aairt_rows_alloc(0);
    cr_assert_not_null(none);
    free(none);
}
