/* safetensors.c - the safetensors format (huggingface/safetensors) in C.
 *
 * Reading follows the reference implementation's checks: the header length
 * must fit the file (and stay under 100 MB), the header must be a JSON
 * object, every tensor entry must carry a known dtype, a shape and
 * data_offsets whose span is exactly prod(shape) * dtype size, and the
 * tensors sorted by offset must tile the data area with no gap, overlap or
 * trailing bytes. Writing produces what the reference writes:
 * "__metadata__" first, tensors ordered by dtype then name, data laid
 * out in header order, and the header padded with spaces to a multiple of 8
 * bytes so every tensor starts 8-aligned in the file. */
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fileio.h"

#define ST_MAX_HEADER ((uint64_t)100000000) /* the reference's limit */
#define ST_MAX_FILE ((size_t)1 << 40)

/* order: the position in the reference's Dtype enum, which its writer
 * sorts by (descending), so files come out byte-identical. */
static const struct {
    const char *name;
    size_t size;
    int order;
} dtype_info[] = {
    [AAIRT_F32] = {"F32", 4, 11}, [AAIRT_F64] = {"F64", 8, 12}, [AAIRT_I64] = {"I64", 8, 13},
    [AAIRT_I32] = {"I32", 4, 9},  [AAIRT_U8] = {"U8", 1, 1},
};
#define N_DTYPES (sizeof dtype_info / sizeof dtype_info[0])

static int dtype_parse(const char *s, AairtDType *out)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (AairtDType)i;
            return 0;
        }
    return -1;
}

void aairt_st_free(AairtSafetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_tensors; i++)
        free((char *)st->tensors[i].name);
    free(st->tensors);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->bytes);
    memset(st, 0, sizeof *st);
}

