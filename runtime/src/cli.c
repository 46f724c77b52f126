/* cli.c - aairt_main: the command line of every compiled model.
 *
 *   model train   [--epochs N] [--lr X] [--batch N] [--seed N] [--data F]
 *                 [--test-data F] [--config run.yaml] [--out W]
 *                 [--metrics F] [--quiet] [--checkpoint-every N]
 *                 [--checkpoint F] [--resume F]
 *   model eval    [--weights W] [--data F] [--batch N] [--json]
 *   model predict [--weights W] [--input F] [--batch N] [--proba] [--raw]
 *   model info    [--json]
 *
 * eval and predict read the weights from --weights W, else from the
 * weights baked into the executable (aaic --weights), else from
 * <model>.safetensors.
 *
 * Everything model-specific comes from the descriptor and its manifest.
 * Exit codes: 0 ok, 1 user error (data, weights, run file), 2 usage error,
 * 3 internal error (bad manifest, out of memory), 4 training diverged (a
 * NaN or infinite loss, gradient or parameter). Errors are printed once,
 * here, as "<prog>: error: <message>". */
#include "aairt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "card.h"
#include "config.h"
#include "dataset.h"
#include "init.h"
#include "metrics.h"
#include "model.h"
#include "progress.h"
#include "threads.h"
#include "trainer.h"

enum { EXIT_USER = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3, EXIT_DIVERGED = 4, EXIT_HELP = -1 };

typedef struct Cli {
    const AairtModel *model;
    const AairtBaked *baked; /* weights baked into the executable, or NULL */
    AairtManifest man;
    const char *prog;     /* basename of argv[0] */
    AairtError err;
} Cli;

__attribute__((format(printf, 3, 4)))
static int fail(Cli *c, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", c->prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static int fail_err(Cli *c, int code) { return fail(c, code, "%s", c->err.msg); }

/* ---- option parsing --------------------------------------------------- */

typedef enum OptKind { OPT_STR, OPT_INT, OPT_FLOAT, OPT_FLAG } OptKind;

typedef struct OptSpec {
    const char *name;  /* without the leading "--" */
    OptKind kind;
    void *dst;         /* const char **, int64_t *, double *, int * */
    int *given;        /* may be NULL */
} OptSpec;

static int parse_value(Cli *c, const char *cmd, const OptSpec *o, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_STR: *(const char **)o->dst = v; break;
    case OPT_INT: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno || x < 0)
            return fail(c, EXIT_USAGE, "%s --%s expects a non-negative integer, got '%s'", cmd,
                        o->name, v);
        *(int64_t *)o->dst = (int64_t)x;
        break;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return fail(c, EXIT_USAGE, "%s --%s expects a number, got '%s'", cmd, o->name, v);
        *(double *)o->dst = x;
        break;
    }
    case OPT_FLAG: *(int *)o->dst = 1; break;
    }
    if (o->given) *o->given = 1;
    return 0;
}

/* Parses argv[0..argc) (after the command word). Returns 0, EXIT_HELP for
 * -h/--help, or EXIT_USAGE after printing the problem. */
static int parse_opts(Cli *c, const char *cmd, int argc, char **argv, const OptSpec *specs,
                      size_t n_specs) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return EXIT_HELP;
        if (strncmp(a, "--", 2) != 0)
            return fail(c, EXIT_USAGE, "%s: unexpected argument '%s' (see --help)", cmd, a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const OptSpec *o = NULL;
        for (size_t k = 0; k < n_specs && !o; k++)
            if (strlen(specs[k].name) == len && !strncmp(specs[k].name, name, len)) o = &specs[k];
        if (!o) return fail(c, EXIT_USAGE, "%s: unknown option '%.*s' (see --help)", cmd,
                            (int)len + 2, a);
        const char *value = NULL;
        if (o->kind == OPT_FLAG) {
            if (eq) return fail(c, EXIT_USAGE, "%s: --%s takes no value", cmd, o->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return fail(c, EXIT_USAGE, "%s: --%s needs a value", cmd, o->name);
        }
        if (parse_value(c, cmd, o, value)) return EXIT_USAGE;
    }
    return 0;
}

