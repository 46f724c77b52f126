/* config.h - the YAML run file (`train --config run.yaml`).
 *
 * A run file is one mapping of settings that override the manifest's train
 * block; command-line flags override the run file in turn:
 *
 *     epochs: 50          lr: 0.01        batch: 16       seed: 1
 *     optimizer: adam     # or a mapping: {kind, lr, momentum, dampening,
 *                         #   nesterov, beta1, beta2, eps, weight_decay}
 *     momentum: 0.9       # optimizer fields are also accepted at top level
 *     schedule: {kind: cosine, min_lr: 0.0001}   # or step: every, gamma
 *     data: train.csv     test_data: test.csv
 *     out: model.safetensors                     metrics: metrics.jsonl
 *     quiet: true
 *
 * An unknown key, a value of the wrong type or a YAML syntax error is
 * reported as `file:line:col: message`. */
#ifndef AAIRT_CONFIG_H
#define AAIRT_CONFIG_H

#include <stdint.h>

#include "model.h"
#include "optim.h"
#include "rt_error.h"

/* Which fields the file set (bits of AairtRunConfig.set). */
typedef enum AairtConfigField {
    AAIRT_CFG_EPOCHS, AAIRT_CFG_LR, AAIRT_CFG_BATCH, AAIRT_CFG_SEED,
    AAIRT_CFG_OPT_KIND, AAIRT_CFG_MOMENTUM, AAIRT_CFG_DAMPENING,
    AAIRT_CFG_NESTEROV, AAIRT_CFG_BETA1, AAIRT_CFG_BETA2, AAIRT_CFG_EPS,
    AAIRT_CFG_WEIGHT_DECAY, AAIRT_CFG_SCHED_KIND, AAIRT_CFG_SCHED_EVERY,
    AAIRT_CFG_SCHED_GAMMA, AAIRT_CFG_SCHED_MIN_LR, AAIRT_CFG_QUIET,
    AAIRT_CFG_COUNT
} AairtConfigField;

typedef struct AairtRunConfig {
    uint32_t set;                 /* 1u << AairtConfigField for each given */
    int64_t epochs, batch;
    uint64_t seed;
    AairtOptimizerSpec opt;       /* only the fields marked in `set` */
    AairtSchedule schedule;       /* only the fields marked in `set` */
    int quiet;
    char *data, *test_data;       /* owned, NULL when absent */
    char *out, *metrics;          /* owned, NULL when absent */
} AairtRunConfig;

/* Parses the run file at `path` into cfg (zeroed first). Returns 0, or -1
 * with err = "path:line:col: message"; cfg is then left empty. */
int aairt_config_load(const char *path, AairtRunConfig *cfg, AairtError *err);
/* Same, from a string; `name` stands for the file in messages. */
int aairt_config_parse(const char *text, size_t len, const char *name,
                       AairtRunConfig *cfg, AairtError *err);
void aairt_config_free(AairtRunConfig *cfg);
/* Overrides the train block's epochs, batch, seed, optimizer and schedule
 * with the fields cfg sets. Changing the optimizer kind restarts from that
 * kind's defaults but keeps the learning rate. */
void aairt_config_apply(const AairtRunConfig *cfg, AairtTrainSpec *train);
static inline int aairt_config_has(const AairtRunConfig *cfg, AairtConfigField f) {
    return (cfg->set >> f) & 1u;
}

#endif
