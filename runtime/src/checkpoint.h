/* checkpoint.h - crash-safe training state (train --checkpoint-every N,
 * train --resume FILE).
 *
 * A checkpoint is a safetensors file, written atomically (temporary file,
 * fsync, rename, fsync of the directory; see fileio.h), so a crash at any
 * moment leaves either the previous checkpoint or the new one, never a torn
 * file. It holds everything the epoch loop's next step depends on:
 *
 *   <param name>      F32, manifest shape  the parameter block
 *   __optim.m         F32 [n_param_floats] momentum / Adam first moment
 *   __optim.v         F32 [n_param_floats] Adam second moment (Adam, AdamW)
 *   __train.perm      I64 [n_train]        the current epoch's row order
 *
 * and, as __metadata__ strings: aai.checkpoint ("1"), aai.model,
 * aai.manifest_hash, aai.epoch (0-based epoch in progress), aai.step (steps
 * of that epoch already applied), aai.optim_step (optimizer updates so
 * far), aai.rng (shuffle stream state and increment, hex), aai.seed,
 * aai.batch, aai.rows (training rows), aai.loss_sum and aai.seen (the
 * running epoch loss, the double's bits in hex, so the epoch summary is
 * the same), aai.metrics_bytes (length of the metrics file at that point;
 * a resumed run truncates the file back to it).
 *
 * Loading validates every tensor against the manifest and the run (names,
 * dtypes, shapes, tensor count, optimizer kind, rows, batch and seed, a
 * permutation that really is one, counters in range), so a damaged or
 * foreign checkpoint is an error naming the file, never a wrong read. The
 * manifest hash is recorded but not required to match, so a model
 * recompiled with the same parameters can resume. */
#ifndef AAIRT_CHECKPOINT_H
#define AAIRT_CHECKPOINT_H

#include <stdint.h>

#include "aairt.h"
#include "model.h"
#include "rng.h"
#include "rt_error.h"

typedef struct AairtTrainState {
    int64_t epoch;          /* 0-based epoch in progress */
    int64_t step;           /* steps of that epoch already applied */
    AairtRng shuffle;       /* shuffle stream after this epoch's shuffle */
    uint64_t seed;
    int64_t batch, rows;
    double loss_sum;        /* sum of batch loss * rows this epoch */
    int64_t seen;           /* rows trained this epoch */
    int64_t metrics_bytes;  /* metrics file length; -1: unknown */
} AairtTrainState;

/* Writes params, optimizer state (opt->m, opt->v, opt->step), the row
 * order perm[0..st->rows) and *st to `path` atomically. Returns 0 or -1
 * with err naming the file. */
int aairt_checkpoint_save(const char *path, const AairtManifest *m,
                          const char *manifest_json, const float *params,
                          const AairtOptimizer *opt, const int64_t *perm,
                          const AairtTrainState *st, AairtError *err);

/* Reads a checkpoint written for this manifest into params, opt (already
 * built by aairt_optimizer_init for n_param_floats, same kind), perm
 * (`rows` entries) and *st. The checkpoint's rows must equal `rows`.
 * Returns 0 or -1 with err naming the file and what is wrong. */
int aairt_checkpoint_load(const char *path, const AairtManifest *m,
                          const char *manifest_json, float *params,
                          AairtOptimizer *opt, int64_t *perm, int64_t rows,
                          AairtTrainState *st, AairtError *err);

#endif
