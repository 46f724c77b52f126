/* batchnorm.c - batch normalization, for generated code (IR ops BN_STATS,
 * BN_NORM, BN_GRAD and BN_GRAD_X, compiler/codegen_layers.c): in training,
 * and in inference, where BN_NORM gets the running statistics instead.
 *
 * x is [batch, C, inner] (inner: the product of the axes after the
 * channels; 1 for a dense layer's [batch, C]); each channel is normalized
 * over its M = batch x inner elements with the batch's mean and biased
 * variance, as torch.nn.BatchNorm in training:
 *   y = (x - mean) rstd w + b,  rstd = 1 / sqrt(var + eps)
 * and, from dy,
 *   dw = sum dy (x - mean) rstd,  db = sum dy,
 *   dx = w rstd (dy - db / M - (x - mean) rstd dw / M).
 * Composed from element-wise ops and reductions, the training step made
 * ~10 passes over each feature map forward and ~20 backward (15 % of a
 * fashion_resnet epoch); these four kernels make 2 + 1 forward and 2
 * backward.
 *
 * Sums are taken per (sample, channel) plane in 16 float lanes, then added
 * in double in sample order, the planes read in memory order (a block of
 * channels at a time, sample by sample: channel by channel, each plane's
 * start missed the cache); the per-channel figures (mean, rstd, the
 * gradient's coefficients) are computed in double, as PyTorch's CPU kernels
 * do. Each channel is computed whole by one thread, channels being cut
 * over the runtime's pool, so the answer does not depend on the thread
 * count. No FMA contraction: the portable build and the AVX2 clone give
 * the same bits. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "aairt.h"
#include "pool.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

enum {
    LANES = 16,           /* partial sums per plane */
    BLOCK = 64,           /* channels whose coefficients one stack frame holds */
    SPLIT_MIN = 1 << 15,  /* elements below which a handoff costs more than it saves */
};

/* One kernel's operands; unused pointers are NULL. */
typedef struct BnJob {
    const float *x, *dy, *stats, *weight, *bias, *g;
    float *out;
    float eps;
    int relu; /* BN_NORM: relu applied (passes/fuse.c folds one in) */
    int64_t batch, channels, inner;
    int parts;
    void (*run)(const struct BnJob *j, int64_t c0, int64_t c1);
} BnJob;

static const float *plane(const BnJob *j, const float *t, int64_t n, int64_t c) {
    return t + (n * j->channels + c) * j->inner;
}

static double rstd_of(double var, float eps) { return 1.0 / sqrt(var + (double)eps); }

/* ---- sums over one plane ------------------------------------------------------- */

/* 8 floats; two of them make a plane's 16 lanes. Written with GCC's vector
 * type: left to itself GCC vectorized the lane loops across them with
 * shuffles, 7x slower. */
typedef float Vec __attribute__((vector_size(32)));

/* (Vectors go by pointer: passed by value they would take a different ABI
 * in the AVX2 clone than in the portable one.) */
static inline __attribute__((always_inline)) Vec *vload(Vec *v, const float *p) {
    memcpy(v, p, sizeof *v);
    return v;
}

static inline __attribute__((always_inline)) double lanes_sum(const Vec *a, const Vec *b) {
    double s = 0;
    for (int l = 0; l < 8; l++) s += (*a)[l];
    for (int l = 0; l < 8; l++) s += (*b)[l];
    return s;
}

VECTOR_CLONES
static double plane_sum(const float *x, int64_t n) {
    Vec a = {0}, b = {0}, v;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        a += *vload(&v, x + i);
        b += *vload(&v, x + i + 8);
    }
    double s = 0;
    for (; i < n; i++) s += x[i];
    return s + lanes_sum(&a, &b);
}

