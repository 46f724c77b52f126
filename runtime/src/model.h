/* model.h - the model manifest (docs/manifest.md) as a C struct.
 *
 * aairt_manifest_parse validates the JSON a compiled model carries and
 * flattens what the runtime needs: signature, parameter table, arena plan,
 * label/task, and the train block's defaults. The dataset spec stays JSON
 * (dataset.c reads it) and points into the parsed document, which the
 * manifest owns. */
#ifndef AAIRT_MODEL_H
#define AAIRT_MODEL_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "aairt.h"
#include "optim.h"
#include "rt_error.h"

#define AAIRT_MAX_RANK 8

typedef enum AairtTask {
    AAIRT_TASK_CLASSIFICATION, /* logits, cross-entropy, class index labels */
    AAIRT_TASK_BINARY,         /* one logit per column, BCE with logits */
    AAIRT_TASK_REGRESSION,     /* real outputs, MSE */
} AairtTask;

typedef enum AairtInitKind {
    AAIRT_INIT_TORCH_DEFAULT, /* U(+-1/sqrt(fan_in)) */
    AAIRT_INIT_HE_UNIFORM,    /* U(+-sqrt(6/fan_in)) */
    AAIRT_INIT_HE_NORMAL,     /* N(0, 2/fan_in) */
    AAIRT_INIT_XAVIER_UNIFORM,/* U(+-sqrt(6/(fan_in+fan_out))) */
    AAIRT_INIT_XAVIER_NORMAL, /* N(0, 2/(fan_in+fan_out)) */
    AAIRT_INIT_ZEROS,
    AAIRT_INIT_ONES,
} AairtInitKind;

/* Metric bits (train.metrics). */
enum {
    AAIRT_METRIC_ACCURACY = 1u << 0,
    AAIRT_METRIC_LOSS = 1u << 1,
    AAIRT_METRIC_MSE = 1u << 2,
    AAIRT_METRIC_R2 = 1u << 3,
};

typedef struct AairtParamInfo {
    const char *name;               /* PyTorch name, points into the JSON */
    int rank;
    int64_t shape[AAIRT_MAX_RANK];  /* PyTorch layout */
    int64_t offset, size;           /* floats into the parameter block */
    AairtInitKind init;
    int64_t fan_in, fan_out;
} AairtParamInfo;

typedef struct AairtTrainSpec {
    int present;                    /* the manifest has a "train" block */
    const char *loss;               /* "cross_entropy", "mse", "bce" ... */
    AairtOptimizerSpec optimizer;
    AairtSchedule schedule;
    int64_t epochs, batch;
    uint64_t seed;
    unsigned metrics;               /* AAIRT_METRIC_* bits */
} AairtTrainSpec;

typedef struct AairtManifest {
    cJSON *root;                    /* the parsed document, owned */
    const char *name;               /* model name */
    const char *compiler;           /* "aaic x.y.z" or NULL */
    const char *input_name;
    int in_rank, out_rank;
    int64_t in_shape[AAIRT_MAX_RANK], out_shape[AAIRT_MAX_RANK]; /* [0] = -1 */
    int64_t x_width;                /* floats per input row */
    int64_t out_width;              /* floats per output row */
    AairtTask task;
    int64_t classes;                /* classification: number of classes */
    int64_t label_width;            /* floats per label row */
    AairtParamInfo *params;         /* owned array */
    int64_t n_params;
    int64_t n_param_floats;
    int64_t arena_static_floats, arena_row_floats;
    int64_t flops_per_sample;       /* -1 when absent */
    const cJSON *dataset;           /* "dataset" object or NULL */
    AairtTrainSpec train;
} AairtManifest;

/* Parses and validates manifest JSON text. On success the manifest owns
 * everything it points to; release with aairt_manifest_free. Returns 0 or
 * -1 with err naming the offending field. */
int aairt_manifest_parse(const char *json, AairtManifest *out, AairtError *err);
void aairt_manifest_free(AairtManifest *m);
/* Checks the manifest against the descriptor's own sizes. */
int aairt_manifest_check_model(const AairtManifest *m, const AairtModel *model,
                               AairtError *err);
/* 64-bit FNV-1a of the manifest text (weights files record it). */
uint64_t aairt_manifest_hash(const char *json);
const char *aairt_task_name(AairtTask task);

/* Writes the parameter block as safetensors at `path` (atomically): one F32
 * tensor per manifest param, PyTorch names and shapes, and __metadata__
 * aai.model (name), aai.manifest_hash (hex of aairt_manifest_hash of
 * `manifest_json`) and aai.transforms (when transforms_json is not NULL).
 * Nothing time-dependent, so equal weights give equal files. */
int aairt_weights_save(const char *path, const AairtManifest *m,
                       const char *manifest_json, const float *params,
                       const char *transforms_json, AairtError *err);
/* The bytes aairt_weights_save writes, into a malloc'd *bytes (*size). */
int aairt_weights_encode(const AairtManifest *m, const char *manifest_json, const float *params,
                         const char *transforms_json, unsigned char **bytes, size_t *size,
                         AairtError *err);
/* Reads a weights file into params, checking every tensor against the
 * manifest (names, F32, shapes; missing and extra tensors are errors that
 * name the file). *transforms_json receives a malloc'd copy of the
 * aai.transforms metadata, or NULL when the file has none. */
int aairt_weights_load(const char *path, const AairtManifest *m, float *params,
                       char **transforms_json, AairtError *err);
const char *aairt_init_name(AairtInitKind kind);

#endif
