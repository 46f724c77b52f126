/* conv2d_grad.c - a convolution's weight gradient without a column matrix.
 *
 * dw[o][t] = sum over samples n and output pixels of
 *   dy[n][o][pixel] x[n] at the pixel's tap t,
 * which the column path computes as im2col(x) and one GEMM. For a layer
 * with few output channels that is mostly memory traffic: LeNet's first
 * layer writes 25 floats of column matrix per pixel to meet 8 floats of
 * dy (1.9 ms of a batch of 64; this kernel 0.7). The compiler picks this
 * kernel for such layers (CONV2D_GRAD_W, compiler/passes/autodiff_layers.c).
 *
 * The flat form of conv2d.c again: with stride 1, tap t of output pixel
 * q = oh wp + ow reads the padded image at q + offset[t], so for each
 * sample dw[o][t] += sum over q of dyf[o][q] image[q + offset[t]], where
 * dyf is dy laid out on the padded width (zero past OW): one long dot
 * product per (o, t), unmasked vector loads only. Blocks of 4 output
 * channels x 2 taps keep 8 vectors of partial sums in registers over a
 * sample's pixels (4 x 3 spilled them, and masked loads, microcoded on Zen
 * 1, ran 4x slower); each sample's partial sums are then added up in
 * sample order and the 8 lanes summed at the end. Blocks are cut over the
 * runtime's threads and each is computed whole by one thread, so the
 * answer does not depend on the thread count. CPUs without AVX2 and FMA,
 * and other strides, take one sample's column matrix at a time. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "aairt.h"
#include "cpu.h"
#include "padded.h"
#include "pool.h"
#include "scratch.h"

enum {
    ROW_MAJOR = 101, /* CblasRowMajor */
    NO_TRANS = 111,  /* CblasNoTrans */
    VEC = 8,         /* floats in an AVX2 register */
    OBLOCK = 4,      /* output channels per block */
    TBLOCK = 2,      /* taps per block */
};

/* ---- any stride, any CPU: dw += dy[n] col[n], one sample at a time -------- */

static bool grad_w_by_columns(const float *x, const float *dy, float *dw, int64_t batch,
                              const AairtWindow *w, int64_t out_channels) {
    const int64_t taps = aairt_window_taps(w), pixels = w->out_height * w->out_width;
    float *col = aairt_scratch(AAIRT_SCRATCH_CONV, (size_t)(pixels * taps) * sizeof(float));
    if (!col) return false;
    memset(dw, 0, (size_t)(out_channels * taps) * sizeof(float));
    for (int64_t n = 0; n < batch; n++) {
        aairt_im2col(x + n * w->channels * w->height * w->width, col, 1, w);
        aairt_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, (int)out_channels, (int)taps, (int)pixels,
                    1.0f, dy + n * out_channels * pixels, (int)pixels, col, (int)taps, 1.0f, dw,
                    (int)taps);
    }
    return true;
}

/* The definition, the last resort when no scratch memory can be had. */
static void grad_w_scalar(const float *x, const float *dy, float *dw, int64_t batch,
                          const AairtWindow *w, int64_t out_channels) {
    const int64_t k = w->kernel, taps = aairt_window_taps(w), plane = w->height * w->width;
    memset(dw, 0, (size_t)(out_channels * taps) * sizeof(float));
    for (int64_t n = 0; n < batch; n++)
        for (int64_t o = 0; o < out_channels; o++)
            for (int64_t oh = 0; oh < w->out_height; oh++)
                for (int64_t ow = 0; ow < w->out_width; ow++) {
                    float g = *dy++;
                    for (int64_t t = 0; t < taps; t++) {
                        int64_t c = t / (k * k), ki = t / k % k, kj = t % k;
                        int64_t ih = oh * w->stride - w->padding + ki * w->dilation;
                        int64_t iw = ow * w->stride - w->padding + kj * w->dilation;
                        if (ih >= 0 && ih < w->height && iw >= 0 && iw < w->width)
                            dw[o * taps + t] +=
                                g * x[(n * w->channels + c) * plane + ih * w->width + iw];
                    }
                }
}

/* ---- stride 1 with AVX2 and FMA: flat dot products ------------------------ */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

