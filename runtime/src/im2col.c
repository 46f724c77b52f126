/* im2col.c - a convolution's column matrix and its adjoint, for generated
 * code (IR ops IM2COL and COL2IM, compiler/codegen_layers.c).
 *
 * The column matrix has one row per output position and one column per
 * (channel, window row, window column):
 *   col[n, oh OW + ow, (c k + ki) k + kj] = x[n, c, oh s - p + ki d, ow s - p + kj d]
 * or 0 where that falls outside the image. COL2IM is the adjoint: the
 * image zeroed, then every column element added back where IM2COL took it
 * from.
 *
 * Each sample's image is first copied into a scratch image with the zero
 * padding around every channel plane (and slack at the end), so a row of
 * the column matrix is C k runs of k elements read without a single bounds
 * check, at offsets that are the same for every row (`runs`). Where k <= 8
 * and the dilation is 1, every run but a row's last is copied as one
 * 8-float vector whose tail the next run overwrites: fewer, wider moves
 * than k-float copies. The adjoint adds the runs into a zeroed padded
 * image and copies its interior out. Kernels of 3 and 5 get their own
 * inlined copies with k constant.
 *
 * These were generated kernels with every window loop unrolled; as library
 * code they cost the compiler nothing per convolution (they were 40 % of
 * LLVM's time on examples/fashion_resnet). Each sample is independent:
 * generated code cuts the batch over threads (aairt_run_rows) and calls
 * these with the pointers advanced, so nothing here may write outside its
 * own samples. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "padded.h"
#include "scratch.h"

enum { VEC = 8 }; /* floats in one wide copy, and the scratch image's slack */

#define ALWAYS_INLINE static inline __attribute__((always_inline))


/* The padded scratch image (this thread's AAIRT_SCRATCH_WINDOW block, reused
 * from call to call) and, for each of a row's C k runs, its offset from
 * the window's top-left corner there. */
typedef struct Scratch {
    AairtWindow w;
    int64_t hp, wp; /* the padded plane */
    int64_t n_runs;
    float *image;   /* C hp wp + VEC floats */
    int64_t *runs;  /* n_runs offsets */
} Scratch;

static bool scratch_init(Scratch *s, const AairtWindow *w) {
    s->w = *w;
    s->hp = aairt_padded_height(w);
    s->wp = aairt_padded_width(w);
    s->n_runs = w->channels * w->kernel;
    size_t floats = (size_t)(w->channels * s->hp * s->wp + VEC);
    floats += floats & 1; /* the offsets after the image start 8-byte aligned */
    s->image = aairt_scratch(AAIRT_SCRATCH_WINDOW,
                             floats * sizeof(float) + (size_t)s->n_runs * sizeof(int64_t));
    if (!s->image) return false;
    s->runs = (int64_t *)(void *)(s->image + floats);
    for (int64_t c = 0; c < w->channels; c++)
        for (int64_t ki = 0; ki < w->kernel; ki++)
            s->runs[c * w->kernel + ki] = (c * s->hp + ki * w->dilation) * s->wp;
    return true;
}

/* The padded image of one sample x [C, H, W]. */
static void pad_image(const Scratch *s, const float *x) {
    const AairtWindow *w = &s->w;
    memset(s->image, 0, (size_t)(w->channels * s->hp * s->wp + VEC) * sizeof(float));
    aairt_pad_copy(s->image, x, w);
}

/* x [C, H, W] = the padded image's interior. */
static void unpad_image(const Scratch *s, float *x) {
    const AairtWindow *w = &s->w;
    for (int64_t c = 0; c < w->channels; c++)
        for (int64_t h = 0; h < w->height; h++)
            aairt_copy_row(x + (c * w->height + h) * w->width,
                           s->image + (c * s->hp + h + w->padding) * s->wp + w->padding, w->width);
}

/* One sample's column matrix from the padded image; k and d constant when
 * inlined from take_sample. */
ALWAYS_INLINE void take_rows(const Scratch *s, float *col, int64_t k, int64_t d) {
    const AairtWindow w = s->w;
    const int64_t row = s->n_runs * k, rows = w.out_height * w.out_width;
    /* Runs are written in address order, so a run copied as VEC floats has
     * its tail overwritten by the runs after it, in its row or the next.
     * Only the sample's last runs must stop at their end: [wide, n_runs)
     * of the last row. */
    const bool vec = d == 1 && k <= VEC && row >= VEC;
    const int64_t wide = vec ? (row - VEC) / k + 1 : 0;
    for (int64_t q = 0; q < rows; q++, col += row) {
        int64_t oh = q / w.out_width, ow = q % w.out_width;
        const float *corner = s->image + oh * w.stride * s->wp + ow * w.stride;
        int64_t whole = !vec ? 0 : q + 1 < rows ? s->n_runs : wide;
        for (int64_t r = 0; r < whole; r++)
            memcpy(col + r * k, corner + s->runs[r], VEC * sizeof(float));
        for (int64_t r = whole; r < s->n_runs; r++)
            for (int64_t j = 0; j < k; j++) col[r * k + j] = corner[s->runs[r] + j * d];
    }
}

