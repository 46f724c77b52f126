/* embed.c - the embedding API behind generated model headers.
 *
 * The state block starts with an EmbedCtx (at most AAIRT_EMBED_CTX_BYTES),
 * followed by the fitted transform statistics and, for the train API, the
 * gradient block and the optimizer's two moment arrays. Transform steps are
 * applied with exactly the float operations of transforms.c (step_apply /
 * step_invert), in the same order, so an embedded prediction is bitwise the
 * one `./model predict` prints. The scratch block holds the generated
 * code's arena, then a copy of the input batch (transformed in place), then
 * the transformed labels. */
#include "aairt_embed.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "model.h"
#include "optim.h"
#include "safetensors.h"

#define CTX_MAGIC 0x61616965u /* "aaie" */

typedef enum { STEP_AFFINE = 1, STEP_SCALE, STEP_SHIFT, STEP_CLASSES } StepKind;

typedef struct EmbedStep {
    StepKind kind;
    int minmax;    /* AFFINE: 1 = minmax, 0 = standardize (for save) */
    float param;   /* SCALE: factor; SHIFT: offset */
    int64_t n;     /* CLASSES */
    int64_t stats; /* AFFINE: offset of a[width], then b[width] */
} EmbedStep;

typedef struct EmbedSide {
    int present;
    int64_t width;
    int n_steps;
    EmbedStep steps[AAIRT_EMBED_MAX_STEPS];
} EmbedSide;

typedef struct EmbedCtx {
    uint32_t magic;
    int ok;                /* initialised without error */
    const AairtEmbed *e;
    float *weights;        /* caller's block, or the baked one (read-only) */
    int writable;
    float *stats;          /* e->stats_floats */
    int64_t stats_used;
    EmbedSide features, label;
    AairtOptimizer opt;    /* train API: m, v point into the state block */
    AairtSchedule schedule; /* train API: the train block's, for set_epoch */
    float base_lr;
    int64_t epochs;
    float *grads;
    char err[256];
} EmbedCtx;

_Static_assert(sizeof(EmbedCtx) <= AAIRT_EMBED_CTX_BYTES, "EmbedCtx outgrew its reserved bytes");

static size_t round_up(size_t n) { return (n + AAIRT_EMBED_ALIGN - 1) & ~(size_t)(AAIRT_EMBED_ALIGN - 1); }

static int misaligned(const void *p) { return ((uintptr_t)p & (AAIRT_EMBED_ALIGN - 1)) != 0; }

__attribute__((format(printf, 2, 3))) static int ctx_fail(EmbedCtx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int64_t n_params(const AairtEmbed *e) { return e->model->n_param_floats; }

size_t aairt_embed_state_size(const AairtEmbed *e) {
    size_t n = AAIRT_EMBED_CTX_BYTES + round_up((size_t)e->stats_floats * sizeof(float));
    if (e->flags & AAIRT_EMBED_TRAIN_API) n += 3 * round_up((size_t)n_params(e) * sizeof(float));
    return n;
}

size_t aairt_embed_scratch_size(const AairtEmbed *e, int batch) {
    size_t b = batch > 0 ? (size_t)batch : 0;
    const AairtModel *m = e->model;
    return round_up((size_t)(m->arena_static_floats + m->arena_row_floats * (int64_t)b) *
                    sizeof(float)) +
           round_up(b * (size_t)e->x_width * sizeof(float)) +
           ((e->flags & AAIRT_EMBED_TRAIN_API) ? round_up(b * (size_t)e->label_width * sizeof(float))
                                                : 0);
}

/* ---- transforms ---------------------------------------------------------- */

static int read_floats(const cJSON *arr, int64_t width, float *dst) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != width) return -1;
    int64_t j = 0;
    for (const cJSON *v = arr->child; v; v = v->next, j++) {
        if (!cJSON_IsNumber(v)) return -1;
        dst[j] = (float)v->valuedouble; /* as transforms.c reads them */
    }
    return 0;
}