/* A JSON number that must be a non-negative integer below 2^53. */
static int json_u64(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

typedef struct {
    uint64_t begin, end;
    size_t index;
} Span;

static int span_cmp(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Parses and validates the header of a file already in st->bytes, whose
 * data area starts at st->bytes + data_at. */
static int parse_header(AairtSafetensors *st, const char *name, const char *json, uint64_t n,
                        size_t data_at, uint64_t data_size, AairtError *err)
{
    /* Byte offsets in messages are file offsets: the header starts at 8. */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= json && end <= json + n ? (size_t)(end - json) : 0;
        return aairt_error_set(err, "%s: byte %zu: the JSON header is malformed", name,
                               8 + at);
    }
    size_t rest = end ? (size_t)(end - json) : (size_t)n;
    for (size_t i = rest; i < n; i++)
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r' &&
            json[i] != 0) {
            cJSON_Delete(root);
            return aairt_error_set(err, "%s: byte %zu: unexpected text after the JSON header",
                                   name, 8 + i);
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return aairt_error_set(err, "%s: byte 8: the header must be a JSON object", name);
    }
    size_t n_entries = 0;
    for (cJSON *e = root->child; e; e = e->next)
        n_entries++;
    st->tensors = calloc(n_entries + 1, sizeof *st->tensors);
    Span *spans = calloc(n_entries + 1, sizeof *spans);
    if (!st->tensors || !spans) {
        free(spans);
        cJSON_Delete(root);
        return aairt_error_set(err, "%s: out of memory", name);
    }
    int rc = -1;
    for (cJSON *e = root->child; e; e = e->next) {
        const char *key = e->string;
        if (strcmp(key, "__metadata__") == 0) {
            if (st->meta_keys) {
                aairt_error_set(err, "%s: header (bytes 8..%llu): '__metadata__' appears twice",
                                name, (unsigned long long)(8 + n));
                goto done;
            }
            if (!cJSON_IsObject(e)) {
                aairt_error_set(err, "%s: header (bytes 8..%llu): '__metadata__' must be an "
                                     "object of strings",
                                name, (unsigned long long)(8 + n));
                goto done;
            }
            size_t m = 0;
            for (cJSON *kv = e->child; kv; kv = kv->next)
                m++;
            st->meta_keys = calloc(m + 1, sizeof *st->meta_keys);
            st->meta_values = calloc(m + 1, sizeof *st->meta_values);
            if (!st->meta_keys || !st->meta_values) {
                aairt_error_set(err, "%s: out of memory", name);
                goto done;
            }
            for (cJSON *kv = e->child; kv; kv = kv->next) {
                if (!cJSON_IsString(kv)) {
                    aairt_error_set(err, "%s: header (bytes 8..%llu): metadata value '%s' is "
                                         "not a string",
                                    name, (unsigned long long)(8 + n), kv->string);
                    goto done;
                }
                st->meta_keys[st->n_meta] = strdup(kv->string);
                st->meta_values[st->n_meta] = strdup(kv->valuestring);
                st->n_meta++;
                if (!st->meta_keys[st->n_meta - 1] || !st->meta_values[st->n_meta - 1]) {
                    aairt_error_set(err, "%s: out of memory", name);
                    goto done;
                }
            }
            continue;
        }
        for (size_t i = 0; i < st->n_tensors; i++)
            if (strcmp(st->tensors[i].name, key) == 0) {
                aairt_error_set(err, "%s: header (bytes 8..%llu): tensor '%s' appears twice",
                                name, (unsigned long long)(8 + n), key);
                goto done;
            }
        AairtTensorView *t = &st->tensors[st->n_tensors];
        t->name = strdup(key);
        if (!t->name) {
            aairt_error_set(err, "%s: out of memory", name);
            goto done;
        }
        st->n_tensors++;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) ||
            !cJSON_IsArray(offs)) {
            aairt_error_set(err, "%s: header (bytes 8..%llu): tensor '%s' needs \"dtype\" (a "
                                 "string), \"shape\" and \"data_offsets\" (arrays)",
                            name, (unsigned long long)(8 + n), key);
            goto done;
        }
        if (dtype_parse(dt->valuestring, &t->dtype) != 0) {
            aairt_error_set(err, "%s: header (bytes 8..%llu): tensor '%s' has unsupported dtype "
                                 "'%s' (known: F32, F64, I64, I32, U8)",
                            name, (unsigned long long)(8 + n), key, dt->valuestring);
            goto done;
        }
        int rank = cJSON_GetArraySize(shape);
        if (rank > 8) {
            aairt_error_set(err, "%s: header (bytes 8..%llu): tensor '%s' has rank %d (at most "
                                 "8 supported)",
                            name, (unsigned long long)(8 + n), key, rank);
            goto done;
        }
        t->rank = rank;
        uint64_t count = 1;
        int r = 0;
        for (const cJSON *d = shape->child; d; d = d->next, r++) {
            uint64_t v;
            if (json_u64(d, &v) != 0) {
                aairt_error_set(err, "%s: header (bytes 8..%llu): tensor '%s': shape entries "
                                     "must be non-negative integers",
                                name, (unsigned long long)(8 + n), key);
                goto done;
            }
            t->shape[r] = (int64_t)v;
            if (v != 0 && count > data_size / v + 1) {
                aairt_error_set(err, "%s: header (bytes 8..%llu): tensor '%s': shape describes "
                                     "more data than the file holds",
                                name, (unsigned long long)(8 + n), key);
                goto done;
            }
            count *= v;
        }
        uint64_t b, en;
        if (cJSON_GetArraySize(offs) != 2 || json_u64(offs->child, &b) != 0 ||
            json_u64(offs->child->next, &en) != 0) {
            aairt_error_set(err, "%s: header (bytes 8..%llu): tensor '%s': data_offsets must be "
                                 "two non-negative integers",
                            name, (unsigned long long)(8 + n), key);
            goto done;
        }
        unsigned long long file_b = 8 + n + b, file_e = 8 + n + en;
        if (b > en || en > data_size) {
            aairt_error_set(err, "%s: byte %llu: tensor '%s': data_offsets [%llu, %llu] fall "
                                 "outside the data area (%llu bytes, file bytes %llu..%llu)",
                            name, file_b, key, (unsigned long long)b, (unsigned long long)en,
                            (unsigned long long)data_size, (unsigned long long)(8 + n),
                            (unsigned long long)(8 + n + data_size));
            goto done;
        }
        size_t esize = dtype_info[t->dtype].size;
        if (count > UINT64_MAX / esize || count * esize != en - b) {
            aairt_error_set(err, "%s: byte %llu: tensor '%s': shape holds %llu %s elements "
                                 "(%llu bytes) but data_offsets span %llu bytes (file bytes "
                                 "%llu..%llu)",
                            name, file_b, key, (unsigned long long)count, dt->valuestring,
                            (unsigned long long)(count * esize), (unsigned long long)(en - b),
                            file_b, file_e);
            goto done;
        }
        t->data = (const unsigned char *)st->bytes + data_at + b;
        t->nbytes = (size_t)(en - b);
        spans[st->n_tensors - 1] = (Span){b, en, st->n_tensors - 1};
    }
    qsort(spans, st->n_tensors, sizeof *spans, span_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i < st->n_tensors; i++) {
        const char *tn = st->tensors[spans[i].index].name;
        if (spans[i].begin < at) {
            aairt_error_set(err, "%s: byte %llu: tensor '%s' overlaps the tensor before it "
                                 "(data_offsets begin at %llu, previous ends at %llu)",
                            name, (unsigned long long)(8 + n + spans[i].begin), tn,
                            (unsigned long long)spans[i].begin, (unsigned long long)at);
            goto done;
        }
        if (spans[i].begin > at) {
            aairt_error_set(err, "%s: byte %llu: gap in the data area before tensor '%s' "
                                 "(data_offsets begin at %llu, previous ends at %llu)",
                            name, (unsigned long long)(8 + n + at), tn,
                            (unsigned long long)spans[i].begin, (unsigned long long)at);
            goto done;
        }
        at = spans[i].end;
    }
    if (at != data_size) {
        aairt_error_set(err, "%s: byte %llu: %llu bytes after the last tensor's data are not "
                             "described by the header",
                        name, (unsigned long long)(8 + n + at),
                        (unsigned long long)(data_size - at));
        goto done;
    }
    rc = 0;
