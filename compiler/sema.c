/* sema.c - resolve a file's blocks and check dataset and train fields.
 *
 * Input: the AST of one file. Output: a SemaProgram naming the model to
 * compile and carrying the manifest's "dataset" and "train" objects. Every
 * problem is a positioned diagnostic; checking continues after an error so
 * one run reports as many as it can. The model body is checked by lower.c. */
#include "sema.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers shared with lower.c ---------------------------------- */

const char *sema_call_name(const AstExpr *call) {
    const AstExpr *callee = call->as.call.callee;
    if (callee->kind == AST_EXPR_NAME)
        return callee->as.name;
    if (callee->kind == AST_EXPR_FIELD)
        return callee->as.field.member;
    return "?";
}

const AstArg *sema_find_kwarg(const AstExpr *call, const char *name) {
    for (size_t i = 0; i < call->as.call.n_args; i++) {
        const AstArg *arg = &call->as.call.args[i];
        if (arg->name && strcmp(arg->name, name) == 0)
            return arg;
    }
    return NULL;
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *sema_closest(const char *name, const char *const *candidates,
                         int n) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (int i = 0; i < n; i++) {
        size_t dist = edit_distance(name, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    size_t limit = strlen(name) <= 3 ? 1 : 2;
    return best_d <= limit ? best : NULL;
}

bool sema_bind_args(Diag *d, const AstExpr *call, const SemaArgSpec *spec,
                    int n_spec, const AstExpr **out) {
    bool ok = true;
    const char *fname = sema_call_name(call);
    for (int i = 0; i < n_spec; i++)
        out[i] = NULL;
    int next_positional = 0;
    for (size_t a = 0; a < call->as.call.n_args; a++) {
        const AstArg *arg = &call->as.call.args[a];
        int slot = -1;
        if (!arg->name) {
            if (next_positional >= n_spec) {
                diag_error(d, arg->value->loc,
                           "too many arguments to '%s' (it takes %d)", fname,
                           n_spec);
                ok = false;
                continue;
            }
            slot = next_positional++;
        } else {
            for (int i = 0; i < n_spec; i++)
                if (strcmp(spec[i].name, arg->name) == 0)
                    slot = i;
            if (slot < 0) {
                const char *names[16];
                int n = n_spec < 16 ? n_spec : 16;
                for (int i = 0; i < n; i++)
                    names[i] = spec[i].name;
                const char *hint = sema_closest(arg->name, names, n);
                if (hint)
                    diag_error(d, arg->name_loc,
                               "'%s' has no argument '%s'; did you mean '%s'?",
                               fname, arg->name, hint);
                else
                    diag_error(d, arg->name_loc, "'%s' has no argument '%s'",
                               fname, arg->name);
                ok = false;
                continue;
            }
        }
        if (out[slot]) {
            diag_error(d, arg->name ? arg->name_loc : arg->value->loc,
                       "argument '%s' of '%s' given twice", spec[slot].name,
                       fname);
            ok = false;
            continue;
        }
        out[slot] = arg->value;
    }
    for (int i = 0; i < n_spec; i++) {
        if (spec[i].required && !out[i]) {
            diag_error(d, call->loc, "'%s' needs argument '%s'", fname,
                       spec[i].name);
            ok = false;
        }
    }
    return ok;
}

/* ---- compile-time values ------------------------------------------------ */

static bool const_number(const AstExpr *e, double *out) {
    double l = 0, r = 0;
    switch (e->kind) {
    case AST_EXPR_NUMBER:
        *out = e->as.number.value;
        return true;
    case AST_EXPR_NEG:
        if (!const_number(e->as.unary.operand, &l))
            return false;
        *out = -l;
        return true;
    case AST_EXPR_BINARY:
        if (!const_number(e->as.binary.lhs, &l) ||
            !const_number(e->as.binary.rhs, &r))
            return false;
        switch (e->as.binary.op) {
        case AST_ADD: *out = l + r; break;
        case AST_SUB: *out = l - r; break;
        case AST_MUL: *out = l * r; break;
        case AST_DIV: *out = l / r; break;
        }
        return isfinite(*out);
    default:
        return false;
    }
}

bool sema_eval_number(Diag *d, const AstExpr *e, double *out) {
    if (!e) /* a missing argument, reported when binding */
        return false;
    if (const_number(e, out))
        return true;
    diag_error(d, e->loc, "expected a number");
    return false;
}

bool sema_eval_int(Diag *d, const AstExpr *e, long long min, long long max,
                   long long *out) {
    if (!e) /* a missing argument, reported when binding */
        return false;
    double v = 0;
    if (!const_number(e, &v) || v != floor(v)) {
        diag_error(d, e->loc, "expected an integer");
        return false;
    }
    if (v < (double)min || v > (double)max) {
        diag_error(d, e->loc, "value %.17g is out of range [%lld, %lld]", v,
                   min, max);
        return false;
    }
    *out = (long long)v;
    return true;
}

bool sema_eval_string(Diag *d, const AstExpr *e, const char **out) {
    if (!e) /* a missing argument, reported when binding */
        return false;
    if (e->kind == AST_EXPR_STRING) {
        *out = e->as.string;
        return true;
    }
    diag_error(d, e->loc, "expected a string");
    return false;
}

bool sema_eval_bool(Diag *d, const AstExpr *e, bool *out) {
    if (!e) /* a missing argument, reported when binding */
        return false;
    if (e->kind == AST_EXPR_BOOL) {
        *out = e->as.boolean;
        return true;
    }
    diag_error(d, e->loc, "expected true or false");
    return false;
}

/* ---- checking context --------------------------------------------------- */

typedef struct Sema {
    Arena *arena;
    Diag *diag;
    const char *source_dir;
    SemaProgram *prog;
} Sema;

/* A name like `standardize` or a call like `scale(2)`: its name and, for
 * calls, the call node. */
static const char *callish_name(const AstExpr *e) {
    if (e->kind == AST_EXPR_NAME)
        return e->as.name;
    if (e->kind == AST_EXPR_CALL)
        return sema_call_name(e);
    return NULL;
}

static const char *join_path(Sema *s, const char *path) {
    if (path[0] == '/' || !s->source_dir || !s->source_dir[0] ||
        strcmp(s->source_dir, ".") == 0)
        return path;
    return arena_printf(s->arena, "%s/%s", s->source_dir, path);
}

static void note_input(Sema *s, const char *path) {
    ptrvec_push(s->arena, &s->prog->inputs_read, (void *)path);
}

static void unknown_name(Sema *s, const AstExpr *e, const char *what,
                         const char *const *known, int n) {
    const char *name = callish_name(e);
    if (!name) {
        diag_error(s->diag, e->loc, "expected %s", what);
        return;
    }
    const char *hint = sema_closest(name, known, n);
    if (hint)
        diag_error(s->diag, e->loc, "unknown %s '%s'; did you mean '%s'?", what,
                   name, hint);
    else
        diag_error(s->diag, e->loc, "unknown %s '%s'", what, name);
}

/* Index of the name of `e` (a name or call) in `kinds`, or -1 after
 * reporting "unknown <what>" with a suggestion. */
static int lookup_kind(Sema *s, const AstExpr *e, const char *const *kinds,
                       int n, const char *what) {
    const char *name = callish_name(e);
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, kinds[i]) == 0)
            return i;
    unknown_name(s, e, what, kinds, n);
    return -1;
}

