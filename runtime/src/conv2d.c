/* conv2d.c - direct convolution (the forward pass): no column matrix.
 *
 * A convolution as IM2COL + a matrix product writes the column matrix and
 * reads it back once: LeNet's first layer (one input channel, a 5x5
 * window) writes 25 floats per output pixel. bench/profile put im2col, the
 * layout transpose after the product and the separate bias pass at 41 % of
 * batch-256 inference of examples/fashion_cnn.aai, and at two threads that
 * memory traffic is what stopped the second core from paying. The forward
 * pass of predict, eval and the training step computes here instead; only
 * the training step's weight gradient still needs the column matrix, and
 * its backward pass makes it (compiler/passes/autodiff_layers.c).
 *
 * The kernel works on the padded image laid out flat. With stride 1, the
 * output pixel (oh, ow) reads tap (c, ki, kj) at flat offset
 *   q + c hp wp + ki d wp + kj d,   q = oh wp + ow,
 * so for one tap a run of consecutive q is a run of consecutive image
 * floats. Computing every q in [0, OH wp) - the columns past OW included,
 * then dropped - turns the convolution into one long vector loop per tap:
 * blocks of 4 output channels x 24 positions stay in 12 registers for the
 * whole sum over C k k taps, each tap three loads and four broadcasts for
 * twelve fused multiply-adds. The dropped columns cost (wp - OW) / wp of
 * the work (LeNet: 12 % and 29 %), far less than the copies they replace.
 *
 * Every output is one chain of multiply-adds in tap order (c, ki, kj),
 * then + bias (then relu, when passes/fuse.c folded one in): the order of
 * gemm_small's narrow kernel over im2col's
 * columns, so where that kernel would run (AVX2, at most 16 output
 * channels) the bits are those of the column path.
 * Other strides, and CPUs without AVX2 and FMA, take a column matrix of
 * one sample at a time and aairt_sgemm. Each sample is independent, so
 * generated code cuts the batch over threads (aairt_run_rows).
 *
 * The flat kernel adds the bias and applies the relu as each block leaves
 * its registers; the output's first OW columns of each row are then
 * copied out.
 *
 * A max pooling over k x k tiles that follows (passes/fuse.c folds it in
 * where nothing else reads the convolution: prediction, evaluation) is
 * applied one sample at a time, so the unpooled planes (LeNet's first:
 * 25 KB a sample, 6.4 MB at batch 256) never leave the cache: the flat
 * kernel's planes are pooled where they lie (no copy), the column path's
 * sample goes to this thread's scratch and is pooled from there. Storing
 * them and reading them back took a fifth of batch-256 inference of
 * examples/fashion_cnn.aai. The pooling is aairt_pool2d on the same
 * values, so the bits are those of the two ops one after the other. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "aairt.h"
#include "cpu.h"
#include "padded.h"
#include "scratch.h"

enum {
    ROW_MAJOR = 101, /* CblasRowMajor */
    NO_TRANS = 111,  /* CblasNoTrans */
    TRANS = 112,     /* CblasTrans */
};

/* relu as generated code computes it: x > 0 ? x : 0 (NaN gives 0). */
static inline float relu_of(float x) { return x > 0.0f ? x : 0.0f; }

/* y += bias per channel, then relu when asked. */
static void finish(float *y, const float *bias, int relu, int64_t channels, int64_t plane) {
    for (int64_t o = 0; o < channels; o++) {
        float *yo = y + o * plane;
        if (bias)
            for (int64_t i = 0; i < plane; i++) yo[i] += bias[o];
        if (relu)
            for (int64_t i = 0; i < plane; i++) yo[i] = relu_of(yo[i]);
    }
}

/* ---- where each sample's output goes ------------------------------------- */

/* y's layout, and the folded pooling's window when there is one. */
typedef struct Sink {
    float *y;
    int64_t conv_floats, y_floats; /* a sample's convolution, a sample of y */
    bool pooled;
    AairtWindow pool; /* over the convolution's output planes */
} Sink;

static Sink sink_of(float *y, const AairtWindow *w, int64_t out_channels, int64_t pool) {
    Sink s = {.y = y, .conv_floats = out_channels * w->out_height * w->out_width};
    s.y_floats = s.conv_floats;
    s.pooled = pool > 1;
    if (s.pooled) {
        s.pool = (AairtWindow){out_channels, w->out_height, w->out_width, w->out_height / pool,
                               w->out_width / pool, pool, pool, 0, 1};
        s.y_floats = out_channels * s.pool.out_height * s.pool.out_width;
    }
    return s;
}

/* ---- any stride, any CPU: one sample's column matrix and a product ------- */

