/* test_im2col.c - aairt_im2col and aairt_col2im (runtime/src/im2col.c)
 * against the definition written out element by element, over kernels 1
 * to 7 (3 and 5 have their own inlined copies), strides, padding,
 * dilation, channel counts and batches, on buffers with guard floats on
 * both sides: the wide copies may overrun a run only into floats the next
 * runs overwrite, never outside a sample's rows. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "guard.h"

typedef struct Case {
    int64_t chans, h, w, k, stride, pad, dil, batch;
} Case;

static AairtWindow window_of(const Case *t) {
    int64_t span = t->dil * (t->k - 1) + 1;
    return (AairtWindow){t->chans, t->h, t->w, (t->h + 2 * t->pad - span) / t->stride + 1,
                         (t->w + 2 * t->pad - span) / t->stride + 1, t->k, t->stride, t->pad,
                         t->dil};
}

/* The column element of (n, oh, ow, c, ki, kj) and the image element it
 * is taken from, or -1 outside the image. */
static int64_t image_index(const AairtWindow *w, int64_t n, int64_t oh, int64_t ow, int64_t c,
                           int64_t ki, int64_t kj) {
    int64_t ih = oh * w->stride - w->padding + ki * w->dilation;
    int64_t iw = ow * w->stride - w->padding + kj * w->dilation;
    if (ih < 0 || ih >= w->height || iw < 0 || iw >= w->width) return -1;
    return ((n * w->channels + c) * w->height + ih) * w->width + iw;
}

static void check_case(const Case *t) {
    AairtWindow w = window_of(t);
    int64_t nx = t->batch * t->chans * t->h * t->w;
    int64_t row = t->chans * t->k * t->k, nc = t->batch * w.out_height * w.out_width * row;
    float *x = guarded(nx), *col = guarded(nc), *back = guarded(nx);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)(i % 97) - 40.0f;
    aairt_im2col(x, col, t->batch, &w);
    double *want_back = calloc((size_t)nx, sizeof *want_back);
    cr_assert(want_back);
    int64_t i = 0, wrong = 0;
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t oh = 0; oh < w.out_height; oh++)
            for (int64_t ow = 0; ow < w.out_width; ow++)
                for (int64_t c = 0; c < t->chans; c++)
                    for (int64_t ki = 0; ki < t->k; ki++)
                        for (int64_t kj = 0; kj < t->k; kj++, i++) {
                            int64_t xi = image_index(&w, n, oh, ow, c, ki, kj);
                            float want = xi < 0 ? 0.0f : x[xi];
                            wrong += col[i] != want;
                            col[i] = (float)(i % 13) * 0.5f; /* now col2im's input */
                            if (xi >= 0) want_back[xi] += col[i];
                        }
    cr_expect_eq(wrong, 0, "im2col: %lld of %lld elements wrong (C %lld %lldx%lld k %lld s %lld p %lld d %lld)",
                 (long long)wrong, (long long)nc, (long long)t->chans, (long long)t->h,
                 (long long)t->w, (long long)t->k, (long long)t->stride, (long long)t->pad,
                 (long long)t->dil);
    expect_guards(col, nc, "im2col");
    aairt_col2im(col, back, t->batch, &w);
    wrong = 0;
    for (int64_t j = 0; j < nx; j++) wrong += back[j] != (float)want_back[j];
    cr_expect_eq(wrong, 0, "col2im: %lld of %lld image elements wrong (k %lld s %lld p %lld d %lld)",
                 (long long)wrong, (long long)nx, (long long)t->k, (long long)t->stride,
                 (long long)t->pad, (long long)t->dil);
    expect_guards(back, nx, "col2im");
    guarded_free(x);
    guarded_free(col);
    guarded_free(back);
    free(want_back);
}

Test(im2col, matches_the_definition) {
    const Case cases[] = {
        {1, 28, 28, 5, 1, 2, 1, 3}, /* LeNet's first layer */
        {8, 14, 14, 5, 1, 0, 1, 2}, /* and its second */
        {16, 7, 7, 3, 1, 1, 1, 2},  /* a ResNet block */
        {3, 9, 11, 3, 2, 1, 1, 3},  /* stride 2, not square */
        {2, 8, 8, 3, 1, 2, 2, 1},   /* dilation */
        {2, 10, 9, 5, 2, 2, 2, 2},  /* dilation and stride */
        {4, 6, 6, 1, 1, 0, 1, 2},   /* 1x1 */
        {1, 3, 3, 2, 1, 0, 1, 4},   /* even kernel, the 8-float copy longer than a row */
        {2, 9, 9, 7, 1, 3, 1, 1},   /* k = 7 */
        {1, 12, 12, 9, 3, 4, 1, 2}, /* k > 8: no wide copies */
        {5, 5, 5, 5, 1, 2, 1, 2},   /* the window as big as the image */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}