/* Evaluates the arguments of a call against `spec` (all optional unless
 * marked); for a bare name (no call) every argument is absent. */
static bool bind_callish(Sema *s, const AstExpr *e, const SemaArgSpec *spec,
                         int n, const AstExpr **out) {
    if (e->kind == AST_EXPR_CALL)
        return sema_bind_args(s->diag, e, spec, n, out);
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
        if (spec[i].required) {
            diag_error(s->diag, e->loc, "'%s' needs argument '%s'",
                       callish_name(e), spec[i].name);
            return false;
        }
    }
    return true;
}

/* ---- dataset ------------------------------------------------------------ */

static cJSON *check_source(Sema *s, const AstExpr *e) {
    static const char *const kinds[] = {"csv", "idx"};
    const char *name = callish_name(e);
    if (!name || e->kind != AST_EXPR_CALL ||
        (strcmp(name, "csv") != 0 && strcmp(name, "idx") != 0)) {
        unknown_name(s, e, "data source", kinds, 2);
        return NULL;
    }
    cJSON *src = cJSON_CreateObject();
    cJSON_AddStringToObject(src, "kind", name);
    if (strcmp(name, "csv") == 0) {
        static const SemaArgSpec spec[] = {{"path", true}, {"header", false},
                                           {"delimiter", false}};
        const AstExpr *a[3];
        const char *path = NULL, *delim = ",";
        bool header = true;
        bool ok = sema_bind_args(s->diag, e, spec, 3, a);
        if (ok && !sema_eval_string(s->diag, a[0], &path))
            ok = false;
        if (ok && a[1] && !sema_eval_bool(s->diag, a[1], &header))
            ok = false;
        if (ok && a[2] && !sema_eval_string(s->diag, a[2], &delim))
            ok = false;
        if (ok && strlen(delim) != 1) {
            diag_error(s->diag, a[2]->loc,
                       "a CSV delimiter is one character, got \"%s\"", delim);
            ok = false;
        }
        if (!ok) {
            cJSON_Delete(src);
            return NULL;
        }
        path = join_path(s, path);
        note_input(s, path);
        cJSON_AddStringToObject(src, "path", path);
        cJSON_AddBoolToObject(src, "header", header);
        cJSON_AddStringToObject(src, "delimiter", delim);
        return src;
    }
    static const SemaArgSpec spec[] = {{"images", true}, {"labels", true}};
    const AstExpr *a[2];
    const char *images = NULL, *labels = NULL;
    if (!sema_bind_args(s->diag, e, spec, 2, a) ||
        !sema_eval_string(s->diag, a[0], &images) ||
        !sema_eval_string(s->diag, a[1], &labels)) {
        cJSON_Delete(src);
        return NULL;
    }
    images = join_path(s, images);
    labels = join_path(s, labels);
    note_input(s, images);
    note_input(s, labels);
    cJSON_AddStringToObject(src, "images", images);
    cJSON_AddStringToObject(src, "labels", labels);
    return src;
}

