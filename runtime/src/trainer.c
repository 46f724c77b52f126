/* trainer.c - sessions, the epoch loop and evaluation (see trainer.h).
 *
 * One epoch: set the scheduled learning rate, shuffle the row order (the
 * "shuffle" stream of the seed, continued across epochs), gather each
 * minibatch into the session's x/y buffers, zero the gradient block and
 * call the generated train_step, which runs forward, backward and
 * aairt_optimizer_step. The last partial batch runs with its real size.
 * Then eval_step scores the test split and the epoch is reported. */
#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "rng.h"

static float *alloc_floats(int64_t n) {
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

int aairt_session_init(AairtSession *s, const AairtModel *model,
                       const AairtManifest *m, int64_t batch, int with_grads,
                       AairtError *err) {
    memset(s, 0, sizeof *s);
    s->model = model;
    s->manifest = m;
    s->batch = batch > 0 ? batch : 1;
    /* The descriptor's sizes are authoritative; the manifest's are a copy. */
    int64_t stat = model->arena_static_floats > m->arena_static_floats
                       ? model->arena_static_floats : m->arena_static_floats;
    int64_t row = model->arena_row_floats > m->arena_row_floats ? model->arena_row_floats
                                                                : m->arena_row_floats;
    s->arena_floats = stat + row * s->batch;
    s->params = alloc_floats(m->n_param_floats);
    s->grads = with_grads ? alloc_floats(m->n_param_floats) : NULL;
    s->arena = alloc_floats(s->arena_floats);
    s->x = alloc_floats(m->x_width * s->batch);
    s->y = alloc_floats(m->label_width * s->batch);
    s->out = alloc_floats(m->out_width * s->batch);
    if (!s->params || (with_grads && !s->grads) || !s->arena || !s->x || !s->y || !s->out) {
        aairt_session_free(s);
        return aairt_error_set(err, "out of memory for a batch of %lld (arena %lld floats)",
                               (long long)batch, (long long)(stat + row * batch));
    }
    return 0;
}

void aairt_session_free(AairtSession *s) {
    if (!s) return;
    free(s->params);
    free(s->grads);
    free(s->arena);
    free(s->x);
    free(s->y);
    free(s->out);
    memset(s, 0, sizeof *s);
}

int aairt_evaluate(AairtSession *s, const AairtSplit *split,
                   const AairtTransforms *label, AairtMetrics *m, AairtError *err) {
    const AairtManifest *man = s->manifest;
    if (!split->y) return aairt_error_set(err, "the data has no labels to score against");
    if (split->x_width != man->x_width || split->y_width != man->label_width)
        return aairt_error_set(err, "the data has %lld features and %lld label columns per "
                                    "row; the model expects %lld and %lld",
                               (long long)split->x_width, (long long)split->y_width,
                               (long long)man->x_width, (long long)man->label_width);
    for (int64_t start = 0; start < split->n; start += s->batch) {
        int64_t b = split->n - start < s->batch ? split->n - start : s->batch;
        memcpy(s->x, split->x + start * man->x_width, (size_t)(b * man->x_width) * sizeof(float));
        memcpy(s->y, split->y + start * man->label_width,
               (size_t)(b * man->label_width) * sizeof(float));
        AairtStepArgs args = {.params = s->params, .arena = s->arena, .x = s->x, .y = s->y,
                              .out = s->out, .loss = &s->loss, .batch = b};
        s->loss = 0;
        s->model->eval_step(&args);
        if (man->task == AAIRT_TASK_REGRESSION && label) {
            aairt_transforms_invert(label, s->out, b, man->out_width);
            aairt_transforms_invert(label, s->y, b, man->label_width);
        }
        aairt_metrics_add(m, s->out, s->y, b, s->loss);
    }
    return 0;
}

/* JSON has no NaN or infinity. */
static void json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* Appends "  name value" for each selected metric to the summary line and
 * the same as JSON members to the metrics file. */
static void report_test(const AairtMetrics *m, unsigned which, char *line, size_t size,
                        FILE *jf) {
    static const struct {
        unsigned bit;
        const char *name;
        double (*get)(const AairtMetrics *);
    } table[] = {
        {AAIRT_METRIC_LOSS, "loss", aairt_metrics_loss},
        {AAIRT_METRIC_ACCURACY, "accuracy", aairt_metrics_accuracy},
        {AAIRT_METRIC_MSE, "mse", aairt_metrics_mse},
        {AAIRT_METRIC_R2, "r2", aairt_metrics_r2},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        double v = table[i].get(m);
        if (which & table[i].bit) {
            size_t len = strlen(line);
            snprintf(line + len, size - len, "  test_%s %.4f", table[i].name, v);
        }
        if (jf && (isfinite(v) || (which & table[i].bit))) {
            fprintf(jf, ", \"test_%s\": ", table[i].name);
            json_number(jf, v);
        }
    }
}

static int train_epoch(AairtSession *s, const AairtSplit *train, int64_t *perm,
                       AairtOptimizer *optim, int64_t batch, AairtProgress *pg,
                       int64_t epoch, double *mean_loss, AairtError *err) {
    const AairtManifest *m = s->manifest;
    const int64_t xw = m->x_width, yw = m->label_width;
    const int64_t steps = (train->n + batch - 1) / batch;
    double loss_sum = 0;
    int64_t seen = 0;
    for (int64_t step = 0; step < steps; step++) {
        int64_t start = step * batch;
        int64_t b = train->n - start < batch ? train->n - start : batch;
        for (int64_t r = 0; r < b; r++) {
            int64_t src = perm[start + r];
            memcpy(s->x + r * xw, train->x + src * xw, (size_t)xw * sizeof(float));
            memcpy(s->y + r * yw, train->y + src * yw, (size_t)yw * sizeof(float));
        }
        memset(s->grads, 0, (size_t)m->n_param_floats * sizeof(float));
        AairtStepArgs args = {.params = s->params, .grads = s->grads, .arena = s->arena,
                              .x = s->x, .y = s->y, .out = s->out, .loss = &s->loss,
                              .opt = optim, .batch = b};
        s->loss = 0;
        s->model->train_step(&args);
        if (!isfinite(s->loss))
            return aairt_error_set(err, "the loss became %s at epoch %lld, step %lld "
                                        "(try a smaller --lr)",
                                   isnan(s->loss) ? "NaN" : "infinite",
                                   (long long)epoch + 1, (long long)step + 1);
        loss_sum += (double)s->loss * (double)b;
        seen += b;
        aairt_progress_step(pg, step + 1, seen, loss_sum / (double)seen);
    }
    *mean_loss = seen > 0 ? loss_sum / (double)seen : NAN;
    return 0;
}

int aairt_train(AairtSession *s, const AairtDataset *ds, const AairtTrainOptions *opt,
                AairtError *err) {
    const AairtManifest *m = s->manifest;
    const AairtSplit *train = &ds->train;
    if (!s->model->train_step) return aairt_error_set(err, "this model has no train block");
    if (!train->y || train->n == 0) return aairt_error_set(err, "no labelled training rows");
    if (train->x_width != m->x_width || train->y_width != m->label_width)
        return aairt_error_set(err, "the data has %lld features and %lld label columns per "
                                    "row; the model expects %lld and %lld",
                               (long long)train->x_width, (long long)train->y_width,
                               (long long)m->x_width, (long long)m->label_width);
    int64_t batch = opt->batch < s->batch ? opt->batch : s->batch;
    AairtOptimizer optim;
    AairtMetrics test;
    int64_t *perm = malloc((size_t)train->n * sizeof *perm);
    if (!perm) return aairt_error_set(err, "out of memory");
    if (aairt_optimizer_init(&optim, &opt->optimizer, m->n_param_floats, err)) {
        free(perm);
        return -1;
    }
    if (aairt_metrics_init(&test, m->task, m->out_width, m->label_width, m->classes)) {
        aairt_optimizer_free(&optim);
        free(perm);
        return aairt_error_set(err, "out of memory");
    }
    for (int64_t i = 0; i < train->n; i++) perm[i] = i;
    AairtRng shuffle;
    aairt_rng_seed(&shuffle, opt->seed, AAIRT_RNG_STREAM_SHUFFLE);
    const int64_t steps = (train->n + batch - 1) / batch;
    int rc = 0;
    for (int64_t epoch = 0; epoch < opt->epochs && rc == 0; epoch++) {
        optim.lr = aairt_schedule_lr(&opt->schedule, opt->optimizer.lr, epoch, opt->epochs);
        aairt_rng_shuffle(&shuffle, perm, train->n);
        aairt_progress_epoch_begin(opt->progress, epoch, opt->epochs, steps);
        double t0 = aairt_now(), loss;
        rc = train_epoch(s, train, perm, &optim, batch, opt->progress, epoch, &loss, err);
        if (rc) break;
        double secs = aairt_now() - t0;
        double rate = secs > 0 ? (double)train->n / secs : 0;

        char line[512], r[32];
        snprintf(line, sizeof line, "epoch %lld/%lld  loss %.4f", (long long)epoch + 1,
                 (long long)opt->epochs, loss);
        FILE *jf = opt->metrics_file;
        if (jf) {
            fprintf(jf, "{\"epoch\": %lld, \"lr\": ", (long long)epoch + 1);
            json_number(jf, optim.lr);
            fputs(", \"loss\": ", jf);
            json_number(jf, loss);
        }
        if (ds->test.n > 0 && ds->test.y) {
            aairt_metrics_reset(&test);
            rc = aairt_evaluate(s, &ds->test, ds->label, &test, err);
            if (rc) break;
            report_test(&test, opt->metrics, line, sizeof line, jf);
        }
        aairt_format_count(rate, r, sizeof r);
        size_t len = strlen(line);
        snprintf(line + len, sizeof line - len, "  %s samples/s", r);
        if (jf) {
            fputs(", \"seconds\": ", jf);
            json_number(jf, secs);
            fputs(", \"samples_per_s\": ", jf);
            json_number(jf, rate);
            fputs("}\n", jf);
            fflush(jf);
        }
        aairt_progress_epoch_end(opt->progress, line);
    }
    aairt_metrics_free(&test);
    aairt_optimizer_free(&optim);
    free(perm);
    return rc;
}
