/* test_batchnorm.c - the batch-norm kernels (runtime/src/batchnorm.c)
 * against the definition computed in double: the statistics, the
 * normalization, the parameter gradients and the input gradient through
 * the statistics, for dense layers ([N, C]: the row path, with more
 * channels than one block holds) and feature maps (planes whose sizes
 * leave a remainder after the 16-float lanes), on data whose mean is far
 * from 0. Outputs are fenced by guard floats, and a job big enough to be
 * cut over threads gives the same bits at 1 and 3 threads. A folded relu
 * gives the relu of the normalization, bit for bit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "guard.h"

typedef struct Case {
    int64_t batch, channels, inner;
} Case;

static const float eps = 1e-5f;

typedef struct Tensors {
    int64_t n, c;
    float *x, *dy, *w, *b, *stats, *y, *g, *dx;
} Tensors;

static float value(int64_t i, float scale, float offset) {
    return offset + scale * sinf((float)(i % 1013) * 0.37f + 0.1f * (float)(i % 7));
}

static Tensors tensors_new(const Case *t) {
    Tensors s = {.n = t->batch * t->channels * t->inner, .c = t->channels};
    s.x = guarded(s.n);
    s.dy = guarded(s.n);
    s.w = guarded(s.c);
    s.b = guarded(s.c);
    s.stats = guarded(2 * s.c);
    s.y = guarded(s.n);
    s.g = guarded(3 * s.c);
    s.dx = guarded(s.n);
    for (int64_t i = 0; i < s.n; i++) {
        int64_t ch = i / t->inner % t->channels;
        s.x[i] = value(i, 1.0f + 0.25f * (float)ch, 4.0f - (float)ch); /* means far from 0 */
        s.dy[i] = value(i * 3 + 1, 0.5f, 0.1f);
    }
    for (int64_t c = 0; c < s.c; c++) {
        s.w[c] = 0.5f + 0.1f * (float)c;
        s.b[c] = -0.2f * (float)c;
    }
    return s;
}

static void tensors_free(Tensors *s) {
    float *all[] = {s->x, s->dy, s->w, s->b, s->stats, s->y, s->g, s->dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) guarded_free(all[i]);
}

static void run_all(const Case *t, Tensors *s) {
    aairt_batch_norm_stats(s->x, s->stats, t->batch, t->channels, t->inner);
    aairt_batch_norm(s->x, s->stats, s->w, s->b, eps, 0, s->y, t->batch, t->channels, t->inner);
    aairt_batch_norm_grad(s->dy, s->x, s->stats, s->w, eps, s->g, t->batch, t->channels, t->inner);
    aairt_batch_norm_grad_x(s->dy, s->x, s->stats, s->g, eps, s->dx, t->batch, t->channels,
                            t->inner);
}

static double at(const Case *t, const float *p, int64_t n, int64_t c, int64_t i) {
    return p[(n * t->channels + c) * t->inner + i];
}

static void expect_close(double got, double want, double tol, const char *what, int64_t c,
                         int64_t i) {
    cr_expect(fabs(got - want) <= tol * (1.0 + fabs(want)),
              "%s: channel %lld, element %lld: got %.9g, want %.9g", what, (long long)c,
              (long long)i, got, want);
}

/* The definition, channel by channel, in double. */
static void check_channel(const Case *t, const Tensors *s, int64_t c) {
    double m = (double)t->batch * (double)t->inner, sum = 0, sq = 0, s_dy = 0, s_dyxh = 0;
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t i = 0; i < t->inner; i++) sum += at(t, s->x, n, c, i);
    double mean = sum / m;
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t i = 0; i < t->inner; i++) sq += pow(at(t, s->x, n, c, i) - mean, 2);
    double var = sq / m, rstd = 1.0 / sqrt(var + eps);
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t i = 0; i < t->inner; i++) {
            double xh = (at(t, s->x, n, c, i) - mean) * rstd;
            s_dy += at(t, s->dy, n, c, i);
            s_dyxh += at(t, s->dy, n, c, i) * xh;
        }
    expect_close(s->stats[c], mean, 1e-6, "mean", c, 0);
    expect_close(s->stats[t->channels + c], var, 1e-5, "variance", c, 0);
    expect_close(s->g[c], s_dyxh, 1e-4, "weight gradient", c, 0);
    expect_close(s->g[t->channels + c], s_dy, 1e-4, "bias gradient", c, 0);
    expect_close(s->g[2 * t->channels + c], s->w[c] * rstd, 1e-6, "w rstd", c, 0);
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t i = 0; i < t->inner; i++) {
            double xh = (at(t, s->x, n, c, i) - mean) * rstd, dy = at(t, s->dy, n, c, i);
            int64_t e = n * t->inner + i;
            expect_close(at(t, s->y, n, c, i), xh * s->w[c] + s->b[c], 1e-5, "y", c, e);
            double dx = s->w[c] * rstd * (dy - s_dy / m - xh * s_dyxh / m);
            expect_close(at(t, s->dx, n, c, i), dx, 1e-4, "dx", c, e);
        }
}

