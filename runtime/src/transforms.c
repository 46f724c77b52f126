/* transforms.c - feature and label transforms: build from the manifest
 * spec, fit on training rows, apply, invert, and persist as JSON.
 *
 * Steps run in spec order. Fitted steps (standardize, minmax) keep one
 * statistic pair per column in an AairtFitted; parameter steps (scale,
 * shift) keep one float; classes keeps n and changes nothing (the loader
 * validates the labels). Statistics are accumulated in double and stored
 * as float; applying always uses the stored floats, so training, eval and
 * predict compute bit-identical inputs. Standardize uses the population
 * standard deviation (ddof = 0), like sklearn's StandardScaler. JSON
 * prints floats with %.9g, which round-trips every float exactly:
 *
 *   {"aai_transforms": 1,
 *    "features": {"width": 4, "steps": [{"kind": "standardize",
 *                 "mean": [..], "std": [..]}, {"kind": "scale", "factor": 0.5}]},
 *    "label": {"width": 1, "steps": [{"kind": "classes", "n": 3}]}}
 *
 * minmax steps carry "min" and "range" (max - min). */
#include "dataset.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    TF_STANDARDIZE = 1, /* values match AairtFitted.kind */
    TF_MINMAX = 2,
    TF_SCALE,
    TF_SHIFT,
    TF_CLASSES,
} TfKind;

static const char *const tf_names[] = {
    [TF_STANDARDIZE] = "standardize", [TF_MINMAX] = "minmax", [TF_SCALE] = "scale",
    [TF_SHIFT] = "shift",             [TF_CLASSES] = "classes",
};

typedef struct {
    TfKind kind;
    float param;     /* scale: factor; shift: offset */
    int64_t n;       /* classes */
    AairtFitted fit; /* standardize, minmax (kind 0 otherwise) */
} TfStep;

struct AairtTransforms {
    int64_t width;
    size_t n_steps;
    TfStep *steps;
};

void aairt_transforms_free(AairtTransforms *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_steps; i++) {
        free(t->steps[i].fit.a);
        free(t->steps[i].fit.b);
    }
    free(t->steps);
    free(t);
}

static AairtTransforms *tf_new(int64_t width, size_t n_steps)
{
    AairtTransforms *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->width = width;
    t->steps = calloc(n_steps + 1, sizeof *t->steps);
    if (!t->steps) {
        free(t);
        return NULL;
    }
    t->n_steps = n_steps;
    return t;
}

static int tf_kind_parse(const char *s)
{
    for (int k = TF_STANDARDIZE; k <= TF_CLASSES; k++)
        if (strcmp(s, tf_names[k]) == 0)
            return k;
    return 0;
}

/* Allocates the per-column statistic arrays of a fitted step. */
static int fit_alloc(TfStep *s, int64_t width)
{
    s->fit.kind = (int)s->kind;
    s->fit.width = width;
    s->fit.a = calloc((size_t)width + 1, sizeof *s->fit.a);
    s->fit.b = calloc((size_t)width + 1, sizeof *s->fit.b);
    if (!s->fit.a || !s->fit.b)
        return -1;
    for (int64_t j = 0; j < width; j++)
        s->fit.b[j] = 1; /* identity until fitted */
    return 0;
}

