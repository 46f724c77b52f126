/* pool2d.c - max and average pooling and their gradients, for generated
 * code (IR ops POOL2D and POOL2D_GRAD, compiler/codegen_layers.c).
 *
 * Every plane (sample, channel) of x [N, C, H, W] is pooled on its own by
 * windows of k x k at the given stride over the image padded with
 * `padding` (dilation 1):
 *  - max: the window's maximum over the elements inside the image, the
 *    first one winning ties, as in PyTorch: a later element replaces it
 *    only when greater (so a NaN is kept only where it comes first); the
 *    gradient routes dy to that first maximum.
 *  - average: the sum of the elements inside divided by k k (padding
 *    counts, PyTorch's count_include_pad); the gradient adds dy / (k k) to
 *    each of them.
 * Windows that tile the image (stride = k, no padding: LeNet's 2x2/2, the
 * usual downsampling) take a separate path without bounds checks, 2x2
 * with k constant, that GCC vectorizes along the output row; its gradient
 * writes every input element once (dy or 0) instead of zeroing and then
 * adding. The max gradient can also apply a relu's gradient on the way
 * (passes/fuse.c folds relu_grad(x, pool2d_grad(x, dy)) where x is a relu's
 * output): dy goes to the maximum only where it is > 0, which is what the
 * relu's gradient would leave of it, bit for bit. Gradients are summed in (window, element) order, the same at
 * any thread count: generated code cuts the batch over threads and calls
 * these with the pointers advanced. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "aairt.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* The index in its plane of the first maximum of the window at (oh, ow),
 * its value in *max; -1 (and -inf) when the window lies wholly in the
 * padding. */
static int64_t window_argmax(const float *plane, const AairtWindow *w, int64_t oh, int64_t ow,
                             float *max) {
    int64_t arg = -1;
    float m = -INFINITY;
    for (int64_t ki = 0; ki < w->kernel; ki++) {
        int64_t ih = oh * w->stride - w->padding + ki;
        if (ih < 0 || ih >= w->height) continue;
        for (int64_t kj = 0; kj < w->kernel; kj++) {
            int64_t iw = ow * w->stride - w->padding + kj;
            if (iw < 0 || iw >= w->width) continue;
            float v = plane[ih * w->width + iw];
            if (arg < 0 || v > m) {
                m = v;
                arg = ih * w->width + iw;
            }
        }
    }
    *max = m;
    return arg;
}

/* The sum of the window's elements inside the image. */
static float window_sum(const float *plane, const AairtWindow *w, int64_t oh, int64_t ow) {
    float s = 0.0f;
    for (int64_t ki = 0; ki < w->kernel; ki++) {
        int64_t ih = oh * w->stride - w->padding + ki;
        for (int64_t kj = 0; ih >= 0 && ih < w->height && kj < w->kernel; kj++) {
            int64_t iw = ow * w->stride - w->padding + kj;
            if (iw >= 0 && iw < w->width) s += plane[ih * w->width + iw];
        }
    }
    return s;
}

/* dy * scale added to every element of the window inside the image. */
static void window_spread(float *plane, const AairtWindow *w, int64_t oh, int64_t ow, float g) {
    for (int64_t ki = 0; ki < w->kernel; ki++) {
        int64_t ih = oh * w->stride - w->padding + ki;
        for (int64_t kj = 0; ih >= 0 && ih < w->height && kj < w->kernel; kj++) {
            int64_t iw = ow * w->stride - w->padding + kj;
            if (iw >= 0 && iw < w->width) plane[ih * w->width + iw] += g;
        }
    }
}

/* 1 / (k k), rounded once from double as the compiler's constants are. */
static float inverse_area(const AairtWindow *w) {
    return (float)(1.0 / (double)(w->kernel * w->kernel));
}

static bool tiles(const AairtWindow *w, int avg) {
    return !avg && w->stride == w->kernel && w->padding == 0;
}

/* ---- windows that tile the image --------------------------------------------- */

/* One output row of max pooling: y[ow] = max of the k x k tile at column
 * ow k of the k input rows from `top`. */
ALWAYS_INLINE void max_row(const float *restrict top, float *restrict y, int64_t width,
                           int64_t from, int64_t out_w, int64_t k) {
    for (int64_t ow = from; ow < out_w; ow++) {
        const float *t = top + ow * k;
        float m = t[0];
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++) {
                float v = t[ki * width + kj];
                m = v > m ? v : m;
            }
        y[ow] = m;
    }
}

/* Its gradient: each tile's elements get dy at the first maximum, 0
 * elsewhere. */
ALWAYS_INLINE void max_row_grad(const float *restrict top, const float *restrict dy,
                                float *restrict dx, int64_t width, int64_t from, int64_t out_w,
                                int64_t k, bool relu) {
    for (int64_t ow = from; ow < out_w; ow++) {
        const float *t = top + ow * k;
        float m = t[0];
        int64_t arg = 0;
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++) {
                float v = t[ki * width + kj];
                bool better = v > m;
                m = better ? v : m;
                arg = better ? ki * k + kj : arg;
            }
        float g = relu && !(m > 0.0f) ? 0.0f : dy[ow];
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++)
                dx[ki * width + ow * k + kj] = arg == ki * k + kj ? g : 0.0f;
    }
}

/* 2x2 tiles four at a time in GCC's portable vectors (SSE on x86-64, NEON
 * on aarch64): the library is built for the baseline CPU, and GCC left
 * the strided window loads scalar. Same comparisons in the same order as
 * max_row, so the same answers, NaNs included. */
typedef float Quad __attribute__((vector_size(4 * sizeof(float))));
typedef int32_t Lanes __attribute__((vector_size(4 * sizeof(int32_t))));

