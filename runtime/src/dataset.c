/* dataset.c - the manifest's "dataset" object to training and test
 * matrices (docs/manifest.md).
 *
 * Steps: parse the spec; read the source (CSV: resolve feature and label
 * columns against the header; IDX: images and labels files); validate
 * class labels against the file rows they came from; split; fit the
 * transforms on the training rows and apply them to both splits.
 *
 * Holdout split: the row indices 0..n-1 are shuffled with the spec's seed
 * (aairt_shuffle_perm), and the LAST round(test * n) indices of the
 * shuffled order form the test set, the rest the training set. Each part
 * is then put back in file order, so the test rows (and eval output) read
 * top to bottom like the file. Same seed and n, same split, on every
 * platform.
 *
 * Paths: "-" reads CSV from stdin. An IDX source given on the command line
 * (train_path / test_path / load_split's path) is "IMAGES,LABELS", or just
 * IMAGES when no labels are needed. */
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "idx.h"
#include "rows_alloc.h"
#include "shuffle.h"

typedef struct {
    int is_idx;
    char *path;            /* csv */
    char *images, *labels; /* idx; labels may be NULL */
    int header;
    char delim;
} Source;

typedef struct {
    const char *name; /* NULL: by index */
    int64_t index;
} ColRef;

/* One source read into memory, before splitting and transforms. */
typedef struct {
    float *x, *y;
    int64_t n, xw, yw;
    int64_t *lines;    /* csv: line of each row; NULL for idx */
    int64_t label_col; /* csv: 0-based column of the first label */
    const char *name;  /* the file the labels came from (messages) */
} Raw;

