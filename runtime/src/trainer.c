/* trainer.c - sessions, the epoch loop and evaluation (see trainer.h).
 *
 * One epoch: set the scheduled learning rate, shuffle the row order (the
 * "shuffle" stream of the seed, continued across epochs), gather each
 * minibatch into the session's x/y buffers and call the generated
 * train_step, which runs forward, backward and aairt_optimizer_step. The
 * gradient block is not zeroed: autodiff gives every parameter a gradient
 * value (zeros for an unused one) and memplan stores each straight into its
 * range, so every step overwrites the whole block (alignment gaps stay at
 * their initial zeros). The last partial batch runs with its real size.
 * Then eval_step scores the test split and the epoch is reported.
 *
 * Reliability: after every step the loss, gradients and parameters are
 * checked for NaN/Inf (the first bad tensor is named by its manifest
 * range); the optimizer screens the floats it updates on its way through
 * them, so only the rest (buffers) is scanned here, and the per-tensor
 * scan runs only once something is known to be bad, and every checkpoint_every steps the whole state goes to an
 * atomic checkpoint (checkpoint.h) that --resume continues bitwise. */
#include "trainer.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "checkpoint.h"
#include "optim.h"
#include "rng.h"

/* Zeroed and 64-byte aligned. calloc hands big blocks over as fresh zero
 * pages without writing them, so a buffer sized for a whole batch costs
 * page faults only for the part a step touches (a one-row prediction with
 * a batch-64 session touches a fraction of its arena and x buffer). The
 * pointer calloc returned sits just below the aligned block. */
static float *alloc_floats(int64_t n) {
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    unsigned char *raw = calloc(1, bytes + 64 + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)at)[-1] = raw;
    return (float *)at;
}

static void free_floats(float *p) {
    if (p) free(((void **)p)[-1]);
}