static void usage(const Cli *c, FILE *f) {
    fprintf(f,
            "usage: %s <command> [options]\n"
            "\n"
            "%s: %s model compiled by aaic\n"
            "\n"
            "commands:\n"
            "  train    train from the dataset and save the weights\n"
            "           --epochs N  --lr X  --batch N  --seed N  --data FILE\n"
            "           --test-data FILE  --config run.yaml  --out W.safetensors\n"
            "           --metrics FILE (default metrics.jsonl)  --quiet\n"
            "           --checkpoint-every N (steps)  --checkpoint FILE\n"
            "           (default %s.ckpt.safetensors)  --resume CHECKPOINT\n"
            "  eval     score saved weights on the test split or --data FILE\n"
            "           --weights W  --data FILE  --batch N  --json\n"
            "  predict  predict CSV rows (features only) from stdin or --input FILE\n"
            "           --weights W  --input FILE  --batch N  --proba  --raw\n"
            "  info     signature, parameters, FLOPs, memory plan (--json: manifest)\n"
            "any command: --threads N (matrix-product threads; or AAI_THREADS)\n"
            "\n"
            "exit codes: 0 ok, 1 bad input, 2 usage, 3 internal error,\n"
            "4 training diverged (NaN/Inf).\n",
            c->prog, c->man.name, aairt_task_name(c->man.task), c->man.name);
    if (c->baked)
        fprintf(f, "eval and predict use the weights baked in from %s unless --weights\n"
                   "is given; train writes %s.safetensors.\n",
                c->baked->source ? c->baked->source : "aaic --weights", c->man.name);
    else
        fprintf(f, "weights default to %s.safetensors.\n", c->man.name);
}

static void print_shape(FILE *f, const int64_t *shape, int rank) {
    fputc('[', f);
    for (int i = 0; i < rank; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)shape[i]);
    fputc(']', f);
}

static char *default_weights(const Cli *c) {
    size_t n = strlen(c->man.name) + sizeof ".safetensors";
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.safetensors", c->man.name);
    return p;
}

/* ---- train ------------------------------------------------------------ */

