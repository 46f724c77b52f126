/* test_conv2d.c - aairt_conv2d and aairt_conv2d_grad_w (runtime/src/
 * conv2d.c, conv2d_grad.c) against the
 * definition, summed in double: stride 1 (the flat-image kernel) with
 * padding, dilation, non-square images, every channel-block tail (1 to 9
 * output channels), with and without a bias and a fused relu; other strides (one sample's
 * column matrix and a product). Outputs are fenced by guard floats, and
 * the padded image's slack is exercised by images whose flat output is
 * not a whole number of position blocks. The kernel's order of operations
 * is gemm_small's narrow product over im2col's columns, then + bias, so on
 * a CPU with AVX2 and FMA the result is compared bit for bit with that
 * path as well. A folded max pooling gives the bits of the convolution
 * followed by aairt_pool2d, on every path. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "guard.h"

typedef struct Case {
    int64_t batch, chans, h, w, outs, k, stride, pad, dil;
    bool bias, relu;
} Case;

static float relu_of(float v) { return v > 0.0f ? v : 0.0f; }

static AairtWindow window_of(const Case *t) {
    int64_t span = t->dil * (t->k - 1) + 1;
    return (AairtWindow){t->chans, t->h, t->w, (t->h + 2 * t->pad - span) / t->stride + 1,
                         (t->w + 2 * t->pad - span) / t->stride + 1, t->k, t->stride, t->pad,
                         t->dil};
}

/* The element of x that tap (c, ki, kj) of output pixel (oh, ow) of
 * sample n reads, or -1 in the padding. */
static int64_t x_index(const Case *t, const AairtWindow *w, int64_t n, int64_t c, int64_t oh,
                       int64_t ow, int64_t ki, int64_t kj) {
    int64_t ih = oh * w->stride - w->padding + ki * w->dilation;
    int64_t iw = ow * w->stride - w->padding + kj * w->dilation;
    if (ih < 0 || ih >= t->h || iw < 0 || iw >= t->w) return -1;
    return ((n * t->chans + c) * t->h + ih) * t->w + iw;
}

static double reference(const Case *t, const AairtWindow *w, const float *x, const float *wt,
                        const float *bias, int64_t n, int64_t o, int64_t oh, int64_t ow) {
    double s = 0;
    for (int64_t c = 0; c < t->chans; c++)
        for (int64_t ki = 0; ki < t->k; ki++)
            for (int64_t kj = 0; kj < t->k; kj++) {
                int64_t xi = x_index(t, w, n, c, oh, ow, ki, kj);
                if (xi >= 0) s += (double)wt[((o * t->chans + c) * t->k + ki) * t->k + kj] * x[xi];
            }
    s += bias ? bias[o] : 0.0;
    return t->relu && !(s > 0) ? 0.0 : s;
}

/* The column-matrix path written out: im2col, C = col W^T, transposed,
 * + bias, relu. */
static void by_columns(const Case *t, const AairtWindow *w, const float *x, const float *wt,
                       const float *bias, float *y) {
    int64_t plane = w->out_height * w->out_width, taps = t->chans * t->k * t->k;
    float *col = malloc(sizeof *col * (size_t)(t->batch * plane * taps));
    float *prod = malloc(sizeof *prod * (size_t)(t->batch * plane * t->outs));
    cr_assert(col && prod);
    aairt_im2col(x, col, t->batch, w);
    aairt_sgemm(101, 111, 112, (int)(t->batch * plane), (int)t->outs, (int)taps, 1.0f, col,
                (int)taps, wt, (int)taps, 0.0f, prod, (int)t->outs);
    aairt_transpose(prod, y, t->batch, plane, t->outs);
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t o = 0; o < t->outs; o++)
            for (int64_t i = 0; i < plane; i++) {
                float *v = y + (n * t->outs + o) * plane + i;
                if (bias) *v += bias[o];
                if (t->relu) *v = relu_of(*v);
            }
    free(col);
    free(prod);
}

/* dw of sum(y * dy) by the definition, in double. */
static void grad_w_reference(const Case *t, const AairtWindow *w, const float *x,
                             const float *dy, double *dw) {
    memset(dw, 0, sizeof *dw * (size_t)(t->outs * t->chans * t->k * t->k));
    int64_t i = 0;
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t o = 0; o < t->outs; o++)
            for (int64_t oh = 0; oh < w->out_height; oh++)
                for (int64_t ow = 0; ow < w->out_width; ow++, i++)
                    for (int64_t c = 0; c < t->chans; c++)
                        for (int64_t ki = 0; ki < t->k; ki++)
                            for (int64_t kj = 0; kj < t->k; kj++) {
                                int64_t xi = x_index(t, w, n, c, oh, ow, ki, kj);
                                if (xi >= 0)
                                    dw[((o * t->chans + c) * t->k + ki) * t->k + kj] +=
                                        (double)dy[i] * x[xi];
                            }
}