/* Splits `a |> f |> g(1)` into its head `a` and the stages [f, g(1)]. */
static const AstExpr *pipe_head(const AstExpr *e, const AstExpr **stages,
                                int *n_stages, int max) {
    if (e->kind != AST_EXPR_PIPE)
        return e;
    const AstExpr *head =
        pipe_head(e->as.binary.lhs, stages, n_stages, max);
    if (*n_stages < max)
        stages[(*n_stages)++] = e->as.binary.rhs;
    return head;
}

/* One transform stage: standardize, minmax, scale(f), shift(o), classes(n). */
static cJSON *check_transform(Sema *s, const AstExpr *e, bool label) {
    static const char *const feature_kinds[] = {"standardize", "minmax",
                                                "scale", "shift"};
    static const char *const label_kinds[] = {"classes", "standardize",
                                              "scale"};
    const char *name = callish_name(e);
    const char *const *kinds = label ? label_kinds : feature_kinds;
    int n_kinds = label ? 3 : 4;
    bool known = false;
    for (int i = 0; name && i < n_kinds; i++)
        known |= strcmp(name, kinds[i]) == 0;
    if (!known) {
        unknown_name(s, e, label ? "label transform" : "feature transform",
                     kinds, n_kinds);
        return NULL;
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "kind", name);
    if (strcmp(name, "standardize") == 0 || strcmp(name, "minmax") == 0) {
        const AstExpr *unused[1];
        if (!bind_callish(s, e, NULL, 0, unused))
            goto fail;
        return t;
    }
    if (strcmp(name, "classes") == 0) {
        static const SemaArgSpec spec[] = {{"n", true}};
        const AstExpr *a[1];
        long long n;
        s->prog->n_classes = -1; /* given, even if its argument is bad */
        if (!bind_callish(s, e, spec, 1, a) ||
            !sema_eval_int(s->diag, a[0], 2, 1 << 24, &n))
            goto fail;
        s->prog->n_classes = (int)n;
        s->prog->label_loc = e->loc;
        cJSON_AddNumberToObject(t, "n", (double)n);
        return t;
    }
    bool is_scale = strcmp(name, "scale") == 0;
    static const SemaArgSpec scale_spec[] = {{"factor", true}};
    static const SemaArgSpec shift_spec[] = {{"offset", true}};
    const AstExpr *a[1];
    double v;
    if (!bind_callish(s, e, is_scale ? scale_spec : shift_spec, 1, a) ||
        !sema_eval_number(s->diag, a[0], &v))
        goto fail;
    cJSON_AddNumberToObject(t, is_scale ? "factor" : "offset", v);
    return t;
fail:
    cJSON_Delete(t);
    return NULL;
}

static cJSON *check_transforms(Sema *s, const AstExpr *const *stages, int n,
                               bool label) {
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *t = check_transform(s, stages[i], label);
        if (t)
            cJSON_AddItemToArray(list, t);
    }
    return list;
}

