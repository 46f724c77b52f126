/* test_pool2d.c - aairt_pool2d and aairt_pool2d_grad (runtime/src/
 * pool2d.c) against the definition written out per window: max pooling
 * with the first maximum winning (ties are planted on purpose), average
 * pooling counting the padding, both gradients, over tiling windows (the
 * unchecked path: 2x2/2, 3x3/3, sizes that leave rows and columns
 * uncovered) and general ones (overlap, padding), batches of several
 * planes, with guard floats around every output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "guard.h"

typedef struct Case {
    int64_t chans, h, w, k, stride, pad, batch;
} Case;

/* The reference for one window: max (first maximum's index in *arg) or
 * the sum inside the image. */
static float reference_window(const float *plane, const Case *t, int64_t oh, int64_t ow, bool avg,
                              int64_t *arg) {
    float best = 0.0f, sum = 0.0f;
    *arg = -1;
    for (int64_t ki = 0; ki < t->k; ki++)
        for (int64_t kj = 0; kj < t->k; kj++) {
            int64_t ih = oh * t->stride - t->pad + ki, iw = ow * t->stride - t->pad + kj;
            if (ih < 0 || ih >= t->h || iw < 0 || iw >= t->w) continue;
            float v = plane[ih * t->w + iw];
            sum += v;
            if (*arg < 0 || v > best) {
                best = v;
                *arg = ih * t->w + iw;
            }
        }
    return avg ? sum * (float)(1.0 / (double)(t->k * t->k)) : best;
}

static void check_case(const Case *t, bool avg) {
    int64_t oh_n = (t->h + 2 * t->pad - t->k) / t->stride + 1;
    int64_t ow_n = (t->w + 2 * t->pad - t->k) / t->stride + 1;
    AairtWindow w = {t->chans, t->h, t->w, oh_n, ow_n, t->k, t->stride, t->pad, 1};
    int64_t planes = t->batch * t->chans, plane = t->h * t->w, out = oh_n * ow_n;
    float *x = guarded(planes * plane), *y = guarded(planes * out), *dy = guarded(planes * out);
    float *dx = guarded(planes * plane), *want_dx = calloc((size_t)(planes * plane), sizeof(float));
    cr_assert(want_dx);
    /* few distinct values: windows hold ties, which the first one must win */
    for (int64_t i = 0; i < planes * plane; i++) x[i] = (float)((i * 7) % 5) - 2.0f;
    for (int64_t i = 0; i < planes * out; i++) dy[i] = (float)(i % 11) + 0.25f;
    aairt_pool2d(x, y, t->batch, &w, avg);
    aairt_pool2d_grad(x, dy, dx, t->batch, &w, avg, 0);
    int64_t wrong_y = 0, wrong_dx = 0;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < oh_n; oh++)
            for (int64_t ow = 0; ow < ow_n; ow++) {
                int64_t arg, yi = (p * oh_n + oh) * ow_n + ow;
                float want = reference_window(x + p * plane, t, oh, ow, avg, &arg);
                wrong_y += y[yi] != want;
                for (int64_t ki = 0; avg && ki < t->k; ki++)
                    for (int64_t kj = 0; kj < t->k; kj++) {
                        int64_t ih = oh * t->stride - t->pad + ki, iw = ow * t->stride - t->pad + kj;
                        if (ih >= 0 && ih < t->h && iw >= 0 && iw < t->w)
                            want_dx[p * plane + ih * t->w + iw] += dy[yi] * (float)(1.0 / (double)(t->k * t->k));
                    }
                if (!avg && arg >= 0) want_dx[p * plane + arg] += dy[yi];
            }
    for (int64_t i = 0; i < planes * plane; i++) wrong_dx += dx[i] != want_dx[i];
    cr_expect_eq(wrong_y, 0, "%s pool k %lld s %lld p %lld on %lldx%lld: %lld outputs wrong",
                 avg ? "avg" : "max", (long long)t->k, (long long)t->stride, (long long)t->pad,
                 (long long)t->h, (long long)t->w, (long long)wrong_y);
    cr_expect_eq(wrong_dx, 0, "%s pool gradient k %lld s %lld p %lld on %lldx%lld: %lld wrong",
                 avg ? "avg" : "max", (long long)t->k, (long long)t->stride, (long long)t->pad,
                 (long long)t->h, (long long)t->w, (long long)wrong_dx);
    expect_guards(y, planes * out, "pool2d");
    expect_guards(dx, planes * plane, "pool2d_grad");
    guarded_free(x);
    guarded_free(y);
    guarded_free(dy);
    guarded_free(dx);
    free(want_dx);
}