typedef struct GradW {
    const float *images; /* the batch's padded images, `image` floats apart */
    const float *dy;
    const int64_t *offset;
    float *dw;
    float *work;         /* per part: partial sums, then staged dy rows */
    const AairtWindow *w;
    int64_t wp, image, positions; /* positions: OH wp rounded up to VEC */
    int64_t batch, outs, taps, tchunk, units, sums, region; /* floats */
    int parts;
} GradW;

/* The 4 x 2 block at channel rows d (4 staged dyf rows, `positions` apart)
 * and taps offset t0, t1 of one sample's image, added to sum[8][VEC]. */
AVX2 static void block_4x2(const float *d, int64_t positions, const float *s0, const float *s1,
                           float *sum) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
    __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (int64_t q = 0; q < positions; q += VEC) {
        __m256 x0 = _mm256_loadu_ps(s0 + q), x1 = _mm256_loadu_ps(s1 + q), v;
        v = _mm256_load_ps(d + q);
        a00 = _mm256_fmadd_ps(v, x0, a00);
        a01 = _mm256_fmadd_ps(v, x1, a01);
        v = _mm256_load_ps(d + positions + q);
        a10 = _mm256_fmadd_ps(v, x0, a10);
        a11 = _mm256_fmadd_ps(v, x1, a11);
        v = _mm256_load_ps(d + 2 * positions + q);
        a20 = _mm256_fmadd_ps(v, x0, a20);
        a21 = _mm256_fmadd_ps(v, x1, a21);
        v = _mm256_load_ps(d + 3 * positions + q);
        a30 = _mm256_fmadd_ps(v, x0, a30);
        a31 = _mm256_fmadd_ps(v, x1, a31);
    }
    __m256 acc[OBLOCK * TBLOCK] = {a00, a01, a10, a11, a20, a21, a30, a31};
    for (int i = 0; i < OBLOCK * TBLOCK; i++)
        _mm256_store_ps(sum + i * VEC, _mm256_add_ps(_mm256_load_ps(sum + i * VEC), acc[i]));
}

