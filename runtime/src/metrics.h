/* metrics.h - evaluation metrics accumulated over batches.
 *
 * One AairtMetrics gathers a pass over a split: mean loss, accuracy
 * (argmax for classes, logit > 0 for binary), mean squared error and R^2
 * (uniform average over label columns, as sklearn's r2_score), and the
 * confusion matrix for classification. Regression callers pass outputs and
 * targets in the user's units (label transform undone) so mse reads in
 * those units; R^2 does not depend on it. */
#ifndef AAIRT_METRICS_H
#define AAIRT_METRICS_H

#include <stdint.h>

#include "model.h"

typedef struct AairtMetrics {
    AairtTask task;
    int64_t out_width, label_width, classes;
    int64_t n;            /* rows seen */
    double loss_sum;      /* sum over batches of mean loss * batch */
    int64_t correct;      /* rows (classes) or elements (binary) right */
    int64_t total;        /* rows (classes) or elements (binary) scored */
    double *sse;          /* per label column, owned (regression) */
    double *sum_y, *sum_y2; /* per label column, owned (regression) */
    int64_t *confusion;   /* classes x classes, row = true, owned */
} AairtMetrics;

/* Sets up an empty accumulator; returns 0 or -1 when out of memory. */
int aairt_metrics_init(AairtMetrics *m, AairtTask task, int64_t out_width,
                       int64_t label_width, int64_t classes);
void aairt_metrics_reset(AairtMetrics *m);
void aairt_metrics_free(AairtMetrics *m);
/* Adds a batch: out [batch, out_width], y [batch, label_width] (y may be
 * NULL: loss only), and the batch's mean loss. */
void aairt_metrics_add(AairtMetrics *m, const float *out, const float *y,
                       int64_t batch, float batch_loss);

double aairt_metrics_loss(const AairtMetrics *m);
double aairt_metrics_accuracy(const AairtMetrics *m);
double aairt_metrics_mse(const AairtMetrics *m);
double aairt_metrics_r2(const AairtMetrics *m);

/* Index of the largest of k values (first one on ties). */
int64_t aairt_argmax(const float *row, int64_t k);
/* Fraction of rows whose argmax over k logits equals the label index. */
double aairt_accuracy_classes(const float *logits, const float *labels,
                              int64_t n, int64_t k);
/* Fraction of the n*width elements where (logit > 0) == (label > 0.5). */
double aairt_accuracy_binary(const float *logits, const float *labels,
                             int64_t n, int64_t width);
double aairt_mse(const float *pred, const float *target, int64_t count);
/* R^2 averaged over `width` columns of n rows. */
double aairt_r2(const float *pred, const float *target, int64_t n, int64_t width);
/* Softmax of one row of k logits into dst (max-shifted). */
void aairt_softmax_row(const float *logits, float *dst, int64_t k);

#endif