/* columns("a", "b"), columns(range(0, 64)), column("a"), column(3). */
static bool add_column_ref(Sema *s, cJSON *list, const AstExpr *e) {
    if (e->kind == AST_EXPR_STRING) {
        cJSON_AddItemToArray(list, cJSON_CreateString(e->as.string));
        return true;
    }
    if (e->kind == AST_EXPR_CALL && strcmp(sema_call_name(e), "range") == 0) {
        static const SemaArgSpec spec[] = {{"start", true}, {"stop", true}};
        const AstExpr *a[2];
        long long lo, hi;
        if (!sema_bind_args(s->diag, e, spec, 2, a) ||
            !sema_eval_int(s->diag, a[0], 0, 1 << 24, &lo) ||
            !sema_eval_int(s->diag, a[1], 0, 1 << 24, &hi))
            return false;
        if (hi <= lo) {
            diag_error(s->diag, e->loc, "range(%lld, %lld) is empty", lo, hi);
            return false;
        }
        for (long long i = lo; i < hi; i++)
            cJSON_AddItemToArray(list, cJSON_CreateNumber((double)i));
        return true;
    }
    long long index;
    if (e->kind == AST_EXPR_NUMBER &&
        sema_eval_int(s->diag, e, 0, 1 << 24, &index)) {
        cJSON_AddItemToArray(list, cJSON_CreateNumber((double)index));
        return true;
    }
    if (e->kind != AST_EXPR_NUMBER)
        diag_error(s->diag, e->loc,
                   "expected a column name, a column index or range(a, b)");
    return false;
}

static cJSON *check_features(Sema *s, const AstExpr *e, bool is_idx) {
    const AstExpr *stages[32];
    int n_stages = 0;
    const AstExpr *head = pipe_head(e, stages, &n_stages, 32);
    cJSON *f = cJSON_CreateObject();
    const char *name = callish_name(head);
    if (name && strcmp(name, "images") == 0 && head->kind == AST_EXPR_NAME) {
        if (!is_idx)
            diag_error(s->diag, head->loc,
                       "'images' selects the pixels of an idx() source; "
                       "this dataset reads a CSV file");
    } else if (name && head->kind == AST_EXPR_CALL &&
               (strcmp(name, "columns") == 0 || strcmp(name, "column") == 0)) {
        if (is_idx)
            diag_error(s->diag, head->loc,
                       "an idx() source has no columns; use 'images'");
        cJSON *cols = cJSON_AddArrayToObject(f, "columns");
        if (head->as.call.n_args == 0)
            diag_error(s->diag, head->loc, "'%s' needs at least one column",
                       name);
        for (size_t i = 0; i < head->as.call.n_args; i++) {
            const AstArg *arg = &head->as.call.args[i];
            if (arg->name)
                diag_error(s->diag, arg->name_loc,
                           "'%s' takes no keyword arguments", name);
            else
                add_column_ref(s, cols, arg->value);
        }
    } else {
        static const char *const known[] = {"columns", "column", "images"};
        unknown_name(s, head, "feature selection", known, 3);
    }
    cJSON_AddItemToObject(f, "transforms",
                          check_transforms(s, stages, n_stages, false));
    return f;
}

static cJSON *check_label(Sema *s, const AstExpr *e, bool is_idx) {
    const AstExpr *stages[32];
    int n_stages = 0;
    const AstExpr *head = pipe_head(e, stages, &n_stages, 32);
    cJSON *l = cJSON_CreateObject();
    const char *name = callish_name(head);
    s->prog->label_loc = head->loc;
    if (name && strcmp(name, "labels") == 0 && head->kind == AST_EXPR_NAME) {
        if (!is_idx)
            diag_error(s->diag, head->loc,
                       "'labels' reads the labels file of an idx() source; "
                       "use column(...) for a CSV file");
    } else if (name && strcmp(name, "column") == 0 &&
               head->kind == AST_EXPR_CALL) {
        static const SemaArgSpec spec[] = {{"name", true}};
        const AstExpr *a[1];
        if (sema_bind_args(s->diag, head, spec, 1, a)) {
            if (a[0]->kind == AST_EXPR_STRING)
                cJSON_AddStringToObject(l, "column", a[0]->as.string);
            else {
                long long index;
                if (sema_eval_int(s->diag, a[0], 0, 1 << 24, &index))
                    cJSON_AddNumberToObject(l, "column", (double)index);
            }
        }
    } else {
        static const char *const known[] = {"column", "labels"};
        unknown_name(s, head, "label selection", known, 2);
    }
    cJSON_AddItemToObject(l, "transforms",
                          check_transforms(s, stages, n_stages, true));
    return l;
}

