/* aairt.h - the boundary between code aaic generates and libaairt.
 *
 * A compiled model object exports one constant descriptor, `aai_model`
 * (type AairtModel). It names the model's entry points, which all take one
 * AairtStepArgs, and carries the model manifest: a JSON document describing
 * the signature, the parameter table, the arena sizes, the dataset spec and
 * the train block's defaults (format: docs/manifest.md). The runtime's
 * main, `info`, the embedding header and the JIT read only this descriptor;
 * nothing about a model is hard-coded in the runtime.
 *
 * Generated entry points allocate nothing: every buffer comes in through
 * AairtStepArgs. The libaairt helpers they call for convolutions and
 * skinny products keep a per-thread working block, sized by their first
 * calls and reused (freed when the thread exits), so a step allocates
 * only while those blocks grow to the model's largest use. */
#ifndef AAIRT_H
#define AAIRT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a libaairt function generated code calls changes its
 * arguments (2: aairt_conv2d's folded pooling, aairt_pool2d_grad's relu),
 * so a model object built by an older aaic is refused at load instead of
 * calling with the old arguments. */
#define AAIRT_ABI_VERSION 2

typedef enum AairtOptimizerKind {
    AAIRT_OPT_SGD,   /* with optional momentum / nesterov, weight decay */
    AAIRT_OPT_ADAM,  /* L2 weight decay added to the gradient */
    AAIRT_OPT_ADAMW, /* decoupled weight decay */
} AairtOptimizerKind;

/* Optimizer hyper-parameters and state, PyTorch semantics (torch.optim).
 * The state arrays hold n floats each and are owned by whoever built the
 * optimizer (the runtime's trainer, or an embedding caller). */
typedef struct AairtOptimizer {
    AairtOptimizerKind kind;
    float lr;            /* current learning rate (schedules change it) */
    float momentum;      /* SGD */
    float dampening;     /* SGD */
    int nesterov;        /* SGD */
    float beta1, beta2;  /* Adam, AdamW */
    float eps;           /* Adam, AdamW */
    float weight_decay;
    int64_t step;        /* updates applied so far */
    int64_t n;           /* floats in params/grads/state */
    float *m;            /* momentum buffer / Adam first moment (n) */
    float *v;            /* Adam second moment (n); NULL for SGD */
    int64_t checked;     /* floats the last step screened for NaN/Inf: the
                            n it was given (the trainer's divergence guard) */
    int nonfinite;       /* the last step saw a NaN/Inf gradient or produced
                            a NaN/Inf parameter among those floats */
} AairtOptimizer;

/* Applies one update to all n parameters. Called by generated train_step
 * after the backward pass; vectorized, never allocates. Screens the n
 * gradients and updated parameters for NaN/Inf on the way (sets
 * opt->checked and opt->nonfinite), so no second pass over them is needed:
 * it tests the parameters it writes, which a NaN/Inf gradient always
 * makes NaN/Inf (optim.c). */
void aairt_optimizer_step(AairtOptimizer *opt, float *params,
                          const float *grads, int64_t n);

/* What every generated entry point receives. Unused fields may be NULL. */
typedef struct AairtStepArgs {
    float *params;       /* parameter block, manifest "n_param_floats" */
    float *grads;        /* gradient block, same layout (train_step, which
                            overwrites all of it: callers do not zero it) */
    float *arena;        /* scratch: arena_static_floats
                            + arena_row_floats * batch floats */
    const float *x;      /* input batch, row-major [batch, ...] */
    const float *y;      /* labels/targets [batch, label_width]; class
                            labels as float indices */
    float *out;          /* model output [batch, ...] (predict, eval) */
    float *loss;         /* one float: mean loss of the batch (train, eval) */
    AairtOptimizer *opt; /* train_step */
    int64_t batch;
} AairtStepArgs;

typedef void (*AairtEntry)(const AairtStepArgs *args);

