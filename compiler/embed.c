/* embed.c - spec, baked weights and C header of an embeddable model
 * (see embed.h). The header is the model's public C API; its layout and
 * the macros it defines are versioned by AAI_EMBED_HEADER_VERSION. */
#include "embed.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aai_config.h"
#include "aairt_embed.h"
#include "outfile.h"

static void set_err(char **err, const char *fmt, const char *arg) {
    size_t n = strlen(fmt) + (arg ? strlen(arg) : 0) + 1;
    *err = malloc(n);
    if (*err) snprintf(*err, n, fmt, arg ? arg : "");
}

static bool is_identifier(const char *s) {
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
    return true;
}

static int read_shape(const cJSON *t, int64_t *dims) {
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    int rank = 0;
    for (const cJSON *d = shape ? shape->child : NULL; d && rank < EMBED_MAX_RANK; d = d->next)
        dims[rank++] = (int64_t)d->valuedouble;
    return rank;
}

static int64_t row_width(int rank, const int64_t *dims) {
    int64_t w = 1;
    for (int i = 1; i < rank; i++) w *= dims[i];
    return w;
}

/* Standardize/minmax steps in a dataset "transforms" array. */
static int64_t fitted_steps(const cJSON *side) {
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(side, "transforms");
    int64_t n = 0;
    for (const cJSON *t = tr ? tr->child : NULL; t; t = t->next) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(t, "kind");
        if (cJSON_IsString(k) &&
            (!strcmp(k->valuestring, "standardize") || !strcmp(k->valuestring, "minmax")))
            n++;
    }
    return n;
}

bool embed_spec_init(EmbedSpec *s, const IrModule *m, const char *manifest_json,
                     const char *prefix, bool train_api, char **err) {
    memset(s, 0, sizeof *s);
    if (!prefix) prefix = m->name;
    if (!is_identifier(prefix) || strlen(prefix) >= sizeof s->prefix - 16) {
        set_err(err, "--prefix '%s' is not a C identifier (letters, digits, '_')", prefix);
        return false;
    }
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    s->model_name = m->name;
    s->train_api = train_api;
    s->has_train = m->funcs[IR_ENTRY_TRAIN] != NULL;
    s->n_param_floats = m->n_param_floats;
    cJSON *root = cJSON_Parse(manifest_json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_err(err, "internal error: the manifest is not JSON%s", NULL);
        return false;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(root, "output");
    s->in_rank = read_shape(in, s->in_shape);
    s->out_rank = read_shape(out, s->out_shape);
    s->x_width = row_width(s->in_rank, s->in_shape);
    s->out_width = row_width(s->out_rank, s->out_shape);
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task");
    snprintf(s->task, sizeof s->task, "%s", cJSON_IsString(task) ? task->valuestring : "none");
    s->regression = !strcmp(s->task, "regression");
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(root, "label");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(label, "classes");
    s->classes = cJSON_IsNumber(classes) ? (int64_t)classes->valuedouble : 0;
    s->label_width = !strcmp(s->task, "classification") ? 1 : s->out_width;
    const cJSON *arena = cJSON_GetObjectItemCaseSensitive(root, "arena");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(arena, "static_floats");
    const cJSON *row = cJSON_GetObjectItemCaseSensitive(arena, "row_floats");
    s->arena_static_floats = cJSON_IsNumber(st) ? (int64_t)st->valuedouble : 0;
    s->arena_row_floats = cJSON_IsNumber(row) ? (int64_t)row->valuedouble : 0;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "dataset");
    s->stats_floats =
        2 * s->x_width * fitted_steps(cJSON_GetObjectItemCaseSensitive(ds, "features")) +
        2 * s->label_width * fitted_steps(cJSON_GetObjectItemCaseSensitive(ds, "label"));
    /* The signature: everything a caller needs to feed the model. */
    cJSON *sig = cJSON_CreateObject();
    static const char *const keys[] = {"name", "input", "output", "task", "label"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        if (v) cJSON_AddItemToObject(sig, keys[i], cJSON_Duplicate(v, 1));
    }
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(ds, "features");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(features, "columns");
    if (cols) cJSON_AddItemToObject(sig, "columns", cJSON_Duplicate(cols, 1));
    s->signature_json = cJSON_PrintUnformatted(sig);
    cJSON_Delete(sig);
    cJSON_Delete(root);
    return true;
}

void embed_spec_free(EmbedSpec *s) {
    free(s->weights);
    free(s->transforms_json);
    cJSON_free(s->signature_json);
    memset(s, 0, sizeof *s);
}