static void check_case(const Case *t) {
    Tensors s = tensors_new(t);
    aairt_set_threads(1);
    run_all(t, &s);
    for (int64_t c = 0; c < t->channels; c++) check_channel(t, &s, c);
    expect_guards(s.stats, 2 * s.c, "stats");
    expect_guards(s.y, s.n, "y");
    expect_guards(s.g, 3 * s.c, "g");
    expect_guards(s.dx, s.n, "dx");
    tensors_free(&s);
}

Test(batchnorm, dense_layers_row_by_row) {
    const Case cases[] = {{5, 3, 1}, {4, 70, 1}, {2, 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

Test(batchnorm, feature_maps_plane_by_plane) {
    const Case cases[] = {{3, 4, 49}, {2, 3, 196}, {7, 2, 17}, {1, 2, 15}, {3, 66, 16}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

/* Outputs of a job cut over threads against the same job on one. */
static void expect_same_bits_threaded(const Case *t) {
    Tensors one = tensors_new(t), many = tensors_new(t);
    aairt_set_threads(1);
    run_all(t, &one);
    aairt_set_threads(3);
    run_all(t, &many);
    aairt_set_threads(1);
    cr_expect(!memcmp(one.stats, many.stats, 2 * (size_t)one.c * sizeof(float)), "stats");
    cr_expect(!memcmp(one.g, many.g, 3 * (size_t)one.c * sizeof(float)), "g");
    cr_expect(!memcmp(one.y, many.y, (size_t)one.n * sizeof(float)), "y");
    cr_expect(!memcmp(one.dx, many.dx, (size_t)one.n * sizeof(float)), "dx");
    for (int64_t c = 0; c < t->channels; c++) check_channel(t, &many, c);
    tensors_free(&one);
    tensors_free(&many);
}

Test(batchnorm, threads_change_no_bits) {
    expect_same_bits_threaded(&(Case){48, 5, 300});  /* planes, an uneven cut */
    expect_same_bits_threaded(&(Case){1024, 80, 1}); /* rows, blocks of 64 + 16 */
}

Test(batchnorm, folded_relu_is_the_relu_of_the_normalization) {
    const Case cases[] = {{4, 70, 1}, {3, 4, 49}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const Case *t = &cases[k];
        Tensors s = tensors_new(t);
        float *y = guarded(s.n);
        aairt_batch_norm_stats(s.x, s.stats, t->batch, t->channels, t->inner);
        aairt_batch_norm(s.x, s.stats, s.w, s.b, eps, 0, s.y, t->batch, t->channels, t->inner);
        aairt_batch_norm(s.x, s.stats, s.w, s.b, eps, 1, y, t->batch, t->channels, t->inner);
        int64_t zeroed = 0;
        for (int64_t i = 0; i < s.n; i++) {
            float want = s.y[i] > 0.0f ? s.y[i] : 0.0f;
            cr_expect(!memcmp(&y[i], &want, sizeof want), "y[%lld] %g, want %g", (long long)i,
                      (double)y[i], (double)want);
            zeroed += s.y[i] <= 0.0f;
        }
        cr_expect(zeroed > 0 && zeroed < s.n, "both signs occur");
        expect_guards(y, s.n, "y with relu");
        guarded_free(y);
        tensors_free(&s);
    }
}