static int side_parse(EmbedCtx *c, const cJSON *j, const char *what, EmbedSide *side) {
    memset(side, 0, sizeof *side);
    if (!j || cJSON_IsNull(j)) return 0;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "width");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(j, "steps");
    if (!cJSON_IsNumber(w) || w->valuedouble < 0 || w->valuedouble > 1e9 || !cJSON_IsArray(steps))
        return ctx_fail(c, "aai.transforms: '%s' needs \"width\" and \"steps\"", what);
    side->present = 1;
    side->width = (int64_t)w->valuedouble;
    for (const cJSON *st = steps->child; st; st = st->next) {
        if (side->n_steps == AAIRT_EMBED_MAX_STEPS)
            return ctx_fail(c, "aai.transforms: more than %d %s steps", AAIRT_EMBED_MAX_STEPS, what);
        EmbedStep *s = &side->steps[side->n_steps++];
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(st, "kind");
        const char *kind = cJSON_IsString(k) ? k->valuestring : "";
        if (!strcmp(kind, "standardize") || !strcmp(kind, "minmax")) {
            s->kind = STEP_AFFINE;
            s->minmax = kind[0] == 'm';
            if (c->stats_used + 2 * side->width > c->e->stats_floats)
                return ctx_fail(c, "aai.transforms: the %s statistics do not fit the "
                                   "context this model was compiled with", what);
            s->stats = c->stats_used;
            c->stats_used += 2 * side->width;
            float *a = c->stats + s->stats, *b = a + side->width;
            if (read_floats(cJSON_GetObjectItemCaseSensitive(st, s->minmax ? "min" : "mean"),
                            side->width, a) ||
                read_floats(cJSON_GetObjectItemCaseSensitive(st, s->minmax ? "range" : "std"),
                            side->width, b))
                return ctx_fail(c, "aai.transforms: %s step %d (%s): bad statistics", what,
                                side->n_steps - 1, kind);
        } else if (!strcmp(kind, "scale") || !strcmp(kind, "shift")) {
            s->kind = kind[1] == 'c' ? STEP_SCALE : STEP_SHIFT;
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, s->kind == STEP_SCALE ? "factor" : "offset");
            if (!cJSON_IsNumber(p)) return ctx_fail(c, "aai.transforms: %s step without a value", kind);
            s->param = (float)p->valuedouble;
        } else if (!strcmp(kind, "classes")) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "n");
            s->kind = STEP_CLASSES;
            s->n = cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0;
        } else {
            return ctx_fail(c, "aai.transforms: unknown %s step '%s'", what, kind);
        }
    }
    return 0;
}

static int transforms_parse(EmbedCtx *c, const char *json) {
    c->stats_used = 0;
    memset(&c->features, 0, sizeof c->features);
    memset(&c->label, 0, sizeof c->label);
    if (!json) return 0;
    cJSON *root = cJSON_Parse(json);
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = ctx_fail(c, "aai.transforms: not a JSON object");
    else if (side_parse(c, cJSON_GetObjectItemCaseSensitive(root, "features"), "features",
                        &c->features) ||
             side_parse(c, cJSON_GetObjectItemCaseSensitive(root, "label"), "label", &c->label))
        rc = -1;
    else if (c->features.present && c->features.width != c->e->x_width)
        rc = ctx_fail(c, "aai.transforms: features are %lld wide, the model takes %lld",
                      (long long)c->features.width, (long long)c->e->x_width);
    cJSON_Delete(root);
    if (rc) {
        memset(&c->features, 0, sizeof c->features);
        memset(&c->label, 0, sizeof c->label);
    }
    return rc;
}

