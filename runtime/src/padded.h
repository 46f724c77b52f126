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

/* Copies image x [C, H, W] into the interior of the padded planes at dst;
 * the border is left as it is (the caller zeroes it once). */
static inline void aairt_pad_copy(float *dst, const float *x, const AairtWindow *w) {
    const int64_t hp = aairt_padded_height(w), wp = aairt_padded_width(w);
    for (int64_t c = 0; c < w->channels; c++)
        for (int64_t h = 0; h < w->height; h++)
            memcpy(dst + (c * hp + h + w->padding) * wp + w->padding,
                   x + (c * w->height + h) * w->width, (size_t)w->width * sizeof(float));
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
