/* model.c - parse and validate the model manifest (see model.h). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static const cJSON *get(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Reads an integer-valued number; `required` decides whether absence is an
 * error. Leaves *dst untouched when absent and optional. */
static int get_int(const cJSON *obj, const char *where, const char *key,
                   int required, int64_t *dst, AairtError *err) {
    const cJSON *it = get(obj, key);
    if (!it || cJSON_IsNull(it)) {
        if (required)
            return aairt_error_set(err, "manifest: %s%s\"%s\" is missing", where,
                                   *where ? "." : "", key);
        return 0;
    }
    double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || d != (double)(int64_t)d)
        return aairt_error_set(err, "manifest: %s%s\"%s\" must be an integer", where,
                               *where ? "." : "", key);
    *dst = (int64_t)d;
    return 0;
}

static const char *get_str(const cJSON *obj, const char *key) {
    const cJSON *it = get(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* shape: array of integers, -1 allowed only at index 0 when allow_batch. */
static int get_shape(const cJSON *arr, const char *what, int allow_batch,
                     int *rank, int64_t *shape, AairtError *err) {
    if (!cJSON_IsArray(arr))
        return aairt_error_set(err, "manifest: %s.shape must be an array", what);
    int n = cJSON_GetArraySize(arr);
    if (n > AAIRT_MAX_RANK)
        return aairt_error_set(err, "manifest: %s.shape has rank %d (max %d)", what, n,
                               AAIRT_MAX_RANK);
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, arr) {
        if (!cJSON_IsNumber(d) || d->valuedouble != (double)(int64_t)d->valuedouble)
            return aairt_error_set(err, "manifest: %s.shape[%d] must be an integer", what, i);
        int64_t v = (int64_t)d->valuedouble;
        if (v < 0 && !(allow_batch && i == 0 && v == -1))
            return aairt_error_set(err, "manifest: %s.shape[%d] = %lld is invalid", what, i,
                                   (long long)v);
        shape[i++] = v;
    }
    *rank = n;
    return 0;
}

static int64_t row_width(int rank, const int64_t *shape) {
    int64_t w = 1;
    for (int i = 1; i < rank; i++) w *= shape[i];
    return w;
}

static int parse_init(const char *s, AairtInitKind *kind) {
    static const char *const names[] = {"torch_default", "he_uniform", "he_normal",
                                        "xavier_uniform", "xavier_normal", "zeros",
                                        "ones"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(s, names[i])) {
            *kind = (AairtInitKind)i;
            return 0;
        }
    return -1;
}

const char *aairt_init_name(AairtInitKind kind) {
    switch (kind) {
    case AAIRT_INIT_TORCH_DEFAULT: return "torch_default";
    case AAIRT_INIT_HE_UNIFORM: return "he_uniform";
    case AAIRT_INIT_HE_NORMAL: return "he_normal";
    case AAIRT_INIT_XAVIER_UNIFORM: return "xavier_uniform";
    case AAIRT_INIT_XAVIER_NORMAL: return "xavier_normal";
    case AAIRT_INIT_ZEROS: return "zeros";
    case AAIRT_INIT_ONES: return "ones";
    }
    return "?";
}

const char *aairt_task_name(AairtTask task) {
    switch (task) {
    case AAIRT_TASK_CLASSIFICATION: return "classification";
    case AAIRT_TASK_BINARY: return "binary";
    case AAIRT_TASK_REGRESSION: return "regression";
    }
    return "?";
}

static int parse_params(const cJSON *arr, AairtManifest *m, AairtError *err) {
    if (!cJSON_IsArray(arr)) return aairt_error_set(err, "manifest: \"params\" must be an array");
    int n = cJSON_GetArraySize(arr);
    m->params = calloc(n > 0 ? (size_t)n : 1, sizeof *m->params);
    if (!m->params) return aairt_error_set(err, "out of memory");
    m->n_params = n;
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, arr) {
        AairtParamInfo *info = &m->params[i];
        char where[64];
        snprintf(where, sizeof where, "params[%d]", i);
        info->name = get_str(p, "name");
        if (!cJSON_IsObject(p) || !info->name)
            return aairt_error_set(err, "manifest: %s needs a \"name\"", where);
        if (get_shape(get(p, "shape"), info->name, 0, &info->rank, info->shape, err) ||
            get_int(p, where, "offset", 1, &info->offset, err) ||
            get_int(p, where, "size", 1, &info->size, err))
            return -1;
        int64_t numel = 1;
        for (int d = 0; d < info->rank; d++) numel *= info->shape[d];
        if (numel != info->size)
            return aairt_error_set(err, "manifest: param %s: size %lld does not match its shape",
                                   info->name, (long long)info->size);
        if (info->offset < 0 || info->offset + info->size > m->n_param_floats)
            return aairt_error_set(err, "manifest: param %s lies outside the %lld-float "
                                        "parameter block", info->name,
                                   (long long)m->n_param_floats);
        const char *init = get_str(p, "init");
        info->init = AAIRT_INIT_TORCH_DEFAULT;
        if (init && parse_init(init, &info->init))
            return aairt_error_set(err, "manifest: param %s: unknown init \"%s\"", info->name, init);
        info->fan_in = info->rank >= 2 ? info->shape[1] : 1;
        for (int d = 2; d < info->rank; d++) info->fan_in *= info->shape[d];
        info->fan_out = info->rank >= 1 ? info->shape[0] : 1;
        if (get_int(p, where, "fan_in", 0, &info->fan_in, err) ||
            get_int(p, where, "fan_out", 0, &info->fan_out, err))
            return -1;
        for (int j = 0; j < i; j++)
            if (!strcmp(m->params[j].name, info->name))
                return aairt_error_set(err, "manifest: param %s appears twice", info->name);
        i++;
    }
    return 0;
}