static cJSON *check_split(Sema *s, const AstExpr *e) {
    static const char *const known[] = {"holdout"};
    const char *name = callish_name(e);
    if (!name || strcmp(name, "holdout") != 0) {
        unknown_name(s, e, "split", known, 1);
        return NULL;
    }
    static const SemaArgSpec spec[] = {{"test", false},
                                       {"shuffle_seed", false}};
    const AstExpr *a[2];
    double test = 0.2;
    long long seed = 0;
    if (!bind_callish(s, e, spec, 2, a))
        return NULL;
    if (a[0] && sema_eval_number(s->diag, a[0], &test) &&
        !(test > 0 && test < 1)) {
        diag_error(s->diag, a[0]->loc,
                   "the test fraction must lie strictly between 0 and 1");
        return NULL;
    }
    if (a[1] && !sema_eval_int(s->diag, a[1], 0, INT64_MAX / 2, &seed))
        return NULL;
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "kind", "holdout");
    cJSON_AddNumberToObject(split, "test", test);
    cJSON_AddNumberToObject(split, "seed", (double)seed);
    return split;
}

/* Finds field `key` of an item, reporting duplicates. */
static const AstField *find_field(const AstItem *item, const char *key) {
    for (size_t i = 0; i < item->n_fields; i++)
        if (strcmp(item->fields[i].key, key) == 0)
            return &item->fields[i];
    return NULL;
}

static void check_field_keys(Sema *s, const AstItem *item,
                             const char *const *known, int n_known,
                             const char *block) {
    for (size_t i = 0; i < item->n_fields; i++) {
        const AstField *f = &item->fields[i];
        bool ok = false;
        for (int k = 0; k < n_known; k++)
            ok |= strcmp(f->key, known[k]) == 0;
        if (!ok) {
            const char *hint = sema_closest(f->key, known, n_known);
            if (hint)
                diag_error(s->diag, f->loc,
                           "unknown %s field '%s'; did you mean '%s'?", block,
                           f->key, hint);
            else
                diag_error(s->diag, f->loc, "unknown %s field '%s'", block,
                           f->key);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(item->fields[j].key, f->key) == 0) {
                diag_error(s->diag, f->loc, "field '%s' is set twice", f->key);
                diag_note(s->diag, item->fields[j].loc, "first set here");
                break;
            }
        }
    }
}

static cJSON *check_dataset(Sema *s, const AstItem *ds) {
    static const char *const keys[] = {"source", "test", "features", "label",
                                       "split"};
    check_field_keys(s, ds, keys, 5, "dataset");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", ds->name);
    const AstField *source = find_field(ds, "source");
    bool is_idx = false;
    if (!source) {
        diag_error(s->diag, ds->name_loc, "dataset '%s' has no 'source' field",
                   ds->name);
    } else {
        cJSON *src = check_source(s, source->value);
        is_idx = src && strcmp(cJSON_GetObjectItem(src, "kind")->valuestring,
                               "idx") == 0;
        cJSON_AddItemToObject(j, "source", src ? src : cJSON_CreateNull());
    }
    const AstField *test = find_field(ds, "test");
    cJSON *test_src = test ? check_source(s, test->value) : NULL;
    cJSON_AddItemToObject(j, "test_source",
                          test_src ? test_src : cJSON_CreateNull());
    const AstField *features = find_field(ds, "features");
    if (features)
        cJSON_AddItemToObject(j, "features",
                              check_features(s, features->value, is_idx));
    else if (is_idx)
        cJSON_AddItemToObject(j, "features", cJSON_CreateObject());
    else
        diag_error(s->diag, ds->name_loc,
                   "dataset '%s' has no 'features' field", ds->name);
    const AstField *label = find_field(ds, "label");
    if (label)
        cJSON_AddItemToObject(j, "label", check_label(s, label->value, is_idx));
    else
        diag_error(s->diag, ds->name_loc, "dataset '%s' has no 'label' field",
                   ds->name);
    const AstField *split = find_field(ds, "split");
    cJSON *split_j = split ? check_split(s, split->value) : NULL;
    if (split && test)
        diag_error(s->diag, split->loc,
                   "a dataset with a separate 'test' source takes no 'split'");
    if (!split && !test) {
        /* Default: hold out 20% with seed 0, so eval always has data. */
        split_j = cJSON_CreateObject();
        cJSON_AddStringToObject(split_j, "kind", "holdout");
        cJSON_AddNumberToObject(split_j, "test", 0.2);
        cJSON_AddNumberToObject(split_j, "seed", 0);
    }
    cJSON_AddItemToObject(j, "split", split_j ? split_j : cJSON_CreateNull());
    return j;
}

/* ---- train -------------------------------------------------------------- */