static bool conv_by_columns(const float *x, const float *weight, const float *bias, int relu,
                            const Sink *out, int64_t batch, const AairtWindow *w,
                            int64_t out_channels) {
    const int64_t taps = aairt_window_taps(w), plane = w->out_height * w->out_width;
    const int64_t image = w->channels * w->height * w->width;
    float *col = aairt_scratch(AAIRT_SCRATCH_CONV, (size_t)(plane * taps) * sizeof(float));
    float *unpooled = out->pooled ? aairt_scratch(AAIRT_SCRATCH_POOLED,
                                                  (size_t)out->conv_floats * sizeof(float))
                                  : NULL;
    if (!col || (out->pooled && !unpooled)) return false;
    for (int64_t n = 0; n < batch; n++) {
        float *yn = out->y + n * out->y_floats, *conv = out->pooled ? unpooled : yn;
        aairt_im2col(x + n * image, col, 1, w);
        aairt_sgemm(ROW_MAJOR, NO_TRANS, TRANS, (int)out_channels, (int)plane, (int)taps, 1.0f,
                    weight, (int)taps, col, (int)taps, 0.0f, conv, (int)plane);
        finish(conv, bias, relu, out_channels, plane);
        if (out->pooled) aairt_pool2d(conv, yn, 1, &out->pool, 0);
    }
    return true;
}

/* Output (o, oh, ow) of one sample by the definition. */
static float conv_at(const float *x, const float *weight, const float *bias, int relu,
                     const AairtWindow *w, int64_t o, int64_t oh, int64_t ow) {
    const int64_t k = w->kernel;
    const float *wt = weight + o * aairt_window_taps(w);
    float s = 0.0f;
    for (int64_t c = 0; c < w->channels; c++)
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++, wt++) {
                int64_t ih = oh * w->stride - w->padding + ki * w->dilation;
                int64_t iw = ow * w->stride - w->padding + kj * w->dilation;
                if (ih >= 0 && ih < w->height && iw >= 0 && iw < w->width)
                    s += *wt * x[(c * w->height + ih) * w->width + iw];
            }
    s += bias ? bias[o] : 0.0f;
    return relu ? relu_of(s) : s;
}

/* The definition, element by element: the last resort when not even a
 * column matrix of one sample can be had. A folded pooling (pool > 1)
 * takes each tile's maximum as pool2d.c does: from the first element, a
 * later one replacing it only when greater. */
static void conv_direct_scalar(const float *x, const float *weight, const float *bias, int relu,
                               int64_t pool, float *y, int64_t batch, const AairtWindow *w,
                               int64_t out_channels) {
    const int64_t image = w->channels * w->height * w->width, k = pool > 1 ? pool : 1;
    for (int64_t n = 0; n < batch; n++, x += image)
        for (int64_t o = 0; o < out_channels; o++)
            for (int64_t ph = 0; ph < w->out_height / k; ph++)
                for (int64_t pw = 0; pw < w->out_width / k; pw++) {
                    float m = conv_at(x, weight, bias, relu, w, o, ph * k, pw * k);
                    for (int64_t t = 1; t < k * k; t++) {
                        float v = conv_at(x, weight, bias, relu, w, o, ph * k + t / k,
                                          pw * k + t % k);
                        m = v > m ? v : m;
                    }
                    *y++ = m;
                }
}

/* ---- stride 1 with AVX2 and FMA: the flat-image kernel ------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

enum {
    VEC = 8,              /* floats in an AVX2 register */
    QVECS = 3,            /* vectors of positions per block */
    QBLOCK = QVECS * VEC, /* positions per block */
    OBLOCK = 4,           /* output channels per block */
};

#define INLINE_AVX2 static inline __attribute__((always_inline, target("avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

/* One sample's working set in this thread's scratch block: the padded
 * image (with slack for the last block's reads past its end), the flat
 * output (OH wp positions per channel, rounded up to whole blocks) and the
 * flat offset of every tap. */
typedef struct Flat {
    int64_t hp, wp, taps, positions; /* positions: OH wp rounded up to QBLOCK */
    float *image, *out;
    int64_t *offset;
} Flat;

static bool flat_init(Flat *f, const AairtWindow *w, int64_t out_channels) {
    f->hp = aairt_padded_height(w);
    f->wp = aairt_padded_width(w);
    f->taps = aairt_window_taps(w);
    f->positions = (w->out_height * f->wp + QBLOCK - 1) / QBLOCK * QBLOCK;
    /* the last block reads up to positions - 1 + the largest offset */
    int64_t reach = f->positions + (w->channels - 1) * f->hp * f->wp +
                    (w->kernel - 1) * w->dilation * (f->wp + 1);
    int64_t image = reach > w->channels * f->hp * f->wp ? reach : w->channels * f->hp * f->wp;
    image = (image + 15) / 16 * 16; /* the output and the offsets after it stay aligned */
    size_t bytes = (size_t)(image + out_channels * f->positions) * sizeof(float) +
                   (size_t)f->taps * sizeof(int64_t);
    f->image = aairt_scratch(AAIRT_SCRATCH_CONV, bytes);
    if (!f->image) return false;
    f->out = f->image + image;
    f->offset = (int64_t *)(void *)(f->out + out_channels * f->positions);
    memset(f->image, 0, (size_t)image * sizeof(float)); /* the border and slack stay zero */
    aairt_tap_offsets(f->offset, w);
    return true;
}

/* The bias and relu of a flat-output block, applied as it leaves the
 * registers: v + bias, then relu(v) = v > 0 ? v : 0 (max_ps(v, 0) gives
 * its second operand for a NaN, as relu_of does). */