int aairt_transforms_from_spec(const cJSON *spec, int64_t width, const char *what,
                               AairtTransforms **out, AairtError *err)
{
    *out = NULL;
    if (spec && !cJSON_IsNull(spec) && !cJSON_IsArray(spec))
        return aairt_error_set(err, "dataset spec: %s.transforms must be an array", what);
    size_t n = spec && cJSON_IsArray(spec) ? (size_t)cJSON_GetArraySize(spec) : 0;
    AairtTransforms *t = tf_new(width, n);
    if (!t)
        return aairt_error_set(err, "out of memory");
    size_t i = 0;
    for (const cJSON *st = n ? spec->child : NULL; st; st = st->next, i++) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(st, "kind");
        int k = cJSON_IsString(kind) ? tf_kind_parse(kind->valuestring) : 0;
        TfStep *s = &t->steps[i];
        if (!k) {
            aairt_transforms_free(t);
            return aairt_error_set(err,
                                   "dataset spec: %s.transforms[%zu]: unknown kind '%s' "
                                   "(expected standardize, minmax, scale, shift or classes)",
                                   what, i, cJSON_IsString(kind) ? kind->valuestring : "?");
        }
        s->kind = (TfKind)k;
        const char *pname = k == TF_SCALE ? "factor" : k == TF_SHIFT ? "offset" : "n";
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, pname);
        if (k == TF_SCALE || k == TF_SHIFT) {
            if (!cJSON_IsNumber(p) || !isfinite(p->valuedouble) ||
                (k == TF_SCALE && (float)p->valuedouble == 0.0f)) {
                aairt_transforms_free(t);
                return aairt_error_set(err,
                                       "dataset spec: %s.transforms[%zu] (%s): '%s' must be a "
                                       "finite%s number",
                                       what, i, tf_names[k], pname,
                                       k == TF_SCALE ? " nonzero" : "");
            }
            s->param = (float)p->valuedouble;
        } else if (k == TF_CLASSES) {
            if (strcmp(what, "label") != 0 || width != 1 || n != 1) {
                aairt_transforms_free(t);
                return aairt_error_set(err,
                                       "dataset spec: %s.transforms[%zu]: 'classes' applies "
                                       "only to a single label column, alone",
                                       what, i);
            }
            if (!cJSON_IsNumber(p) || p->valuedouble < 1 || p->valuedouble > 1e9 ||
                floor(p->valuedouble) != p->valuedouble) {
                aairt_transforms_free(t);
                return aairt_error_set(err,
                                       "dataset spec: %s.transforms[%zu] (classes): 'n' must "
                                       "be a positive integer",
                                       what, i);
            }
            s->n = (int64_t)p->valuedouble;
        } else if (fit_alloc(s, width) != 0) {
            aairt_transforms_free(t);
            return aairt_error_set(err, "out of memory");
        }
    }
    *out = t;
    return 0;
}

/* Applies one step to n rows. */
static void step_apply(const TfStep *s, float *rows, int64_t n, int64_t width)
{
    size_t w = (size_t)width;
    switch (s->kind) {
    case TF_STANDARDIZE:
    case TF_MINMAX:
        for (int64_t i = 0; i < n; i++) {
            float *r = rows + (size_t)i * w;
            for (size_t j = 0; j < w; j++)
                r[j] = (r[j] - s->fit.a[j]) / s->fit.b[j];
        }
        break;
    case TF_SCALE:
        for (size_t i = 0; i < (size_t)n * w; i++)
            rows[i] *= s->param;
        break;
    case TF_SHIFT:
        for (size_t i = 0; i < (size_t)n * w; i++)
            rows[i] += s->param;
        break;
    case TF_CLASSES:
        break;
    }
}

static void step_invert(const TfStep *s, float *rows, int64_t n, int64_t width)
{
    size_t w = (size_t)width;
    switch (s->kind) {
    case TF_STANDARDIZE:
    case TF_MINMAX:
        for (int64_t i = 0; i < n; i++) {
            float *r = rows + (size_t)i * w;
            for (size_t j = 0; j < w; j++)
                r[j] = r[j] * s->fit.b[j] + s->fit.a[j];
        }
        break;
    case TF_SCALE:
        for (size_t i = 0; i < (size_t)n * w; i++)
            rows[i] /= s->param;
        break;
    case TF_SHIFT:
        for (size_t i = 0; i < (size_t)n * w; i++)
            rows[i] -= s->param;
        break;
    case TF_CLASSES:
        break;
    }
}

