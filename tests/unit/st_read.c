/* st_read.c - safetensors fixture reader (see st_read.h). */
#include "st_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = buf ? (size_t)n : 0;
    return buf;
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static char *dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    memcpy(d, s, n);
    return d;
}

StFile *st_open(const char *path) {
    size_t len = 0;
    unsigned char *buf = read_all(path, &len);
    if (!buf || len < 8) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        return NULL;
    }
    uint64_t hlen = le64(buf);
    if (hlen > len - 8) {
        fprintf(stderr, "%s: header length out of range\n", path);
        free(buf);
        return NULL;
    }
    cJSON *h = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!h) {
        fprintf(stderr, "%s: bad JSON header\n", path);
        free(buf);
        return NULL;
    }
    const unsigned char *data = buf + 8 + hlen;
    size_t data_len = len - 8 - hlen;
    StFile *f = calloc(1, sizeof *f);
    int cap = cJSON_GetArraySize(h);
    f->tensors = calloc((size_t)cap + 1, sizeof *f->tensors);
    bool ok = true;
    for (cJSON *it = h->child; it && ok; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            int nm = cJSON_GetArraySize(it);
            f->meta_keys = calloc((size_t)nm + 1, sizeof(char *));
            f->meta_vals = calloc((size_t)nm + 1, sizeof(char *));
            for (cJSON *m = it->child; m; m = m->next)
                if (cJSON_IsString(m)) {
                    f->meta_keys[f->n_meta] = dup(m->string);
                    f->meta_vals[f->n_meta++] = dup(m->valuestring);
                }
            continue;
        }
        StTensor *t = &f->tensors[f->n];
        const char *dt = cJSON_GetStringValue(cJSON_GetObjectItem(it, "dtype"));
        cJSON *shape = cJSON_GetObjectItem(it, "shape");
        cJSON *offs = cJSON_GetObjectItem(it, "data_offsets");
        if (!dt || !shape || !offs || cJSON_GetArraySize(offs) != 2 ||
            cJSON_GetArraySize(shape) > ST_MAX_RANK) {
            ok = false;
            break;
        }
        t->is_int = strcmp(dt, "I64") == 0;
        if (!t->is_int && strcmp(dt, "F32") != 0) continue; /* other dtypes: skip */
        t->name = dup(it->string);
        t->rank = cJSON_GetArraySize(shape);
        t->n = 1;
        for (int i = 0; i < t->rank; i++) {
            t->shape[i] = (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble;
            t->n *= t->shape[i];
        }
        size_t b = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble;
        size_t e = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        size_t esz = t->is_int ? 8 : 4;
        if (e < b || e > data_len || (e - b) != (size_t)t->n * esz) {
            ok = false;
            break;
        }
        t->data = malloc((size_t)(t->n ? t->n : 1) * sizeof(float));
        for (int64_t i = 0; i < t->n; i++) {
            const unsigned char *p = data + b + (size_t)i * esz;
            if (t->is_int) {
                t->data[i] = (float)(int64_t)le64(p);
            } else {
                uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24;
                memcpy(&t->data[i], &u, 4);
            }
        }
        f->n++;
    }
    cJSON_Delete(h);
    free(buf);
    if (!ok) {
        fprintf(stderr, "%s: malformed tensor entry\n", path);
        st_close(f);
        return NULL;
    }
    return f;
}

const StTensor *st_get(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

void st_close(StFile *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->tensors[i].name);
        free(f->tensors[i].data);
    }
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->tensors);
    free(f);
}

const char *st_fixtures_dir(void) {
    const char *e = getenv("AAI_FIXTURES");
    if (e && *e) return e;
#ifdef AAI_FIXTURES_DEFAULT
    return AAI_FIXTURES_DEFAULT;
#else
    return "tests/fixtures";
#endif
}