static cJSON *check_optimizer(Sema *s, const AstExpr *e) {
    static const char *const kinds[] = {"sgd", "adam", "adamw"};
    int kind = lookup_kind(s, e, kinds, 3, "optimizer");
    if (kind < 0)
        return NULL;
    static const SemaArgSpec sgd_spec[] = {
        {"lr", true}, {"momentum", false}, {"dampening", false},
        {"nesterov", false}, {"weight_decay", false}};
    static const SemaArgSpec adam_spec[] = {
        {"lr", false}, {"beta1", false}, {"beta2", false}, {"eps", false},
        {"weight_decay", false}};
    const AstExpr *a[5];
    bool is_sgd = kind == 0;
    if (!bind_callish(s, e, is_sgd ? sgd_spec : adam_spec, 5, a))
        return NULL;
    double lr = 1e-3, momentum = 0, dampening = 0, beta1 = 0.9, beta2 = 0.999,
           eps = 1e-8, wd = kind == 2 ? 0.01 : 0;
    bool nesterov = false, ok = true;
    if (a[0])
        ok &= sema_eval_number(s->diag, a[0], &lr);
    if (is_sgd) {
        if (a[1]) ok &= sema_eval_number(s->diag, a[1], &momentum);
        if (a[2]) ok &= sema_eval_number(s->diag, a[2], &dampening);
        if (a[3]) ok &= sema_eval_bool(s->diag, a[3], &nesterov);
    } else {
        if (a[1]) ok &= sema_eval_number(s->diag, a[1], &beta1);
        if (a[2]) ok &= sema_eval_number(s->diag, a[2], &beta2);
        if (a[3]) ok &= sema_eval_number(s->diag, a[3], &eps);
    }
    if (a[4])
        ok &= sema_eval_number(s->diag, a[4], &wd);
    if (!ok)
        return NULL;
    if (!(lr > 0)) {
        diag_error(s->diag, a[0]->loc, "the learning rate must be positive");
        return NULL;
    }
    if (!is_sgd && (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))) {
        diag_error(s->diag, e->loc, "Adam betas must lie in [0, 1)");
        return NULL;
    }
    if (is_sgd && nesterov && (momentum <= 0 || dampening != 0)) {
        diag_error(s->diag, a[3]->loc,
                   "nesterov momentum needs momentum > 0 and dampening 0");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kinds[kind]);
    cJSON_AddNumberToObject(o, "lr", lr);
    cJSON_AddNumberToObject(o, "beta1", beta1);
    cJSON_AddNumberToObject(o, "beta2", beta2);
    cJSON_AddNumberToObject(o, "eps", eps);
    cJSON_AddNumberToObject(o, "weight_decay", wd);
    cJSON_AddNumberToObject(o, "momentum", momentum);
    cJSON_AddNumberToObject(o, "dampening", dampening);
    cJSON_AddBoolToObject(o, "nesterov", nesterov);
    return o;
}

static cJSON *check_schedule(Sema *s, const AstExpr *e) {
    static const char *const kinds[] = {"constant", "step", "cosine"};
    int kind = lookup_kind(s, e, kinds, 3, "schedule");
    if (kind < 0)
        return NULL;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", kinds[kind]);
    const AstExpr *a[2];
    if (kind == 0) {
        if (!bind_callish(s, e, NULL, 0, a))
            goto fail;
    } else if (kind == 1) {
        static const SemaArgSpec spec[] = {{"every", true}, {"gamma", false}};
        long long every;
        double gamma = 0.1;
        if (!bind_callish(s, e, spec, 2, a) ||
            !sema_eval_int(s->diag, a[0], 1, INT_MAX, &every) ||
            (a[1] && !sema_eval_number(s->diag, a[1], &gamma)))
            goto fail;
        cJSON_AddNumberToObject(j, "every", (double)every);
        cJSON_AddNumberToObject(j, "gamma", gamma);
    } else {
        static const SemaArgSpec spec[] = {{"min_lr", false}};
        double min_lr = 0;
        if (!bind_callish(s, e, spec, 1, a) ||
            (a[0] && !sema_eval_number(s->diag, a[0], &min_lr)))
            goto fail;
        cJSON_AddNumberToObject(j, "min_lr", min_lr);
    }
    return j;
fail:
    cJSON_Delete(j);
    return NULL;
}

static cJSON *check_metrics(Sema *s, const AstExpr *e) {
    static const char *const known[] = {"accuracy", "loss", "mse", "r2"};
    cJSON *list = cJSON_CreateArray();
    if (e->kind != AST_EXPR_LIST) {
        diag_error(s->diag, e->loc, "expected a list of metrics, like [accuracy]");
        return list;
    }
    for (size_t i = 0; i < e->as.list.len; i++) {
        const AstExpr *m = e->as.list.items[i];
        bool ok = false;
        for (int k = 0; m->kind == AST_EXPR_NAME && k < 4; k++)
            ok |= strcmp(m->as.name, known[k]) == 0;
        if (!ok) {
            unknown_name(s, m, "metric", known, 4);
            continue;
        }
        if (strcmp(m->as.name, "accuracy") == 0 &&
            s->prog->loss == SEMA_LOSS_MSE)
            diag_error(s->diag, m->loc,
                       "accuracy needs a classification loss; this model "
                       "trains with mse (use mse or r2)");
        cJSON_AddItemToArray(list, cJSON_CreateString(m->as.name));
    }
    return list;
}