/* transforms.c step_apply, operation for operation. */
static void side_apply(const EmbedCtx *c, const EmbedSide *t, float *rows, int64_t n, int64_t w) {
    if (!t->present || t->width != w) return;
    for (int i = 0; i < t->n_steps; i++) {
        const EmbedStep *s = &t->steps[i];
        const float *a = c->stats + s->stats, *b = a + w;
        switch (s->kind) {
        case STEP_AFFINE:
            for (int64_t r = 0; r < n; r++)
                for (int64_t j = 0; j < w; j++) rows[r * w + j] = (rows[r * w + j] - a[j]) / b[j];
            break;
        case STEP_SCALE:
            for (int64_t k = 0; k < n * w; k++) rows[k] *= s->param;
            break;
        case STEP_SHIFT:
            for (int64_t k = 0; k < n * w; k++) rows[k] += s->param;
            break;
        case STEP_CLASSES: break;
        }
    }
}

/* transforms.c step_invert, operation for operation, steps in reverse. */
static void side_invert(const EmbedCtx *c, const EmbedSide *t, float *rows, int64_t n, int64_t w) {
    if (!t->present || t->width != w) return;
    for (int i = t->n_steps; i-- > 0;) {
        const EmbedStep *s = &t->steps[i];
        const float *a = c->stats + s->stats, *b = a + w;
        switch (s->kind) {
        case STEP_AFFINE:
            for (int64_t r = 0; r < n; r++)
                for (int64_t j = 0; j < w; j++) rows[r * w + j] = rows[r * w + j] * b[j] + a[j];
            break;
        case STEP_SCALE:
            for (int64_t k = 0; k < n * w; k++) rows[k] /= s->param;
            break;
        case STEP_SHIFT:
            for (int64_t k = 0; k < n * w; k++) rows[k] -= s->param;
            break;
        case STEP_CLASSES: break;
        }
    }
}

static void json_floats(cJSON *o, const char *key, const float *v, int64_t n) {
    char buf[32];
    /* %.9g round-trips every float; cJSON would print doubles. */
    cJSON *arr = cJSON_AddArrayToObject(o, key);
    for (int64_t j = 0; j < n; j++) {
        snprintf(buf, sizeof buf, "%.9g", (double)v[j]);
        cJSON_AddItemToArray(arr, cJSON_CreateRaw(buf));
    }
}

static cJSON *side_json(const EmbedCtx *c, const EmbedSide *t) {
    if (!t->present) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "width", (double)t->width);
    cJSON *steps = cJSON_AddArrayToObject(o, "steps");
    for (int i = 0; i < t->n_steps; i++) {
        const EmbedStep *s = &t->steps[i];
        cJSON *j = cJSON_CreateObject();
        char buf[32];
        switch (s->kind) {
        case STEP_AFFINE:
            cJSON_AddStringToObject(j, "kind", s->minmax ? "minmax" : "standardize");
            json_floats(j, s->minmax ? "min" : "mean", c->stats + s->stats, t->width);
            json_floats(j, s->minmax ? "range" : "std", c->stats + s->stats + t->width, t->width);
            break;
        case STEP_SCALE:
        case STEP_SHIFT:
            cJSON_AddStringToObject(j, "kind", s->kind == STEP_SCALE ? "scale" : "shift");
            snprintf(buf, sizeof buf, "%.9g", (double)s->param);
            cJSON_AddRawToObject(j, s->kind == STEP_SCALE ? "factor" : "offset", buf);
            break;
        case STEP_CLASSES:
            cJSON_AddStringToObject(j, "kind", "classes");
            cJSON_AddNumberToObject(j, "n", (double)s->n);
            break;
        }
        cJSON_AddItemToArray(steps, j);
    }
    return o;
}

static char *transforms_json(const EmbedCtx *c) {
    if (!c->features.present && !c->label.present) return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "aai_transforms", 1);
    cJSON_AddItemToObject(root, "features", side_json(c, &c->features));
    cJSON_AddItemToObject(root, "label", side_json(c, &c->label));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- context ------------------------------------------------------------- */

