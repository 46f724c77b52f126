/* config.c - YAML run files via libyaml's document API (see config.h).
 *
 * The whole file is loaded as a node tree, then walked once; every node
 * carries its start mark, which gives the line:col of each message. */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

typedef struct ConfigCtx {
    const char *name;    /* file name for messages */
    yaml_document_t *doc;
    AairtRunConfig *cfg;
    AairtError *err;
} ConfigCtx;

__attribute__((format(printf, 3, 4)))
static int fail_at(ConfigCtx *c, const yaml_node_t *node, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return aairt_error_set(c->err, "%s:%zu:%zu: %s", c->name, node->start_mark.line + 1,
                           node->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *node) {
    return node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static int is_plain(const yaml_node_t *node) {
    return node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int want_int(ConfigCtx *c, const char *key, const yaml_node_t *v, int64_t min,
                    int64_t *dst) {
    const char *s = scalar(v);
    char *end = NULL;
    errno = 0;
    long long x = s && is_plain(v) ? strtoll(s, &end, 10) : 0;
    if (!s || !is_plain(v) || !*s || *end || errno)
        return fail_at(c, v, "'%s' expects an integer", key);
    if (x < min) return fail_at(c, v, "'%s' must be at least %lld", key, (long long)min);
    *dst = (int64_t)x;
    return 0;
}

static int want_float(ConfigCtx *c, const char *key, const yaml_node_t *v, float *dst) {
    const char *s = scalar(v);
    char *end = NULL;
    double x = s && is_plain(v) ? strtod(s, &end) : 0;
    if (!s || !is_plain(v) || !*s || *end || !isfinite(x) || fabs(x) > FLT_MAX)
        return fail_at(c, v, "'%s' expects a number (finite, within float range)", key);
    /* The ranges PyTorch's optimizers and schedulers accept. */
    static const struct {
        const char *key;
        double min;
        int open_min; /* 1: min itself excluded */
        double max;   /* excluded */
    } ranges[] = {
        {"lr", 0, 1, INFINITY},          {"eps", 0, 1, INFINITY},
        {"momentum", 0, 0, INFINITY},    {"dampening", 0, 0, INFINITY},
        {"weight_decay", 0, 0, INFINITY}, {"beta1", 0, 0, 1},
        {"beta2", 0, 0, 1},              {"schedule.gamma", 0, 1, INFINITY},
        {"schedule.min_lr", 0, 0, INFINITY},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        if (strcmp(key, ranges[i].key) != 0) continue;
        if (x < ranges[i].min || (ranges[i].open_min && x == ranges[i].min) || x >= ranges[i].max)
            return fail_at(c, v, "'%s' must be %s %g%s", key,
                           ranges[i].open_min ? "greater than" : "at least", ranges[i].min,
                           isfinite(ranges[i].max) ? " and less than 1" : "");
    }
    *dst = (float)x;
    return 0;
}

static int want_bool(ConfigCtx *c, const char *key, const yaml_node_t *v, int *dst) {
    const char *s = is_plain(v) ? scalar(v) : NULL;
    if (s && (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")))
        *dst = 1;
    else if (s && (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off")))
        *dst = 0;
    else
        return fail_at(c, v, "'%s' expects true or false", key);
    return 0;
}

static int want_string(ConfigCtx *c, const char *key, const yaml_node_t *v, char **dst) {
    const char *s = scalar(v);
    if (!s || !*s || (is_plain(v) && (!strcmp(s, "~") || !strcmp(s, "null"))))
        return fail_at(c, v, "'%s' expects a string", key);
    free(*dst);
    *dst = strdup(s);
    if (!*dst) return aairt_error_set(c->err, "out of memory");
    return 0;
}

static void mark(ConfigCtx *c, AairtConfigField f) { c->cfg->set |= 1u << f; }

static int opt_kind(ConfigCtx *c, const char *key, const yaml_node_t *v) {
    const char *s = scalar(v);
    if (!s || aairt_optimizer_kind_parse(s, &c->cfg->opt.kind))
        return fail_at(c, v, "'%s' expects sgd, adam or adamw", key);
    mark(c, AAIRT_CFG_OPT_KIND);
    return 0;
}

/* Optimizer fields, valid at top level and inside `optimizer:`. Returns 1
 * when the key is not an optimizer field. */
static int opt_field(ConfigCtx *c, const char *key, const yaml_node_t *v) {
    AairtRunConfig *cfg = c->cfg;
    static const struct {
        const char *key;
        AairtConfigField field;
        size_t offset;
    } floats[] = {
        {"lr", AAIRT_CFG_LR, offsetof(AairtOptimizerSpec, lr)},
        {"momentum", AAIRT_CFG_MOMENTUM, offsetof(AairtOptimizerSpec, momentum)},
        {"dampening", AAIRT_CFG_DAMPENING, offsetof(AairtOptimizerSpec, dampening)},
        {"beta1", AAIRT_CFG_BETA1, offsetof(AairtOptimizerSpec, beta1)},
        {"beta2", AAIRT_CFG_BETA2, offsetof(AairtOptimizerSpec, beta2)},
        {"eps", AAIRT_CFG_EPS, offsetof(AairtOptimizerSpec, eps)},
        {"weight_decay", AAIRT_CFG_WEIGHT_DECAY, offsetof(AairtOptimizerSpec, weight_decay)},
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        if (!strcmp(key, floats[i].key)) {
            float *dst = (float *)((char *)&cfg->opt + floats[i].offset);
            if (want_float(c, key, v, dst)) return -1;
            mark(c, floats[i].field);
            return 0;
        }
    if (!strcmp(key, "nesterov")) {
        if (want_bool(c, key, v, &cfg->opt.nesterov)) return -1;
        mark(c, AAIRT_CFG_NESTEROV);
        return 0;
    }
    return 1;
}

/* Iterates a mapping's pairs, checking keys are unique plain strings. */
typedef int (*PairFn)(ConfigCtx *c, const char *key, const yaml_node_t *k,
                      const yaml_node_t *v);

static int each_pair(ConfigCtx *c, const yaml_node_t *map, PairFn fn) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(k);
        if (!key) return fail_at(c, k, "keys must be plain names");
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *prev = scalar(yaml_document_get_node(c->doc, q->key));
            if (prev && !strcmp(prev, key)) return fail_at(c, k, "duplicate key '%s'", key);
        }
        if (fn(c, key, k, v)) return -1;
    }
    return 0;
}

static int optimizer_pair(ConfigCtx *c, const char *key, const yaml_node_t *k,
                          const yaml_node_t *v) {
    if (!strcmp(key, "kind")) return opt_kind(c, "optimizer.kind", v);
    int r = opt_field(c, key, v);
    if (r == 1)
        return fail_at(c, k, "unknown key 'optimizer.%s' (expected kind, lr, momentum, "
                             "dampening, nesterov, beta1, beta2, eps, weight_decay)", key);
    return r;
}

static int schedule_pair(ConfigCtx *c, const char *key, const yaml_node_t *k,
                         const yaml_node_t *v) {
    AairtSchedule *s = &c->cfg->schedule;
    if (!strcmp(key, "kind")) {
        const char *str = scalar(v);
        if (!str || aairt_schedule_kind_parse(str, &s->kind))
            return fail_at(c, v, "'schedule.kind' expects constant, step or cosine");
        mark(c, AAIRT_CFG_SCHED_KIND);
        return 0;
    }
    if (!strcmp(key, "every")) {
        if (want_int(c, "schedule.every", v, 1, &s->every)) return -1;
        mark(c, AAIRT_CFG_SCHED_EVERY);
        return 0;
    }
    if (!strcmp(key, "gamma")) {
        if (want_float(c, "schedule.gamma", v, &s->gamma)) return -1;
        mark(c, AAIRT_CFG_SCHED_GAMMA);
        return 0;
    }
    if (!strcmp(key, "min_lr")) {
        if (want_float(c, "schedule.min_lr", v, &s->min_lr)) return -1;
        mark(c, AAIRT_CFG_SCHED_MIN_LR);
        return 0;
    }
    return fail_at(c, k, "unknown key 'schedule.%s' (expected kind, every, gamma, min_lr)", key);
}

static int top_pair(ConfigCtx *c, const char *key, const yaml_node_t *k, const yaml_node_t *v) {
    AairtRunConfig *cfg = c->cfg;
    int64_t tmp;
    if (!strcmp(key, "epochs")) {
        if (want_int(c, key, v, 0, &cfg->epochs)) return -1;
        mark(c, AAIRT_CFG_EPOCHS);
    } else if (!strcmp(key, "batch")) {
        if (want_int(c, key, v, 1, &cfg->batch)) return -1;
        mark(c, AAIRT_CFG_BATCH);
    } else if (!strcmp(key, "seed")) {
        if (want_int(c, key, v, 0, &tmp)) return -1;
        cfg->seed = (uint64_t)tmp;
        mark(c, AAIRT_CFG_SEED);
    } else if (!strcmp(key, "quiet")) {
        if (want_bool(c, key, v, &cfg->quiet)) return -1;
        mark(c, AAIRT_CFG_QUIET);
    } else if (!strcmp(key, "data")) {
        return want_string(c, key, v, &cfg->data);
    } else if (!strcmp(key, "test_data")) {
        return want_string(c, key, v, &cfg->test_data);
    } else if (!strcmp(key, "out")) {
        return want_string(c, key, v, &cfg->out);
    } else if (!strcmp(key, "metrics")) {
        return want_string(c, key, v, &cfg->metrics);
    } else if (!strcmp(key, "optimizer")) {
        if (v->type == YAML_MAPPING_NODE) return each_pair(c, v, optimizer_pair);
        return opt_kind(c, key, v);
    } else if (!strcmp(key, "schedule")) {
        if (v->type == YAML_MAPPING_NODE) return each_pair(c, v, schedule_pair);
        const char *s = scalar(v);
        if (!s || aairt_schedule_kind_parse(s, &cfg->schedule.kind))
            return fail_at(c, v, "'schedule' expects constant, step, cosine or a mapping");
        mark(c, AAIRT_CFG_SCHED_KIND);
    } else {
        int r = opt_field(c, key, v);
        if (r == 1)
            return fail_at(c, k, "unknown key '%s' (expected epochs, lr, batch, seed, "
                                 "optimizer, schedule, data, test_data, out, metrics, "
                                 "quiet or an optimizer field)", key);
        return r;
    }
    return 0;
}

int aairt_config_parse(const char *text, size_t len, const char *name,
                       AairtRunConfig *cfg, AairtError *err) {
    memset(cfg, 0, sizeof *cfg);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return aairt_error_set(err, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *mk = parser.problem ? &parser.problem_mark : &parser.context_mark;
        aairt_error_set(err, "%s:%zu:%zu: %s%s%s", name, mk->line + 1, mk->column + 1,
                        parser.problem ? parser.problem : "invalid YAML",
                        parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return -1;
    }
    /* One document only: settings after a '---' would be silently lost. */
    yaml_document_t next;
    int more = 1;
    if (yaml_parser_load(&parser, &next)) {
        more = yaml_document_get_root_node(&next) != NULL;
        yaml_document_delete(&next);
    }
    if (more) {
        const yaml_mark_t *mk = &parser.mark;
        aairt_error_set(err, "%s:%zu:%zu: a run file holds one YAML document", name,
                        mk->line + 1, mk->column + 1);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    ConfigCtx c = {name, &doc, cfg, err};
    int rc = 0;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        if (root->type == YAML_MAPPING_NODE) rc = each_pair(&c, root, top_pair);
        else if (!(root->type == YAML_SCALAR_NODE && !*scalar(root)))
            rc = fail_at(&c, root, "a run file is a mapping of settings (key: value)");
    }
    yaml_document_delete(&doc);
    if (rc) aairt_config_free(cfg);
    return rc;
}

int aairt_config_load(const char *path, AairtRunConfig *cfg, AairtError *err) {
    memset(cfg, 0, sizeof *cfg);
    FILE *f = fopen(path, "rb");
    if (!f) return aairt_error_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        char *bigger = cap < ((size_t)1 << 26) ? realloc(buf, cap * 2) : NULL;
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return aairt_error_set(err, "%s: cannot read the file", path);
    }
    int rc = aairt_config_parse(buf, len, path, cfg, err);
    free(buf);
    return rc;
}

void aairt_config_free(AairtRunConfig *cfg) {
    if (!cfg) return;
    free(cfg->data);
    free(cfg->test_data);
    free(cfg->out);
    free(cfg->metrics);
    memset(cfg, 0, sizeof *cfg);
}

void aairt_config_apply(const AairtRunConfig *cfg, AairtTrainSpec *train) {
    if (aairt_config_has(cfg, AAIRT_CFG_EPOCHS)) train->epochs = cfg->epochs;
    if (aairt_config_has(cfg, AAIRT_CFG_BATCH)) train->batch = cfg->batch;
    if (aairt_config_has(cfg, AAIRT_CFG_SEED)) train->seed = cfg->seed;
    AairtOptimizerSpec *o = &train->optimizer;
    if (aairt_config_has(cfg, AAIRT_CFG_OPT_KIND) && cfg->opt.kind != o->kind) {
        float lr = o->lr;
        aairt_optimizer_spec_default(o, cfg->opt.kind);
        o->lr = lr;
    }
    if (aairt_config_has(cfg, AAIRT_CFG_LR)) o->lr = cfg->opt.lr;
    if (aairt_config_has(cfg, AAIRT_CFG_MOMENTUM)) o->momentum = cfg->opt.momentum;
    if (aairt_config_has(cfg, AAIRT_CFG_DAMPENING)) o->dampening = cfg->opt.dampening;
    if (aairt_config_has(cfg, AAIRT_CFG_NESTEROV)) o->nesterov = cfg->opt.nesterov;
    if (aairt_config_has(cfg, AAIRT_CFG_BETA1)) o->beta1 = cfg->opt.beta1;
    if (aairt_config_has(cfg, AAIRT_CFG_BETA2)) o->beta2 = cfg->opt.beta2;
    if (aairt_config_has(cfg, AAIRT_CFG_EPS)) o->eps = cfg->opt.eps;
    if (aairt_config_has(cfg, AAIRT_CFG_WEIGHT_DECAY)) o->weight_decay = cfg->opt.weight_decay;
    AairtSchedule *s = &train->schedule;
    if (aairt_config_has(cfg, AAIRT_CFG_SCHED_KIND)) s->kind = cfg->schedule.kind;
    if (aairt_config_has(cfg, AAIRT_CFG_SCHED_EVERY)) s->every = cfg->schedule.every;
    if (aairt_config_has(cfg, AAIRT_CFG_SCHED_GAMMA)) s->gamma = cfg->schedule.gamma;
    if (aairt_config_has(cfg, AAIRT_CFG_SCHED_MIN_LR)) s->min_lr = cfg->schedule.min_lr;
}