/* ---- baked weights --------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

static void shape_text(char *buf, size_t cap, const cJSON *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    int i = 0;
    for (const cJSON *d = shape ? shape->child : NULL; d && n < cap; d = d->next, i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%.0f", i ? "," : "", d->valuedouble);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static bool shape_matches(const cJSON *shape, IrShape want) {
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != want.rank) return false;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++)
        if (!cJSON_IsNumber(d) || d->valuedouble != (double)want.dims[i]) return false;
    return true;
}

/* Checks one parameter's entry and copies its data. */
static void load_param(EmbedSpec *s, Diag *d, const char *path, const IrParam *p,
                       const cJSON *t, const unsigned char *data, size_t data_size) {
    if (!t) {
        diag_error(d, p->loc, "%s: no tensor '%s' for this layer's parameter", path, p->name);
        return;
    }
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "F32") != 0) {
        diag_error(d, p->loc, "%s: tensor '%s' has dtype %s; the model needs F32", path,
                   p->name, cJSON_IsString(dtype) ? dtype->valuestring : "(none)");
        return;
    }
    if (!shape_matches(shape, p->shape)) {
        char got[128], want[128];
        shape_text(got, sizeof got, shape);
        ir_shape_str(p->shape, want, sizeof want);
        diag_error(d, p->loc, "%s: tensor '%s' has shape %s; this layer needs %s", path, p->name,
                   got, want);
        return;
    }
    const cJSON *b = cJSON_IsArray(offs) ? offs->child : NULL;
    const cJSON *e = b ? b->next : NULL;
    size_t bytes = (size_t)p->size * sizeof(float);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(e) || b->valuedouble < 0 ||
        e->valuedouble > (double)data_size || e->valuedouble - b->valuedouble != (double)bytes) {
        diag_error(d, p->loc, "%s: tensor '%s' has bad data_offsets (the file is truncated or "
                              "corrupt)", path, p->name);
        return;
    }
    memcpy(s->weights + p->offset, data + (size_t)b->valuedouble, bytes);
}

bool embed_load_weights(EmbedSpec *s, Diag *d, SrcLoc at, const IrModule *m, const char *path) {
    int errors = diag_error_count(d);
    size_t size = 0;
    unsigned char *bytes = slurp(path, &size);
    if (!bytes) {
        diag_error(d, at, "cannot read weights '%s': %s", path, strerror(errno));
        return false;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8 && size >= 8; i++) hlen |= (uint64_t)bytes[i] << (8 * i);
    cJSON *h = NULL;
    if (size < 8 || hlen > size - 8 ||
        !(h = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)hlen)) || !cJSON_IsObject(h)) {
        diag_error(d, at, "%s: not a safetensors file (bad header)", path);
        cJSON_Delete(h);
        free(bytes);
        return false;
    }
    const unsigned char *data = bytes + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    free(s->weights);
    s->weights = calloc((size_t)(m->n_param_floats > 0 ? m->n_param_floats : 1), sizeof(float));
    for (size_t i = 0; i < m->params.len; i++) {
        const IrParam *p = m->params.items[i];
        load_param(s, d, path, p, cJSON_GetObjectItemCaseSensitive(h, p->name), data, data_size);
    }
    for (const cJSON *t = h->child; t; t = t->next) {
        if (!strcmp(t->string, "__metadata__")) continue;
        bool known = false;
        for (size_t i = 0; i < m->params.len && !known; i++)
            known = !strcmp(((const IrParam *)m->params.items[i])->name, t->string);
        if (!known)
            diag_error(d, at, "%s: tensor '%s' is not a parameter of model '%s'", path, t->string,
                       m->name);
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    const cJSON *tj = cJSON_GetObjectItemCaseSensitive(meta, "aai.transforms");
    free(s->transforms_json);
    s->transforms_json = cJSON_IsString(tj) ? strdup(tj->valuestring) : NULL;
    cJSON_Delete(h);
    free(bytes);
    return diag_error_count(d) == errors;
}

/* ---- the header ------------------------------------------------------------ */

static void upper(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = '\0';
}

/* A C string literal of s, split into lines of ~72 characters. */
static void c_string(FILE *f, const char *s) {
    fputs("    \"", f);
    int col = 0;
    for (; *s; s++) {
        if (col >= 72) {
            fputs("\" \\\n    \"", f);
            col = 0;
        }
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
            col++;
        }
        fputc(*s, f);
        col++;
    }
    fputs("\"", f);
}

static void shape_macro(FILE *f, const char *up, const char *what, int rank, const int64_t *dims) {
    fprintf(f, "#define %s_%s_RANK %d\n", up, what, rank);
    for (int i = 1; i < rank; i++)
        fprintf(f, "#define %s_%s_DIM%d %lld\n", up, what, i, (long long)dims[i]);
}