VECTOR_CLONES
static double plane_sq_dev(const float *x, float mean, int64_t n) {
    Vec a = {0}, b = {0}, v;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        Vec d0 = *vload(&v, x + i) - mean, d1 = *vload(&v, x + i + 8) - mean;
        a += d0 * d0;
        b += d1 * d1;
    }
    double s = 0;
    for (; i < n; i++) s += (double)(x[i] - mean) * (double)(x[i] - mean);
    return s + lanes_sum(&a, &b);
}

/* sum dy and sum dy (x - mean) over one plane. */
VECTOR_CLONES
static void plane_dy_sums(const float *dy, const float *x, float mean, int64_t n, double *s_dy,
                          double *s_dyxc) {
    Vec a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, v;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        Vec g0 = *vload(&v, dy + i), g1 = *vload(&v, dy + i + 8);
        a0 += g0;
        a1 += g1;
        b0 += g0 * (*vload(&v, x + i) - mean);
        b1 += g1 * (*vload(&v, x + i + 8) - mean);
    }
    double sa = 0, sb = 0;
    for (; i < n; i++) {
        sa += dy[i];
        sb += (double)dy[i] * (double)(x[i] - mean);
    }
    *s_dy += sa + lanes_sum(&a0, &a1);
    *s_dyxc += sb + lanes_sum(&b0, &b1);
}

/* ---- the kernels, over channels [c0, c1) ----------------------------------------- */

static double count(const BnJob *j) { return (double)j->batch * (double)j->inner; }

/* stats [2, C]: the mean, then the biased variance (two passes: the
 * deviations are squared after the mean is known, not E[x^2] - mean^2). */
static void stats_planes(const BnJob *j, int64_t c0, int64_t c1) {
    double s[BLOCK], q[BLOCK];
    float *mean = j->out, *var = j->out + j->channels;
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t nb = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        for (int64_t c = 0; c < nb; c++) s[c] = q[c] = 0;
        for (int64_t n = 0; n < j->batch; n++)
            for (int64_t c = 0; c < nb; c++) s[c] += plane_sum(plane(j, j->x, n, b0 + c), j->inner);
        for (int64_t c = 0; c < nb; c++) mean[b0 + c] = (float)(s[c] / count(j));
        for (int64_t n = 0; n < j->batch; n++)
            for (int64_t c = 0; c < nb; c++)
                q[c] += plane_sq_dev(plane(j, j->x, n, b0 + c), mean[b0 + c], j->inner);
        for (int64_t c = 0; c < nb; c++) var[b0 + c] = (float)(q[c] / count(j));
    }
}

/* The same for a dense layer's [batch, C]: row by row, the sums of a block
 * of channels side by side. */
VECTOR_CLONES
static void stats_rows(const BnJob *j, int64_t c0, int64_t c1) {
    double s[BLOCK], q[BLOCK];
    float m[BLOCK];
    int64_t ch = j->channels;
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t nb = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        for (int64_t c = 0; c < nb; c++) s[c] = q[c] = 0;
        for (int64_t n = 0; n < j->batch; n++)
            for (int64_t c = 0; c < nb; c++) s[c] += j->x[n * ch + b0 + c];
        for (int64_t c = 0; c < nb; c++) m[c] = j->out[b0 + c] = (float)(s[c] / count(j));
        for (int64_t n = 0; n < j->batch; n++)
            for (int64_t c = 0; c < nb; c++) {
                double d = (double)(j->x[n * ch + b0 + c] - m[c]);
                q[c] += d * d;
            }
        for (int64_t c = 0; c < nb; c++) j->out[ch + b0 + c] = (float)(q[c] / count(j));
    }
}

static void stats_run(const BnJob *j, int64_t c0, int64_t c1) {
    if (j->inner == 1) stats_rows(j, c0, c1);
    else stats_planes(j, c0, c1);
}

/* relu as generated code computes it: x > 0 ? x : 0 (NaN gives 0). */
static inline float relu_of(float x) { return x > 0.0f ? x : 0.0f; }

