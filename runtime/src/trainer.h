/* trainer.h - buffers for running a model, the epoch loop, evaluation.
 *
 * An AairtSession owns every buffer the generated entry points touch for a
 * given batch capacity: parameters, gradients, the one scratch arena
 * (arena_static_floats + arena_row_floats * batch), and the x/y/out batch
 * buffers minibatches are gathered into. Nothing is allocated once the
 * session exists, so the step loop never calls malloc. */
#ifndef AAIRT_TRAINER_H
#define AAIRT_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "aairt.h"
#include "dataset.h"
#include "metrics.h"
#include "model.h"
#include "progress.h"
#include "rt_error.h"

typedef struct AairtSession {
    const AairtModel *model;       /* not owned */
    const AairtManifest *manifest; /* not owned */
    int64_t batch;                 /* capacity in rows */
    int64_t arena_floats;
    float *params;                 /* n_param_floats, owned unless borrowed */
    int params_borrowed;           /* params are the caller's (read-only) */
    float *grads;                  /* n_param_floats, owned; NULL unless training */
    float *arena;                  /* owned */
    float *x, *y, *out;            /* batch buffers, owned */
    float loss;                    /* written by train_step / eval_step */
} AairtSession;

/* Allocates a session for `batch` rows (64-byte aligned buffers, zeroed).
 * with_grads: also the gradient block. Returns 0 or -1 (err set). */
int aairt_session_init(AairtSession *s, const AairtModel *model,
                       const AairtManifest *m, int64_t batch, int with_grads,
                       AairtError *err);
/* A session for predict and eval_step (no gradients) whose parameters
 * are `weights` itself, e.g. weights baked into the executable: nothing is
 * copied, and the session never writes or frees them. */
int aairt_session_init_borrowed(AairtSession *s, const AairtModel *model,
                                const AairtManifest *m, int64_t batch, const float *weights,
                                AairtError *err);
void aairt_session_free(AairtSession *s);

typedef struct AairtTrainOptions {
    int64_t epochs, batch;          /* batch <= session capacity */
    uint64_t seed;                  /* shuffle stream seed */
    AairtOptimizerSpec optimizer;
    AairtSchedule schedule;
    unsigned metrics;               /* AAIRT_METRIC_* shown per epoch */
    FILE *metrics_file;             /* one JSON line per epoch; NULL: none */
    AairtProgress *progress;        /* not NULL */
    const char *manifest_json;      /* the descriptor's text (checkpoint hash) */
    const char *checkpoint_path;    /* where checkpoints go; NULL: none */
    int64_t checkpoint_every;       /* steps between checkpoints; 0: none */
    const char *resume_path;        /* checkpoint to continue from; NULL: start */
} AairtTrainOptions;

/* aairt_train's result when a loss, gradient or parameter stops being
 * finite (the CLI's exit code 4); -1 is every other failure. */
#define AAIRT_TRAIN_NONFINITE (-2)

/* Trains s->params (already initialised) on ds->train for opt->epochs,
 * evaluating ds->test after every epoch. With checkpoint_every, writes the
 * whole training state (checkpoint.h) to checkpoint_path atomically every
 * that many steps; with resume_path, first restores params, optimizer
 * state, row order, RNG, epoch and step from it (and truncates the metrics
 * file back to the length it had then), so the run ends on bitwise the
 * weights of an uninterrupted one. After every step the loss, gradients
 * and parameters are checked: the first non-finite one stops training
 * with AAIRT_TRAIN_NONFINITE and err naming epoch, step and tensor (the
 * last checkpoint is left as it was). Returns 0, -1 with err set, or
 * AAIRT_TRAIN_NONFINITE. */
int aairt_train(AairtSession *s, const AairtDataset *ds,
                const AairtTrainOptions *opt, AairtError *err);

/* Scores `split` with eval_step in batches of the session's capacity,
 * accumulating into `m` (initialised by the caller). For regression the
 * label transform is undone on outputs and targets first (`label` may be
 * NULL). Returns 0 or -1 when the split has no labels. */
int aairt_evaluate(AairtSession *s, const AairtSplit *split,
                   const AairtTransforms *label, AairtMetrics *m, AairtError *err);

#endif