static void source_free(Source *s)
{
    free(s->path);
    free(s->images);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

static void raw_free(Raw *r)
{
    free(r->x);
    free(r->y);
    free(r->lines);
    memset(r, 0, sizeof *r);
}

void aairt_split_free(AairtSplit *s)
{
    if (!s)
        return;
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

void aairt_dataset_free(AairtDataset *ds)
{
    if (!ds)
        return;
    aairt_split_free(&ds->train);
    aairt_split_free(&ds->test);
    aairt_transforms_free(ds->features);
    aairt_transforms_free(ds->label);
    memset(ds, 0, sizeof *ds);
}

static int oom(AairtError *err) { return aairt_error_set(err, "out of memory loading the data set"); }

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Parses a source object; `override` (a command-line path) replaces its
 * paths. */
static int source_parse(const cJSON *src, const char *override, const char *what, Source *out,
                        AairtError *err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(src))
        return aairt_error_set(err, "dataset spec: '%s' must be an object", what);
    const char *kind = json_str(src, "kind");
    if (!kind || (strcmp(kind, "csv") != 0 && strcmp(kind, "idx") != 0))
        return aairt_error_set(err, "dataset spec: %s.kind must be \"csv\" or \"idx\"", what);
    if (strcmp(kind, "csv") == 0) {
        const char *path = override ? override : json_str(src, "path");
        if (!path)
            return aairt_error_set(err, "dataset spec: %s.path is missing", what);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(src, "header");
        out->header = h ? cJSON_IsTrue(h) : 1;
        const char *d = json_str(src, "delimiter");
        out->delim = ',';
        if (d) {
            if (strlen(d) != 1 || d[0] == '"' || d[0] == '\n' || d[0] == '\r')
                return aairt_error_set(err, "dataset spec: %s.delimiter must be one character "
                                            "(not a quote or newline), got \"%s\"",
                                       what, d);
            out->delim = d[0];
        }
        out->path = strdup(path);
        return out->path ? 0 : oom(err);
    }
    out->is_idx = 1;
    if (override) {
        const char *comma = strchr(override, ',');
        out->images = comma ? strndup(override, (size_t)(comma - override)) : strdup(override);
        out->labels = comma ? strdup(comma + 1) : NULL;
    } else {
        const char *im = json_str(src, "images"), *lb = json_str(src, "labels");
        if (!im)
            return aairt_error_set(err, "dataset spec: %s.images is missing", what);
        out->images = strdup(im);
        out->labels = lb ? strdup(lb) : NULL;
        if (lb && !out->labels) {
            source_free(out);
            return oom(err);
        }
    }
    if (!out->images || (override && strchr(override, ',') && !out->labels)) {
        source_free(out);
        return oom(err);
    }
    return 0;
}

/* Column references: a name, an index, or an array of them. */
static int colrefs_parse(const cJSON *j, const char *what, ColRef **out, size_t *n,
                         AairtError *err)
{
    *out = NULL;
    *n = 0;
    size_t count = cJSON_IsArray(j) ? (size_t)cJSON_GetArraySize(j) : 1;
    ColRef *refs = calloc(count + 1, sizeof *refs);
    if (!refs)
        return oom(err);
    const cJSON *item = cJSON_IsArray(j) ? j->child : j;
    for (size_t i = 0; i < count; i++, item = item->next) {
        if (cJSON_IsString(item)) {
            refs[i].name = item->valuestring;
        } else if (cJSON_IsNumber(item) && item->valuedouble >= 0 &&
                   item->valuedouble < 1e15 && floor(item->valuedouble) == item->valuedouble) {
            refs[i].index = (int64_t)item->valuedouble;
        } else {
            free(refs);
            return aairt_error_set(err, "dataset spec: %s entries must be column names or "
                                        "0-based indices",
                                   what);
        }
    }
    if (count == 0) {
        free(refs);
        return aairt_error_set(err, "dataset spec: %s is empty", what);
    }
    *out = refs;
    *n = count;
    return 0;
}

/* The column spec of a data set, parsed once. */
typedef struct {
    ColRef *feat;  /* NULL: all columns but the label */
    size_t n_feat;
    ColRef *label; /* NULL: no label column */
    size_t n_label;
} Columns;

static void columns_free(Columns *c)
{
    free(c->feat);
    free(c->label);
}

static int columns_parse(const cJSON *spec, Columns *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(spec, "features");
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(f, "columns");
    if (fc && !cJSON_IsNull(fc) && colrefs_parse(fc, "features.columns", &out->feat,
                                                 &out->n_feat, err) != 0)
        return -1;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(spec, "label");
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(l, "column");
    if (!lc)
        lc = cJSON_GetObjectItemCaseSensitive(l, "columns");
    if (lc && !cJSON_IsNull(lc) &&
        colrefs_parse(lc, "label.column", &out->label, &out->n_label, err) != 0) {
        columns_free(out);
        return -1;
    }
    return 0;
}

/* Resolves one column reference. `required` = 0: -1 when absent, no error. */
static int resolve(const AairtCsvReader *r, const ColRef *c, int required, const char *what,
                   int64_t *index, AairtError *err)
{
    if (c->name) {
        if (required)
            return aairt_csv_find_column(r, c->name, index, err);
        *index = aairt_csv_lookup_column(r, c->name);
        return 0;
    }
    if (c->index >= aairt_csv_n_cols(r)) {
        if (!required) {
            *index = -1;
            return 0;
        }
        return aairt_error_set(err, "%s: %s column index %lld is out of range: the file has %lld "
                                    "columns (indices 0..%lld)",
                               aairt_csv_name(r), what, (long long)c->index,
                               (long long)aairt_csv_n_cols(r),
                               (long long)aairt_csv_n_cols(r) - 1);
    }
    *index = c->index;
    return 0;
}

static int contains(const int64_t *v, size_t n, int64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/* Reads a CSV source. with_labels = 0: label columns are skipped when the
 * file has them. expect_xw > 0: the feature width a model expects, used to
 * tell whether a headerless predict input carries the label column. */
static int load_csv(const Source *src, const Columns *cols, int with_labels, int64_t expect_xw,
                    Raw *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    int from_stdin = strcmp(src->path, "-") == 0;
    AairtCsvReader *r = from_stdin ? aairt_csv_open_file(stdin, "<stdin>", src->delim, err)
                                   : aairt_csv_open(src->path, src->delim, err);
    if (!r)
        return -1;
    int64_t *sel = NULL, *lab = NULL;
    size_t n_lab = 0, n_sel = 0;
    AairtCsvMatrix m = {0};
    int rc = -1;
    if (aairt_csv_begin(r, src->header, err) != 0)
        goto done;
    int64_t n_cols = aairt_csv_n_cols(r);
    lab = calloc(cols->n_label + 1, sizeof *lab);
    sel = calloc((size_t)n_cols + cols->n_feat + cols->n_label + 1, sizeof *sel);
    if (!lab || !sel) {
        oom(err);
        goto done;
    }
    /* Label columns first: the default feature set is "everything else". */
    for (size_t i = 0; i < cols->n_label; i++) {
        int64_t ix;
        if (resolve(r, &cols->label[i], with_labels, "label", &ix, err) != 0)
            goto done;
        if (ix >= 0)
            lab[n_lab++] = ix;
    }
    if (!with_labels && !cols->feat && expect_xw > 0 && n_cols == expect_xw)
        n_lab = 0; /* predict input holding exactly the features */
    if (cols->feat) {
        for (size_t i = 0; i < cols->n_feat; i++) {
            int64_t ix;
            if (resolve(r, &cols->feat[i], 1, "feature", &ix, err) != 0)
                goto done;
            if (contains(lab, n_lab, ix)) {
                const char *nm = aairt_csv_col_name(r, ix);
                aairt_error_set(err, "%s: column %lld%s%s%s is both a feature and the label",
                                aairt_csv_name(r), (long long)ix, nm ? " ('" : "",
                                nm ? nm : "", nm ? "')" : "");
                goto done;
            }
            sel[n_sel++] = ix;
        }
    } else {
        for (int64_t c = 0; c < n_cols; c++)
            if (!contains(lab, n_lab, c))
                sel[n_sel++] = c;
        if (n_sel == 0) {
            aairt_error_set(err, "%s: no feature columns left after removing the label",
                            aairt_csv_name(r));
            goto done;
        }
    }
    size_t xw = n_sel;
    if (with_labels)
        for (size_t i = 0; i < n_lab; i++)
            sel[n_sel++] = lab[i];
    if (aairt_csv_read_rows(r, sel, (int64_t)n_sel, &m, err) != 0)
        goto done;
    size_t yw = n_sel - xw, n = (size_t)m.n_rows;
    out->x = aairt_rows_alloc(n * xw * sizeof *out->x + 1);
    out->y = yw ? malloc(n * yw * sizeof *out->y + 1) : NULL;
    if (!out->x || (yw && !out->y)) {
        raw_free(out);
        oom(err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(out->x + i * xw, m.values + i * n_sel, xw * sizeof(float));
        if (yw)
            memcpy(out->y + i * yw, m.values + i * n_sel + xw, yw * sizeof(float));
    }
    out->n = (int64_t)n;
    out->xw = (int64_t)xw;
    out->yw = (int64_t)yw;
    out->lines = m.lines;
    m.lines = NULL;
    out->label_col = yw ? lab[0] : -1;
    out->name = src->path;
    rc = 0;
done:
    aairt_csv_matrix_free(&m);
    free(sel);
    free(lab);
    aairt_csv_close(r);
    return rc;
}

static int load_idx(const Source *src, int with_labels, Raw *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    if (with_labels && !src->labels)
        return aairt_error_set(err, "%s: an IDX source needs a labels file (give "
                                    "IMAGES,LABELS)",
                               src->images);
    AairtIdx im = {0}, lb = {0};
    if (aairt_idx_read(src->images, 0, &im, err) != 0)
        return -1;
    if (im.rank < 2) {
        aairt_idx_free(&im);
        return aairt_error_set(err, "%s: byte 3: IDX rank 1 holds labels, expected images "
                                    "(rank 2 or more)",
                               src->images);
    }
    if (with_labels) {
        if (aairt_idx_read(src->labels, 1, &lb, err) != 0) {
            aairt_idx_free(&im);
            return -1;
        }
        if (lb.dims[0] != im.dims[0]) {
            aairt_error_set(err, "%s: byte 4: %lld labels, but %s holds %lld images",
                            src->labels, (long long)lb.dims[0], src->images,
                            (long long)im.dims[0]);
            aairt_idx_free(&im);
            aairt_idx_free(&lb);
            return -1;
        }
        out->y = aairt_idx_to_floats(&lb);
        out->yw = 1;
    }
    out->x = aairt_idx_to_floats(&im);
    out->n = im.dims[0];
    out->xw = aairt_idx_item_size(&im);
    out->label_col = -1;
    out->name = src->labels;
    aairt_idx_free(&im);
    aairt_idx_free(&lb);
    if (!out->x || (with_labels && !out->y)) {
        raw_free(out);
        return oom(err);
    }
    return 0;
}

static int load_raw(const Source *src, const Columns *cols, int with_labels, int64_t expect_xw,
                    Raw *out, AairtError *err)
{
    if (src->is_idx) {
        if (cols->feat)
            return aairt_error_set(err, "dataset spec: features.columns does not apply to an "
                                        "idx source (every pixel is a feature)");
        return load_idx(src, with_labels, out, err);
    }
    return load_csv(src, cols, with_labels && cols->label, expect_xw, out, err);
}

/* Class labels must be integers 0..n-1; names the file row of a bad one. */
static int check_classes(const Raw *r, int64_t n_classes, AairtError *err)
{
    if (!r->y || n_classes <= 0)
        return 0;
    for (int64_t i = 0; i < r->n; i++) {
        float v = r->y[i * r->yw];
        if (v >= 0 && v < (float)n_classes && floorf(v) == v)
            continue;
        if (r->lines)
            return aairt_error_set(err, "%s:%lld:%lld: label %.9g is not a class index in "
                                        "0..%lld (label transform classes, n = %lld)",
                                   r->name, (long long)r->lines[i], (long long)r->label_col + 1,
                                   (double)v, (long long)n_classes - 1, (long long)n_classes);
        return aairt_error_set(err, "%s: byte %lld: label %.9g (item %lld) is not a class "
                                    "index in 0..%lld (label transform classes, n = %lld)",
                               r->name, 8 + (long long)i, (double)v, (long long)i,
                               (long long)n_classes - 1, (long long)n_classes);
    }
    return 0;
}

/* Copies the rows idx[0..n) of r into a split. */
static int gather(const Raw *r, const int64_t *idx, int64_t n, AairtSplit *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    size_t xw = (size_t)r->xw, yw = (size_t)r->yw;
    out->x = aairt_rows_alloc((size_t)n * xw * sizeof *out->x + 1);
    out->y = r->y ? malloc((size_t)n * yw * sizeof *out->y + 1) : NULL;
    if (!out->x || (r->y && !out->y)) {
        aairt_split_free(out);
        return oom(err);
    }
    for (int64_t i = 0; i < n; i++) {
        size_t s = (size_t)idx[i];
        memcpy(out->x + (size_t)i * xw, r->x + s * xw, xw * sizeof(float));
        if (r->y)
            memcpy(out->y + (size_t)i * yw, r->y + s * yw, yw * sizeof(float));
    }
    out->n = n;
    out->x_width = r->xw;
    out->y_width = r->y ? r->yw : 0;
    return 0;
}

/* Moves all of r into a split. */
static void take_all(Raw *r, AairtSplit *out)
{
    out->x = r->x;
    out->y = r->y;
    out->n = r->n;
    out->x_width = r->xw;
    out->y_width = r->y ? r->yw : 0;
    r->x = r->y = NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Holdout split of r into train and test (see the file comment). */
static int holdout(const Raw *r, const cJSON *split, AairtSplit *train, AairtSplit *test,
                   AairtError *err)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(split, "test");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(split, "seed");
    if (!cJSON_IsNumber(t) || !(t->valuedouble >= 0 && t->valuedouble < 1))
        return aairt_error_set(err, "dataset spec: split.test must be a fraction in [0, 1)");
    uint64_t seed = 0;
    if (s && !cJSON_IsNull(s)) {
        if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 9007199254740992.0 ||
            floor(s->valuedouble) != s->valuedouble)
            return aairt_error_set(err, "dataset spec: split.seed must be a non-negative "
                                        "integer");
        seed = (uint64_t)s->valuedouble;
    }
    int64_t n = r->n;
    int64_t n_test = (int64_t)llround(t->valuedouble * (double)n);
    if (n_test >= n)
        return aairt_error_set(err, "%s: split.test = %g leaves no training rows out of %lld",
                               r->name ? r->name : "data", t->valuedouble, (long long)n);
    int64_t *perm = malloc((size_t)n * sizeof *perm + 1);
    if (!perm)
        return oom(err);
    aairt_shuffle_perm(perm, n, seed);
    int64_t n_train = n - n_test;
    qsort(perm, (size_t)n_train, sizeof *perm, cmp_i64);
    qsort(perm + n_train, (size_t)n_test, sizeof *perm, cmp_i64);
    int rc = gather(r, perm, n_train, train, err);
    if (rc == 0 && (rc = gather(r, perm + n_train, n_test, test, err)) != 0)
        aairt_split_free(train);
    free(perm);
    return rc;
}

/* An empty split with the given widths (no test set). */
static void empty_split(AairtSplit *s, int64_t xw, int64_t yw)
{
    memset(s, 0, sizeof *s);
    s->x_width = xw;
    s->y_width = yw;
}

int aairt_dataset_load(const cJSON *spec, const char *train_path, const char *test_path,
                       AairtDataset *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(spec))
        return aairt_error_set(err, "dataset spec: not an object");
    Source src = {0}, tsrc = {0};
    Columns cols = {0};
    Raw raw = {0}, traw = {0};
    int rc = -1;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(spec, "test_source");
    int has_test = test_path || (ts && !cJSON_IsNull(ts));
    if (source_parse(cJSON_GetObjectItemCaseSensitive(spec, "source"), train_path, "source", &src,
                     err) != 0 ||
        (has_test && source_parse(ts && !cJSON_IsNull(ts) ? ts
                                                          : cJSON_GetObjectItemCaseSensitive(
                                                                spec, "source"),
                                  test_path, "test_source", &tsrc, err) != 0) ||
        columns_parse(spec, &cols, err) != 0)
        goto done;
    const cJSON *feat_spec = cJSON_GetObjectItemCaseSensitive(spec, "features");
    const cJSON *label_spec = cJSON_GetObjectItemCaseSensitive(spec, "label");
    if (load_raw(&src, &cols, 1, 0, &raw, err) != 0)
        goto done;
    if (aairt_transforms_from_spec(cJSON_GetObjectItemCaseSensitive(feat_spec, "transforms"),
                                   raw.xw, "features", &out->features, err) != 0)
        goto done;
    if (raw.y && aairt_transforms_from_spec(cJSON_GetObjectItemCaseSensitive(label_spec,
                                                                             "transforms"),
                                            raw.yw, "label", &out->label, err) != 0)
        goto done;
    int64_t n_classes = aairt_transforms_n_classes(out->label);
    if (check_classes(&raw, n_classes, err) != 0)
        goto done;
    if (has_test) {
        if (load_raw(&tsrc, &cols, 1, raw.xw, &traw, err) != 0 ||
            check_classes(&traw, n_classes, err) != 0)
            goto done;
        if (traw.xw != raw.xw || traw.yw != raw.yw) {
            aairt_error_set(err, "%s: the test source has %lld feature and %lld label columns, "
                                 "the training source %lld and %lld",
                            tsrc.is_idx ? tsrc.images : tsrc.path, (long long)traw.xw,
                            (long long)traw.yw, (long long)raw.xw, (long long)raw.yw);
            goto done;
        }
        take_all(&raw, &out->train);
        take_all(&traw, &out->test);
    } else {
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(spec, "split");
        if (split && !cJSON_IsNull(split)) {
            const char *kind = json_str(split, "kind");
            if (!kind || strcmp(kind, "holdout") != 0) {
                aairt_error_set(err, "dataset spec: split.kind must be \"holdout\"");
                goto done;
            }
            if (holdout(&raw, split, &out->train, &out->test, err) != 0)
                goto done;
        } else {
            take_all(&raw, &out->train);
            empty_split(&out->test, out->train.x_width, out->train.y_width);
        }
    }
    if (aairt_transforms_fit_apply(out->features, out->train.x, out->train.n, out->test.x,
                                   out->test.n, err) != 0)
        goto done;
    if (out->label && aairt_transforms_fit_apply(out->label, out->train.y, out->train.n,
                                                 out->test.y, out->test.n, err) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0)
        aairt_dataset_free(out);
    raw_free(&raw);
    raw_free(&traw);
    columns_free(&cols);
    source_free(&src);
    source_free(&tsrc);
    return rc;
}

int aairt_dataset_load_split(const cJSON *spec, const char *path,
                             const AairtTransforms *features, const AairtTransforms *label,
                             int with_labels, AairtSplit *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(spec))
        return aairt_error_set(err, "dataset spec: not an object");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(spec, "source");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(spec, "test_source");
    if (!path && ts && !cJSON_IsNull(ts))
        s = ts;
    Source src = {0};
    Columns cols = {0};
    Raw raw = {0};
    int rc = -1;
    if (source_parse(s, path, "source", &src, err) != 0 || columns_parse(spec, &cols, err) != 0)
        goto done;
    if (load_raw(&src, &cols, with_labels, aairt_transforms_width(features), &raw, err) != 0)
        goto done;
    const char *where = src.is_idx ? src.images : src.path;
    if (features && raw.xw != aairt_transforms_width(features)) {
        aairt_error_set(err, "%s: the model expects %lld feature columns, the data has %lld",
                        where, (long long)aairt_transforms_width(features), (long long)raw.xw);
        goto done;
    }
    if (with_labels && raw.y && label && raw.yw != aairt_transforms_width(label)) {
        aairt_error_set(err, "%s: the model expects %lld label columns, the data has %lld",
                        where, (long long)aairt_transforms_width(label), (long long)raw.yw);
        goto done;
    }
    if (with_labels && check_classes(&raw, aairt_transforms_n_classes(label), err) != 0)
        goto done;
    take_all(&raw, out);
    if (!with_labels) {
        free(out->y);
        out->y = NULL;
        out->y_width = 0;
    }
    aairt_transforms_apply(features, out->x, out->n, out->x_width);
    if (out->y)
        aairt_transforms_apply(label, out->y, out->n, out->y_width);
    rc = 0;
done:
    raw_free(&raw);
    columns_free(&cols);
    source_free(&src);
    return rc;
}