static EmbedCtx *ctx_of(const AairtEmbed *e, const void *ctx) {
    EmbedCtx *c = (EmbedCtx *)ctx;
    if (!c || c->magic != CTX_MAGIC || c->e != e) return NULL;
    return c;
}

/* The train block's optimizer and schedule, from the manifest (defaults:
 * Adam at a constant rate). */
static int optimizer_setup(EmbedCtx *c, float *state_tail) {
    const AairtEmbed *e = c->e;
    AairtManifest man;
    AairtError err;
    if (aairt_manifest_parse(e->model->manifest_json, &man, &err))
        return ctx_fail(c, "manifest: %s", err.msg);
    const AairtOptimizerSpec spec = man.train.optimizer;
    c->schedule = man.train.schedule;
    c->epochs = man.train.epochs;
    c->base_lr = spec.lr;
    aairt_manifest_free(&man);
    size_t stride = round_up((size_t)n_params(e) * sizeof(float)) / sizeof(float);
    c->grads = state_tail;
    c->opt = (AairtOptimizer){.kind = spec.kind, .lr = spec.lr, .momentum = spec.momentum,
                              .dampening = spec.dampening, .nesterov = spec.nesterov,
                              .beta1 = spec.beta1, .beta2 = spec.beta2, .eps = spec.eps,
                              .weight_decay = spec.weight_decay, .step = 0, .n = n_params(e),
                              .m = state_tail + stride,
                              .v = spec.kind == AAIRT_OPT_SGD ? NULL : state_tail + 2 * stride};
    return 0;
}

void *aairt_embed_init(const AairtEmbed *e, void *state, float *weights) {
    if (!e || !state || misaligned(state) || misaligned(weights)) return NULL;
    memset(state, 0, aairt_embed_state_size(e));
    EmbedCtx *c = state;
    c->magic = CTX_MAGIC;
    c->e = e;
    c->stats = (float *)((char *)state + AAIRT_EMBED_CTX_BYTES);
    float *tail = (float *)((char *)state + AAIRT_EMBED_CTX_BYTES +
                            round_up((size_t)e->stats_floats * sizeof(float)));
    if (e->version != AAIRT_EMBED_VERSION || e->model->abi_version != AAIRT_ABI_VERSION) {
        ctx_fail(c, "model compiled for another runtime version");
        return c;
    }
    if (weights) {
        c->weights = weights;
        c->writable = 1;
        if (e->weights) memcpy(weights, e->weights, (size_t)n_params(e) * sizeof(float));
    } else if (e->weights) {
        c->weights = (float *)e->weights; /* predict never writes parameters */
    } else {
        ctx_fail(c, "no weights: none are baked into this model; pass a weights block");
        return c;
    }
    if (transforms_parse(c, e->transforms_json)) return c;
    if ((e->flags & AAIRT_EMBED_TRAIN_API) && optimizer_setup(c, tail)) return c;
    c->ok = 1;
    return c;
}

const char *aairt_embed_error(const AairtEmbed *e, const void *ctx) {
    const EmbedCtx *c = ctx_of(e, ctx);
    return c ? c->err : "not a context of this model";
}

static EmbedCtx *ready(const AairtEmbed *e, void *ctx) {
    EmbedCtx *c = ctx_of(e, ctx);
    if (!c || !c->ok) return NULL;
    c->err[0] = '\0';
    return c;
}

int aairt_embed_predict(const AairtEmbed *e, void *ctx, void *scratch, const float *in,
                        float *out, int batch) {
    EmbedCtx *c = ready(e, ctx);
    if (!c) return -1;
    if (batch < 0 || !scratch || misaligned(scratch) || (batch > 0 && (!in || !out)))
        return ctx_fail(c, "predict: bad arguments (batch %d, scratch %p)", batch, scratch);
    const AairtModel *m = e->model;
    float *arena = scratch;
    float *x = (float *)((char *)scratch +
                         round_up((size_t)(m->arena_static_floats + m->arena_row_floats * batch) *
                                  sizeof(float)));
    memcpy(x, in, (size_t)batch * (size_t)e->x_width * sizeof(float));
    side_apply(c, &c->features, x, batch, e->x_width);
    AairtStepArgs args = {.params = c->weights, .arena = arena, .x = x, .out = out, .batch = batch};
    m->predict(&args);
    /* Only regression outputs live in label space (cli.c predict). */
    if (e->flags & AAIRT_EMBED_REGRESSION) side_invert(c, &c->label, out, batch, e->out_width);
    return 0;
}