done:
    free(spans);
    cJSON_Delete(root);
    return rc;
}

/* Takes ownership of buf: the file's `size` bytes at offset 0 in an
 * allocation of size + 8 bytes (the spare room lets the file move up to 7
 * bytes so the data area lands 8-aligned). */
static int load_owned(unsigned char *buf, size_t size, const char *name,
                      AairtSafetensors *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    if (size < 8) {
        free(buf);
        return aairt_error_set(err, "%s: byte 0: %zu bytes is too short for a safetensors file "
                                    "(an 8-byte header length comes first)",
                               name, size);
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | buf[i];
    if (n > ST_MAX_HEADER || n > size - 8) {
        free(buf);
        return aairt_error_set(err, "%s: byte 0: header length %llu does not fit the file "
                                    "(%zu bytes after the length field%s)",
                               name, (unsigned long long)n, size - 8,
                               n > ST_MAX_HEADER ? ", and the limit is 100000000" : "");
    }
    if (n < 2 || buf[8] != '{') {
        free(buf);
        return aairt_error_set(err, "%s: byte 8: the header must start with '{'", name);
    }
    /* Move the data area to an 8-aligned address so views can be read as
     * their element type even when the writer did not pad the header. */
    size_t data_at = 8 + (size_t)n;
    size_t shift = (8 - data_at % 8) % 8;
    if (shift) {
        memmove(buf + shift, buf, size);
    }
    out->bytes = buf;
    out->size = size;
    int rc = parse_header(out, name, (const char *)buf + shift + 8, n, shift + data_at,
                          size - data_at, err);
    if (rc != 0)
        aairt_st_free(out);
    return rc;
}

int aairt_st_load(const char *path, AairtSafetensors *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t size;
    if (aairt_read_file(path, ST_MAX_FILE, &buf, &size, err) != 0)
        return -1;
    /* Room for the alignment shift in load_owned. */
    unsigned char *nb = realloc(buf, size + 8);
    if (!nb) {
        free(buf);
        return aairt_error_set(err, "%s: out of memory", path);
    }
    return load_owned(nb, size, path, out, err);
}

int aairt_st_load_bytes(const void *data, size_t size, const char *name,
                        AairtSafetensors *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    if (size > ST_MAX_FILE)
        return aairt_error_set(err, "%s: %zu bytes is more than the limit", name, size);
    unsigned char *buf = malloc(size + 8);
    if (!buf)
        return aairt_error_set(err, "%s: out of memory", name);
    if (size)
        memcpy(buf, data, size);
    return load_owned(buf, size, name, out, err);
}

const AairtTensorView *aairt_st_find(const AairtSafetensors *st, const char *name)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *aairt_st_meta(const AairtSafetensors *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}

/* ---- writing ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_u64(Buf *b, uint64_t v)
{
    char tmp[24];
    int w = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    buf_put(b, tmp, (size_t)w);
}

/* A JSON string literal (serde_json's escaping: ", \, and control chars). */
static void buf_json_string(Buf *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"': buf_put(b, "\\\"", 2); break;
        case '\\': buf_put(b, "\\\\", 2); break;
        case '\n': buf_put(b, "\\n", 2); break;
        case '\r': buf_put(b, "\\r", 2); break;
        case '\t': buf_put(b, "\\t", 2); break;
        case '\b': buf_put(b, "\\b", 2); break;
        case '\f': buf_put(b, "\\f", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                buf_put(b, tmp, 6);
            } else {
                buf_put(b, (const char *)p, 1);
            }
        }
    }
    buf_put(b, "\"", 1);
}

