/* optim.h - optimizer construction and learning-rate schedules.
 *
 * The update itself is the ABI function aairt_optimizer_step (aairt.h),
 * which generated train_step code calls. This header adds what the trainer
 * and embedders need around it: the hyper-parameters parsed from the
 * manifest's "train.optimizer" / "train.schedule" objects, building an
 * AairtOptimizer with its state arrays, and the per-epoch schedule. */
#ifndef AAIRT_OPTIM_H
#define AAIRT_OPTIM_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "aairt.h"
#include "rt_error.h"

/* Hyper-parameters only (no state); PyTorch defaults where absent. */
typedef struct AairtOptimizerSpec {
    AairtOptimizerKind kind;
    float lr;
    float momentum, dampening; /* SGD */
    int nesterov;              /* SGD */
    float beta1, beta2, eps;   /* Adam, AdamW */
    float weight_decay;
} AairtOptimizerSpec;

typedef enum AairtScheduleKind {
    AAIRT_SCHED_CONSTANT,
    AAIRT_SCHED_STEP,   /* lr * gamma^(epoch / every), torch StepLR */
    AAIRT_SCHED_COSINE, /* torch CosineAnnealingLR, T_max = total epochs */
} AairtScheduleKind;

typedef struct AairtSchedule {
    AairtScheduleKind kind;
    int64_t every; /* step */
    float gamma;   /* step */
    float min_lr;  /* cosine */
} AairtSchedule;

/* Sets PyTorch's defaults for `kind` (Adam: lr 1e-3, betas 0.9/0.999,
 * eps 1e-8; SGD: lr 0.01; AdamW: weight_decay 0.01). */
void aairt_optimizer_spec_default(AairtOptimizerSpec *spec,
                                  AairtOptimizerKind kind);
/* Parses an optimizer name ("sgd", "adam", "adamw"); -1 when unknown. */
int aairt_optimizer_kind_parse(const char *name, AairtOptimizerKind *kind);
const char *aairt_optimizer_kind_name(AairtOptimizerKind kind);
/* Fills `spec` from a manifest "train.optimizer" object: "kind" first
 * (defaults for that kind), then every numeric field present overrides.
 * Returns 0, or -1 with err set for an unknown kind or a wrong type. */
int aairt_optimizer_spec_from_json(const cJSON *obj, AairtOptimizerSpec *spec,
                                   AairtError *err);
/* Fills `sched` from a "train.schedule" object (NULL or JSON null means
 * constant). Returns 0 or -1 with err set. */
int aairt_schedule_from_json(const cJSON *obj, AairtSchedule *sched,
                             AairtError *err);
int aairt_schedule_kind_parse(const char *name, AairtScheduleKind *kind);

/* Builds an optimizer for n parameters: copies the hyper-parameters and
 * allocates zeroed state (m always, v for Adam/AdamW). The optimizer owns
 * m and v; release them with aairt_optimizer_free. Returns 0 or -1 (out of
 * memory, err set). */
int aairt_optimizer_init(AairtOptimizer *opt, const AairtOptimizerSpec *spec,
                         int64_t n, AairtError *err);
void aairt_optimizer_free(AairtOptimizer *opt);

/* Learning rate for 0-based `epoch` of `epochs`, from the base rate. */
float aairt_schedule_lr(const AairtSchedule *sched, float base_lr,
                        int64_t epoch, int64_t epochs);

#endif