/* Four floats, in GCC's portable vector extension (SSE on x86-64, NEON
 * on aarch64). */
typedef float Quad __attribute__((vector_size(4 * sizeof(float))));
typedef float Pair __attribute__((vector_size(2 * sizeof(float))));

/* dst[j d] += src[j], j < k: one run added back into the padded image.
 * Written as quads: across the runs of a window GCC cannot prove the rows
 * apart and left all but the first run scalar. */
ALWAYS_INLINE void add_run(float *dst, const float *src, int64_t k, int64_t d) {
    int64_t j = 0;
    for (; d == 1 && j + 4 <= k; j += 4) {
        Quad a, b;
        memcpy(&a, dst + j, sizeof a);
        memcpy(&b, src + j, sizeof b);
        a += b;
        memcpy(dst + j, &a, sizeof a);
    }
    for (; d == 1 && j + 2 <= k; j += 2) {
        Pair a, b;
        memcpy(&a, dst + j, sizeof a);
        memcpy(&b, src + j, sizeof b);
        a += b;
        memcpy(dst + j, &a, sizeof a);
    }
    for (; j < k; j++) dst[j * d] += src[j];
}

/* The adjoint: one sample's column matrix added into the (zeroed) padded
 * image. Offsets are computed, not read from `runs`: with k constant the
 * window's k runs unroll into a few vector adds per channel. */
ALWAYS_INLINE void give_rows(const Scratch *s, const float *col, int64_t k, int64_t d) {
    const AairtWindow w = s->w;
    const int64_t plane = s->hp * s->wp, down = d * s->wp;
    float *image = s->image;
    for (int64_t oh = 0; oh < w.out_height; oh++) {
        for (int64_t ow = 0; ow < w.out_width; ow++) {
            float *corner = image + oh * w.stride * s->wp + ow * w.stride;
            for (int64_t c = 0; c < w.channels; c++, corner += plane)
                for (int64_t ki = 0; ki < k; ki++, col += k) add_run(corner + ki * down, col, k, d);
        }
    }
}

static void take_sample(const Scratch *s, float *col) {
    int64_t k = s->w.kernel, d = s->w.dilation;
    if (k == 3 && d == 1) take_rows(s, col, 3, 1);
    else if (k == 5 && d == 1) take_rows(s, col, 5, 1);
    else take_rows(s, col, k, d);
}

static void give_sample(const Scratch *s, const float *col) {
    int64_t k = s->w.kernel, d = s->w.dilation;
    if (k == 3 && d == 1) give_rows(s, col, 3, 1);
    else if (k == 5 && d == 1) give_rows(s, col, 5, 1);
    else give_rows(s, col, k, d);
}

/* Without scratch memory: the definition, element by element. */
static void window_direct(const float *x_in, float *x_out, const float *col_in, float *col_out,
                          const AairtWindow *w) {
    int64_t k = w->kernel, i = 0;
    for (int64_t oh = 0; oh < w->out_height; oh++)
        for (int64_t ow = 0; ow < w->out_width; ow++)
            for (int64_t c = 0; c < w->channels; c++)
                for (int64_t ki = 0; ki < k; ki++)
                    for (int64_t kj = 0; kj < k; kj++, i++) {
                        int64_t ih = oh * w->stride - w->padding + ki * w->dilation;
                        int64_t iw = ow * w->stride - w->padding + kj * w->dilation;
                        bool in = ih >= 0 && ih < w->height && iw >= 0 && iw < w->width;
                        int64_t xi = (c * w->height + ih) * w->width + iw;
                        if (col_out) col_out[i] = in ? x_in[xi] : 0.0f;
                        else if (in) x_out[xi] += col_in[i];
                    }
}

static int64_t col_floats(const AairtWindow *w) {
    return w->out_height * w->out_width * w->channels * w->kernel * w->kernel;
}

void aairt_im2col(const float *x, float *col, int64_t batch, const AairtWindow *w) {
    int64_t image = w->channels * w->height * w->width, rows = col_floats(w);
    Scratch s;
    bool fast = scratch_init(&s, w);
    for (int64_t n = 0; n < batch; n++) {
        if (!fast) {
            window_direct(x + n * image, NULL, NULL, col + n * rows, w);
            continue;
        }
        pad_image(&s, x + n * image);
        take_sample(&s, col + n * rows);
    }
}

void aairt_col2im(const float *col, float *x, int64_t batch, const AairtWindow *w) {
    int64_t image = w->channels * w->height * w->width, rows = col_floats(w);
    Scratch s;
    bool fast = scratch_init(&s, w);
    if (!fast) memset(x, 0, (size_t)(batch * image) * sizeof *x);
    for (int64_t n = 0; n < batch; n++) {
        if (!fast) {
            window_direct(NULL, x + n * image, col + n * rows, NULL, w);
            continue;
        }
        memset(s.image, 0, (size_t)(w->channels * s.hp * s.wp) * sizeof(float));
        give_sample(&s, col + n * rows);
        unpad_image(&s, x + n * image);
    }
}