/* aairt_conv2d_grad_w against the definition, and at 1 and 3 threads bit
 * for bit. */
static void check_grad_w(const Case *t, const AairtWindow *w, const float *x) {
    int64_t nw = t->outs * t->chans * t->k * t->k;
    int64_t ny = t->batch * t->outs * w->out_height * w->out_width;
    float *dy = malloc(sizeof *dy * (size_t)ny), *dw = guarded(nw), *dw3 = guarded(nw);
    double *want = malloc(sizeof *want * (size_t)nw);
    cr_assert(dy && want);
    for (int64_t i = 0; i < ny; i++) dy[i] = (float)sin(0.23 * (double)i + 1.0);
    grad_w_reference(t, w, x, dy, want);
    aairt_conv2d_grad_w(x, dy, dw, t->batch, w, t->outs);
    aairt_set_threads(3);
    aairt_conv2d_grad_w(x, dy, dw3, t->batch, w, t->outs);
    aairt_set_threads(1);
    int64_t wrong = 0;
    for (int64_t i = 0; i < nw; i++) wrong += !(fabs(dw[i] - want[i]) <= 1e-4 * (1 + fabs(want[i])));
    cr_expect_eq(wrong, 0, "dw: %lld of %lld wrong (C %lld O %lld k %lld s %lld p %lld d %lld)",
                 (long long)wrong, (long long)nw, (long long)t->chans, (long long)t->outs,
                 (long long)t->k, (long long)t->stride, (long long)t->pad, (long long)t->dil);
    if (t->stride == 1)
        cr_expect_eq(memcmp(dw, dw3, sizeof *dw * (size_t)nw), 0, "dw differs at 3 threads");
    expect_guards(dw, nw, "conv2d_grad_w");
    expect_guards(dw3, nw, "conv2d_grad_w");
    guarded_free(dw);
    guarded_free(dw3);
    free(dy);
    free(want);
}

static void check_case(const Case *t) {
    AairtWindow w = window_of(t);
    int64_t nx = t->batch * t->chans * t->h * t->w, nw = t->outs * t->chans * t->k * t->k;
    int64_t ny = t->batch * t->outs * w.out_height * w.out_width;
    float *x = malloc(sizeof *x * (size_t)nx), *wt = malloc(sizeof *wt * (size_t)nw);
    float *bias = malloc(sizeof *bias * (size_t)t->outs), *y = guarded(ny);
    cr_assert(x && wt && bias);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)cos(0.37 * (double)i + 0.2);
    for (int64_t i = 0; i < nw; i++) wt[i] = (float)sin(0.71 * (double)i) * 0.5f;
    for (int64_t i = 0; i < t->outs; i++) bias[i] = 0.25f - 0.1f * (float)i;
    const float *b = t->bias ? bias : NULL;
    aairt_conv2d(x, wt, b, t->relu, 0, y, t->batch, &w, t->outs);
    int64_t i = 0, wrong = 0;
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t o = 0; o < t->outs; o++)
            for (int64_t oh = 0; oh < w.out_height; oh++)
                for (int64_t ow = 0; ow < w.out_width; ow++, i++) {
                    double want = reference(t, &w, x, wt, b, n, o, oh, ow);
                    wrong += !(fabs(y[i] - want) <= 1e-5 * (1 + fabs(want)));
                }
    cr_expect_eq(wrong, 0,
                 "%lld of %lld outputs wrong (N %lld C %lld %lldx%lld O %lld k %lld s %lld p %lld "
                 "d %lld bias %d relu %d)",
                 (long long)wrong, (long long)ny, (long long)t->batch, (long long)t->chans,
                 (long long)t->h, (long long)t->w, (long long)t->outs, (long long)t->k,
                 (long long)t->stride, (long long)t->pad, (long long)t->dil, t->bias, t->relu);
    expect_guards(y, ny, "conv2d");
    __builtin_cpu_init();
    if (t->stride == 1 && t->outs <= 16 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        float *want = malloc(sizeof *want * (size_t)ny);
        cr_assert(want);
        by_columns(t, &w, x, wt, b, want);
        cr_expect_eq(memcmp(y, want, sizeof *y * (size_t)ny), 0,
                     "not the bits of im2col + product + bias (C %lld O %lld k %lld)",
                     (long long)t->chans, (long long)t->outs, (long long)t->k);
        free(want);
    }
    check_grad_w(t, &w, x);
    guarded_free(y);
    free(x);
    free(wt);
    free(bias);
}