/* Fits a standardize or minmax step on n rows. */
static int step_fit(TfStep *s, const float *rows, int64_t n, int64_t width)
{
    size_t w = (size_t)width;
    double *acc = calloc(2 * w + 1, sizeof *acc);
    if (!acc)
        return -1;
    double *p = acc, *q = acc + w;
    if (s->kind == TF_STANDARDIZE) {
        /* Two passes in double: mean, then the mean squared deviation. */
        for (int64_t i = 0; i < n; i++)
            for (size_t j = 0; j < w; j++)
                p[j] += rows[(size_t)i * w + j];
        for (size_t j = 0; j < w; j++)
            p[j] = n > 0 ? p[j] / (double)n : 0;
        for (int64_t i = 0; i < n; i++)
            for (size_t j = 0; j < w; j++) {
                double d = rows[(size_t)i * w + j] - p[j];
                q[j] += d * d;
            }
        for (size_t j = 0; j < w; j++) {
            double sd = n > 0 ? sqrt(q[j] / (double)n) : 0;
            float fsd = (float)sd;
            s->fit.a[j] = (float)p[j];
            s->fit.b[j] = fsd > 0 && isfinite(fsd) ? fsd : 1.0f;
        }
    } else {
        for (size_t j = 0; j < w; j++) {
            p[j] = n > 0 ? rows[j] : 0;
            q[j] = p[j];
        }
        for (int64_t i = 1; i < n; i++)
            for (size_t j = 0; j < w; j++) {
                double v = rows[(size_t)i * w + j];
                if (v < p[j])
                    p[j] = v;
                if (v > q[j])
                    q[j] = v;
            }
        for (size_t j = 0; j < w; j++) {
            float range = (float)(q[j] - p[j]);
            s->fit.a[j] = (float)p[j];
            s->fit.b[j] = range > 0 && isfinite(range) ? range : 1.0f;
        }
    }
    free(acc);
    return 0;
}

int aairt_transforms_fit_apply(AairtTransforms *t, float *rows, int64_t n, float *other,
                               int64_t n_other, AairtError *err)
{
    for (size_t i = 0; i < t->n_steps; i++) {
        TfStep *s = &t->steps[i];
        if ((s->kind == TF_STANDARDIZE || s->kind == TF_MINMAX) &&
            step_fit(s, rows, n, t->width) != 0)
            return aairt_error_set(err, "out of memory fitting a %s transform",
                                   tf_names[s->kind]);
        step_apply(s, rows, n, t->width);
        if (other)
            step_apply(s, other, n_other, t->width);
    }
    return 0;
}

void aairt_transforms_apply(const AairtTransforms *t, float *rows, int64_t n, int64_t width)
{
    if (!t || width != t->width)
        return;
    for (size_t i = 0; i < t->n_steps; i++)
        step_apply(&t->steps[i], rows, n, width);
}

void aairt_transforms_invert(const AairtTransforms *t, float *rows, int64_t n, int64_t width)
{
    if (!t || width != t->width)
        return;
    for (size_t i = t->n_steps; i-- > 0;)
        step_invert(&t->steps[i], rows, n, width);
}

int64_t aairt_transforms_width(const AairtTransforms *t) { return t ? t->width : 0; }

int64_t aairt_transforms_n_classes(const AairtTransforms *t)
{
    for (size_t i = 0; t && i < t->n_steps; i++)
        if (t->steps[i].kind == TF_CLASSES)
            return t->steps[i].n;
    return 0;
}

size_t aairt_transforms_n_steps(const AairtTransforms *t) { return t ? t->n_steps : 0; }

const AairtFitted *aairt_transforms_fitted(const AairtTransforms *t, size_t i)
{
    static const AairtFitted none = {0, 0, NULL, NULL};
    if (!t || i >= t->n_steps || !t->steps[i].fit.kind)
        return &none;
    return &t->steps[i].fit;
}