static int parse_metrics(const cJSON *arr, unsigned *bits, AairtError *err) {
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) return aairt_error_set(err, "manifest: train.metrics must be an array");
    *bits = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const char *s = cJSON_IsString(it) ? it->valuestring : "";
        if (!strcmp(s, "accuracy")) *bits |= AAIRT_METRIC_ACCURACY;
        else if (!strcmp(s, "loss")) *bits |= AAIRT_METRIC_LOSS;
        else if (!strcmp(s, "mse")) *bits |= AAIRT_METRIC_MSE;
        else if (!strcmp(s, "r2")) *bits |= AAIRT_METRIC_R2;
        else return aairt_error_set(err, "manifest: unknown metric \"%s\"", s);
    }
    return 0;
}

static int parse_train(const cJSON *t, AairtManifest *m, AairtError *err) {
    AairtTrainSpec *ts = &m->train;
    ts->epochs = 10;
    ts->batch = 32;
    ts->seed = 0;
    ts->metrics = m->task == AAIRT_TASK_REGRESSION ? (AAIRT_METRIC_MSE | AAIRT_METRIC_R2)
                                                   : AAIRT_METRIC_ACCURACY;
    aairt_optimizer_spec_default(&ts->optimizer, AAIRT_OPT_ADAM);
    aairt_schedule_from_json(NULL, &ts->schedule, NULL);
    if (!t || cJSON_IsNull(t)) return 0;
    if (!cJSON_IsObject(t)) return aairt_error_set(err, "manifest: \"train\" must be an object");
    ts->present = 1;
    ts->loss = get_str(t, "loss");
    int64_t seed = 0;
    if (get_int(t, "train", "epochs", 0, &ts->epochs, err) ||
        get_int(t, "train", "batch", 0, &ts->batch, err) ||
        get_int(t, "train", "seed", 0, &seed, err))
        return -1;
    ts->seed = (uint64_t)seed;
    if (ts->epochs < 0 || ts->batch < 1)
        return aairt_error_set(err, "manifest: train.epochs/batch out of range");
    AairtError sub;
    if (aairt_optimizer_spec_from_json(get(t, "optimizer"), &ts->optimizer, &sub) ||
        aairt_schedule_from_json(get(t, "schedule"), &ts->schedule, &sub))
        return aairt_error_set(err, "manifest: %s", sub.msg);
    return parse_metrics(get(t, "metrics"), &ts->metrics, err);
}