static SemaLoss check_loss(Sema *s, const AstExpr *e) {
    static const char *const known[] = {"cross_entropy", "mse",
                                        "bce_with_logits"};
    for (int k = 0; e->kind == AST_EXPR_NAME && k < 3; k++)
        if (strcmp(e->as.name, known[k]) == 0)
            return (SemaLoss)(k + 1);
    unknown_name(s, e, "loss", known, 3);
    return SEMA_LOSS_NONE;
}

static void add_int_field(Sema *s, cJSON *j, const AstItem *tr, const char *key,
                          long long min, long long max, long long dflt) {
    const AstField *f = find_field(tr, key);
    long long v = dflt;
    if (f && !sema_eval_int(s->diag, f->value, min, max, &v))
        v = dflt;
    cJSON_AddNumberToObject(j, key, (double)v);
}

static cJSON *check_train(Sema *s, const AstItem *tr) {
    static const char *const keys[] = {"loss",  "optimizer", "epochs",
                                       "batch", "seed",      "metrics",
                                       "schedule"};
    check_field_keys(s, tr, keys, 7, "train");
    cJSON *j = cJSON_CreateObject();
    const AstField *loss = find_field(tr, "loss");
    if (!loss) {
        diag_error(s->diag, tr->loc, "train block has no 'loss' field");
    } else {
        s->prog->loss = check_loss(s, loss->value);
        s->prog->loss_loc = loss->value->loc;
        static const char *const names[] = {"none", "cross_entropy", "mse",
                                            "bce_with_logits"};
        cJSON_AddStringToObject(j, "loss", names[s->prog->loss]);
    }
    const AstField *opt = find_field(tr, "optimizer");
    cJSON *opt_j = NULL;
    if (opt)
        opt_j = check_optimizer(s, opt->value);
    else {
        opt_j = cJSON_CreateObject();
        cJSON_AddStringToObject(opt_j, "kind", "adam");
        cJSON_AddNumberToObject(opt_j, "lr", 1e-3);
        cJSON_AddNumberToObject(opt_j, "beta1", 0.9);
        cJSON_AddNumberToObject(opt_j, "beta2", 0.999);
        cJSON_AddNumberToObject(opt_j, "eps", 1e-8);
        cJSON_AddNumberToObject(opt_j, "weight_decay", 0);
        cJSON_AddNumberToObject(opt_j, "momentum", 0);
        cJSON_AddNumberToObject(opt_j, "dampening", 0);
        cJSON_AddBoolToObject(opt_j, "nesterov", false);
    }
    cJSON_AddItemToObject(j, "optimizer", opt_j ? opt_j : cJSON_CreateNull());
    const AstField *sched = find_field(tr, "schedule");
    cJSON *sched_j = sched ? check_schedule(s, sched->value) : NULL;
    if (!sched_j) {
        sched_j = cJSON_CreateObject();
        cJSON_AddStringToObject(sched_j, "kind", "constant");
    }
    cJSON_AddItemToObject(j, "schedule", sched_j);
    add_int_field(s, j, tr, "epochs", 1, 1000000, 10);
    add_int_field(s, j, tr, "batch", 1, 1 << 20, 32);
    add_int_field(s, j, tr, "seed", 0, INT64_MAX / 2, 0);
    const AstField *metrics = find_field(tr, "metrics");
    if (metrics)
        cJSON_AddItemToObject(j, "metrics", check_metrics(s, metrics->value));
    else {
        cJSON *list = cJSON_AddArrayToObject(j, "metrics");
        cJSON_AddItemToArray(list, cJSON_CreateString("loss"));
        if (s->prog->loss == SEMA_LOSS_CROSS_ENTROPY ||
            s->prog->loss == SEMA_LOSS_BCE)
            cJSON_AddItemToArray(list, cJSON_CreateString("accuracy"));
        if (s->prog->loss == SEMA_LOSS_MSE)
            cJSON_AddItemToArray(list, cJSON_CreateString("r2"));
    }
    return j;
}

/* ---- items -------------------------------------------------------------- */