static inline Quad load4(const float *p) {
    Quad q;
    memcpy(&q, p, sizeof q);
    return q;
}
static inline void store4(float *p, Quad q) { memcpy(p, &q, sizeof q); }
static inline Quad pick(Lanes yes, Quad a, Quad b) {
    return (Quad)(((Lanes)a & yes) | ((Lanes)b & ~yes));
}

/* Tiles [ow, ow + 4) of the pair of rows at `top`: their four taps, in
 * window order, as vectors over the four tiles. */
static inline void taps4(const float *top, int64_t width, int64_t ow, Quad tap[4]) {
    const Lanes even = {0, 2, 4, 6}, odd = {1, 3, 5, 7};
    for (int r = 0; r < 2; r++) {
        Quad lo = load4(top + r * width + 2 * ow), hi = load4(top + r * width + 2 * ow + 4);
        tap[2 * r] = __builtin_shuffle(lo, hi, even);
        tap[2 * r + 1] = __builtin_shuffle(lo, hi, odd);
    }
}

static int64_t max_row2(const float *top, float *y, int64_t width, int64_t out_w) {
    int64_t ow = 0;
    for (; ow + 4 <= out_w; ow += 4) {
        Quad tap[4];
        taps4(top, width, ow, tap);
        Quad m = tap[0];
        for (int i = 1; i < 4; i++) m = pick(tap[i] > m, tap[i], m);
        store4(y + ow, m);
    }
    return ow;
}

static int64_t max_row2_grad(const float *top, const float *dy, float *dx, int64_t width,
                             int64_t out_w, bool relu) {
    const Lanes pair_lo = {0, 4, 1, 5}, pair_hi = {2, 6, 3, 7};
    const Quad zero = {0};
    int64_t ow = 0;
    for (; ow + 4 <= out_w; ow += 4) {
        Quad tap[4], m;
        taps4(top, width, ow, tap);
        Lanes arg = {0}, better;
        m = tap[0];
        for (int i = 1; i < 4; i++) {
            better = tap[i] > m;
            m = pick(better, tap[i], m);
            arg = (better & i) | (~better & arg);
        }
        Quad g = load4(dy + ow), d[4];
        if (relu) g = pick(m > zero, g, zero);
        for (int i = 0; i < 4; i++) d[i] = pick(arg == i, g, zero);
        for (int r = 0; r < 2; r++) { /* re-interleave the row's two taps */
            store4(dx + r * width + 2 * ow, __builtin_shuffle(d[2 * r], d[2 * r + 1], pair_lo));
            store4(dx + r * width + 2 * ow + 4, __builtin_shuffle(d[2 * r], d[2 * r + 1], pair_hi));
        }
    }
    return ow;
}

static void max_tiled(const float *x, float *y, int64_t planes, const AairtWindow *w) {
    int64_t k = w->kernel;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < w->out_height; oh++) {
            const float *top = x + (p * w->height + oh * k) * w->width;
            float *row = y + (p * w->out_height + oh) * w->out_width;
            if (k == 2) {
                int64_t done = max_row2(top, row, w->width, w->out_width);
                max_row(top, row, w->width, done, w->out_width, 2);
            } else {
                max_row(top, row, w->width, 0, w->out_width, k);
            }
        }
}

static void max_tiled_grad(const float *x, const float *dy, float *dx, int64_t planes,
                           const AairtWindow *w, bool relu) {
    int64_t k = w->kernel;
    bool uncovered = w->out_height * k != w->height || w->out_width * k != w->width;
    if (uncovered) memset(dx, 0, (size_t)(planes * w->height * w->width) * sizeof *dx);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < w->out_height; oh++) {
            int64_t at = (p * w->height + oh * k) * w->width;
            const float *g = dy + (p * w->out_height + oh) * w->out_width;
            if (k == 2) {
                int64_t done = max_row2_grad(x + at, g, dx + at, w->width, w->out_width, relu);
                max_row_grad(x + at, g, dx + at, w->width, done, w->out_width, 2, relu);
            } else {
                max_row_grad(x + at, g, dx + at, w->width, 0, w->out_width, k, relu);
            }
        }
}

/* ---- the entry points ------------------------------------------------------------ */

void aairt_pool2d(const float *x, float *y, int64_t batch, const AairtWindow *w, int avg) {
    int64_t planes = batch * w->channels, plane = w->height * w->width;
    if (tiles(w, avg)) {
        max_tiled(x, y, planes, w);
        return;
    }
    float inv = inverse_area(w);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < w->out_height; oh++)
            for (int64_t ow = 0; ow < w->out_width; ow++) {
                float m, *out = y + (p * w->out_height + oh) * w->out_width + ow;
                if (avg) *out = window_sum(x + p * plane, w, oh, ow) * inv;
                else {
                    window_argmax(x + p * plane, w, oh, ow, &m);
                    *out = m;
                }
            }
}

void aairt_pool2d_grad(const float *x, const float *dy, float *dx, int64_t batch,
                       const AairtWindow *w, int avg, int relu) {
    int64_t planes = batch * w->channels, plane = w->height * w->width;
    relu = relu && !avg;
    if (tiles(w, avg)) {
        max_tiled_grad(x, dy, dx, planes, w, relu);
        return;
    }
    memset(dx, 0, (size_t)(planes * plane) * sizeof *dx);
    float inv = inverse_area(w);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < w->out_height; oh++)
            for (int64_t ow = 0; ow < w->out_width; ow++) {
                float g = dy[(p * w->out_height + oh) * w->out_width + ow], m;
                if (avg) {
                    window_spread(dx + p * plane, w, oh, ow, g * inv);
                    continue;
                }
                int64_t arg = window_argmax(x + p * plane, w, oh, ow, &m);
                if (arg >= 0 && (!relu || m > 0.0f)) dx[p * plane + arg] += g;
            }
}
