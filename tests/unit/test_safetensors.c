/* test_safetensors.c - reading a PyTorch-written file, byte-exact writing
 * in the reference layout, round trips, atomic replacement, and every
 * corrupted-header check. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "safetensors.h"

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/aai_st_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(safetensors, .init = setup, .fini = teardown);

static const char *fixture(const char *name)
{
    static char path[512];
    const char *dir = getenv("AAI_FIXTURES");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : AAI_FIXTURES_DEFAULT, name);
    return path;
}

Test(safetensors, reads_pytorch_fixture)
{
    AairtError err;
    AairtSafetensors st;
    const char *path = fixture("linear.safetensors");
    cr_assert_eq(aairt_st_load(path, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.n_tensors, 8);
    const AairtTensorView *w = aairt_st_find(&st, "weight");
    cr_assert_not_null(w);
    cr_assert_eq(w->dtype, AAIRT_F32);
    cr_assert_eq(w->rank, 2);
    cr_assert_eq(w->shape[0], 3);
    cr_assert_eq(w->shape[1], 5);
    cr_assert_eq(w->nbytes, 60);
    cr_assert_eq((uintptr_t)w->data % 4, 0);
    cr_assert_str_eq(aairt_st_meta(&st, "op"), "linear");
    cr_assert_null(aairt_st_meta(&st, "nope"));
    cr_assert_null(aairt_st_find(&st, "nope"));
    /* Compare with the bytes read independently. */
    unsigned char *raw;
    size_t size;
    cr_assert_eq(aairt_read_file(path, 1 << 20, &raw, &size, &err), 0);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | raw[i];
    cr_assert_eq(memcmp(w->data, raw + 8 + n + 80, 60), 0);
    const AairtTensorView *gb = aairt_st_find(&st, "grad.bias");
    cr_assert_eq(memcmp(gb->data, raw + size - 12, 12), 0);
    free(raw);
    aairt_st_free(&st);
}

Test(safetensors, writes_the_reference_layout_byte_for_byte)
{
    float b[2] = {1.5f, -2.0f};
    int64_t a[1] = {42};
    AairtTensorOut ts[2] = {
        {.name = "b", .dtype = AAIRT_F32, .rank = 1, .shape = {2}, .data = b},
        {.name = "a", .dtype = AAIRT_I64, .rank = 1, .shape = {1}, .data = a},
    };
    const char *keys[] = {"z", "k"}, *vals[] = {"say \"hi\"", "v"};
    char path[256];
    snprintf(path, sizeof path, "%s/w.safetensors", tmpdir);
    AairtError err;
    cr_assert_eq(aairt_st_save(path, ts, 2, keys, vals, 2, &err), 0, "%s", err.msg);
    unsigned char *raw;
    size_t size;
    cr_assert_eq(aairt_read_file(path, 1 << 20, &raw, &size, &err), 0);
    const char *want = "{\"__metadata__\":{\"k\":\"v\",\"z\":\"say \\\"hi\\\"\"},"
                       "\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    size_t wl = strlen(want), padded = (wl + 7) / 8 * 8;
    cr_assert_eq(raw[0], padded & 0xff);
    cr_assert_eq(raw[1], padded >> 8);
    cr_assert_eq(memcmp(raw + 8, want, wl), 0, "%.*s", (int)padded, raw + 8);
    for (size_t i = wl; i < padded; i++)
        cr_assert_eq(raw[8 + i], ' ');
    cr_assert_eq(size, 8 + padded + 16);
    cr_assert_eq(memcmp(raw + 8 + padded, a, 8), 0);
    cr_assert_eq(memcmp(raw + 8 + padded + 8, b, 8), 0);
    free(raw);
}