static int parse_root(const cJSON *root, AairtManifest *m, AairtError *err) {
    if (!cJSON_IsObject(root)) return aairt_error_set(err, "manifest: not a JSON object");
    int64_t version = 1;
    if (get_int(root, "", "aai_manifest", 0, &version, err)) return -1;
    if (version != 1)
        return aairt_error_set(err, "manifest: version %lld is not supported (expected 1)",
                               (long long)version);
    m->name = get_str(root, "name");
    if (!m->name) m->name = "model";
    m->compiler = get_str(root, "compiler");

    const cJSON *in = get(root, "input"), *out = get(root, "output");
    if (!cJSON_IsObject(in) || !cJSON_IsObject(out))
        return aairt_error_set(err, "manifest: \"input\" and \"output\" objects are required");
    m->input_name = get_str(in, "name");
    if (get_shape(get(in, "shape"), "input", 1, &m->in_rank, m->in_shape, err) ||
        get_shape(get(out, "shape"), "output", 1, &m->out_rank, m->out_shape, err))
        return -1;
    if (m->in_rank < 1 || m->out_rank < 1)
        return aairt_error_set(err, "manifest: input/output shapes need a batch dimension");
    m->x_width = row_width(m->in_rank, m->in_shape);
    m->out_width = row_width(m->out_rank, m->out_shape);

    const char *task = get_str(root, "task");
    if (!task) return aairt_error_set(err, "manifest: \"task\" is missing");
    if (!strcmp(task, "classification")) m->task = AAIRT_TASK_CLASSIFICATION;
    else if (!strcmp(task, "binary")) m->task = AAIRT_TASK_BINARY;
    else if (!strcmp(task, "regression")) m->task = AAIRT_TASK_REGRESSION;
    else return aairt_error_set(err, "manifest: unknown task \"%s\"", task);

    const cJSON *label = get(root, "label");
    m->classes = m->task == AAIRT_TASK_CLASSIFICATION ? m->out_width : 0;
    m->label_width = m->task == AAIRT_TASK_CLASSIFICATION ? 1 : m->out_width;
    if (cJSON_IsObject(label) &&
        (get_int(label, "label", "classes", 0, &m->classes, err) ||
         get_int(label, "label", "width", 0, &m->label_width, err)))
        return -1;
    if (m->task == AAIRT_TASK_CLASSIFICATION && (m->classes < 1 || m->classes > m->out_width))
        return aairt_error_set(err, "manifest: %lld classes but %lld outputs per row",
                               (long long)m->classes, (long long)m->out_width);

    if (get_int(root, "", "n_param_floats", 1, &m->n_param_floats, err)) return -1;
    const cJSON *arena = get(root, "arena");
    if (cJSON_IsObject(arena) &&
        (get_int(arena, "arena", "static_floats", 0, &m->arena_static_floats, err) ||
         get_int(arena, "arena", "row_floats", 0, &m->arena_row_floats, err)))
        return -1;
    m->flops_per_sample = -1;
    if (get_int(root, "", "flops_per_sample", 0, &m->flops_per_sample, err)) return -1;
    if (parse_params(get(root, "params"), m, err)) return -1;

    const cJSON *ds = get(root, "dataset");
    m->dataset = cJSON_IsObject(ds) ? ds : NULL;
    return parse_train(get(root, "train"), m, err);
}

int aairt_manifest_parse(const char *json, AairtManifest *out, AairtError *err) {
    memset(out, 0, sizeof *out);
    if (!json) return aairt_error_set(err, "manifest: missing");
    out->root = cJSON_Parse(json);
    if (!out->root) return aairt_error_set(err, "manifest: invalid JSON");
    if (parse_root(out->root, out, err)) {
        aairt_manifest_free(out);
        return -1;
    }
    return 0;
}

void aairt_manifest_free(AairtManifest *m) {
    if (!m) return;
    cJSON_Delete(m->root);
    free(m->params);
    memset(m, 0, sizeof *m);
}

int aairt_manifest_check_model(const AairtManifest *m, const AairtModel *model,
                               AairtError *err) {
    if (model->abi_version != AAIRT_ABI_VERSION)
        return aairt_error_set(err, "model ABI version %u, runtime expects %d",
                               model->abi_version, AAIRT_ABI_VERSION);
    if (model->n_param_floats != m->n_param_floats)
        return aairt_error_set(err, "model has %lld parameter floats, its manifest says %lld",
                               (long long)model->n_param_floats,
                               (long long)m->n_param_floats);
    if (!model->predict || !model->eval_step)
        return aairt_error_set(err, "model lacks a predict or eval entry point");
    return 0;
}