static int cmd_train(Cli *c, int argc, char **argv) {
    const AairtManifest *m = &c->man;
    int64_t epochs = 0, batch = 0, seed = 0, ckpt_every = 0;
    double lr = 0;
    int g_epochs = 0, g_batch = 0, g_seed = 0, g_lr = 0, quiet = 0;
    const char *data = NULL, *test_data = NULL, *config = NULL, *out = NULL, *mpath = NULL;
    const char *ckpt = NULL, *resume = NULL;
    const OptSpec specs[] = {
        {"epochs", OPT_INT, &epochs, &g_epochs}, {"lr", OPT_FLOAT, &lr, &g_lr},
        {"batch", OPT_INT, &batch, &g_batch},    {"seed", OPT_INT, &seed, &g_seed},
        {"data", OPT_STR, &data, NULL},          {"test-data", OPT_STR, &test_data, NULL},
        {"config", OPT_STR, &config, NULL},      {"out", OPT_STR, &out, NULL},
        {"metrics", OPT_STR, &mpath, NULL},      {"quiet", OPT_FLAG, &quiet, NULL},
        {"checkpoint-every", OPT_INT, &ckpt_every, NULL},
        {"checkpoint", OPT_STR, &ckpt, NULL},    {"resume", OPT_STR, &resume, NULL},
    };
    int rc = parse_opts(c, "train", argc, argv, specs, sizeof specs / sizeof specs[0]);
    if (rc) return rc;
    if (g_batch && batch < 1) return fail(c, EXIT_USAGE, "train: --batch must be at least 1");
    if (g_lr && lr <= 0) return fail(c, EXIT_USAGE, "train: --lr must be positive");
    if (!c->model->train_step || !m->train.present)
        return fail(c, EXIT_USER, "model %s has no train block", m->name);
    if (!m->dataset) return fail(c, EXIT_USER, "model %s has no dataset block", m->name);

    AairtRunConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    if (config && aairt_config_load(config, &cfg, &c->err)) return fail_err(c, EXIT_USER);
    AairtTrainSpec ts = m->train;
    aairt_config_apply(&cfg, &ts);
    if (g_epochs) ts.epochs = epochs;
    if (g_batch) ts.batch = batch;
    if (g_seed) ts.seed = (uint64_t)seed;
    if (g_lr) ts.optimizer.lr = (float)lr;
    quiet = quiet || cfg.quiet;
    data = data ? data : cfg.data;
    test_data = test_data ? test_data : cfg.test_data;
    out = out ? out : cfg.out;
    mpath = mpath ? mpath : cfg.metrics ? cfg.metrics : "metrics.jsonl";

    AairtDataset ds;
    AairtSession s;
    FILE *jf = NULL;
    char *outbuf = NULL, *tjson = NULL, *ckptbuf = NULL;
    memset(&ds, 0, sizeof ds);
    memset(&s, 0, sizeof s);
    rc = EXIT_USER;
    if (aairt_dataset_load(m->dataset, data, test_data, &ds, &c->err)) {
        rc = fail_err(c, EXIT_USER);
        goto done;
    }
    if (aairt_session_init(&s, c->model, m, ts.batch, 1, &c->err)) {
        rc = fail_err(c, EXIT_INTERNAL);
        goto done;
    }
    aairt_init_params(m, s.params, ts.seed);
    if (!out && !(out = outbuf = default_weights(c))) {
        rc = fail(c, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    /* Checkpoints go to --checkpoint, else back to the file resumed from,
     * else <model>.ckpt.safetensors. */
    if (ckpt_every > 0 && !ckpt && !(ckpt = resume)) {
        size_t n = strlen(m->name) + sizeof ".ckpt.safetensors";
        if (!(ckpt = ckptbuf = malloc(n))) {
            rc = fail(c, EXIT_INTERNAL, "out of memory");
            goto done;
        }
        snprintf(ckptbuf, n, "%s.ckpt.safetensors", m->name);
    }
    /* A resumed run appends; the trainer cuts the file back to the length
     * the checkpoint recorded. */
    if (!(jf = fopen(mpath, resume ? "a" : "w"))) {
        rc = fail(c, EXIT_USER, "%s: %s", mpath, strerror(errno));
        goto done;
    }
    AairtProgress pg;
    aairt_progress_init(&pg, stdout, quiet);
    AairtTrainOptions to = {.epochs = ts.epochs, .batch = ts.batch, .seed = ts.seed,
                            .optimizer = ts.optimizer, .schedule = ts.schedule,
                            .metrics = ts.metrics, .metrics_file = jf, .progress = &pg,
                            .manifest_json = c->model->manifest_json,
                            .checkpoint_path = ckpt_every > 0 ? ckpt : NULL,
                            .checkpoint_every = ckpt_every, .resume_path = resume};
    int trc = aairt_train(&s, &ds, &to, &c->err);
    if (trc) {
        rc = fail_err(c, trc == AAIRT_TRAIN_NONFINITE ? EXIT_DIVERGED : EXIT_USER);
        goto done;
    }
    if (fclose(jf) != 0) {
        jf = NULL;
        rc = fail(c, EXIT_USER, "%s: write failed", mpath);
        goto done;
    }
    jf = NULL;
    tjson = aairt_transforms_to_json(ds.features, ds.label);
    if (!tjson) {
        rc = fail(c, EXIT_INTERNAL, "cannot serialise the fitted transforms");
        goto done;
    }
    if (aairt_weights_save(out, m, c->model->manifest_json, s.params, tjson, &c->err)) {
        rc = fail_err(c, EXIT_USER);
        goto done;
    }
    AairtCardRun card = {.weights_path = out, .data = data, .test_data = test_data,
                         .metrics_path = mpath, .epochs = ts.epochs, .batch = ts.batch,
                         .seed = ts.seed, .optimizer = &ts.optimizer};
    if (aairt_card_write(m, &card, &c->err)) {
        rc = fail_err(c, EXIT_USER);
        goto done;
    }
    if (!quiet)
        printf("saved %s (%lld parameters), metrics in %s\n", out,
               (long long)m->n_param_floats, mpath);
    rc = 0;
done:
    if (jf) fclose(jf);
    free(tjson);
    free(outbuf);
    free(ckptbuf);
    aairt_session_free(&s);
    aairt_dataset_free(&ds);
    aairt_config_free(&cfg);
    return rc;
}

/* ---- weights + transforms shared by eval and predict ------------------ */

typedef struct Loaded {
    AairtSession s;
    AairtTransforms *features, *label; /* owned; NULL when not saved */
} Loaded;

static void loaded_free(Loaded *l) {
    aairt_session_free(&l->s);
    if (l->features) aairt_transforms_free(l->features);
    if (l->label) aairt_transforms_free(l->label);
    memset(l, 0, sizeof *l);
}

/* The fitted transforms a weights file carries must fit this model: the
 * readers size rows by them. Prints the problem and returns 1. */
static int transforms_mismatch(Cli *c, const Loaded *l, const char *path) {
    const AairtManifest *m = &c->man;
    int64_t fw = l->features ? aairt_transforms_width(l->features) : m->x_width;
    int64_t lw = l->label ? aairt_transforms_width(l->label) : m->label_width;
    int64_t k = l->label ? aairt_transforms_n_classes(l->label) : 0;
    if (fw != m->x_width || lw != m->label_width)
        return fail(c, 1, "%s: aai.transforms are for %lld features and %lld label columns; "
                          "model %s has %lld and %lld", path, (long long)fw, (long long)lw,
                    m->name, (long long)m->x_width, (long long)m->label_width);
    if (k > 0 && m->task == AAIRT_TASK_CLASSIFICATION && k != m->classes)
        return fail(c, 1, "%s: aai.transforms have %lld classes; model %s has %lld", path,
                    (long long)k, m->name, (long long)m->classes);
    return 0;
}

/* The weights of `path`, else the baked ones, else <model>.safetensors,
 * into a session at `batch` rows. Baked weights are used in place. */
static int load_weights(Cli *c, const char *path, int64_t batch, Loaded *l) {
    memset(l, 0, sizeof *l);
    const AairtManifest *m = &c->man;
    if (!path && c->baked) {
        const char *from = c->baked->source ? c->baked->source : "baked weights";
        int rc = 0;
        if (c->baked->n_floats != m->n_param_floats)
            rc = fail(c, EXIT_INTERNAL, "%s: %lld baked floats, model %s has %lld", from,
                      (long long)c->baked->n_floats, m->name, (long long)m->n_param_floats);
        else if (aairt_session_init_borrowed(&l->s, c->model, m, batch, c->baked->weights,
                                             &c->err))
            rc = fail_err(c, EXIT_INTERNAL);
        else if (c->baked->transforms_json &&
                 aairt_transforms_from_json(c->baked->transforms_json, &l->features, &l->label,
                                            &c->err))
            rc = fail(c, EXIT_INTERNAL, "%s: %s", from, c->err.msg);
        else if (transforms_mismatch(c, l, from))
            rc = EXIT_INTERNAL;
        if (rc) loaded_free(l);
        return rc;
    }
    char *def = NULL, *tjson = NULL;
    if (!path && !(path = def = default_weights(c))) return fail(c, EXIT_INTERNAL, "out of memory");
    int rc = 0;
    if (aairt_session_init(&l->s, c->model, m, batch, 0, &c->err))
        rc = fail_err(c, EXIT_INTERNAL);
    else if (aairt_weights_load(path, m, l->s.params, &tjson, &c->err))
        rc = fail_err(c, EXIT_USER);
    else if (tjson && aairt_transforms_from_json(tjson, &l->features, &l->label, &c->err))
        rc = fail(c, EXIT_USER, "%s: %s", path, c->err.msg);
    else if (transforms_mismatch(c, l, path))
        rc = EXIT_USER;
    free(tjson);
    free(def);
    if (rc) loaded_free(l);
    return rc;
}

static int64_t default_batch(const Cli *c) {
    return c->man.train.batch > 0 ? c->man.train.batch : 32;
}

/* ---- eval ------------------------------------------------------------- */

static void print_confusion(const AairtMetrics *mt) {
    int64_t k = mt->classes;
    printf("confusion matrix (rows: true class, columns: predicted)\n      ");
    for (int64_t j = 0; j < k; j++) printf(" %6lld", (long long)j);
    printf("\n");
    for (int64_t i = 0; i < k; i++) {
        printf("%6lld", (long long)i);
        for (int64_t j = 0; j < k; j++) printf(" %6lld", (long long)mt->confusion[i * k + j]);
        printf("\n");
    }
}

static void print_json_number(const char *key, double v, int first) {
    printf("%s\"%s\": ", first ? "" : ", ", key);
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

static int cmd_eval(Cli *c, int argc, char **argv) {
    const AairtManifest *m = &c->man;
    const char *weights = NULL, *data = NULL;
    int64_t batch = default_batch(c);
    int json = 0;
    const OptSpec specs[] = {
        {"weights", OPT_STR, &weights, NULL}, {"data", OPT_STR, &data, NULL},
        {"batch", OPT_INT, &batch, NULL},     {"json", OPT_FLAG, &json, NULL},
    };
    int rc = parse_opts(c, "eval", argc, argv, specs, sizeof specs / sizeof specs[0]);
    if (rc) return rc;
    if (batch < 1) return fail(c, EXIT_USAGE, "eval: --batch must be at least 1");
    if (!m->dataset) return fail(c, EXIT_USER, "model %s has no dataset block", m->name);
    Loaded l;
    if ((rc = load_weights(c, weights, batch, &l))) return rc;

    AairtDataset ds;
    AairtSplit own;
    AairtMetrics mt;
    memset(&ds, 0, sizeof ds);
    memset(&own, 0, sizeof own);
    memset(&mt, 0, sizeof mt);
    const AairtSplit *split;
    const AairtTransforms *label;
    if (data) {
        if (aairt_dataset_load_split(m->dataset, data, l.features, l.label, 1, &own, &c->err)) {
            rc = fail_err(c, EXIT_USER);
            goto done;
        }
        split = &own;
        label = l.label;
    } else {
        /* The holdout split is re-derived: same seed, same rows, and the
         * transforms refit on the same training rows are the saved ones. */
        if (aairt_dataset_load(m->dataset, NULL, NULL, &ds, &c->err)) {
            rc = fail_err(c, EXIT_USER);
            goto done;
        }
        split = &ds.test;
        label = ds.label;
    }
    if (split->n == 0) {
        rc = fail(c, EXIT_USER, "no rows to evaluate%s", data ? "" : " (no test split; pass --data)");
        goto done;
    }
    if (aairt_metrics_init(&mt, m->task, m->out_width, m->label_width, m->classes)) {
        rc = fail(c, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    if (aairt_evaluate(&l.s, split, label, &mt, &c->err)) {
        rc = fail_err(c, EXIT_USER);
        goto done;
    }
    if (json) {
        printf("{\"samples\": %lld", (long long)mt.n);
        print_json_number("loss", aairt_metrics_loss(&mt), 0);
        if (m->task == AAIRT_TASK_REGRESSION) {
            print_json_number("mse", aairt_metrics_mse(&mt), 0);
            print_json_number("r2", aairt_metrics_r2(&mt), 0);
        } else {
            print_json_number("accuracy", aairt_metrics_accuracy(&mt), 0);
        }
        printf("}\n");
    } else {
        printf("samples   %lld\nloss      %.6f\n", (long long)mt.n, aairt_metrics_loss(&mt));
        if (m->task == AAIRT_TASK_REGRESSION)
            printf("mse       %.6g\nr2        %.6f\n", aairt_metrics_mse(&mt),
                   aairt_metrics_r2(&mt));
        else
            printf("accuracy  %.6f  (%lld/%lld)\n", aairt_metrics_accuracy(&mt),
                   (long long)mt.correct, (long long)mt.total);
        if (m->task == AAIRT_TASK_CLASSIFICATION && mt.confusion) print_confusion(&mt);
    }
    rc = 0;
done:
    aairt_metrics_free(&mt);
    aairt_split_free(&own);
    aairt_dataset_free(&ds);
    loaded_free(&l);
    return rc;
}

/* ---- predict ---------------------------------------------------------- */

/* Copies stdin to a private temporary file so the CSV reader gets a path. */
static int stdin_to_temp(Cli *c, char *path, size_t size) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/aai-predict-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return fail(c, EXIT_USER, "cannot create a temporary file: %s", strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(path);
        return fail(c, EXIT_USER, "cannot create a temporary file: %s", strerror(errno));
    }
    char buf[65536];
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        if (fwrite(buf, 1, n, f) != n) bad = 1;
    bad |= ferror(stdin);
    if (fclose(f) != 0 || bad) {
        unlink(path);
        return fail(c, EXIT_USER, "cannot copy the input from stdin");
    }
    return 0;
}

static void print_columns(const char *base, int64_t width) {
    if (width == 1) {
        printf("%s", base);
        return;
    }
    for (int64_t j = 0; j < width; j++) printf("%s%s_%lld", j ? "," : "", base, (long long)j);
}

static void print_header(const AairtManifest *m, int proba) {
    if (m->task == AAIRT_TASK_CLASSIFICATION) {
        printf("class");
        if (proba)
            for (int64_t j = 0; j < m->classes; j++) printf(",p%lld", (long long)j);
    } else {
        print_columns("prediction", m->out_width);
        if (proba && m->task == AAIRT_TASK_BINARY) {
            printf(",");
            print_columns("p", m->out_width);
        }
    }
    printf("\n");
}

/* One output line per row of `out` (b rows). `prob` holds classes floats. */
static void print_rows(const AairtManifest *m, const float *out, int64_t b, int proba,
                       float *prob) {
    const int64_t w = m->out_width;
    for (int64_t i = 0; i < b; i++) {
        const float *row = out + i * w;
        if (m->task == AAIRT_TASK_CLASSIFICATION) {
            printf("%lld", (long long)aairt_argmax(row, m->classes));
            if (proba) {
                aairt_softmax_row(row, prob, m->classes);
                for (int64_t j = 0; j < m->classes; j++) printf(",%.6f", (double)prob[j]);
            }
        } else if (m->task == AAIRT_TASK_BINARY) {
            for (int64_t j = 0; j < w; j++) printf("%s%d", j ? "," : "", row[j] > 0.0f);
            if (proba)
                for (int64_t j = 0; j < w; j++)
                    printf(",%.6f", 1.0 / (1.0 + exp(-(double)row[j])));
        } else {
            for (int64_t j = 0; j < w; j++) printf("%s%.7g", j ? "," : "", (double)row[j]);
        }
        printf("\n");
    }
}

/* --raw: the model's output floats, %.9g (round-trips every float), so
 * embedding programs can be compared bit for bit. */
static void print_raw(const float *out, int64_t b, int64_t w) {
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < w; j++) printf("%.9g%s", (double)out[i * w + j], j + 1 < w ? "," : "\n");
}

static int cmd_predict(Cli *c, int argc, char **argv) {
    const AairtManifest *m = &c->man;
    const char *weights = NULL, *input = NULL;
    int64_t batch = default_batch(c);
    int proba = 0, raw = 0;
    const OptSpec specs[] = {
        {"weights", OPT_STR, &weights, NULL}, {"input", OPT_STR, &input, NULL},
        {"batch", OPT_INT, &batch, NULL},     {"proba", OPT_FLAG, &proba, NULL},
        {"raw", OPT_FLAG, &raw, NULL},
    };
    int rc = parse_opts(c, "predict", argc, argv, specs, sizeof specs / sizeof specs[0]);
    if (rc) return rc;
    if (batch < 1) return fail(c, EXIT_USAGE, "predict: --batch must be at least 1");
    if (proba && m->task == AAIRT_TASK_REGRESSION)
        return fail(c, EXIT_USAGE, "predict: --proba needs a classification or binary model");
    if (!m->dataset) return fail(c, EXIT_USER, "model %s has no dataset block", m->name);
    Loaded l;
    if ((rc = load_weights(c, weights, batch, &l))) return rc;

    AairtSplit split;
    memset(&split, 0, sizeof split);
    char tmp[4096] = "";
    float *prob = NULL;
    if (!input) {
        if ((rc = stdin_to_temp(c, tmp, sizeof tmp))) goto done;
        input = tmp;
    }
    int bad = aairt_dataset_load_split(m->dataset, input, l.features, l.label, 0, &split,
                                       &c->err);
    if (tmp[0]) unlink(tmp);
    if (bad) {
        if (tmp[0]) {
            /* Name stdin, not our temporary file, in the message. */
            char *at = strstr(c->err.msg, tmp);
            rc = at ? fail(c, EXIT_USER, "<stdin>%s", at + strlen(tmp))
                    : fail_err(c, EXIT_USER);
        } else {
            rc = fail_err(c, EXIT_USER);
        }
        goto done;
    }
    if (split.x_width != m->x_width) {
        rc = fail(c, EXIT_USER, "%s: rows have %lld features, the model expects %lld",
                  tmp[0] ? "<stdin>" : input, (long long)split.x_width, (long long)m->x_width);
        goto done;
    }
    prob = malloc((size_t)(m->classes > 0 ? m->classes : 1) * sizeof(float));
    if (!prob) {
        rc = fail(c, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    if (raw) print_columns("output", m->out_width), printf("\n");
    else print_header(m, proba);
    AairtSession *s = &l.s;
    for (int64_t start = 0; start < split.n; start += s->batch) {
        int64_t b = split.n - start < s->batch ? split.n - start : s->batch;
        memcpy(s->x, split.x + start * m->x_width, (size_t)(b * m->x_width) * sizeof(float));
        AairtStepArgs args = {.params = s->params, .arena = s->arena, .x = s->x,
                              .out = s->out, .batch = b};
        c->model->predict(&args);
        if (m->task == AAIRT_TASK_REGRESSION && l.label)
            aairt_transforms_invert(l.label, s->out, b, m->out_width);
        if (raw) print_raw(s->out, b, m->out_width);
        else print_rows(m, s->out, b, proba, prob);
    }
    if (fflush(stdout) != 0) rc = fail(c, EXIT_USER, "cannot write the predictions");
done:
    free(prob);
    aairt_split_free(&split);
    loaded_free(&l);
    return rc;
}

/* ---- info ------------------------------------------------------------- */

static void print_bytes(double bytes) {
    if (bytes >= 1 << 30) printf("%.1f GiB", bytes / (1 << 30));
    else if (bytes >= 1 << 20) printf("%.1f MiB", bytes / (1 << 20));
    else if (bytes >= 1 << 10) printf("%.1f KiB", bytes / (1 << 10));
    else printf("%.0f B", bytes);
}

static void print_source(const cJSON *src) {
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(src, "kind");
    const char *k = cJSON_IsString(kind) ? kind->valuestring : "?";
    printf("%s", k);
    static const char *const keys[] = {"path", "images", "labels"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, keys[i]);
        if (cJSON_IsString(v)) printf(" %s", v->valuestring);
    }
}

static void info_dataset(const AairtManifest *m) {
    const cJSON *ds = m->dataset;
    if (!ds) {
        printf("dataset     none\n");
        return;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ds, "name");
    printf("dataset     %s: ", cJSON_IsString(name) ? name->valuestring : "(unnamed)");
    print_source(cJSON_GetObjectItemCaseSensitive(ds, "source"));
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(ds, "test_source");
    if (cJSON_IsObject(test)) {
        printf("; test ");
        print_source(test);
    }
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(ds, "split");
    const cJSON *frac = cJSON_GetObjectItemCaseSensitive(split, "test");
    if (cJSON_IsNumber(frac)) printf("; holdout %g", frac->valuedouble);
    printf("\n");
}

static void info_text(const Cli *c) {
    const AairtManifest *m = &c->man;
    printf("model       %s", m->name);
    if (m->compiler) printf("  (%s)", m->compiler);
    printf("\ntask        %s", aairt_task_name(m->task));
    if (m->task == AAIRT_TASK_CLASSIFICATION) printf(", %lld classes", (long long)m->classes);
    printf("\ninput       %s: f32", m->input_name ? m->input_name : "x");
    print_shape(stdout, m->in_shape, m->in_rank);
    printf("\noutput      f32");
    print_shape(stdout, m->out_shape, m->out_rank);
    printf("\n\nparameters\n");
    int width = 4;
    for (int64_t i = 0; i < m->n_params; i++) {
        int len = (int)strlen(m->params[i].name);
        width = len > width ? len : width;
    }
    printf("  %-*s  %-16s %10s  %s\n", width, "name", "shape", "count", "init");
    for (int64_t i = 0; i < m->n_params; i++) {
        const AairtParamInfo *p = &m->params[i];
        char shape[64];
        size_t len = (size_t)snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < p->rank && len < sizeof shape; d++)
            len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%lld", d ? ", " : "",
                                    (long long)p->shape[d]);
        if (len < sizeof shape) snprintf(shape + len, sizeof shape - len, "]");
        printf("  %-*s  %-16s %10lld  %s\n", width, p->name, shape, (long long)p->size,
               aairt_init_name(p->init));
    }
    printf("  %-*s  %-16s %10lld  (", width, "total", "", (long long)m->n_param_floats);
    print_bytes((double)m->n_param_floats * 4);
    printf(")\n\n");
    if (m->flops_per_sample >= 0) {
        char f[32];
        aairt_format_count((double)m->flops_per_sample, f, sizeof f);
        printf("flops       %lld per sample (%s)\n", (long long)m->flops_per_sample, f);
    }
    int64_t stat = c->model->arena_static_floats, row = c->model->arena_row_floats;
    int64_t batch = default_batch(c);
    printf("memory      arena %lld + %lld/row floats; ", (long long)stat, (long long)row);
    print_bytes((double)(stat + row * batch) * 4);
    printf(" at batch %lld; training adds ", (long long)batch);
    print_bytes((double)m->n_param_floats * 4 *
                (m->train.optimizer.kind == AAIRT_OPT_SGD ? 2 : 3));
    printf(" (grads + optimizer state)\n");
    info_dataset(m);
    if (c->baked)
        printf("weights     baked in from %s\n", c->baked->source ? c->baked->source : "?");
    if (m->train.present) {
        const AairtTrainSpec *t = &m->train;
        printf("train       %s lr %g, %lld epochs, batch %lld, seed %llu",
               aairt_optimizer_kind_name(t->optimizer.kind), (double)t->optimizer.lr,
               (long long)t->epochs, (long long)t->batch, (unsigned long long)t->seed);
        if (t->loss) printf(", loss %s", t->loss);
        printf("\n");
    } else {
        printf("train       none (inference only)\n");
    }
}

static int cmd_info(Cli *c, int argc, char **argv) {
    int json = 0;
    const OptSpec specs[] = {{"json", OPT_FLAG, &json, NULL}};
    int rc = parse_opts(c, "info", argc, argv, specs, 1);
    if (rc) return rc;
    if (json) {
        char *text = cJSON_Print(c->man.root);
        if (!text) return fail(c, EXIT_INTERNAL, "out of memory");
        printf("%s\n", text);
        cJSON_free(text);
    } else {
        info_text(c);
    }
    return 0;
}

/* ---- dispatch --------------------------------------------------------- */

int aairt_main(const AairtModel *model, int argc, char **argv) {
    return aairt_main_baked(model, NULL, argc, argv);
}

int aairt_main_baked(const AairtModel *model, const AairtBaked *baked, int argc, char **argv) {
    Cli c;
    memset(&c, 0, sizeof c);
    c.model = model;
    c.baked = baked;
    c.prog = argc > 0 && argv[0] ? argv[0] : "model";
    const char *slash = strrchr(c.prog, '/');
    if (slash) c.prog = slash + 1;
    if (!model || aairt_manifest_parse(model->manifest_json, &c.man, &c.err))
        return fail(&c, EXIT_INTERNAL, "%s", model ? c.err.msg : "no model");
    int rc;
    if (aairt_manifest_check_model(&c.man, model, &c.err)) {
        rc = fail_err(&c, EXIT_INTERNAL);
    } else if (argc < 2) {
        usage(&c, stderr);
        rc = EXIT_USAGE;
    } else {
        const char *cmd = argv[1];
        int sub_argc = aairt_threads_take_option(argc - 2, argv + 2, &c.err);
        char **sub_argv = argv + 2;
        if (sub_argc < 0) rc = fail_err(&c, EXIT_USAGE);
        else if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
            rc = EXIT_HELP;
        else if (!strcmp(cmd, "train")) rc = cmd_train(&c, sub_argc, sub_argv);
        else if (!strcmp(cmd, "eval")) rc = cmd_eval(&c, sub_argc, sub_argv);
        else if (!strcmp(cmd, "predict")) rc = cmd_predict(&c, sub_argc, sub_argv);
        else if (!strcmp(cmd, "info")) rc = cmd_info(&c, sub_argc, sub_argv);
        else rc = fail(&c, EXIT_USAGE, "unknown command '%s' (train, eval, predict, info)", cmd);
        if (rc == EXIT_HELP) {
            usage(&c, stdout);
            rc = 0;
        }
    }
    fflush(stdout);
    aairt_manifest_free(&c.man);
    return rc;
}