Test(safetensors, round_trip)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    double d[1] = {0.1};
    int32_t i32[3] = {-1, 0, 7};
    uint8_t u8[3] = {1, 2, 3};
    AairtTensorOut ts[] = {
        {.name = "layer.weight", .dtype = AAIRT_F32, .rank = 2, .shape = {2, 3}, .data = w},
        {.name = "scalar", .dtype = AAIRT_F64, .rank = 0, .data = d},
        {.name = "ints", .dtype = AAIRT_I32, .rank = 1, .shape = {3}, .data = i32},
        {.name = "bytes", .dtype = AAIRT_U8, .rank = 1, .shape = {3}, .data = u8},
        {.name = "empty", .dtype = AAIRT_F32, .rank = 2, .shape = {0, 4}, .data = NULL},
    };
    const char *keys[] = {"aai.transforms"}, *vals[] = {"{\"a\": [1, 2]}\n\t\x01"};
    char path[256];
    snprintf(path, sizeof path, "%s/r.safetensors", tmpdir);
    AairtError err;
    cr_assert_eq(aairt_st_save(path, ts, 5, keys, vals, 1, &err), 0, "%s", err.msg);
    AairtSafetensors st;
    cr_assert_eq(aairt_st_load(path, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.n_tensors, 5);
    const AairtTensorView *v = aairt_st_find(&st, "layer.weight");
    cr_assert_eq(v->rank, 2);
    cr_assert_eq(memcmp(v->data, w, sizeof w), 0);
    v = aairt_st_find(&st, "scalar");
    cr_assert_eq(v->rank, 0);
    cr_assert_eq(*(const double *)v->data, 0.1);
    cr_assert_eq(memcmp(aairt_st_find(&st, "ints")->data, i32, sizeof i32), 0);
    cr_assert_eq(memcmp(aairt_st_find(&st, "bytes")->data, u8, sizeof u8), 0);
    cr_assert_eq(aairt_st_find(&st, "empty")->nbytes, 0);
    cr_assert_str_eq(aairt_st_meta(&st, "aai.transforms"), vals[0]);
    aairt_st_free(&st);
}

Test(safetensors, save_is_atomic_and_leaves_no_temporaries)
{
    float w[1] = {1};
    AairtTensorOut t = {.name = "w", .dtype = AAIRT_F32, .rank = 1, .shape = {1}, .data = w};
    char path[256];
    snprintf(path, sizeof path, "%s/a.safetensors", tmpdir);
    AairtError err;
    cr_assert_eq(aairt_st_save(path, &t, 1, NULL, NULL, 0, &err), 0);
    w[0] = 2;
    cr_assert_eq(aairt_st_save(path, &t, 1, NULL, NULL, 0, &err), 0);
    DIR *d = opendir(tmpdir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            files++;
    closedir(d);
    cr_assert_eq(files, 1);
    mode_t mask = umask(0);
    umask(mask);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0666 & ~mask, "the umask applies, not mkstemp's 0600");
    AairtSafetensors st;
    cr_assert_eq(aairt_st_load(path, &st, &err), 0);
    cr_assert_eq(*(const float *)st.tensors[0].data, 2.0f);
    aairt_st_free(&st);
    cr_assert_eq(aairt_st_save("/nonexistent/dir/x.safetensors", &t, 1, NULL, NULL, 0, &err),
                 -1);
    cr_assert(strstr(err.msg, "/nonexistent/dir/x.safetensors"), "%s", err.msg);
}

Test(safetensors, save_rejects_duplicates)
{
    float w[1] = {1};
    AairtTensorOut t[2] = {{.name = "w", .dtype = AAIRT_F32, .rank = 1, .shape = {1}, .data = w},
                           {.name = "w", .dtype = AAIRT_F32, .rank = 1, .shape = {1}, .data = w}};
    char path[256];
    snprintf(path, sizeof path, "%s/d.safetensors", tmpdir);
    AairtError err;
    cr_assert_eq(aairt_st_save(path, t, 2, NULL, NULL, 0, &err), -1);
    cr_assert(strstr(err.msg, "given twice"), "%s", err.msg);
    cr_assert_eq(access(path, F_OK), -1);
}