AVX2 static float lane_sum(const float *v) {
    __m256 x = _mm256_load_ps(v);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* dy rows [o, o + OBLOCK) of sample n on the padded width, zero past OW,
 * past the last row and for channels past the last (their sums are
 * dropped). */
static void stage_rows(const GradW *g, float *d, int64_t n, int64_t o) {
    const AairtWindow *w = g->w;
    const int64_t pixels = w->out_height * w->out_width;
    memset(d, 0, (size_t)(OBLOCK * g->positions) * sizeof(float));
    for (int64_t j = 0; j < OBLOCK && o + j < g->outs; j++) {
        const float *src = g->dy + (n * g->outs + o + j) * pixels;
        for (int64_t oh = 0; oh < w->out_height; oh++)
            aairt_copy_row(d + j * g->positions + oh * g->wp, src + oh * w->out_width,
                           w->out_width);
    }
}

/* Unit u: channel block u / chunks, taps [t0, t1) of chunk u % chunks,
 * in part `part`'s working region. */
static void grad_w_unit(const GradW *g, int64_t u, int part) {
    const int64_t chunks = (g->taps + g->tchunk - 1) / g->tchunk;
    const int64_t o = u / chunks * OBLOCK, t0 = u % chunks * g->tchunk;
    const int64_t t1 = t0 + g->tchunk < g->taps ? t0 + g->tchunk : g->taps;
    const int64_t blocks = (t1 - t0 + TBLOCK - 1) / TBLOCK, per = OBLOCK * TBLOCK * VEC;
    float *sums = g->work + part * g->region, *d = sums + g->sums;
    memset(sums, 0, (size_t)(blocks * per) * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++) {
        stage_rows(g, d, n, o);
        const float *image = g->images + n * g->image;
        for (int64_t b = 0; b < blocks; b++) {
            int64_t t = t0 + b * TBLOCK, t_next = t + 1 < t1 ? t + 1 : t; /* a lone tap twice */
            block_4x2(d, g->positions, image + g->offset[t], image + g->offset[t_next],
                      sums + b * per);
        }
    }
    for (int64_t b = 0; b < blocks; b++)
        for (int64_t j = 0; j < OBLOCK && o + j < g->outs; j++)
            for (int64_t i = 0; i < TBLOCK && t0 + b * TBLOCK + i < t1; i++)
                g->dw[(o + j) * g->taps + t0 + b * TBLOCK + i] =
                    lane_sum(sums + b * per + (j * TBLOCK + i) * VEC);
}

static void grad_w_part(void *ctx, int part) {
    const GradW *g = ctx;
    for (int64_t u = g->units * part / g->parts; u < g->units * (part + 1) / g->parts; u++)
        grad_w_unit(g, u, part);
}

/* Cuts the work into units: channel blocks, and when there are fewer of
 * them than threads, chunks of taps as well. */
static void plan_units(GradW *g) {
    int threads = aairt_get_threads();
    if (threads > AAIRT_POOL_MAX_THREADS) threads = AAIRT_POOL_MAX_THREADS;
    int64_t oblocks = (g->outs + OBLOCK - 1) / OBLOCK;
    int64_t chunks = oblocks >= threads ? 1 : (threads + oblocks - 1) / oblocks;
    g->tchunk = ((g->taps + chunks - 1) / chunks + TBLOCK - 1) / TBLOCK * TBLOCK;
    g->units = oblocks * ((g->taps + g->tchunk - 1) / g->tchunk);
    g->parts = (int)(g->units < threads ? g->units : threads);
}

static bool grad_w_flat(const float *x, const float *dy, float *dw, int64_t batch,
                        const AairtWindow *w, int64_t out_channels) {
    if (w->stride != 1 || batch < 1 || !aairt_cpu_has_avx2_fma()) return false;
    const int64_t wp = aairt_padded_width(w), taps = aairt_window_taps(w);
    const int64_t in = w->channels * w->height * w->width;
    GradW g = {.dy = dy, .dw = dw, .w = w, .wp = wp, .batch = batch, .outs = out_channels,
               .taps = taps};
    g.positions = (w->out_height * wp + VEC - 1) / VEC * VEC;
    g.image = w->channels * aairt_padded_height(w) * wp;
    plan_units(&g);
    /* The caller's scratch holds everything, the parts' working regions
     * too: a worker allocates nothing, whichever parts it happens to run.
     * The last sample's last pixels read up to (k-1) d + VEC - 1 floats
     * past it (columns past OW, whose dyf is zero). */
    g.sums = g.tchunk / TBLOCK * OBLOCK * TBLOCK * VEC;
    g.region = g.sums + OBLOCK * g.positions; /* a multiple of 16: 64-byte aligned */
    int64_t floats = (batch * g.image + (w->kernel - 1) * w->dilation + VEC + 15) / 16 * 16;
    float *images = aairt_scratch(AAIRT_SCRATCH_CONV,
                                  (size_t)(floats + g.parts * g.region) * sizeof(float) +
                                      (size_t)taps * sizeof(int64_t));
    if (!images) return false;
    g.work = images + floats;
    int64_t *offset = (int64_t *)(void *)(g.work + g.parts * g.region);
    memset(images, 0, (size_t)floats * sizeof(float)); /* borders and slack stay zero */
    aairt_tap_offsets(offset, w);
    for (int64_t n = 0; n < batch; n++) aairt_pad_copy(images + n * g.image, x + n * in, w);
    g.images = images;
    g.offset = offset;
    if (g.parts < 2) grad_w_part(&g, 0);
    else aairt_pool_run(grad_w_part, &g, g.parts);
    return true;
}

#else /* no AVX2 kernel for this target */

static bool grad_w_flat(const float *x, const float *dy, float *dw, int64_t batch,
                        const AairtWindow *w, int64_t out_channels) {
    (void)x, (void)dy, (void)dw, (void)batch, (void)w, (void)out_channels;
    return false;
}

#endif

void aairt_conv2d_grad_w(const float *x, const float *dy, float *dw, int64_t batch,
                         const AairtWindow *w, int64_t out_channels) {
    if (grad_w_flat(x, dy, dw, batch, w, out_channels)) return;
    if (grad_w_by_columns(x, dy, dw, batch, w, out_channels)) return;
    grad_w_scalar(x, dy, dw, batch, w, out_channels);
}