Test(pool2d, matches_the_definition) {
    const Case cases[] = {
        {8, 28, 28, 2, 2, 0, 3}, /* LeNet: tiles */
        {3, 7, 9, 2, 2, 0, 2},   /* tiles leaving a row and a column uncovered */
        {2, 9, 9, 3, 3, 0, 2},   /* 3x3 tiles */
        {2, 8, 8, 3, 2, 1, 2},   /* overlapping, padded */
        {1, 5, 6, 3, 1, 1, 3},   /* stride 1 */
        {2, 4, 4, 4, 4, 0, 1},   /* one window over the plane */
        {1, 3, 3, 3, 1, 2, 1},   /* windows mostly in the padding */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_case(&cases[i], false);
        check_case(&cases[i], true);
    }
}

/* The max gradient with a relu's folded in (x a relu's output, so >= 0,
 * with zeros, NaN where the relu saw none: relu passes it through as 0,
 * but the test plants it to see it is treated as "not > 0"): the bits of
 * relu_grad(x, x, pool2d_grad(x, dy)) = x > 0 ? that : 0, on every path. */
Test(pool2d, folded_relu_gradient_is_the_relu_of_the_gradient) {
    const Case cases[] = {
        {8, 28, 28, 2, 2, 0, 3}, /* tiles, the vector path */
        {3, 7, 9, 2, 2, 0, 2},   /* rows and columns uncovered */
        {2, 9, 9, 3, 3, 0, 2},   /* 3x3 tiles */
        {2, 8, 8, 3, 2, 1, 2},   /* overlapping, padded: the general path */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const Case *t = &cases[c];
        int64_t oh_n = (t->h + 2 * t->pad - t->k) / t->stride + 1;
        int64_t ow_n = (t->w + 2 * t->pad - t->k) / t->stride + 1;
        AairtWindow w = {t->chans, t->h, t->w, oh_n, ow_n, t->k, t->stride, t->pad, 1};
        int64_t nx = t->batch * t->chans * t->h * t->w, ny = t->batch * t->chans * oh_n * ow_n;
        float *x = malloc(sizeof *x * (size_t)nx), *dy = malloc(sizeof *dy * (size_t)ny);
        float *want = malloc(sizeof *want * (size_t)nx), *dx = guarded(nx);
        cr_assert(x && dy && want);
        for (int64_t i = 0; i < nx; i++) x[i] = (float)((i * 7) % 5) - 2.0f > 0 ? (float)((i * 7) % 5) - 2.0f : 0.0f;
        x[nx / 3] = NAN;
        for (int64_t i = 0; i < ny; i++) dy[i] = (float)(i % 11) - 4.75f;
        aairt_pool2d_grad(x, dy, want, t->batch, &w, 0, 0);
        for (int64_t i = 0; i < nx; i++) want[i] = x[i] > 0.0f ? want[i] : 0.0f;
        aairt_pool2d_grad(x, dy, dx, t->batch, &w, 0, 1);
        cr_expect_eq(memcmp(dx, want, sizeof *dx * (size_t)nx), 0,
                     "case %zu: not the bits of the relu's gradient of the pooling's", c);
        expect_guards(dx, nx, "pool2d_grad with relu");
        guarded_free(dx);
        free(x), free(dy), free(want);
    }
}
