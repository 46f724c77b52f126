/* card.c - model cards (see card.h). */
#include "card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "fileio.h"
#include "sha256.h"

char *aairt_card_path(const char *weights_path) {
    size_t n = strlen(weights_path);
    const char *ext = ".safetensors";
    size_t e = strlen(ext);
    if (n > e && strcmp(weights_path + n - e, ext) == 0) n -= e;
    char *p = malloc(n + sizeof ".card.yaml");
    if (p) {
        memcpy(p, weights_path, n);
        memcpy(p + n, ".card.yaml", sizeof ".card.yaml");
    }
    return p;
}

typedef struct Out {
    unsigned char *s;
    size_t len, cap;
    int oom;
} Out;

static int out_write(void *user, unsigned char *buf, size_t n) {
    Out *o = user;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->len + n) cap *= 2;
        unsigned char *s = realloc(o->s, cap);
        if (!s) {
            o->oom = 1;
            return 0;
        }
        o->s = s;
        o->cap = cap;
    }
    memcpy(o->s + o->len, buf, n);
    o->len += n;
    return 1;
}

typedef struct Em {
    yaml_emitter_t e;
    yaml_event_t ev;
    int bad;
} Em;

static void emit(Em *m) {
    if (m->bad) yaml_event_delete(&m->ev);
    else if (!yaml_emitter_emit(&m->e, &m->ev)) m->bad = 1;
}

static void scalar(Em *m, const char *s) {
    yaml_scalar_event_initialize(&m->ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                 YAML_ANY_SCALAR_STYLE);
    emit(m);
}

static void kv(Em *m, const char *k, const char *v) {
    scalar(m, k);
    scalar(m, v);
}

static void kv_num(Em *m, const char *k, double v) {
    char b[64];
    snprintf(b, sizeof b, "%.9g", v);
    kv(m, k, b);
}

