/* metrics.c - accuracy, loss, mse, R^2 and confusion matrix (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int aairt_metrics_init(AairtMetrics *m, AairtTask task, int64_t out_width,
                       int64_t label_width, int64_t classes) {
    memset(m, 0, sizeof *m);
    m->task = task;
    m->out_width = out_width;
    m->label_width = label_width;
    m->classes = classes;
    size_t w = label_width > 0 ? (size_t)label_width : 1;
    if (task == AAIRT_TASK_REGRESSION) {
        m->sse = calloc(w, sizeof(double));
        m->sum_y = calloc(w, sizeof(double));
        m->sum_y2 = calloc(w, sizeof(double));
        if (!m->sse || !m->sum_y || !m->sum_y2) goto oom;
    }
    if (task == AAIRT_TASK_CLASSIFICATION && classes > 0) {
        m->confusion = calloc((size_t)(classes * classes), sizeof(int64_t));
        if (!m->confusion) goto oom;
    }
    return 0;
oom:
    aairt_metrics_free(m);
    return -1;
}

void aairt_metrics_reset(AairtMetrics *m) {
    size_t w = m->label_width > 0 ? (size_t)m->label_width : 1;
    m->n = 0;
    m->loss_sum = 0;
    m->correct = m->total = 0;
    if (m->sse) {
        memset(m->sse, 0, w * sizeof(double));
        memset(m->sum_y, 0, w * sizeof(double));
        memset(m->sum_y2, 0, w * sizeof(double));
    }
    if (m->confusion) memset(m->confusion, 0, (size_t)(m->classes * m->classes) * sizeof(int64_t));
}

void aairt_metrics_free(AairtMetrics *m) {
    if (!m) return;
    free(m->sse);
    free(m->sum_y);
    free(m->sum_y2);
    free(m->confusion);
    m->sse = m->sum_y = m->sum_y2 = NULL;
    m->confusion = NULL;
}

int64_t aairt_argmax(const float *row, int64_t k) {
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

void aairt_metrics_add(AairtMetrics *m, const float *out, const float *y,
                       int64_t batch, float batch_loss) {
    m->n += batch;
    m->loss_sum += (double)batch_loss * (double)batch;
    if (!y) return;
    switch (m->task) {
    case AAIRT_TASK_CLASSIFICATION:
        for (int64_t i = 0; i < batch; i++) {
            int64_t pred = aairt_argmax(out + i * m->out_width, m->classes);
            int64_t truth = (int64_t)y[i * m->label_width];
            m->correct += pred == truth;
            m->total++;
            if (m->confusion && truth >= 0 && truth < m->classes)
                m->confusion[truth * m->classes + pred]++;
        }
        break;
    case AAIRT_TASK_BINARY:
        for (int64_t i = 0; i < batch; i++)
            for (int64_t j = 0; j < m->label_width; j++) {
                int pred = out[i * m->out_width + j] > 0.0f;
                int truth = y[i * m->label_width + j] > 0.5f;
                m->correct += pred == truth;
                m->total++;
            }
        break;
    case AAIRT_TASK_REGRESSION:
        for (int64_t i = 0; i < batch; i++)
            for (int64_t j = 0; j < m->label_width; j++) {
                double t = y[i * m->label_width + j];
                double e = (double)out[i * m->out_width + j] - t;
                m->sse[j] += e * e;
                m->sum_y[j] += t;
                m->sum_y2[j] += t * t;
            }
        break;
    }
}

double aairt_metrics_loss(const AairtMetrics *m) {
    return m->n > 0 ? m->loss_sum / (double)m->n : NAN;
}

double aairt_metrics_accuracy(const AairtMetrics *m) {
    return m->total > 0 ? (double)m->correct / (double)m->total : NAN;
}

double aairt_metrics_mse(const AairtMetrics *m) {
    if (!m->sse || m->n == 0) return NAN;
    double s = 0;
    for (int64_t j = 0; j < m->label_width; j++) s += m->sse[j];
    return s / ((double)m->n * (double)m->label_width);
}

/* sklearn's convention: a constant target scores 1 when predicted exactly,
 * else 0. */
static double r2_column(double sse, double sum, double sum2, double n) {
    double sst = sum2 - sum * sum / n;
    if (sst <= 0) return sse == 0 ? 1.0 : 0.0;
    return 1.0 - sse / sst;
}

double aairt_metrics_r2(const AairtMetrics *m) {
    if (!m->sse || m->n == 0) return NAN;
    double s = 0;
    for (int64_t j = 0; j < m->label_width; j++)
        s += r2_column(m->sse[j], m->sum_y[j], m->sum_y2[j], (double)m->n);
    return s / (double)m->label_width;
}

double aairt_accuracy_classes(const float *logits, const float *labels,
                              int64_t n, int64_t k) {
    if (n <= 0) return NAN;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) correct += aairt_argmax(logits + i * k, k) == (int64_t)labels[i];
    return (double)correct / (double)n;
}

double aairt_accuracy_binary(const float *logits, const float *labels,
                             int64_t n, int64_t width) {
    int64_t total = n * width, correct = 0;
    if (total <= 0) return NAN;
    for (int64_t i = 0; i < total; i++) correct += (logits[i] > 0.0f) == (labels[i] > 0.5f);
    return (double)correct / (double)total;
}

double aairt_mse(const float *pred, const float *target, int64_t count) {
    if (count <= 0) return NAN;
    double s = 0;
    for (int64_t i = 0; i < count; i++) {
        double e = (double)pred[i] - (double)target[i];
        s += e * e;
    }
    return s / (double)count;
}

double aairt_r2(const float *pred, const float *target, int64_t n, int64_t width) {
    if (n <= 0 || width <= 0) return NAN;
    double total = 0;
    for (int64_t j = 0; j < width; j++) {
        double mean = 0;
        for (int64_t i = 0; i < n; i++) mean += target[i * width + j];
        mean /= (double)n;
        double sse = 0, sst = 0;
        for (int64_t i = 0; i < n; i++) {
            double t = target[i * width + j];
            double e = (double)pred[i * width + j] - t;
            sse += e * e;
            sst += (t - mean) * (t - mean);
        }
        total += sst > 0 ? 1.0 - sse / sst : (sse == 0 ? 1.0 : 0.0);
    }
    return total / (double)width;
}

void aairt_softmax_row(const float *logits, float *dst, int64_t k) {
    if (k <= 0) return;
    float mx = logits[0];
    for (int64_t j = 1; j < k; j++) mx = logits[j] > mx ? logits[j] : mx;
    double sum = 0;
    for (int64_t j = 0; j < k; j++) {
        dst[j] = expf(logits[j] - mx);
        sum += dst[j];
    }
    for (int64_t j = 0; j < k; j++) dst[j] = (float)(dst[j] / sum);
}