typedef struct Epilogue {
    const float *bias; /* NULL: none */
    int relu;
} Epilogue;

/* Channels [o, o + OB) x positions [q, q + QBLOCK) of the flat output. */
INLINE_AVX2 void flat_block(const Flat *f, const float *weight, Epilogue e, int64_t o, int64_t q,
                            int ob) {
    __m256 acc[OBLOCK][QVECS];
    for (int j = 0; j < ob; j++)
        for (int v = 0; v < QVECS; v++) acc[j][v] = _mm256_setzero_ps();
    const float *at = f->image + q;
    const float *wt = weight + o * f->taps;
    for (int64_t t = 0; t < f->taps; t++) {
        const float *src = at + f->offset[t];
        __m256 x0 = _mm256_loadu_ps(src), x1 = _mm256_loadu_ps(src + VEC),
               x2 = _mm256_loadu_ps(src + 2 * VEC);
        for (int j = 0; j < ob; j++) {
            __m256 wv = _mm256_broadcast_ss(wt + j * f->taps + t);
            acc[j][0] = _mm256_fmadd_ps(wv, x0, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(wv, x1, acc[j][1]);
            acc[j][2] = _mm256_fmadd_ps(wv, x2, acc[j][2]);
        }
    }
    for (int j = 0; j < ob; j++)
        for (int v = 0; v < QVECS; v++) {
            __m256 r = acc[j][v];
            if (e.bias) r = _mm256_add_ps(r, _mm256_broadcast_ss(e.bias + o + j));
            if (e.relu) r = _mm256_max_ps(r, _mm256_setzero_ps());
            _mm256_storeu_ps(f->out + (o + j) * f->positions + q + v * VEC, r);
        }
}

AVX2 static void flat_sample(const Flat *f, const float *weight, Epilogue e,
                             int64_t out_channels) {
    for (int64_t q = 0; q < f->positions; q += QBLOCK) {
        int64_t o = 0;
        for (; o + OBLOCK <= out_channels; o += OBLOCK) flat_block(f, weight, e, o, q, OBLOCK);
        switch (out_channels - o) {
        case 3: flat_block(f, weight, e, o, q, 3); break;
        case 2: flat_block(f, weight, e, o, q, 2); break;
        case 1: flat_block(f, weight, e, o, q, 1); break;
        default: break;
        }
    }
}

/* One sample's output from the flat one: each channel plane is OH rows
 * of wp positions, of which the first OW are the convolution's. Without
 * a pooling they are copied to y [O, OH, OW]; with one, aairt_pool2d
 * pools each plane straight from the flat rows (its tiles never reach the
 * dropped columns) into y [O, OH / k, OW / k]. */
static void flat_store(const Flat *f, const AairtWindow *w, const Sink *out, float *y,
                       int64_t out_channels) {
    if (out->pooled) {
        AairtWindow plane = out->pool;
        plane.channels = 1;
        plane.width = f->wp;
        int64_t pooled = plane.out_height * plane.out_width;
        for (int64_t o = 0; o < out_channels; o++)
            aairt_pool2d(f->out + o * f->positions, y + o * pooled, 1, &plane, 0);
        return;
    }
    for (int64_t o = 0; o < out_channels; o++)
        for (int64_t oh = 0; oh < w->out_height; oh++)
            aairt_copy_row(y + (o * w->out_height + oh) * w->out_width,
                           f->out + o * f->positions + oh * f->wp, w->out_width);
}

static bool conv_flat(const float *x, const float *weight, const float *bias, int relu,
                      const Sink *out, int64_t batch, const AairtWindow *w, int64_t out_channels) {
    Flat f;
    if (w->stride != 1 || !aairt_cpu_has_avx2_fma() || !flat_init(&f, w, out_channels)) return false;
    const int64_t image = w->channels * w->height * w->width;
    const Epilogue e = {bias, relu};
    for (int64_t n = 0; n < batch; n++) {
        aairt_pad_copy(f.image, x + n * image, w);
        flat_sample(&f, weight, e, out_channels);
        flat_store(&f, w, out, out->y + n * out->y_floats, out_channels);
    }
    return true;
}

#else /* no AVX2 kernel for this target */

static bool conv_flat(const float *x, const float *weight, const float *bias, int relu,
                      const Sink *out, int64_t batch, const AairtWindow *w, int64_t out_channels) {
    (void)x, (void)weight, (void)bias, (void)relu, (void)out, (void)batch, (void)w,
        (void)out_channels;
    return false;
}

#endif

void aairt_conv2d(const float *x, const float *weight, const float *bias, int relu,
                  int64_t pool, float *y, int64_t batch, const AairtWindow *w,
                  int64_t out_channels) {
    const Sink out = sink_of(y, w, out_channels, pool);
    if (conv_flat(x, weight, bias, relu, &out, batch, w, out_channels)) return;
    if (conv_by_columns(x, weight, bias, relu, &out, batch, w, out_channels)) return;
    conv_direct_scalar(x, weight, bias, relu, pool, y, batch, w, out_channels);
}