bool embed_write_header(const EmbedSpec *s, const char *path, char **err) {
    char tmp[PATH_MAX + 32];
    outfile_temp(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        set_err(err, "cannot write '%s'", path);
        return false;
    }
    char up[160];
    upper(up, sizeof up, s->prefix);
    const char *p = s->prefix;
    size_t ctx = AAIRT_EMBED_CTX_BYTES;
    size_t r64 = AAIRT_EMBED_ALIGN;
#define RUP(n) (((size_t)(n) + r64 - 1) / r64 * r64)
    size_t state = ctx + RUP((size_t)s->stats_floats * 4);
    if (s->train_api) state += 3 * RUP((size_t)s->n_param_floats * 4);
    fprintf(f,
            "/* %s.h - C API of model '%s', generated by aaic %s. Do not edit.\n"
            " *\n"
            " * Usage (all memory is the caller's; nothing here allocates on the heap\n"
            " * except %s_init/_load/_save while they parse JSON, and libaairt's\n"
            " * per-thread working block for convolutions and small products, which\n"
            " * the first predict/train_step calls size and later ones reuse):\n"
            " *\n"
            " *   static _Alignas(64) unsigned char state[%s_STATE_SIZE];\n"
            " *   static _Alignas(64) unsigned char scratch[%s_SCRATCH_SIZE(32)];\n"
            " *   %s_ctx *ctx = %s_init(state, NULL);   (baked weights, read-only)\n"
            " *   if (!ctx || %s_error(ctx)[0]) ...      (a message when init failed)\n"
            " *   %s_predict(ctx, scratch, in, out, n);  (n <= 32 rows)\n"
            " *\n"
            " * Inputs are raw feature rows of %s_INPUT_WIDTH floats, in the order of\n"
            " * the model's signature (%s_SIGNATURE_JSON, \"columns\"); the fitted\n"
            " * feature transforms travel with the weights and are applied inside\n"
            " * %s_predict, so the outputs (%s_OUTPUT_WIDTH floats per row: logits for\n"
            " * classification and binary models, values for regression) are bitwise\n"
            " * those of `./%s predict`.\n"
            " *\n"
            " * Thread safety: a context is read-only during %s_predict; any number\n"
            " * of threads may predict with one context at once, each with its own\n"
            " * scratch block. %s_train_step, %s_set_epoch, %s_set_lr, %s_load and\n"
            " * %s_save must not run concurrently with anything else on the same\n"
            " * context. Large products and the optimizer update run on libaairt's\n"
            " * threads (aairt_set_threads; default OPENBLAS_NUM_THREADS, else every\n"
            " * CPU); set it to 1 to keep every call on the calling thread.\n"
            " *\n"
            " * Link: the object, then libaairt (pkg-config --libs aai). */\n",
            p, s->model_name, AAI_VERSION, p, up, up, p, p, p, p, up, up, p, up,
            s->model_name, p, p, p, p, p, p);
    fprintf(f, "#ifndef %s_AAI_H\n#define %s_AAI_H\n\n#include <stddef.h>\n\n", up, up);
    fprintf(f, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    fprintf(f, "/* Version of this header's layout and macros. */\n");
    fprintf(f, "#define %s_AAI_HEADER_VERSION %d\n", up, 1);
    fprintf(f, "#define %s_AAI_ABI_VERSION %d\n\n", up, AAIRT_EMBED_VERSION);
    fprintf(f, "/* Signature: shapes without the batch dimension (DIM1.. of [batch, ...]). */\n");
    shape_macro(f, up, "INPUT", s->in_rank, s->in_shape);
    shape_macro(f, up, "OUTPUT", s->out_rank, s->out_shape);
    fprintf(f, "#define %s_INPUT_WIDTH %lld  /* floats per input row */\n", up,
            (long long)s->x_width);
    fprintf(f, "#define %s_OUTPUT_WIDTH %lld /* floats per output row */\n", up,
            (long long)s->out_width);
    fprintf(f, "#define %s_LABEL_WIDTH %lld  /* floats per label row (train_step) */\n", up,
            (long long)s->label_width);
    fprintf(f, "#define %s_CLASSES %lld      /* classification: class count, else 0 */\n", up,
            (long long)s->classes);
    fprintf(f, "#define %s_TASK \"%s\"\n", up, s->task);
    fprintf(f, "#define %s_SIGNATURE_JSON \\\n", up);
    c_string(f, s->signature_json ? s->signature_json : "{}");
    fprintf(f, "\n\n/* Memory blocks (bytes); each must be %s_ALIGN-byte aligned. */\n", up);
    fprintf(f, "#define %s_ALIGN %zu\n", up, r64);
    fprintf(f, "#define %s_PARAM_COUNT %lld\n", up, (long long)s->n_param_floats);
    fprintf(f, "#define %s_WEIGHTS_SIZE %zu\n", up, (size_t)s->n_param_floats * 4);
    fprintf(f, "#define %s_WEIGHTS_ALIGN %zu\n", up, r64);
    fprintf(f, "#define %s_STATE_SIZE %zu\n", up, state);
    fprintf(f, "#define %s_STATE_ALIGN %zu\n", up, r64);
    fprintf(f,
            "/* Scratch for batches of up to (batch) rows: the arena of the generated\n"
            " * code, and a copy of the inputs (and labels). */\n");
    fprintf(f, "#define %s_SCRATCH_SIZE(batch) ((size_t)%zu + (size_t)%zu * (size_t)(batch))\n",
            up, RUP(s->arena_static_floats * 4) + 3 * r64,
            (size_t)(s->arena_row_floats + s->x_width + (s->train_api ? s->label_width : 0)) * 4);
    fprintf(f, "#define %s_SCRATCH_ALIGN %zu\n", up, r64);
    fprintf(f, "#define %s_HAS_WEIGHTS %d   /* weights baked into the object */\n", up,
            s->weights ? 1 : 0);
    fprintf(f, "#define %s_HAS_TRAIN_API %d\n\n", up, s->train_api ? 1 : 0);
#undef RUP
    fprintf(f, "typedef struct %s_ctx %s_ctx; /* lives in the state block */\n\n", p, p);
    fprintf(f,
            "/* Initialises a context in `state` (%s_STATE_SIZE bytes). `weights`: a\n"
            " * writable block of %s_WEIGHTS_SIZE bytes or NULL. Baked weights are\n"
            " * copied into it, or used in place (read-only) when it is NULL; without\n"
            " * baked weights it is required and %s_load fills it. NULL when state is\n"
            " * NULL or misaligned; otherwise check %s_error(ctx)[0]. */\n",
            up, up, p, p);
    fprintf(f, "%s_ctx *%s_init(void *state, float *weights);\n", p, p);
    fprintf(f, "/* The last error of ctx, \"\" when none. */\n");
    fprintf(f, "const char *%s_error(const %s_ctx *ctx);\n", p, p);
    fprintf(f, "/* Runtime values of %s_STATE_SIZE and %s_SCRATCH_SIZE (for dlopen). */\n", up, up);
    fprintf(f, "size_t %s_state_size(void);\nsize_t %s_scratch_size(int batch);\n", p, p);
    fprintf(f,
            "/* batch rows of %s_INPUT_WIDTH raw features -> batch rows of\n"
            " * %s_OUTPUT_WIDTH outputs. 0, or -1 (see %s_error). Allocates nothing\n"
            " * once warmed. */\n",
            up, up, p);
    fprintf(f, "int %s_predict(%s_ctx *ctx, void *scratch, const float *in, float *out, int batch);\n",
            p, p);
    fprintf(f,
            "/* Weights and fitted transforms from safetensors bytes (written by the\n"
            " * model executable's `train --out` or by %s_save); checked against the\n"
            " * parameter table. */\n",
            p);
    fprintf(f, "int %s_load(%s_ctx *ctx, const void *bytes, size_t size);\n", p, p);
    fprintf(f, "int %s_load_file(%s_ctx *ctx, const char *path);\n", p, p);
    fprintf(f,
            "/* The weights as safetensors bytes into buf (cap bytes); *size gets the\n"
            " * size needed (call with buf NULL to ask). 0, or -1 when cap is short. */\n");
    fprintf(f, "int %s_save(%s_ctx *ctx, void *buf, size_t cap, size_t *size);\n", p, p);
    if (s->train_api)
        fprintf(f,
                "/* One optimizer step (the train block's optimizer, state in the\n"
                " * context) on batch rows: raw features and %s_LABEL_WIDTH floats of\n"
                " * labels per row (class indices as floats). *loss (may be NULL) gets\n"
                " * the batch's mean loss. Allocates nothing once warmed. The learning\n"
                " * rate is the train block's base rate until %s_set_epoch or\n"
                " * %s_set_lr changes it. */\n"
                "int %s_train_step(%s_ctx *ctx, void *scratch, const float *x,\n"
                "    const float *labels, int batch, float *loss);\n"
                "/* The learning rate of the train block's schedule for 0-based epoch\n"
                " * `epoch` (what `./%s train` uses then); call it as each epoch\n"
                " * starts. 0, or -1 for a negative epoch. */\n"
                "int %s_set_epoch(%s_ctx *ctx, int epoch);\n"
                "/* A learning rate of your own (finite, >= 0) for the next steps. 0 or -1. */\n"
                "int %s_set_lr(%s_ctx *ctx, float lr);\n"
                "/* The learning rate the next %s_train_step uses. */\n"
                "float %s_lr(const %s_ctx *ctx);\n",
                up, p, p, p, p, s->model_name, p, p, p, p, p, p, p);
    fprintf(f, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
    bool ok = !ferror(f);
    ok &= fclose(f) == 0;
    if (!outfile_publish(tmp, path, ok)) {
        set_err(err, "cannot write '%s'", path);
        return false;
    }
    return true;
}
