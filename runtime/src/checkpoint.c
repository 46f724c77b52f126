/* checkpoint.c - training checkpoints as safetensors (see checkpoint.h). */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

#define CKPT_M "__optim.m"
#define CKPT_V "__optim.v"
#define CKPT_PERM "__train.perm"

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_double(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

enum { META_N = 14, META_LEN = 40 };

int aairt_checkpoint_save(const char *path, const AairtManifest *m,
                          const char *manifest_json, const float *params,
                          const AairtOptimizer *opt, const int64_t *perm,
                          const AairtTrainState *st, AairtError *err) {
    size_t n = (size_t)m->n_params + 3;
    AairtTensorOut *t = calloc(n, sizeof *t);
    if (!t) return aairt_error_set(err, "out of memory");
    size_t k = 0;
    for (int64_t i = 0; i < m->n_params; i++, k++) {
        const AairtParamInfo *p = &m->params[i];
        if (!strncmp(p->name, "__", 2)) {
            free(t);
            return aairt_error_set(err, "%s: parameter '%s' clashes with checkpoint names",
                                   path, p->name);
        }
        t[k] = (AairtTensorOut){.name = p->name, .dtype = AAIRT_F32, .rank = p->rank,
                                .data = params + p->offset};
        memcpy(t[k].shape, p->shape, sizeof t[k].shape);
    }
    t[k++] = (AairtTensorOut){.name = CKPT_M, .dtype = AAIRT_F32, .rank = 1,
                              .shape = {m->n_param_floats}, .data = opt->m};
    if (opt->v)
        t[k++] = (AairtTensorOut){.name = CKPT_V, .dtype = AAIRT_F32, .rank = 1,
                                  .shape = {m->n_param_floats}, .data = opt->v};
    t[k++] = (AairtTensorOut){.name = CKPT_PERM, .dtype = AAIRT_I64, .rank = 1,
                              .shape = {st->rows}, .data = perm};

    static const char *const keys[META_N] = {
        "aai.checkpoint", "aai.model",  "aai.manifest_hash", "aai.epoch",
        "aai.step",       "aai.optim_step", "aai.rng",       "aai.seed",
        "aai.batch",      "aai.rows",   "aai.loss_sum",      "aai.seen",
        "aai.metrics_bytes", "aai.optimizer"};
    char buf[META_N][META_LEN];
    const char *values[META_N];
    snprintf(buf[0], META_LEN, "1");
    snprintf(buf[2], META_LEN, "%016" PRIx64,
             aairt_manifest_hash(manifest_json ? manifest_json : ""));
    snprintf(buf[3], META_LEN, "%" PRId64, st->epoch);
    snprintf(buf[4], META_LEN, "%" PRId64, st->step);
    snprintf(buf[5], META_LEN, "%" PRId64, opt->step);
    snprintf(buf[6], META_LEN, "%016" PRIx64 ":%016" PRIx64, st->shuffle.state,
             st->shuffle.inc);
    snprintf(buf[7], META_LEN, "%016" PRIx64, st->seed);
    snprintf(buf[8], META_LEN, "%" PRId64, st->batch);
    snprintf(buf[9], META_LEN, "%" PRId64, st->rows);
    snprintf(buf[10], META_LEN, "%016" PRIx64, double_bits(st->loss_sum));
    snprintf(buf[11], META_LEN, "%" PRId64, st->seen);
    snprintf(buf[12], META_LEN, "%" PRId64, st->metrics_bytes);
    snprintf(buf[13], META_LEN, "%s", aairt_optimizer_kind_name(opt->kind));
    for (int i = 0; i < META_N; i++) values[i] = buf[i];
    values[1] = m->name;
    int rc = aairt_st_save(path, t, k, keys, values, META_N, err);
    free(t);
    return rc;
}

/* ---- loading ---------------------------------------------------------- */

typedef struct Loader {
    const char *path;
    const AairtSafetensors *st;
    AairtError *err;
} Loader;

/* Parses metadata `key` as an integer in [min, max] ("%" SCNd64). */
static int meta_int(Loader *l, const char *key, int64_t min, int64_t max, int64_t *out) {
    const char *s = aairt_st_meta(l->st, key);
    if (!s) return aairt_error_set(l->err, "%s: not a checkpoint (no %s)", l->path, key);
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < min || v > max)
        return aairt_error_set(l->err, "%s: %s is '%s', expected an integer in [%lld, %lld]",
                               l->path, key, s, (long long)min, (long long)max);
    *out = (int64_t)v;
    return 0;
}

/* Parses metadata `key` as n ':'-separated 16-digit hex words. */
static int meta_hex(Loader *l, const char *key, uint64_t *out, int n) {
    const char *s = aairt_st_meta(l->st, key);
    if (!s) return aairt_error_set(l->err, "%s: not a checkpoint (no %s)", l->path, key);
    const char *p = s;
    for (int i = 0; i < n; i++) {
        uint64_t v = 0;
        for (int d = 0; d < 16; d++, p++) {
            int c = *p;
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0) return aairt_error_set(l->err, "%s: %s is '%s', not hex", l->path, key, s);
            v = v << 4 | (uint64_t)x;
        }
        out[i] = v;
        if (*p != (i + 1 < n ? ':' : '\0'))
            return aairt_error_set(l->err, "%s: %s is '%s', malformed", l->path, key, s);
        if (i + 1 < n) p++;
    }
    return 0;
}

/* The tensor `name`: dtype and a shape with `count` elements, rank 1 unless
 * `param` gives the expected shape. */