static int session_init(AairtSession *s, const AairtModel *model, const AairtManifest *m,
                        int64_t batch, int with_grads, const float *borrowed,
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
    s->params_borrowed = borrowed != NULL;
    s->params = borrowed ? (float *)borrowed : alloc_floats(m->n_param_floats);
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

int aairt_session_init(AairtSession *s, const AairtModel *model,
                       const AairtManifest *m, int64_t batch, int with_grads,
                       AairtError *err) {
    return session_init(s, model, m, batch, with_grads, NULL, err);
}

int aairt_session_init_borrowed(AairtSession *s, const AairtModel *model,
                                const AairtManifest *m, int64_t batch, const float *weights,
                                AairtError *err) {
    return session_init(s, model, m, batch, 0, weights, err);
}

void aairt_session_free(AairtSession *s) {
    if (!s) return;
    if (!s->params_borrowed) free_floats(s->params);
    free_floats(s->grads);
    free_floats(s->arena);
    free_floats(s->x);
    free_floats(s->y);
    free_floats(s->out);
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

/* Index of the first float in p[0..n) that is NaN or infinite, or -1. The
 * test is on the exponent bits so the loop vectorizes. */
static int64_t first_nonfinite(const float *p, int64_t n) {
    const uint32_t *u = (const uint32_t *)(const void *)p;
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
    if (!bad) return -1;
    for (int64_t i = 0; i < n; i++)
        if ((u[i] & 0x7f800000u) == 0x7f800000u) return i;
    return -1;
}

/* The manifest parameter whose range holds float `at` of the block. */
static const char *param_at(const AairtManifest *m, int64_t at) {
    for (int64_t i = 0; i < m->n_params; i++)
        if (at >= m->params[i].offset && at < m->params[i].offset + m->params[i].size)
            return m->params[i].name;
    return "(outside every parameter)";
}

/* After a step: the loss, the gradient block and the updated parameters
 * must all be finite. `screened` floats at the front of both blocks were
 * already checked by the optimizer (`flagged`: it found a NaN/Inf there).
 * Names the first offender. */
static int check_finite(const AairtSession *s, int64_t screened, int flagged, int64_t epoch,
                        int64_t step, const char *checkpoint, AairtError *err) {
    const AairtManifest *m = s->manifest;
    int64_t n = m->n_param_floats;
    if (screened < 0 || screened > n) screened = 0;
    if (!flagged && isfinite(s->loss) && first_nonfinite(s->grads + screened, n - screened) < 0 &&
        first_nonfinite(s->params + screened, n - screened) < 0)
        return 0;
    int64_t g = first_nonfinite(s->grads, m->n_param_floats);
    int64_t p = g < 0 ? first_nonfinite(s->params, m->n_param_floats) : -1;
    if (g < 0 && p < 0 && isfinite(s->loss)) return 0;
    char what[256];
    float bad = g >= 0 ? s->grads[g] : p >= 0 ? s->params[p] : s->loss;
    if (g >= 0)
        snprintf(what, sizeof what, "the gradient of '%s'", param_at(m, g));
    else if (p >= 0)
        snprintf(what, sizeof what, "parameter '%s' after the update", param_at(m, p));
    else
        snprintf(what, sizeof what, "the loss");
    char loss[32];
    if (isfinite(s->loss)) snprintf(loss, sizeof loss, "%g", (double)s->loss);
    else snprintf(loss, sizeof loss, "%s", isnan(s->loss) ? "NaN" : "infinite");
    aairt_error_set(err, "training diverged at epoch %lld, step %lld: %s is %s (loss %s); "
                         "stopped%s%s (try a smaller --lr)",
                    (long long)epoch + 1, (long long)step + 1, what,
                    isnan(bad) ? "NaN" : "infinite", loss,
                    checkpoint ? ", the last good checkpoint is kept: " : "",
                    checkpoint ? checkpoint : "");
    return AAIRT_TRAIN_NONFINITE;
}

/* Everything one epoch's loop carries, so a checkpoint can capture it. */
typedef struct EpochRun {
    const AairtTrainOptions *opt;
    AairtOptimizer *optim;
    AairtTrainState st;    /* epoch, step, rng, loss_sum, seen, ... */
    int64_t *perm;
    const char *last_checkpoint; /* written or resumed by this run; NULL: none */
} EpochRun;

static int save_checkpoint(AairtSession *s, EpochRun *r, AairtError *err) {
    FILE *jf = r->opt->metrics_file;
    r->st.metrics_bytes = -1;
    if (jf && fflush(jf) == 0) {
        long pos = ftell(jf);
        r->st.metrics_bytes = pos >= 0 ? (int64_t)pos : -1;
    }
    if (aairt_checkpoint_save(r->opt->checkpoint_path, s->manifest, r->opt->manifest_json,
                              s->params, r->optim, r->perm, &r->st, err))
        return -1;
    r->last_checkpoint = r->opt->checkpoint_path;
    return 0;
}

/* The rows of one batch, copied from the split in the shuffled order. */
typedef struct Gather {
    const AairtSplit *split;
    const int64_t *rows; /* the batch's row numbers */
    float *x, *y;
    int64_t xw, yw;
} Gather;

static void gather_rows(void *ctx, int64_t lo, int64_t hi) {
    const Gather *g = ctx;
    for (int64_t row = lo; row < hi; row++) {
        int64_t src = g->rows[row];
        memcpy(g->x + row * g->xw, g->split->x + src * g->xw, (size_t)g->xw * sizeof(float));
        memcpy(g->y + row * g->yw, g->split->y + src * g->yw, (size_t)g->yw * sizeof(float));
    }
}

/* Runs steps r->st.step .. of the epoch r->st.epoch. The batch gather
 * reads rows scattered over the whole data set (cache misses; the rows sit
 * in huge pages, rows_alloc.c, so not a TLB miss each: 3 % of a 1-thread
 * MLP epoch); with threads to spare it is cut over them like any
 * row-local kernel (aairt_run_rows), so it does not stay serial. */
static int train_epoch(AairtSession *s, const AairtSplit *train, EpochRun *r,
                       AairtProgress *pg, AairtError *err) {
    const AairtManifest *m = s->manifest;
    const int64_t xw = m->x_width, yw = m->label_width, batch = r->st.batch;
    const int64_t steps = (train->n + batch - 1) / batch;
    const int64_t every = r->opt->checkpoint_path ? r->opt->checkpoint_every : 0;
    for (int64_t step = r->st.step; step < steps; step++) {
        int64_t start = step * batch;
        int64_t b = train->n - start < batch ? train->n - start : batch;
        Gather g = {train, r->perm + start, s->x, s->y, xw, yw};
        aairt_run_rows(gather_rows, &g, b, xw + yw);
        AairtStepArgs args = {.params = s->params, .grads = s->grads, .arena = s->arena,
                              .x = s->x, .y = s->y, .out = s->out, .loss = &s->loss,
                              .opt = r->optim, .batch = b};
        s->loss = 0;
        int64_t updates = r->optim->step;
        s->model->train_step(&args);
        /* trust the optimizer's screen only when this step ran it */
        int ran = r->optim->step == updates + 1;
        int rc = check_finite(s, ran ? r->optim->checked : 0, ran && r->optim->nonfinite,
                              r->st.epoch, step, r->last_checkpoint, err);
        if (rc) return rc;
        r->st.loss_sum += (double)s->loss * (double)b;
        r->st.seen += b;
        r->st.step = step + 1;
        aairt_progress_step(pg, step + 1, r->st.seen, r->st.loss_sum / (double)r->st.seen);
        if (every > 0 && r->optim->step % every == 0 && save_checkpoint(s, r, err)) return -1;
    }
    return 0;
}

/* Restores the state of r->opt->resume_path; the metrics file is cut back
 * to what it held when the checkpoint was taken. */
static int resume(AairtSession *s, const AairtSplit *train, EpochRun *r, AairtError *err) {
    const AairtTrainOptions *opt = r->opt;
    AairtTrainState st;
    if (aairt_checkpoint_load(opt->resume_path, s->manifest, opt->manifest_json, s->params,
                              r->optim, r->perm, train->n, &st, err))
        return -1;
    if (st.batch != r->st.batch || st.seed != r->st.seed)
        return aairt_error_set(err, "%s: the checkpoint was taken with batch %lld and seed "
                                    "%llu; this run has batch %lld and seed %llu",
                               opt->resume_path, (long long)st.batch,
                               (unsigned long long)st.seed, (long long)r->st.batch,
                               (unsigned long long)r->st.seed);
    FILE *jf = opt->metrics_file;
    if (jf && st.metrics_bytes >= 0) {
        fflush(jf);
        if (fseek(jf, 0, SEEK_END) == 0 && ftell(jf) >= st.metrics_bytes &&
            ftruncate(fileno(jf), (off_t)st.metrics_bytes) == 0)
            fseek(jf, 0, SEEK_END);
    }
    r->st = st;
    r->last_checkpoint = opt->resume_path;
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
    EpochRun r = {.opt = opt, .optim = &optim, .perm = perm,
                  .st = {.seed = opt->seed, .batch = batch, .rows = train->n}};
    aairt_rng_seed(&r.st.shuffle, opt->seed, AAIRT_RNG_STREAM_SHUFFLE);
    int rc = opt->resume_path ? resume(s, train, &r, err) : 0;
    /* A resumed epoch continues its own row order: no new shuffle. */
    int shuffled = opt->resume_path != NULL;
    const int64_t steps = (train->n + batch - 1) / batch;
    for (; r.st.epoch < opt->epochs && rc == 0; r.st.epoch++, shuffled = 0) {
        int64_t epoch = r.st.epoch;
        optim.lr = aairt_schedule_lr(&opt->schedule, opt->optimizer.lr, epoch, opt->epochs);
        if (!shuffled) {
            aairt_rng_shuffle(&r.st.shuffle, perm, train->n);
            r.st.step = 0;
            r.st.loss_sum = 0;
            r.st.seen = 0;
        }
        aairt_progress_epoch_begin(opt->progress, epoch, opt->epochs, steps);
        double t0 = aairt_now();
        rc = train_epoch(s, train, &r, opt->progress, err);
        if (rc) break;
        double loss = r.st.seen > 0 ? r.st.loss_sum / (double)r.st.seen : NAN;
        double secs = aairt_now() - t0;
        double rate = secs > 0 ? (double)train->n / secs : 0;

        char line[512], rs[32];
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
        aairt_format_count(rate, rs, sizeof rs);
        size_t len = strlen(line);
        snprintf(line + len, sizeof line - len, "  %s samples/s", rs);
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