/* The context, ready and built with the train API; NULL (the error set
 * when there is a context to set it on) otherwise. */
static EmbedCtx *trainable(const AairtEmbed *e, void *ctx, const char *what) {
    EmbedCtx *c = ready(e, ctx);
    if (c && (!(e->flags & AAIRT_EMBED_TRAIN_API) || !e->model->train_step)) {
        ctx_fail(c, "%s: compiled without --train-api or without a train block", what);
        return NULL;
    }
    return c;
}

int aairt_embed_train_step(const AairtEmbed *e, void *ctx, void *scratch, const float *x,
                           const float *labels, int batch, float *loss) {
    EmbedCtx *c = trainable(e, ctx, "train_step");
    if (!c) return -1;
    if (!c->writable) return ctx_fail(c, "train_step: the weights are read-only (pass a block to init)");
    if (batch < 1 || !scratch || misaligned(scratch) || !x || !labels)
        return ctx_fail(c, "train_step: bad arguments");
    const AairtModel *m = e->model;
    char *p = scratch;
    float *arena = (float *)p;
    p += round_up((size_t)(m->arena_static_floats + m->arena_row_floats * batch) * sizeof(float));
    float *xb = (float *)p;
    p += round_up((size_t)batch * (size_t)e->x_width * sizeof(float));
    float *yb = (float *)p;
    memcpy(xb, x, (size_t)batch * (size_t)e->x_width * sizeof(float));
    memcpy(yb, labels, (size_t)batch * (size_t)e->label_width * sizeof(float));
    side_apply(c, &c->features, xb, batch, e->x_width);
    side_apply(c, &c->label, yb, batch, e->label_width);
    float l = 0;
    AairtStepArgs args = {.params = c->weights, .grads = c->grads, .arena = arena, .x = xb,
                          .y = yb, .loss = &l, .opt = &c->opt, .batch = batch};
    m->train_step(&args);
    if (loss) *loss = l;
    return 0;
}

/* ---- learning rate ------------------------------------------------------ */

int aairt_embed_set_epoch(const AairtEmbed *e, void *ctx, int epoch) {
    EmbedCtx *c = trainable(e, ctx, "set_epoch");
    if (!c) return -1;
    if (epoch < 0) return ctx_fail(c, "set_epoch: epoch %d is negative", epoch);
    c->opt.lr = aairt_schedule_lr(&c->schedule, c->base_lr, epoch, c->epochs);
    return 0;
}

int aairt_embed_set_lr(const AairtEmbed *e, void *ctx, float lr) {
    EmbedCtx *c = trainable(e, ctx, "set_lr");
    if (!c) return -1;
    if (!(lr >= 0.0f && lr <= FLT_MAX))
        return ctx_fail(c, "set_lr: %g is not a finite rate >= 0", (double)lr);
    c->opt.lr = lr;
    return 0;
}

float aairt_embed_lr(const AairtEmbed *e, const void *ctx) {
    const EmbedCtx *c = ctx_of(e, ctx);
    if (!c || !c->ok || !(e->flags & AAIRT_EMBED_TRAIN_API)) return -1.0f;
    return c->opt.lr;
}

/* ---- weights as safetensors --------------------------------------------- */

