/* fixture_util.c - test-local safetensors reader (see fixture_util.h). */
#include "fixture_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#ifndef AAI_FIXTURES_DEFAULT
#define AAI_FIXTURES_DEFAULT "tests/fixtures"
#endif

typedef struct FixtureTensor {
    char *name;
    float *data;
    FixtureShape shape;
} FixtureTensor;

struct Fixture {
    unsigned char *bytes;
    size_t size;
    cJSON *header;
    FixtureTensor *cache;
    size_t n_cache, cap_cache;
};

const char *fixture_dir(void) {
    const char *env = getenv("AAI_FIXTURES");
    return env && *env ? env : AAI_FIXTURES_DEFAULT;
}

Fixture *fixture_load(const char *name) {
    char path[4096];
    size_t len = strlen(name);
    const char *suffix = ".safetensors";
    int has = len > strlen(suffix) && !strcmp(name + len - strlen(suffix), suffix);
    snprintf(path, sizeof path, "%s/%s%s", fixture_dir(), name, has ? "" : suffix);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture: cannot open %s\n", path);
        return NULL;
    }
    Fixture *f = calloc(1, sizeof *f);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->size = sz > 0 ? (size_t)sz : 0;
    f->bytes = malloc(f->size + 1);
    if (!f->bytes || fread(f->bytes, 1, f->size, fp) != f->size || f->size < 8) goto bad;
    fclose(fp);
    fp = NULL;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->bytes[i];
    if (hlen > f->size - 8) goto bad;
    f->header = cJSON_ParseWithLength((const char *)f->bytes + 8, (size_t)hlen);
    if (!f->header) goto bad;
    return f;
bad:
    fprintf(stderr, "fixture: %s is not a valid safetensors file\n", path);
    if (fp) fclose(fp);
    fixture_free(f);
    return NULL;
}

void fixture_free(Fixture *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_cache; i++) {
        free(f->cache[i].name);
        free(f->cache[i].data);
    }
    free(f->cache);
    cJSON_Delete(f->header);
    free(f->bytes);
    free(f);
}

static size_t dtype_size(const char *d) {
    if (!strcmp(d, "F32") || !strcmp(d, "I32")) return 4;
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    return 0;
}

const float *fixture_tensor(Fixture *f, const char *name, FixtureShape *shape) {
    for (size_t i = 0; i < f->n_cache; i++)
        if (!strcmp(f->cache[i].name, name)) {
            if (shape) *shape = f->cache[i].shape;
            return f->cache[i].data;
        }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f->header, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || cJSON_GetArraySize(off) != 2) return NULL;
    FixtureTensor ft = {0};
    snprintf(ft.shape.dtype, sizeof ft.shape.dtype, "%s", dt->valuestring);
    ft.shape.numel = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        if (ft.shape.rank == 8) return NULL;
        ft.shape.dims[ft.shape.rank++] = (int64_t)d->valuedouble;
        ft.shape.numel *= (int64_t)d->valuedouble;
    }
    size_t es = dtype_size(dt->valuestring);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->bytes[i];
    size_t begin = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
    size_t end = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
    const unsigned char *base = f->bytes + 8 + hlen;
    if (!es || end < begin || end - begin != (size_t)ft.shape.numel * es ||
        8 + hlen + end > f->size)
        return NULL;
    ft.data = malloc((size_t)(ft.shape.numel > 0 ? ft.shape.numel : 1) * sizeof(float));
    ft.name = strdup(name);
    for (int64_t i = 0; i < ft.shape.numel; i++) {
        const unsigned char *p = base + begin + (size_t)i * es;
        if (!strcmp(ft.shape.dtype, "F32")) {
            memcpy(&ft.data[i], p, 4);
        } else if (!strcmp(ft.shape.dtype, "F64")) {
            double v;
            memcpy(&v, p, 8);
            ft.data[i] = (float)v;
        } else if (!strcmp(ft.shape.dtype, "I64")) {
            int64_t v;
            memcpy(&v, p, 8);
            ft.data[i] = (float)v;
        } else {
            int32_t v;
            memcpy(&v, p, 4);
            ft.data[i] = (float)v;
        }
    }
    if (f->n_cache == f->cap_cache) {
        f->cap_cache = f->cap_cache ? f->cap_cache * 2 : 8;
        f->cache = realloc(f->cache, f->cap_cache * sizeof *f->cache);
    }
    f->cache[f->n_cache++] = ft;
    if (shape) *shape = ft.shape;
    return ft.data;
}

const char *fixture_meta(const Fixture *f, const char *key) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double fixture_meta_num(const Fixture *f, const char *key, double fallback) {
    const char *s = fixture_meta(f, key);
    return s ? strtod(s, NULL) : fallback;
}

int fixture_close(const float *got, const float *want, int64_t n, double tol,
                  const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        double lim = tol * (fabs(b) > 1 ? fabs(b) : 1);
        if (!(fabs(a - b) <= lim)) {
            fprintf(stderr, "%s: element %lld: got %.9g, want %.9g (|diff| %.3g > %.3g)\n",
                    what, (long long)i, a, b, fabs(a - b), lim);
            return 0;
        }
    }
    return 1;
}