/* ---- JSON ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} Text;

static void text_printf(Text *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(Text *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)w < b->cap - b->len) {
            b->len += (size_t)w;
            return;
        }
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + (size_t)w + 1)
            ncap *= 2;
        char *ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
}

static void json_floats(Text *b, const char *key, const float *v, int64_t n)
{
    text_printf(b, ", \"%s\": [", key);
    for (int64_t j = 0; j < n; j++)
        text_printf(b, "%s%.9g", j ? ", " : "", (double)v[j]);
    text_printf(b, "]");
}

static void json_side(Text *b, const AairtTransforms *t)
{
    if (!t) {
        text_printf(b, "null");
        return;
    }
    text_printf(b, "{\"width\": %lld, \"steps\": [", (long long)t->width);
    for (size_t i = 0; i < t->n_steps; i++) {
        const TfStep *s = &t->steps[i];
        text_printf(b, "%s{\"kind\": \"%s\"", i ? ", " : "", tf_names[s->kind]);
        switch (s->kind) {
        case TF_STANDARDIZE:
            json_floats(b, "mean", s->fit.a, t->width);
            json_floats(b, "std", s->fit.b, t->width);
            break;
        case TF_MINMAX:
            json_floats(b, "min", s->fit.a, t->width);
            json_floats(b, "range", s->fit.b, t->width);
            break;
        case TF_SCALE: text_printf(b, ", \"factor\": %.9g", (double)s->param); break;
        case TF_SHIFT: text_printf(b, ", \"offset\": %.9g", (double)s->param); break;
        case TF_CLASSES: text_printf(b, ", \"n\": %lld", (long long)s->n); break;
        }
        text_printf(b, "}");
    }
    text_printf(b, "]}");
}

char *aairt_transforms_to_json(const AairtTransforms *features, const AairtTransforms *label)
{
    Text b = {0};
    text_printf(&b, "{\"aai_transforms\": 1, \"features\": ");
    json_side(&b, features);
    text_printf(&b, ", \"label\": ");
    json_side(&b, label);
    text_printf(&b, "}");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Reads a float array of exactly `width` finite entries. */
static int json_read_floats(const cJSON *arr, int64_t width, float *dst, int positive)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != width)
        return -1;
    int64_t j = 0;
    for (const cJSON *v = arr->child; v; v = v->next, j++) {
        if (!cJSON_IsNumber(v))
            return -1;
        float f = (float)v->valuedouble;
        if (!isfinite(f) || (positive && !(f > 0)))
            return -1;
        dst[j] = f;
    }
    return 0;
}

static int side_from_json(const cJSON *j, const char *what, AairtTransforms **out,
                          AairtError *err)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j))
        return 0;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "width");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(j, "steps");
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(w) || w->valuedouble < 0 ||
        w->valuedouble > 1e9 || floor(w->valuedouble) != w->valuedouble ||
        !cJSON_IsArray(steps))
        return aairt_error_set(err, "aai.transforms: '%s' needs an integer \"width\" and a "
                                    "\"steps\" array",
                               what);
    int64_t width = (int64_t)w->valuedouble;
    /* Reuse the spec parser for kinds and parameters, then read the
     * statistics. */
    AairtTransforms *t;
    if (aairt_transforms_from_spec(steps, width, what, &t, err) != 0)
        return -1;
    size_t i = 0;
    for (const cJSON *st = steps->child; st; st = st->next, i++) {
        TfStep *s = &t->steps[i];
        if (s->kind != TF_STANDARDIZE && s->kind != TF_MINMAX)
            continue;
        const char *ka = s->kind == TF_STANDARDIZE ? "mean" : "min";
        const char *kb = s->kind == TF_STANDARDIZE ? "std" : "range";
        if (json_read_floats(cJSON_GetObjectItemCaseSensitive(st, ka), width, s->fit.a, 0) ||
            json_read_floats(cJSON_GetObjectItemCaseSensitive(st, kb), width, s->fit.b, 1)) {
            aairt_error_set(err,
                            "aai.transforms: %s step %zu (%s): \"%s\" and \"%s\" must be "
                            "arrays of %lld finite numbers (\"%s\" positive)",
                            what, i, tf_names[s->kind], ka, kb, (long long)width, kb);
            aairt_transforms_free(t);
            return -1;
        }
    }
    *out = t;
    return 0;
}

int aairt_transforms_from_json(const char *json, AairtTransforms **features,
                               AairtTransforms **label, AairtError *err)
{
    *features = NULL;
    *label = NULL;
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return aairt_error_set(err, "aai.transforms: not a JSON object");
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "aai_transforms");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1) {
        cJSON_Delete(root);
        return aairt_error_set(err, "aai.transforms: unsupported version (expected "
                                    "\"aai_transforms\": 1)");
    }
    if (side_from_json(cJSON_GetObjectItemCaseSensitive(root, "features"), "features",
                       features, err) != 0 ||
        side_from_json(cJSON_GetObjectItemCaseSensitive(root, "label"), "label", label,
                       err) != 0) {
        aairt_transforms_free(*features);
        *features = NULL;
        cJSON_Delete(root);
        return -1;
    }
    cJSON_Delete(root);
    return 0;
}