int aairt_embed_load(const AairtEmbed *e, void *ctx, const void *bytes, size_t size) {
    EmbedCtx *c = ctx_of(e, ctx);
    if (!c) return -1;
    if (!c->writable) return ctx_fail(c, "load: the weights are read-only (pass a block to init)");
    AairtManifest man;
    AairtError err;
    if (aairt_manifest_parse(e->model->manifest_json, &man, &err))
        return ctx_fail(c, "manifest: %s", err.msg);
    AairtSafetensors st;
    int rc = 0;
    if (aairt_st_load_bytes(bytes, size, "<weights>", &st, &err)) {
        aairt_manifest_free(&man);
        return ctx_fail(c, "%s", err.msg);
    }
    for (int64_t i = 0; i < man.n_params && rc == 0; i++) {
        const AairtParamInfo *pi = &man.params[i];
        const AairtTensorView *v = aairt_st_find(&st, pi->name);
        int same = v && v->dtype == AAIRT_F32 && v->rank == pi->rank &&
                   v->nbytes == (size_t)pi->size * sizeof(float);
        for (int d = 0; same && d < pi->rank; d++) same = v->shape[d] == pi->shape[d];
        if (!same) rc = ctx_fail(c, "weights: tensor '%s' is %s", pi->name,
                                 v ? "not F32 of the model's shape" : "missing");
    }
    if (rc == 0 && (int64_t)st.n_tensors != man.n_params)
        rc = ctx_fail(c, "weights: %zu tensors, the model has %lld parameters", st.n_tensors,
                      (long long)man.n_params);
    if (rc == 0) {
        /* Parse the transforms before touching the weights so a failure
         * leaves the context's transforms empty, not half-loaded. */
        rc = transforms_parse(c, aairt_st_meta(&st, "aai.transforms"));
        for (int64_t i = 0; i < man.n_params && rc == 0; i++) {
            const AairtTensorView *v = aairt_st_find(&st, man.params[i].name);
            memcpy(c->weights + man.params[i].offset, v->data, v->nbytes);
        }
    }
    if (rc == 0 && (e->flags & AAIRT_EMBED_TRAIN_API)) {
        /* Fresh optimizer state for the new weights. */
        size_t stride = round_up((size_t)n_params(e) * sizeof(float));
        memset(c->grads, 0, 3 * stride);
        c->opt.step = 0;
    }
    aairt_st_free(&st);
    aairt_manifest_free(&man);
    return rc;
}

int aairt_embed_load_file(const AairtEmbed *e, void *ctx, const char *path) {
    EmbedCtx *c = ctx_of(e, ctx);
    if (!c) return -1;
    unsigned char *bytes;
    size_t size;
    AairtError err;
    if (aairt_read_file(path, (size_t)1 << 34, &bytes, &size, &err)) return ctx_fail(c, "%s", err.msg);
    int rc = aairt_embed_load(e, ctx, bytes, size);
    free(bytes);
    if (rc) {
        char msg[sizeof c->err];
        snprintf(msg, sizeof msg, "%s", c->err);
        ctx_fail(c, "%s: %s", path, msg);
    }
    return rc;
}

int aairt_embed_save(const AairtEmbed *e, void *ctx, void *buf, size_t cap, size_t *size) {
    EmbedCtx *c = ready(e, ctx);
    if (!c) return -1;
    AairtManifest man;
    AairtError err;
    if (aairt_manifest_parse(e->model->manifest_json, &man, &err))
        return ctx_fail(c, "manifest: %s", err.msg);
    char *tj = transforms_json(c);
    unsigned char *bytes = NULL;
    size_t n = 0;
    int rc = aairt_weights_encode(&man, e->model->manifest_json, c->weights, tj, &bytes, &n, &err);
    if (rc) ctx_fail(c, "save: %s", err.msg);
    else {
        if (size) *size = n;
        if (!buf || cap < n) rc = ctx_fail(c, "save: the buffer holds %zu bytes, %zu needed", cap, n);
        else memcpy(buf, bytes, n);
    }
    free(bytes);
    cJSON_free(tj);
    aairt_manifest_free(&man);
    return rc;
}