typedef struct {
    const AairtTensorOut *t;
    size_t nbytes;
} OutRef;

/* The reference orders tensors by dtype (its enum order, descending, which
 * puts wider types first and so keeps every tensor aligned), then name. */
static int out_cmp(const void *a, const void *b)
{
    const OutRef *x = a, *y = b;
    int ox = dtype_info[x->t->dtype].order, oy = dtype_info[y->t->dtype].order;
    if (ox != oy)
        return ox > oy ? -1 : 1;
    return strcmp(x->t->name, y->t->name);
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Where an encoded file goes: parts[0] is the length prefix and header,
 * then one part per tensor. */
typedef int (*StSink)(void *user, const char *path, const void *const *parts,
                      const size_t *sizes, size_t n, AairtError *err);

static int st_encode(const char *path, const AairtTensorOut *tensors, size_t n,
                     const char *const *meta_keys, const char *const *meta_values,
                     size_t n_meta, StSink sink, void *user, AairtError *err)
{
    OutRef *refs = calloc(n + 1, sizeof *refs);
    const void **parts = calloc(n + 2, sizeof *parts);
    size_t *sizes = calloc(n + 2, sizeof *sizes);
    Buf h = {0};
    int rc = -1;
    if (!refs || !parts || !sizes) {
        aairt_error_set(err, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const AairtTensorOut *t = &tensors[i];
        if ((unsigned)t->dtype >= N_DTYPES || t->rank < 0 || t->rank > 8 || !t->name ||
            strcmp(t->name, "__metadata__") == 0) {
            aairt_error_set(err, "%s: tensor %zu ('%s'): invalid name, dtype or rank", path, i,
                            t->name ? t->name : "(null)");
            goto done;
        }
        uint64_t bytes = dtype_info[t->dtype].size;
        for (int d = 0; d < t->rank; d++) {
            if (t->shape[d] < 0 || (t->shape[d] > 0 && bytes > SIZE_MAX / (uint64_t)t->shape[d])) {
                aairt_error_set(err, "%s: tensor '%s': invalid shape", path, t->name);
                goto done;
            }
            bytes *= (uint64_t)t->shape[d];
        }
        refs[i] = (OutRef){t, (size_t)bytes};
        for (size_t j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0) {
                aairt_error_set(err, "%s: tensor '%s' given twice", path, t->name);
                goto done;
            }
    }
    qsort(refs, n, sizeof *refs, out_cmp);
    buf_str(&h, "{");
    if (n_meta > 0) {
        /* Metadata keys sorted too (the reference's map is ordered). */
        const char **keys = calloc(n_meta, sizeof *keys);
        if (!keys) {
            aairt_error_set(err, "%s: out of memory", path);
            goto done;
        }
        for (size_t i = 0; i < n_meta; i++)
            keys[i] = meta_keys[i];
        qsort(keys, n_meta, sizeof *keys, str_ptr_cmp);
        buf_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i++) {
            size_t k = 0;
            while (meta_keys[k] != keys[i])
                k++;
            if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0) {
                aairt_error_set(err, "%s: metadata key '%s' given twice", path, keys[i]);
                free(keys);
                goto done;
            }
            if (i)
                buf_str(&h, ",");
            buf_json_string(&h, keys[i]);
            buf_str(&h, ":");
            buf_json_string(&h, meta_values[k]);
        }
        buf_str(&h, "}");
        free(keys);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const AairtTensorOut *t = refs[i].t;
        if (i || n_meta)
            buf_str(&h, ",");
        buf_json_string(&h, t->name);
        buf_str(&h, ":{\"dtype\":\"");
        buf_str(&h, dtype_info[t->dtype].name);
        buf_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            if (d)
                buf_str(&h, ",");
            buf_u64(&h, (uint64_t)t->shape[d]);
        }
        buf_str(&h, "],\"data_offsets\":[");
        buf_u64(&h, off);
        buf_str(&h, ",");
        off += refs[i].nbytes;
        buf_u64(&h, off);
        buf_str(&h, "]}");
        parts[i + 1] = t->data;
        sizes[i + 1] = refs[i].nbytes;
        if (refs[i].nbytes && !t->data) {
            aairt_error_set(err, "%s: tensor '%s' has no data", path, t->name);
            goto done;
        }
    }
    buf_str(&h, "}");
    while (!h.oom && h.len % 8 != 0)
        buf_str(&h, " ");
    if (h.oom) {
        aairt_error_set(err, "%s: out of memory", path);
        goto done;
    }
    /* The length prefix and the header go out as one part. */
    unsigned char *head = malloc(8 + h.len);
    if (!head) {
        aairt_error_set(err, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    memcpy(head + 8, h.s, h.len);
    parts[0] = head;
    sizes[0] = 8 + h.len;
    rc = sink(user, path, parts, sizes, n + 1, err);
    free(head);
done:
    free(h.s);
    free(refs);
    free(parts);
    free(sizes);
    return rc;
}

static int sink_file(void *user, const char *path, const void *const *parts,
                     const size_t *sizes, size_t n, AairtError *err)
{
    (void)user;
    return aairt_write_file_atomic_parts(path, parts, sizes, n, err);
}

int aairt_st_save(const char *path, const AairtTensorOut *tensors, size_t n,
                  const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                  AairtError *err)
{
    return st_encode(path, tensors, n, meta_keys, meta_values, n_meta, sink_file, NULL, err);
}

typedef struct MemOut {
    unsigned char *bytes;
    size_t size;
} MemOut;

static int sink_memory(void *user, const char *path, const void *const *parts,
                       const size_t *sizes, size_t n, AairtError *err)
{
    MemOut *out = user;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += sizes[i];
    unsigned char *b = malloc(total ? total : 1);
    if (!b)
        return aairt_error_set(err, "%s: out of memory", path);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (sizes[i])
            memcpy(b + at, parts[i], sizes[i]);
        at += sizes[i];
    }
    out->bytes = b;
    out->size = total;
    return 0;
}

int aairt_st_encode(const AairtTensorOut *tensors, size_t n, const char *const *meta_keys,
                    const char *const *meta_values, size_t n_meta, unsigned char **bytes,
                    size_t *size, AairtError *err)
{
    MemOut out = {NULL, 0};
    int rc = st_encode("<memory>", tensors, n, meta_keys, meta_values, n_meta, sink_memory,
                       &out, err);
    *bytes = out.bytes;
    *size = out.size;
    return rc;
}