static const AairtTensorView *tensor(Loader *l, const char *name, AairtDType dtype,
                                     int64_t count, const AairtParamInfo *param) {
    const AairtTensorView *v = aairt_st_find(l->st, name);
    if (!v) {
        aairt_error_set(l->err, "%s: missing tensor '%s'", l->path, name);
        return NULL;
    }
    int same = v->dtype == dtype;
    if (param) {
        same = same && v->rank == param->rank;
        for (int d = 0; same && d < param->rank; d++) same = v->shape[d] == param->shape[d];
    } else {
        same = same && v->rank == 1 && v->shape[0] == count;
    }
    size_t esize = dtype == AAIRT_I64 ? 8 : 4;
    if (!same || count < 0 || v->nbytes != (size_t)count * esize) {
        aairt_error_set(l->err, "%s: tensor '%s' has the wrong dtype or shape for this "
                                "model and data (%lld elements expected)",
                        l->path, name, (long long)count);
        return NULL;
    }
    return v;
}

static int load_tensors(Loader *l, const AairtManifest *m, float *params, AairtOptimizer *opt,
                        int64_t *perm, int64_t rows) {
    size_t expected = (size_t)m->n_params + 2 + (opt->v ? 1 : 0);
    if (l->st->n_tensors != expected)
        return aairt_error_set(l->err, "%s: %zu tensors, a checkpoint of model %s has %zu",
                               l->path, l->st->n_tensors, m->name, expected);
    for (int64_t i = 0; i < m->n_params; i++) {
        const AairtParamInfo *p = &m->params[i];
        const AairtTensorView *v = tensor(l, p->name, AAIRT_F32, p->size, p);
        if (!v) return -1;
        memcpy(params + p->offset, v->data, v->nbytes);
    }
    const AairtTensorView *v = tensor(l, CKPT_M, AAIRT_F32, m->n_param_floats, NULL);
    if (!v) return -1;
    memcpy(opt->m, v->data, v->nbytes);
    if (opt->v) {
        if (!(v = tensor(l, CKPT_V, AAIRT_F32, m->n_param_floats, NULL))) return -1;
        memcpy(opt->v, v->data, v->nbytes);
    }
    if (!(v = tensor(l, CKPT_PERM, AAIRT_I64, rows, NULL))) return -1;
    memcpy(perm, v->data, v->nbytes);
    /* A permutation of 0..rows-1, or the gather would read out of bounds. */
    unsigned char *hit = calloc(rows > 0 ? (size_t)rows : 1, 1);
    if (!hit) return aairt_error_set(l->err, "out of memory");
    int rc = 0;
    for (int64_t i = 0; i < rows && rc == 0; i++) {
        if (perm[i] < 0 || perm[i] >= rows || hit[perm[i]])
            rc = aairt_error_set(l->err, "%s: %s is not a permutation of the %lld rows",
                                 l->path, CKPT_PERM, (long long)rows);
        else
            hit[perm[i]] = 1;
    }
    free(hit);
    return rc;
}

int aairt_checkpoint_load(const char *path, const AairtManifest *m,
                          const char *manifest_json, float *params,
                          AairtOptimizer *opt, int64_t *perm, int64_t rows,
                          AairtTrainState *st, AairtError *err) {
    /* The manifest hash is recorded, not enforced: a recompiled model with
     * the same parameters (names, shapes) may resume; everything the loop
     * depends on is checked one by one below. */
    (void)manifest_json;
    memset(st, 0, sizeof *st);
    AairtSafetensors file;
    if (aairt_st_load(path, &file, err)) return -1;
    Loader l = {path, &file, err};
    int rc = -1;
    const char *tag = aairt_st_meta(&file, "aai.checkpoint");
    const char *hash = aairt_st_meta(&file, "aai.manifest_hash");
    const char *kind = aairt_st_meta(&file, "aai.optimizer");
    int64_t optim_step = 0, step_max;
    uint64_t rng[2], loss_bits, seed;
    if (!tag || strcmp(tag, "1") != 0) {
        aairt_error_set(err, "%s: not an aai training checkpoint (a weights file? train "
                             "--checkpoint-every N writes checkpoints)", path);
    } else if (!hash) {
        aairt_error_set(err, "%s: not a checkpoint (no aai.manifest_hash)", path);
    } else if (!kind || strcmp(kind, aairt_optimizer_kind_name(opt->kind)) != 0) {
        aairt_error_set(err, "%s: the checkpoint's optimizer is %s, this run uses %s", path,
                        kind ? kind : "unknown", aairt_optimizer_kind_name(opt->kind));
    } else if (meta_int(&l, "aai.rows", rows, rows, &st->rows) ||
               meta_int(&l, "aai.batch", 1, INT64_MAX, &st->batch) ||
               meta_int(&l, "aai.epoch", 0, INT64_MAX, &st->epoch) ||
               (step_max = (rows + st->batch - 1) / st->batch,
                meta_int(&l, "aai.step", 0, step_max, &st->step)) ||
               meta_int(&l, "aai.seen", 0, rows, &st->seen) ||
               meta_int(&l, "aai.optim_step", 0, INT64_MAX, &optim_step) ||
               meta_hex(&l, "aai.seed", &seed, 1) ||
               meta_int(&l, "aai.metrics_bytes", -1, INT64_MAX, &st->metrics_bytes) ||
               meta_hex(&l, "aai.rng", rng, 2) || meta_hex(&l, "aai.loss_sum", &loss_bits, 1)) {
        /* err set */
    } else if (load_tensors(&l, m, params, opt, perm, rows) == 0) {
        st->seed = seed;
        st->shuffle.state = rng[0];
        st->shuffle.inc = rng[1] | 1u;
        st->loss_sum = bits_double(loss_bits);
        opt->step = optim_step;
        rc = 0;
    }
    aairt_st_free(&file);
    return rc;
}
