/* padded.h - a window's zero-padded image, as libaairt's window kernels
 * lay it out (im2col.c, conv2d.c, conv2d_grad.c): channel c's plane of
 * hp x wp floats (the image with `padding` zeros around it) after channel
 * c - 1's. */
#ifndef AAIRT_PADDED_H
#define AAIRT_PADDED_H

#include <stdint.h>
#include <string.h>

#include "aairt.h"

static inline int64_t aairt_padded_height(const AairtWindow *w) {
    return w->height + 2 * w->padding;
}

static inline int64_t aairt_padded_width(const AairtWindow *w) {
    return w->width + 2 * w->padding;
}

/* Taps in a window: C k k. */
static inline int64_t aairt_window_taps(const AairtWindow *w) {
    return w->channels * w->kernel * w->kernel;
}

/* Copies one image row of n floats. Rows are short (LeNet's: 10-28
 * floats) and there is one per (channel, row) of every sample: as memcpy
 * calls, 4-5 % of a fashion_cnn training epoch's samples at 1 thread went
 * to libc's memmove, and copied in registers the epoch runs 1-7 % faster
 * (three interleaved pairs). Every memcpy here has a constant size, so the
 * compiler moves the floats in registers; a loop of single floats it would
 * turn back into a call. */
static inline void aairt_copy_row(float *restrict dst, const float *restrict src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(dst + i, src + i, 8 * sizeof(float));
    if (n - i >= 4) {
        memcpy(dst + i, src + i, 4 * sizeof(float));
        i += 4;
    }
    if (n - i >= 2) {
        memcpy(dst + i, src + i, 2 * sizeof(float));
        i += 2;
    }
    if (n - i) dst[i] = src[i];
}

/* Copies image x [C, H, W] into the interior of the padded planes at dst;
 * the border is left as it is (the caller zeroes it once). */
static inline void aairt_pad_copy(float *dst, const float *x, const AairtWindow *w) {
    const int64_t hp = aairt_padded_height(w), wp = aairt_padded_width(w);
    for (int64_t c = 0; c < w->channels; c++)
        for (int64_t h = 0; h < w->height; h++)
            aairt_copy_row(dst + (c * hp + h + w->padding) * wp + w->padding,
                           x + (c * w->height + h) * w->width, w->width);
}

/* offset[(c k + ki) k + kj] = (c hp + ki d) wp + kj d: where tap (c, ki, kj)
 * of a window reads in the flat padded image, from the window's corner. */
static inline void aairt_tap_offsets(int64_t *offset, const AairtWindow *w) {
    const int64_t hp = aairt_padded_height(w), wp = aairt_padded_width(w);
    const int64_t k = w->kernel, d = w->dilation;
    int64_t t = 0;
    for (int64_t c = 0; c < w->channels; c++)
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++) offset[t++] = (c * hp + ki * d) * wp + kj * d;
}

#endif