uint64_t aairt_manifest_hash(const char *json) {
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)json; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The tensor table and metadata of a weights file; `path` NULL: encode
 * into *bytes instead of writing `path`. */
static int weights_write(const char *path, const AairtManifest *m, const char *manifest_json,
                         const float *params, const char *transforms_json,
                         unsigned char **bytes, size_t *size, AairtError *err) {
    AairtTensorOut *t = calloc(m->n_params > 0 ? (size_t)m->n_params : 1, sizeof *t);
    if (!t) return aairt_error_set(err, "out of memory");
    for (int64_t i = 0; i < m->n_params; i++) {
        const AairtParamInfo *p = &m->params[i];
        t[i].name = p->name;
        t[i].dtype = AAIRT_F32;
        t[i].rank = p->rank;
        memcpy(t[i].shape, p->shape, sizeof t[i].shape);
        t[i].data = params + p->offset;
    }
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx",
             (unsigned long long)aairt_manifest_hash(manifest_json ? manifest_json : ""));
    const char *keys[] = {"aai.model", "aai.manifest_hash", "aai.transforms"};
    const char *values[] = {m->name, hash, transforms_json};
    size_t n_meta = transforms_json ? 3 : 2;
    int rc = path ? aairt_st_save(path, t, (size_t)m->n_params, keys, values, n_meta, err)
                  : aairt_st_encode(t, (size_t)m->n_params, keys, values, n_meta, bytes, size,
                                    err);
    free(t);
    return rc;
}

int aairt_weights_save(const char *path, const AairtManifest *m,
                       const char *manifest_json, const float *params,
                       const char *transforms_json, AairtError *err) {
    return weights_write(path, m, manifest_json, params, transforms_json, NULL, NULL, err);
}

int aairt_weights_encode(const AairtManifest *m, const char *manifest_json, const float *params,
                         const char *transforms_json, unsigned char **bytes, size_t *size,
                         AairtError *err) {
    return weights_write(NULL, m, manifest_json, params, transforms_json, bytes, size, err);
}

static void shape_str(const int64_t *shape, int rank, char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

int aairt_weights_load(const char *path, const AairtManifest *m, float *params,
                       char **transforms_json, AairtError *err) {
    *transforms_json = NULL;
    AairtSafetensors st;
    if (aairt_st_load(path, &st, err)) return -1;
    int rc = 0;
    for (int64_t i = 0; i < m->n_params && rc == 0; i++) {
        const AairtParamInfo *p = &m->params[i];
        const AairtTensorView *v = aairt_st_find(&st, p->name);
        char want[160], got[160];
        if (!v) {
            rc = aairt_error_set(err, "%s: missing tensor '%s' (model %s)", path, p->name,
                                 m->name);
            break;
        }
        if (v->dtype != AAIRT_F32) {
            rc = aairt_error_set(err, "%s: tensor '%s' is not F32", path, p->name);
            break;
        }
        int same = v->rank == p->rank;
        for (int d = 0; same && d < p->rank; d++) same = v->shape[d] == p->shape[d];
        if (!same || v->nbytes != (size_t)p->size * sizeof(float)) {
            shape_str(p->shape, p->rank, want, sizeof want);
            shape_str(v->shape, v->rank, got, sizeof got);
            rc = aairt_error_set(err, "%s: tensor '%s' has shape %s, the model expects %s",
                                 path, p->name, got, want);
            break;
        }
        memcpy(params + p->offset, v->data, v->nbytes);
    }
    for (size_t i = 0; i < st.n_tensors && rc == 0; i++) {
        int known = 0;
        for (int64_t j = 0; j < m->n_params && !known; j++)
            known = !strcmp(st.tensors[i].name, m->params[j].name);
        if (!known)
            rc = aairt_error_set(err, "%s: unexpected tensor '%s' (not a parameter of model %s)",
                                 path, st.tensors[i].name, m->name);
    }
    const char *tj = rc == 0 ? aairt_st_meta(&st, "aai.transforms") : NULL;
    if (tj && !(*transforms_json = strdup(tj))) rc = aairt_error_set(err, "out of memory");
    aairt_st_free(&st);
    return rc;
}