static const AstItem *find_item(const AstFile *f, AstItemKind kind,
                                const char *name) {
    /* The last definition wins; duplicates were reported already. */
    for (size_t i = f->n_items; i-- > 0;)
        if (f->items[i].kind == kind && f->items[i].name &&
            strcmp(f->items[i].name, name) == 0)
            return &f->items[i];
    return NULL;
}

static void check_duplicate_items(Sema *s, const AstFile *f) {
    for (size_t i = 0; i < f->n_items; i++) {
        const AstItem *it = &f->items[i];
        if (it->kind == AST_ITEM_TRAIN || it->kind == AST_ITEM_USE ||
            !it->name)
            continue;
        for (size_t j = 0; j < i; j++) {
            const AstItem *prev = &f->items[j];
            if (prev->kind == AST_ITEM_TRAIN || prev->kind == AST_ITEM_USE ||
                !prev->name ||
                strcmp(prev->name, it->name) != 0)
                continue;
            diag_error(s->diag, it->name_loc, "'%s' is already defined",
                       it->name);
            diag_note(s->diag, prev->name_loc, "previous definition is here");
            break;
        }
    }
}

static void unknown_item(Sema *s, const AstFile *f, AstItemKind kind,
                         const char *name, SrcLoc loc) {
    const char *names[64];
    int n = 0;
    for (size_t i = 0; i < f->n_items && n < 64; i++)
        if (f->items[i].kind == kind && f->items[i].name)
            names[n++] = f->items[i].name;
    const char *what = kind == AST_ITEM_MODEL ? "model" : "dataset";
    const char *hint = sema_closest(name, names, n);
    if (hint)
        diag_error(s->diag, loc, "unknown %s '%s'; did you mean '%s'?", what,
                   name, hint);
    else
        diag_error(s->diag, loc, "unknown %s '%s'", what, name);
}

static void resolve_items(Sema *s, const AstFile *f) {
    const AstItem *train = NULL;
    const AstItem *only_model = NULL;
    int n_models = 0;
    for (size_t i = 0; i < f->n_items; i++) {
        const AstItem *it = &f->items[i];
        if (it->kind == AST_ITEM_MODEL) {
            n_models++;
            only_model = it;
        } else if (it->kind == AST_ITEM_TRAIN) {
            if (train) {
                diag_error(s->diag, it->loc,
                           "a file may hold one train block; this is the "
                           "second");
                diag_note(s->diag, train->loc, "the first is here");
                continue;
            }
            train = it;
        }
    }
    if (train) {
        s->prog->train = train;
        s->prog->model = find_item(f, AST_ITEM_MODEL, train->name);
        if (!s->prog->model)
            unknown_item(s, f, AST_ITEM_MODEL, train->name, train->name_loc);
        s->prog->dataset = find_item(f, AST_ITEM_DATASET, train->dataset);
        if (!s->prog->dataset)
            unknown_item(s, f, AST_ITEM_DATASET, train->dataset,
                         train->dataset_loc);
        return;
    }
    SrcLoc start = {f->file_id, 1, 1, 1};
    if (n_models == 1)
        s->prog->model = only_model;
    else if (n_models == 0)
        diag_error(s->diag, start, "the file defines no model");
    else
        diag_error(s->diag, start,
                   "the file defines %d models and no train block; add "
                   "'train MODEL on DATASET { ... }' to pick one",
                   n_models);
}

bool sema_check(Arena *a, Diag *d, const AstFile *file, const char *source_dir,
                SemaProgram *out) {
    memset(out, 0, sizeof *out);
    out->file = file;
    Sema s = {a, d, source_dir, out};
    int errors_before = diag_error_count(d);
    check_duplicate_items(&s, file);
    resolve_items(&s, file);
    if (out->train)
        out->train_json = check_train(&s, out->train);
    if (out->dataset)
        out->dataset_json = check_dataset(&s, out->dataset);
    if (out->dataset && out->loss == SEMA_LOSS_CROSS_ENTROPY &&
        out->n_classes == 0)
        diag_error(d, out->loss_loc,
                   "cross_entropy needs class labels; add '|> classes(N)' to "
                   "the label of dataset '%s'",
                   out->dataset->name);
    if (out->dataset && out->loss != SEMA_LOSS_CROSS_ENTROPY &&
        out->loss != SEMA_LOSS_NONE && out->n_classes > 0)
        diag_error(d, out->label_loc,
                   "the label is classes(%d) but the loss is not "
                   "cross_entropy",
                   out->n_classes);
    return diag_error_count(d) == errors_before;
}

void sema_program_free(SemaProgram *p) {
    cJSON_Delete(p->dataset_json);
    cJSON_Delete(p->train_json);
    p->dataset_json = p->train_json = NULL;
}