static void map_start(Em *m) {
    yaml_mapping_start_event_initialize(&m->ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    emit(m);
}

static void map_end(Em *m) {
    yaml_mapping_end_event_initialize(&m->ev);
    emit(m);
}

static void shape(Em *m, const char *k, const int64_t *dims, int rank) {
    scalar(m, k);
    yaml_sequence_start_event_initialize(&m->ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
    emit(m);
    for (int i = 0; i < rank; i++) {
        char b[32];
        if (dims[i] < 0) snprintf(b, sizeof b, "batch");
        else snprintf(b, sizeof b, "%lld", (long long)dims[i]);
        scalar(m, b);
    }
    yaml_sequence_end_event_initialize(&m->ev);
    emit(m);
}

/* path -> sha256 entry; a file that cannot be read is an error. */
static int digest(Em *m, const char *path, AairtError *err) {
    char hex[65];
    if (aairt_sha256_file(path, hex, err)) return -1;
    kv(m, path, hex);
    return 0;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int source_digests(Em *m, const cJSON *src, const char *override, AairtError *err) {
    if (override) return digest(m, override, err);
    if (!cJSON_IsObject(src)) return 0;
    static const char *const keys[] = {"path", "images", "labels"};
    for (size_t i = 0; i < 3; i++) {
        const char *p = jstr(src, keys[i]);
        if (p && digest(m, p, err)) return -1;
    }
    return 0;
}

/* The last non-empty line of the metrics file, parsed. */
static cJSON *final_metrics(const char *path) {
    unsigned char *buf;
    size_t n;
    AairtError err;
    if (!path || aairt_read_file(path, (size_t)1 << 28, &buf, &n, &err)) return NULL;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    buf[n] = '\0';
    char *line = strrchr((char *)buf, '\n');
    cJSON *j = cJSON_Parse(line ? line + 1 : (char *)buf);
    free(buf);
    return j;
}

int aairt_card_write(const AairtManifest *man, const AairtCardRun *run, AairtError *err) {
    char *path = aairt_card_path(run->weights_path);
    if (!path) return aairt_error_set(err, "out of memory");
    Out out = {0};
    Em m;
    memset(&m, 0, sizeof m);
    int rc = 0;
    yaml_emitter_initialize(&m.e);
    yaml_emitter_set_output(&m.e, out_write, &out);
    yaml_emitter_set_unicode(&m.e, 1);
    yaml_stream_start_event_initialize(&m.ev, YAML_UTF8_ENCODING);
    emit(&m);
    yaml_document_start_event_initialize(&m.ev, NULL, NULL, NULL, 1);
    emit(&m);
    map_start(&m);
    kv(&m, "model_card", "1");
    kv(&m, "model", man->name);
    kv(&m, "compiler", man->compiler ? man->compiler : "unknown");
    kv(&m, "task", aairt_task_name(man->task));
    scalar(&m, "input");
    map_start(&m);
    kv(&m, "name", man->input_name ? man->input_name : "x");
    kv(&m, "dtype", "f32");
    shape(&m, "shape", man->in_shape, man->in_rank);
    map_end(&m);
    scalar(&m, "output");
    map_start(&m);
    kv(&m, "dtype", "f32");
    shape(&m, "shape", man->out_shape, man->out_rank);
    map_end(&m);
    kv_num(&m, "parameters", (double)man->n_param_floats);
    scalar(&m, "training");
    map_start(&m);
    kv_num(&m, "epochs", (double)run->epochs);
    kv_num(&m, "batch", (double)run->batch);
    kv_num(&m, "seed", (double)run->seed);
    if (run->optimizer) {
        kv(&m, "optimizer", aairt_optimizer_kind_name(run->optimizer->kind));
        char lr[32];
        snprintf(lr, sizeof lr, "%.7g", (double)run->optimizer->lr); /* a float */
        kv(&m, "lr", lr);
    }
    if (man->train.loss) kv(&m, "loss", man->train.loss);
    map_end(&m);
    scalar(&m, "data_sha256");
    map_start(&m);
    const cJSON *ds = man->dataset;
    rc = source_digests(&m, cJSON_GetObjectItemCaseSensitive(ds, "source"), run->data, err);
    if (rc == 0)
        rc = source_digests(&m, cJSON_GetObjectItemCaseSensitive(ds, "test_source"),
                            run->test_data, err);
    map_end(&m);
    scalar(&m, "weights");
    map_start(&m);
    if (rc == 0) {
        const char *slash = strrchr(run->weights_path, '/');
        kv(&m, "file", slash ? slash + 1 : run->weights_path);
        char hex[65];
        rc = aairt_sha256_file(run->weights_path, hex, err);
        kv(&m, "sha256", rc == 0 ? hex : "");
    }
    map_end(&m);
    scalar(&m, "metrics");
    map_start(&m);
    cJSON *fm = final_metrics(run->metrics_path);
    for (const cJSON *v = fm ? fm->child : NULL; v; v = v->next) {
        /* Timings differ from run to run; the card must not. */
        if (!strcmp(v->string, "seconds") || !strcmp(v->string, "samples_per_s")) continue;
        if (cJSON_IsNumber(v)) kv_num(&m, v->string, v->valuedouble);
        else if (cJSON_IsString(v)) kv(&m, v->string, v->valuestring);
    }
    cJSON_Delete(fm);
    map_end(&m);
    map_end(&m);
    yaml_document_end_event_initialize(&m.ev, 1);
    emit(&m);
    yaml_stream_end_event_initialize(&m.ev);
    emit(&m);
    yaml_emitter_flush(&m.e);
    yaml_emitter_delete(&m.e);
    if (rc == 0 && (m.bad || out.oom)) rc = aairt_error_set(err, "%s: cannot format the card", path);
    if (rc == 0) rc = aairt_write_file_atomic(path, out.s, out.len, err);
    free(out.s);
    free(path);
    return rc;
}
