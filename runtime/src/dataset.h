/* dataset.h - turn a manifest's dataset spec into training and test
 * matrices.
 *
 * Reads the CSV or IDX sources named by the spec (docs/manifest.md,
 * "dataset"), selects feature and label columns, splits off the test set
 * (seeded shuffle then cut, or a separate test source), fits the feature
 * and label transforms on the training rows only, and applies them to both
 * splits. Each split is one contiguous float buffer: x is [n, x_width], y
 * is [n, y_width] (class labels as float indices). */
#ifndef AAIRT_DATASET_H
#define AAIRT_DATASET_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "rt_error.h"

typedef struct AairtSplit {
    float *x;        /* n * x_width, owned */
    float *y;        /* n * y_width, owned (NULL when the data has no labels) */
    int64_t n, x_width, y_width;
} AairtSplit;

/* Fitted transform statistics, one entry per feature (or label) column. */
typedef struct AairtFitted {
    int kind;        /* 0 none, 1 standardize, 2 minmax (for docs: per step) */
    int64_t width;
    float *a, *b;    /* standardize: mean, std; minmax: min, max-min */
} AairtFitted;

/* The transforms of one side (features or label), fitted statistics
 * included. Serialisable to/from a JSON string so they travel in the
 * weights file's __metadata__ ("aai.transforms"). */
typedef struct AairtTransforms AairtTransforms;

typedef struct AairtDataset {
    AairtSplit train, test;
    AairtTransforms *features; /* fitted on train */
    AairtTransforms *label;    /* fitted on train */
} AairtDataset;

/* Loads the dataset described by `spec` (the manifest's "dataset" object).
 * `train_path` / `test_path` override the source paths when non-NULL (CLI
 * --data). Returns 0, or -1 with err naming the file and row/offset.
 *
 * Holdout split: indices 0..n-1 are shuffled with split.seed
 * (aairt_shuffle_perm, shuffle.h); the LAST round(test * n) of the
 * shuffled order are the test rows. Both splits keep file order. Class
 * labels are validated (integers 0..n-1) before the split. */
int aairt_dataset_load(const cJSON *spec, const char *train_path,
                       const char *test_path, AairtDataset *out,
                       AairtError *err);
void aairt_dataset_free(AairtDataset *ds);

/* Loads one split for evaluation/prediction with already-fitted transforms
 * (from a weights file): reads `path` with the spec's source settings,
 * selects the same columns, applies `features`/`label` without refitting.
 * `with_labels` = 0 for predict input (label column may be absent).
 * `path` NULL: the spec's test_source, else its source (all rows, no
 * split). Paths: "-" reads CSV from stdin; an IDX path is "IMAGES,LABELS"
 * (or IMAGES alone when with_labels = 0). Either transforms may be NULL
 * (identity). */
int aairt_dataset_load_split(const cJSON *spec, const char *path,
                             const AairtTransforms *features,
                             const AairtTransforms *label, int with_labels,
                             AairtSplit *out, AairtError *err);
void aairt_split_free(AairtSplit *s);

/* Transforms <-> JSON text (malloc'd string, caller frees). */
char *aairt_transforms_to_json(const AairtTransforms *features,
                               const AairtTransforms *label);
int aairt_transforms_from_json(const char *json, AairtTransforms **features,
                               AairtTransforms **label, AairtError *err);
void aairt_transforms_free(AairtTransforms *t);
/* Applies fitted transforms in place to n rows of `width` floats. */
void aairt_transforms_apply(const AairtTransforms *t, float *rows, int64_t n,
                            int64_t width);
/* Undoes the label transform on model outputs (regression predictions back
 * in the user's units). */
void aairt_transforms_invert(const AairtTransforms *t, float *rows, int64_t n,
                             int64_t width);

/* Builds unfitted transforms for rows of `width` floats from a spec
 * "transforms" array (NULL or empty: identity). `what` ("features" or
 * "label") prefixes messages; `classes` is accepted only for the label.
 * Returns 0 with *out (caller frees), or -1 with err. */
int aairt_transforms_from_spec(const cJSON *spec, int64_t width, const char *what,
                               AairtTransforms **out, AairtError *err);
/* Fits the steps in order on `rows` (each fitted step sees the output of
 * the steps before it) while applying them to `rows`, then applies the
 * whole fitted chain to `other` (the test rows; may be NULL). Zero spread
 * (std or max-min) is replaced by 1. Returns 0, or -1 when out of memory. */
int aairt_transforms_fit_apply(AairtTransforms *t, float *rows, int64_t n, float *other,
                               int64_t n_other, AairtError *err);
/* Row width the transforms were built for. */
int64_t aairt_transforms_width(const AairtTransforms *t);
/* n of a `classes` step, or 0 when there is none. */
int64_t aairt_transforms_n_classes(const AairtTransforms *t);
/* Number of steps, and step i's fitted statistics (kind 0 for steps with
 * nothing fitted). For tests and `info`. */
size_t aairt_transforms_n_steps(const AairtTransforms *t);
const AairtFitted *aairt_transforms_fitted(const AairtTransforms *t, size_t i);

#endif