/* Builds a file image: 8-byte length, header, `data_len` data bytes. */
static const char *corrupt(const char *header, size_t data_len, uint64_t claimed_len)
{
    static AairtError err;
    static unsigned char buf[4096];
    size_t hl = strlen(header);
    uint64_t n = claimed_len ? claimed_len : hl;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, 0x11, data_len);
    AairtSafetensors st;
    cr_assert_eq(aairt_st_load_bytes(buf, 8 + hl + data_len, "bad.safetensors", &st, &err), -1);
    cr_assert_null(st.tensors);
    cr_assert_null(st.bytes);
    return err.msg;
}

#define EXPECT_ERR(msg, frag) cr_assert(strstr((msg), (frag)), "got: %s", (msg))

Test(safetensors, corrupted_headers)
{
    AairtError err;
    AairtSafetensors st;
    cr_assert_eq(aairt_st_load_bytes("\x01\x00", 2, "short", &st, &err), -1);
    EXPECT_ERR(err.msg, "short: byte 0: 2 bytes is too short");
    EXPECT_ERR(corrupt("", 0, 0), "bad.safetensors: byte 8: the header must start with '{'");
    EXPECT_ERR(corrupt("{}", 0, 1000), "byte 0: header length 1000 does not fit the file");
    EXPECT_ERR(corrupt("[1]     ", 0, 0), "byte 8: the header must start with '{'");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":", 0, 0), "the JSON header is malformed");
    EXPECT_ERR(corrupt("{}  x", 0, 0), "byte 12: unexpected text after the JSON header");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0),
               "tensor 'a' has unsupported dtype 'Q8'");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0),
               "tensor 'a': shape holds 3 F32 elements (12 bytes) but data_offsets span 8 "
               "bytes");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, 0),
               "tensor 'a': data_offsets [0, 8] fall outside the data area (4 bytes");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0),
               "fall outside the data area");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, 0),
               "overlaps the tensor before it");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0),
               "gap in the data area before tensor 'a'");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, 0),
               "4 bytes after the last tensor's data are not described");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, 0),
               "tensor 'a' appears twice");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0),
               "shape entries must be non-negative integers");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, 0),
               "shape entries must be non-negative integers");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, 0),
               "data_offsets must be two non-negative integers");
    EXPECT_ERR(corrupt("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0),
               "tensor 'a' needs \"dtype\"");
    EXPECT_ERR(corrupt("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,"
                       "4294967296],\"data_offsets\":[0,4]}}",
                       4, 0),
               "shape describes more data than the file holds");
    EXPECT_ERR(corrupt("{\"__metadata__\":{\"k\":1}}", 0, 0), "metadata value 'k' is not a string");
    EXPECT_ERR(corrupt("{\"__metadata__\":[]}", 0, 0), "'__metadata__' must be an object");
}

Test(safetensors, unpadded_header_still_gives_aligned_views)
{
    /* A 3-byte-aligned header; views must still be float-aligned. */
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t hl = strlen(h);
    unsigned char buf[256];
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, h, hl);
    float v[2] = {3.25f, -1};
    memcpy(buf + 8 + hl, v, 8);
    AairtError err;
    AairtSafetensors st;
    cr_assert_eq(aairt_st_load_bytes(buf, 8 + hl + 8, "u", &st, &err), 0, "%s", err.msg);
    cr_assert_eq((uintptr_t)st.tensors[0].data % 8, 0);
    cr_assert_eq(((const float *)st.tensors[0].data)[0], 3.25f);
    aairt_st_free(&st);
}

Test(safetensors, missing_file)
{
    AairtError err;
    AairtSafetensors st;
    cr_assert_eq(aairt_st_load("/nonexistent.safetensors", &st, &err), -1);
    cr_assert(strstr(err.msg, "/nonexistent.safetensors: cannot open"), "%s", err.msg);
}