/* y = x scale + shift, per channel: scale = w rstd, shift = b - mean scale
 * (PyTorch's form), then the relu when one is folded in. Dense layers
 * ([batch, C], inner 1) go row by row with the block's coefficients in
 * arrays, so the loop runs along the channels. */
static inline __attribute__((always_inline)) void
norm_block(const BnJob *j, int64_t b0, int64_t nb, const float *scale, const float *shift,
           bool relu) {
    for (int64_t n = 0; n < j->batch; n++) {
        const float *x = plane(j, j->x, n, b0);
        float *y = j->out + (x - j->x);
        if (j->inner == 1) {
            for (int64_t c = 0; c < nb; c++) {
                float v = x[c] * scale[c] + shift[c];
                y[c] = relu ? relu_of(v) : v;
            }
            continue;
        }
        for (int64_t c = 0; c < nb; c++, x += j->inner, y += j->inner) {
            float a = scale[c], s = shift[c];
            for (int64_t i = 0; i < j->inner; i++) {
                float v = x[i] * a + s;
                y[i] = relu ? relu_of(v) : v;
            }
        }
    }
}

VECTOR_CLONES
static void norm_run(const BnJob *j, int64_t c0, int64_t c1) {
    float scale[BLOCK], shift[BLOCK];
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t nb = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        for (int64_t c = 0; c < nb; c++) {
            double mean = j->stats[b0 + c], r = rstd_of(j->stats[j->channels + b0 + c], j->eps);
            double a = r * j->weight[b0 + c];
            scale[c] = (float)a;
            shift[c] = (float)(j->bias[b0 + c] - mean * a);
        }
        if (j->relu) norm_block(j, b0, nb, scale, shift, true);
        else norm_block(j, b0, nb, scale, shift, false);
    }
}

/* g [3, C]: dw, db, then w rstd (dx's factor, so BN_GRAD_X needs no w). */
static void grad_store(const BnJob *j, int64_t c, double s_dy, double s_dyxc) {
    int64_t ch = j->channels;
    double r = rstd_of(j->stats[ch + c], j->eps);
    j->out[c] = (float)(s_dyxc * r);
    j->out[ch + c] = (float)s_dy;
    j->out[2 * ch + c] = (float)(r * j->weight[c]);
}

static void grad_planes(const BnJob *j, int64_t c0, int64_t c1) {
    double s_dy[BLOCK], s_dyxc[BLOCK];
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t nb = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        for (int64_t c = 0; c < nb; c++) s_dy[c] = s_dyxc[c] = 0;
        for (int64_t n = 0; n < j->batch; n++)
            for (int64_t c = 0; c < nb; c++)
                plane_dy_sums(plane(j, j->dy, n, b0 + c), plane(j, j->x, n, b0 + c),
                              j->stats[b0 + c], j->inner, &s_dy[c], &s_dyxc[c]);
        for (int64_t c = 0; c < nb; c++) grad_store(j, b0 + c, s_dy[c], s_dyxc[c]);
    }
}

VECTOR_CLONES
static void grad_rows(const BnJob *j, int64_t c0, int64_t c1) {
    double s_dy[BLOCK], s_dyxc[BLOCK];
    int64_t ch = j->channels;
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t nb = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        const float *mean = j->stats + b0;
        for (int64_t c = 0; c < nb; c++) s_dy[c] = s_dyxc[c] = 0;
        for (int64_t n = 0; n < j->batch; n++) {
            const float *x = j->x + n * ch + b0, *dy = j->dy + n * ch + b0;
            for (int64_t c = 0; c < nb; c++) {
                s_dy[c] += dy[c];
                s_dyxc[c] += (double)dy[c] * (double)(x[c] - mean[c]);
            }
        }
        for (int64_t c = 0; c < nb; c++) grad_store(j, b0 + c, s_dy[c], s_dyxc[c]);
    }
}

static void grad_run(const BnJob *j, int64_t c0, int64_t c1) {
    if (j->inner == 1) grad_rows(j, c0, c1);
    else grad_planes(j, c0, c1);
}