/* The descriptor a compiled model exports as `aai_model`. */
typedef struct AairtModel {
    uint32_t abi_version;        /* AAIRT_ABI_VERSION */
    const char *manifest_json;   /* docs/manifest.md */
    int64_t n_param_floats;
    int64_t arena_static_floats; /* max over the entry points */
    int64_t arena_row_floats;    /* max over the entry points, per batch row */
    AairtEntry predict;          /* forward: x -> out */
    AairtEntry train_step;       /* forward, loss, backward, update; NULL
                                    when the file has no train block */
    AairtEntry eval_step;        /* forward and loss: x, y -> out, loss */
} AairtModel;

/* Sets the number of threads matrix products and the optimizer update use
 * (at most 64): a product big enough to share is cut into one block of
 * rows or columns per thread, each a single-threaded product (runtime/src/
 * blas.c: the skinny shapes of convolutions in libaairt's own kernels,
 * the rest in OpenBLAS), and the update into parameter ranges; the answer
 * depends on the count, never on which thread ran what. n < 1 leaves
 * it unchanged; the default is OPENBLAS_NUM_THREADS, else every online
 * CPU. Generated executables apply `--threads N` or AAI_THREADS with it;
 * embedding programs may call it directly, at any time. */
void aairt_set_threads(int n);
/* The current matrix-product thread count. */
int aairt_get_threads(void);

/* Runs fn(ctx, lo, hi) over batch rows [0, batch): in one call, or cut
 * into ranges on the runtime's threads when there are threads to spare
 * and each range gets at least 16k of the kernel's `row_floats` output
 * floats a row. Every cut falls on a multiple of 16 output floats, so a
 * vectorized loop treats each element as in one uncut call. Generated
 * code calls it for kernels whose rows are independent
 * (compiler/codegen_rows.c). */
typedef void (*AairtRowsFn)(void *ctx, int64_t lo, int64_t hi);
void aairt_run_rows(AairtRowsFn fn, void *ctx, int64_t batch, int64_t row_floats);

/* cblas_sgemm (row/column-major and transpose codes as in cblas.h), from
 * the BLAS library loaded on the first call (runtime/src/blas.c): a process
 * that never multiplies matrices never pays for loading OpenBLAS.
 * Generated code calls it for every matrix product. */
void aairt_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc);

/* A convolution's window over an image of [channels, height, width]
 * (square kernel, zero padding): out_height/out_width are the output
 * positions. */
typedef struct AairtWindow {
    int64_t channels, height, width;
    int64_t out_height, out_width;
    int64_t kernel, stride, padding, dilation;
} AairtWindow;

/* The column matrix of `batch` images x [batch, C, H, W]: col [batch,
 * OH*OW, C*k*k], one row per output position, zeros where the window
 * leaves the image (runtime/src/im2col.c). Generated code calls it for
 * IM2COL. */
void aairt_im2col(const float *x, float *col, int64_t batch, const AairtWindow *w);
/* Its adjoint (COL2IM): x = 0, then every element of col added back to
 * the image element it was taken from. */
void aairt_col2im(const float *col, float *x, int64_t batch, const AairtWindow *w);
/* The convolution of `batch` images x [batch, C, H, W] with weight [O, C,
 * k, k] and bias [O] (NULL: none), into y [batch, O, OH, OW] (O =
 * out_channels), then relu(v) = v > 0 ? v : 0 when `relu` is non-zero,
 * then, when `pool` > 1, a max pooling over pool x pool tiles (stride
 * pool, no padding, as aairt_pool2d's): y is then [batch, O, OH / pool,
 * OW / pool]. Without a column matrix where it can (runtime/src/conv2d.c).
 * Generated code calls it for CONV2D, the forward pass of ungrouped
 * stride-1 convolutions. */
void aairt_conv2d(const float *x, const float *weight, const float *bias, int relu,
                  int64_t pool, float *y, int64_t batch, const AairtWindow *w,
                  int64_t out_channels);
/* Its weight gradient dw [O, C, k, k] from x and dy [batch, O, OH, OW],
 * summed over the batch, without a column matrix (runtime/src/
 * conv2d_grad.c): the same bits at any thread count. Generated code calls
 * it for CONV2D_GRAD_W. */