Test(conv2d, stride_one_matches_the_definition) {
    const Case cases[] = {
        {3, 1, 28, 28, 8, 5, 1, 2, 1, true, true},  /* LeNet's first layer, relu */
        {2, 8, 14, 14, 16, 5, 1, 0, 1, true, true}, /* and its second */
        {2, 16, 7, 7, 16, 3, 1, 1, 1, false, true}, /* a ResNet block, no bias */
        {1, 3, 8, 8, 4, 3, 1, 1, 1, true, false},          /* no relu */
        {1, 3, 9, 11, 1, 3, 1, 1, 1, true, false},   /* one output channel, not square */
        {2, 2, 10, 7, 2, 3, 1, 0, 1, true, false},   /* two */
        {1, 2, 6, 13, 3, 3, 1, 2, 1, true, false},   /* three */
        {2, 5, 8, 8, 5, 3, 1, 1, 1, true, false},    /* a block of four and one */
        {1, 4, 9, 9, 9, 5, 1, 2, 2, true, false},    /* dilation 2, two blocks and one */
        {2, 2, 12, 10, 6, 3, 1, 3, 3, false, false}, /* dilation 3, padding wider than the window */
        {1, 3, 5, 5, 4, 5, 1, 0, 1, true, false},    /* the window as big as the image: one pixel */
        {2, 6, 4, 4, 7, 1, 1, 1, 1, true, false},    /* 1x1 with padding */
        {1, 24, 6, 6, 20, 3, 1, 1, 1, true, false},  /* more than 16 outputs */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

Test(conv2d, other_strides_match_the_definition) {
    const Case cases[] = {
        {2, 3, 11, 9, 5, 3, 2, 1, 1, true, false},  /* stride 2, padding, odd sizes */
        {1, 2, 10, 10, 4, 5, 3, 2, 2, true, true}, /* stride 3, dilation 2, relu */
        {3, 4, 6, 6, 3, 1, 2, 0, 1, false, false},        /* 1x1, stride 2, no bias */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

/* aairt_conv2d with a folded max pooling against the convolution, then
 * aairt_pool2d over its output: the same bits, on the flat path (stride 1)
 * and the column path, for tiles that leave a ragged edge (floor), relu
 * or not, and a NaN in the image, which pooling keeps where it comes
 * first in a tile. */
Test(conv2d, folded_max_pool_is_the_convolution_then_the_pooling) {
    const struct {
        Case c;
        int64_t pool;
    } cases[] = {
        {{3, 1, 28, 28, 8, 5, 1, 2, 1, true, true}, 2},   /* LeNet's first layer */
        {{2, 8, 14, 14, 16, 5, 1, 0, 1, true, true}, 2},  /* and its second */
        {{2, 3, 9, 11, 5, 3, 1, 1, 1, true, false}, 2},   /* 9x11: a row and a column left over */
        {{1, 2, 10, 10, 3, 3, 1, 1, 1, false, true}, 3},  /* 3x3 tiles */
        {{2, 3, 11, 9, 5, 3, 2, 1, 1, true, false}, 2},   /* stride 2: the column path */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const Case *t = &cases[c].c;
        const int64_t pool = cases[c].pool;
        AairtWindow w = window_of(t);
        AairtWindow pw = {t->outs, w.out_height, w.out_width, w.out_height / pool,
                          w.out_width / pool, pool, pool, 0, 1};
        int64_t nx = t->batch * t->chans * t->h * t->w, nw = t->outs * t->chans * t->k * t->k;
        int64_t nc = t->batch * t->outs * w.out_height * w.out_width;
        int64_t ny = t->batch * t->outs * pw.out_height * pw.out_width;
        float *x = malloc(sizeof *x * (size_t)nx), *wt = malloc(sizeof *wt * (size_t)nw);
        float *bias = malloc(sizeof *bias * (size_t)t->outs), *conv = malloc(sizeof *conv * (size_t)nc);
        float *want = malloc(sizeof *want * (size_t)ny), *y = guarded(ny);
        cr_assert(x && wt && bias && conv && want);
        for (int64_t i = 0; i < nx; i++) x[i] = (float)cos(0.37 * (double)i + 0.2);
        for (int64_t i = 0; i < nw; i++) wt[i] = (float)sin(0.71 * (double)i) * 0.5f;
        for (int64_t i = 0; i < t->outs; i++) bias[i] = 0.25f - 0.1f * (float)i;
        x[nx / 2] = NAN;
        const float *b = t->bias ? bias : NULL;
        aairt_conv2d(x, wt, b, t->relu, 0, conv, t->batch, &w, t->outs);
        aairt_pool2d(conv, want, t->batch, &pw, 0);
        aairt_conv2d(x, wt, b, t->relu, pool, y, t->batch, &w, t->outs);
        cr_expect_eq(memcmp(y, want, sizeof *y * (size_t)ny), 0,
                     "case %zu: not the bits of the convolution, then the pooling", c);
        expect_guards(y, ny, "conv2d with a pooling");
        guarded_free(y);
        free(x), free(wt), free(bias), free(conv), free(want);
    }
}