/* dx = w rstd (dy - db / M - (x - mean) rstd dw / M), PyTorch's order. */
VECTOR_CLONES
static void grad_x_run(const BnJob *j, int64_t c0, int64_t c1) {
    float mean[BLOCK], k_db[BLOCK], k_dw[BLOCK], factor[BLOCK];
    int64_t ch = j->channels;
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t nb = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        for (int64_t c = 0; c < nb; c++) {
            double r = rstd_of(j->stats[ch + b0 + c], j->eps);
            mean[c] = j->stats[b0 + c];
            k_db[c] = (float)(j->g[ch + b0 + c] / count(j));
            k_dw[c] = (float)(r * j->g[b0 + c] / count(j));
            factor[c] = j->g[2 * ch + b0 + c];
        }
        for (int64_t n = 0; n < j->batch; n++) {
            const float *x = plane(j, j->x, n, b0), *dy = plane(j, j->dy, n, b0);
            float *dx = j->out + (x - j->x);
            if (j->inner == 1) {
                for (int64_t c = 0; c < nb; c++)
                    dx[c] = (dy[c] - k_db[c] - (x[c] - mean[c]) * k_dw[c]) * factor[c];
                continue;
            }
            for (int64_t c = 0; c < nb; c++, x += j->inner, dy += j->inner, dx += j->inner) {
                float m = mean[c], kb = k_db[c], kw = k_dw[c], f = factor[c];
                for (int64_t i = 0; i < j->inner; i++) dx[i] = (dy[i] - kb - (x[i] - m) * kw) * f;
            }
        }
    }
}

/* ---- threads ------------------------------------------------------------------------ */

static int64_t channel_cut(const BnJob *j, int part) {
    return j->channels * part / j->parts;
}

static void bn_part(void *ctx, int part) {
    const BnJob *j = ctx;
    j->run(j, channel_cut(j, part), channel_cut(j, part + 1));
}

static void bn_run(BnJob *j) {
    int64_t work = j->batch * j->channels * j->inner / SPLIT_MIN, threads = aairt_get_threads();
    int64_t parts = threads < j->channels ? threads : j->channels;
    if (work < parts) parts = work;
    if (parts < 2) {
        j->run(j, 0, j->channels);
        return;
    }
    j->parts = (int)parts;
    aairt_pool_run(bn_part, j, j->parts);
}

void aairt_batch_norm_stats(const float *x, float *stats, int64_t batch, int64_t channels,
                            int64_t inner) {
    BnJob j = {.x = x, .out = stats, .batch = batch, .channels = channels, .inner = inner,
               .run = stats_run};
    bn_run(&j);
}

void aairt_batch_norm(const float *x, const float *stats, const float *weight, const float *bias,
                      float eps, int relu, float *y, int64_t batch, int64_t channels,
                      int64_t inner) {
    BnJob j = {.x = x, .stats = stats, .weight = weight, .bias = bias, .out = y, .eps = eps,
               .relu = relu, .batch = batch, .channels = channels, .inner = inner,
               .run = norm_run};
    bn_run(&j);
}

void aairt_batch_norm_grad(const float *dy, const float *x, const float *stats,
                           const float *weight, float eps, float *g, int64_t batch,
                           int64_t channels, int64_t inner) {
    BnJob j = {.x = x, .dy = dy, .stats = stats, .weight = weight, .out = g, .eps = eps,
               .batch = batch, .channels = channels, .inner = inner, .run = grad_run};
    bn_run(&j);
}

void aairt_batch_norm_grad_x(const float *dy, const float *x, const float *stats, const float *g,
                             float eps, float *dx, int64_t batch, int64_t channels,
                             int64_t inner) {
    BnJob j = {.x = x, .dy = dy, .stats = stats, .g = g, .out = dx, .eps = eps, .batch = batch,
               .channels = channels, .inner = inner, .run = grad_x_run};
    bn_run(&j);
}
