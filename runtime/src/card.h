/* card.h - the model card `./model train` writes beside the weights.
 *
 * <weights without .safetensors>.card.yaml, written atomically with
 * libyaml's emitter: model name, input/output signature, parameter count,
 * compiler, the training settings used (epochs, batch, lr, optimizer, seed),
 * the SHA-256 of every data file read and of the weights file, and the
 * last epoch's metrics (the last line of the metrics file, without its
 * timings). Nothing time-dependent: equal runs give equal cards. */
#ifndef AAIRT_CARD_H
#define AAIRT_CARD_H

#include <stdint.h>

#include "model.h"
#include "rt_error.h"

typedef struct AairtCardRun {
    const char *weights_path;  /* the file just written */
    const char *data;          /* --data override, or NULL (manifest's) */
    const char *test_data;     /* --test-data override, or NULL */
    const char *metrics_path;  /* metrics.jsonl; its last line = final metrics */
    int64_t epochs, batch;
    uint64_t seed;
    const AairtOptimizerSpec *optimizer;
} AairtCardRun;

/* The card's path for a weights path (malloc'd). */
char *aairt_card_path(const char *weights_path);

/* Writes the card. 0, or -1 with err naming the file. */
int aairt_card_write(const AairtManifest *m, const AairtCardRun *run, AairtError *err);

#endif