void aairt_conv2d_grad_w(const float *x, const float *dy, float *dw, int64_t batch,
                         const AairtWindow *w, int64_t out_channels);
/* Pooling of `batch` images x [batch, C, H, W] by w's windows (dilation
 * 1) into y [batch, C, OH, OW] (runtime/src/pool2d.c): avg = 0, the first
 * maximum inside the image; avg = 1, the sum inside / (k k). Generated
 * code calls it for POOL2D. */
void aairt_pool2d(const float *x, float *y, int64_t batch, const AairtWindow *w, int avg);
/* Its gradient dx from x and dy (POOL2D_GRAD): dy routed to each window's
 * first maximum, or spread as dy / (k k) over the window. With `relu`
 * (max pooling of a relu's output x), dy goes only to maxima > 0: the
 * relu's gradient applied too. */
void aairt_pool2d_grad(const float *x, const float *dy, float *dx, int64_t batch,
                       const AairtWindow *w, int avg, int relu);
/* Batch normalization (runtime/src/batchnorm.c), over x [batch, channels,
 * inner] (inner: the product of the axes after the channels, 1 for
 * [batch, C]), per channel over its batch x inner elements. Generated code
 * calls them for BN_STATS, BN_NORM, BN_GRAD and BN_GRAD_X. stats [2, C]:
 * the mean, then the biased variance (in inference, the running ones). */
void aairt_batch_norm_stats(const float *x, float *stats, int64_t batch, int64_t channels,
                            int64_t inner);
/* y = (x - mean) / sqrt(var + eps) * weight + bias, then relu(y) = y > 0
 * ? y : 0 when `relu` is non-zero. */
void aairt_batch_norm(const float *x, const float *stats, const float *weight, const float *bias,
                      float eps, int relu, float *y, int64_t batch, int64_t channels,
                      int64_t inner);
/* g [3, C] from dy: the weight's gradient, the bias's, then weight *
 * rstd (rstd = 1 / sqrt(var + eps)), which aairt_batch_norm_grad_x reads. */
void aairt_batch_norm_grad(const float *dy, const float *x, const float *stats,
                           const float *weight, float eps, float *g, int64_t batch,
                           int64_t channels, int64_t inner);
/* dx, through the statistics too: weight rstd (dy - mean(dy) - (x - mean)
 * rstd^2 mean(dy (x - mean))), the means per channel. */
void aairt_batch_norm_grad_x(const float *dy, const float *x, const float *stats, const float *g,
                             float eps, float *dx, int64_t batch, int64_t channels,
                             int64_t inner);
/* y[b] = x[b]^T for `batch` row-major matrices x [batch, rows, cols]
 * (runtime/src/transpose.c). Generated code calls it for a TRANSPOSE that
 * keeps the batch axis and swaps two blocks of the others. */
void aairt_transpose(const float *x, float *y, int64_t batch, int64_t rows, int64_t cols);

/* The runtime's main: parses argv (train | eval | predict | info) and runs
 * the model. Returns the process exit code. Generated executables call it
 * from their main(). */
int aairt_main(const AairtModel *model, int argc, char **argv);

/* Weights baked into an executable (`aaic model.aai --weights
 * W.safetensors -o model`). predict and eval use them when no --weights is
 * given, in place: they are read-only data of the executable, so nothing
 * is read from disk or copied, and pages load only as they are touched. */
typedef struct AairtBaked {
    const float *weights;        /* n_floats, 64-byte aligned */
    int64_t n_floats;            /* the model's n_param_floats */
    const char *transforms_json; /* the fitted transforms, or NULL */
    const char *source;          /* the file they were baked from (info) */
} AairtBaked;

/* aairt_main with baked weights; `baked` NULL: none. The main() of
 * executables passes `aai_baked` when the object defines it. */
int aairt_main_baked(const AairtModel *model, const AairtBaked *baked, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
