/* test_layers.c - layer behaviour that parity fixtures do not cover:
 * batch_norm's running statistics (momentum, unbiased variance, untouched
 * by the optimizer and its weight decay, and normalizing in inference), dropout's mask (inverted
 * scaling, rate, determinism per step, a new mask each step) and
 * convolution against its definition: the direct CONV2D of predict and of
 * the training step's forward pass, and the gradients the backward pass
 * takes through the column matrix; the ops passes/fuse.c makes (pooling
 * and slice sums) against the unfused ones. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "ir.h"
#include "ir_count.h"
#include "ir_compose.h"
#include "jit.h"
#include "jit_runtime.h"
#include "pipeline.h"

static const SrcLoc L0 = {0, 0, 0, 0};

/* A module under test with its arena and diagnostics, opened in place (the
 * module keeps a pointer to the arena); module_close frees them with the
 * test's JIT. */
typedef struct TestModule {
    Arena arena;
    Diag *diag;
    IrModule *m;
} TestModule;

static IrModule *module_open(TestModule *tm, const char *name) {
    tm->arena = (Arena){0};
    tm->diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    tm->m = ir_module_new(&tm->arena, tm->diag, name);
    return tm->m;
}

static void module_close(TestModule *tm, Jit *j) {
    jit_free(j);
    diag_free(tm->diag);
    arena_free(&tm->arena);
}


Test(layers, batch_norm_running_stats) {
    enum { B = 4, C = 2, HW = 3 };
    TestModule tm;
    IrModule *m = module_open(&tm, "bn");
    IrParam *w = ir_param_new(m, "bn.weight", ir_shape(1, (int64_t[]){C}), IR_INIT_ONES, C, C, L0);
    IrParam *rm = ir_param_new(m, "bn.running_mean", ir_shape(1, (int64_t[]){C}), IR_INIT_ZEROS, C, C, L0);
    IrParam *rv = ir_param_new(m, "bn.running_var", ir_shape(1, (int64_t[]){C}), IR_INIT_ONES, C, C, L0);
    IrParam *b = ir_param_new(m, "bn.bias", ir_shape(1, (int64_t[]){C}), IR_INIT_ZEROS, C, C, L0);
    rm->buffer = rv->buffer = true;
    IrFunc *f = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(3, (int64_t[]){IR_BATCH, C, HW}), L0);
    IrValue *mean, *var;
    IrValue *y = ir_batch_norm_train(f, x, ir_build_param(f, w, L0), ir_build_param(f, b, L0), 1e-5,
                                     &mean, &var, L0);
    IrAttrs at = {0};
    at.f[0] = 0.1;
    at.param = rm;
    cr_assert(ir_build(f, IR_OP_RUNNING_UPDATE, &mean, 1, &at, L0));
    at.param = rv;
    at.i[0] = 1;
    at.i[1] = HW;
    cr_assert(ir_build(f, IR_OP_RUNNING_UPDATE, &var, 1, &at, L0));
    IrValue *sq = ir_build_unary(f, IR_FN_SQUARE, y, 0, L0);
    f->loss = ir_build_reduce(f, IR_OP_SUM, ir_build_binary(f, IR_OP_MUL, sq, x, L0), 0, false, L0);
    Jit *j = jit_compile(m);
    cr_assert_eq(m->n_trainable_floats, 18, "buffers laid out last");
    cr_assert(rm->offset >= m->n_trainable_floats && rv->offset >= m->n_trainable_floats);
    int64_t np = m->n_param_floats;
    float *params = calloc((size_t)np, sizeof(float)), *grads = calloc((size_t)np, sizeof(float));
    float *mom = calloc((size_t)np, sizeof(float)), *vel = calloc((size_t)np, sizeof(float));
    float *ar = jit_arena(j, B);
    for (int i = 0; i < C; i++) {
        params[w->offset + i] = 1;
        params[rv->offset + i] = 1;
    }
    float xs[B * C * HW];
    double sum[C] = {0}, sum2[C] = {0};
    for (int i = 0; i < B * C * HW; i++) {
        xs[i] = (float)sin(1.7 * i + 0.3) * 2;
        int ch = (i / HW) % C;
        sum[ch] += xs[i];
        sum2[ch] += (double)xs[i] * xs[i];
    }
    AairtOptimizer opt = {.kind = AAIRT_OPT_ADAMW, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f,
                          .eps = 1e-8f, .weight_decay = 0.5f, .n = np, .m = mom, .v = vel};
    float loss;
    AairtStepArgs args = {params, grads, ar, xs, NULL, NULL, &loss, &opt, B};
    jit_entry(j, IR_ENTRY_TRAIN)(&args);
    for (int ch = 0; ch < C; ch++) {
        double n = B * HW, mu = sum[ch] / n, var_b = sum2[ch] / n - mu * mu;
        double want_m = 0.1 * mu, want_v = 0.9 + 0.1 * var_b * n / (n - 1);
        cr_expect(fabs(params[rm->offset + ch] - want_m) < 1e-5, "running_mean[%d] %g want %g", ch,
                  (double)params[rm->offset + ch], want_m);
        cr_expect(fabs(params[rv->offset + ch] - want_v) < 1e-4, "running_var[%d] %g want %g", ch,
                  (double)params[rv->offset + ch], want_v);
        cr_expect(params[w->offset + ch] != 1.0f, "the weight was trained");
    }
    free(params);
    free(grads);
    free(mom);
    free(vel);
    free(ar);
    module_close(&tm, j);
}

/* Inference normalizes with the running statistics in one op, the training
 * kernel's with the statistics held fixed: against the formula. */
Test(layers, batch_norm_inference_uses_the_running_statistics) {
    enum { B = 3, C = 5, HW = 20 };
    TestModule tm;
    IrModule *m = module_open(&tm, "bn_eval");
    IrShape cs = ir_shape(1, (int64_t[]){C});
    IrParam *w = ir_param_new(m, "bn.weight", cs, IR_INIT_ONES, C, C, L0);
    IrParam *b = ir_param_new(m, "bn.bias", cs, IR_INIT_ZEROS, C, C, L0);
    IrParam *rm = ir_param_new(m, "bn.running_mean", cs, IR_INIT_ZEROS, C, C, L0);
    IrParam *rv = ir_param_new(m, "bn.running_var", cs, IR_INIT_ONES, C, C, L0);
    rm->buffer = rv->buffer = true;
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(3, (int64_t[]){IR_BATCH, C, HW}), L0);
    f->output = ir_batch_norm_eval(f, x, ir_build_param(f, w, L0), ir_build_param(f, b, L0),
                                   ir_build_param(f, rm, L0), ir_build_param(f, rv, L0), 1e-3, L0);
    cr_assert(f->output);
    Jit *j = jit_compile(m);
    cr_expect_eq(count_op(f, IR_OP_BN_NORM), 1, "one op normalizes");
    cr_expect_eq(count_op(f, IR_OP_DIV) + count_op(f, IR_OP_SUB), 0, "no element-wise formula");
    float *params = calloc((size_t)m->n_param_floats, sizeof(float));
    float xs[B * C * HW], ys[B * C * HW];
    cr_assert(params);
    for (int c = 0; c < C; c++) {
        params[w->offset + c] = 0.5f + 0.3f * (float)c;
        params[b->offset + c] = 0.1f * (float)c - 0.2f;
        params[rm->offset + c] = 2.0f - (float)c;
        params[rv->offset + c] = 0.25f + (float)c;
    }
    for (int i = 0; i < B * C * HW; i++) xs[i] = (float)sin(0.7 * i) * 3;
    float *ar = jit_arena(j, B);
    AairtStepArgs args = {params, NULL, ar, xs, NULL, ys, NULL, NULL, B};
    jit_entry(j, IR_ENTRY_PREDICT)(&args);
    for (int i = 0; i < B * C * HW; i++) {
        int c = (i / HW) % C;
        double want = (xs[i] - params[rm->offset + c]) / sqrt(params[rv->offset + c] + 1e-3) *
                          params[w->offset + c] + params[b->offset + c];
        cr_expect(fabs(ys[i] - want) < 1e-5 * (1 + fabs(want)), "y[%d] %g want %g", i,
                  (double)ys[i], want);
    }
    free(params);
    free(ar);
    module_close(&tm, j);
}

Test(layers, dropout_mask) {
    enum { N = 4096 };
    TestModule tm;
    IrModule *m = module_open(&tm, "drop");
    IrParam *p = ir_param_new(m, "p", ir_shape(1, (int64_t[]){N}), IR_INIT_ONES, 1, 1, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *pv = ir_build_param(f, p, L0);
    IrAttrs at = {0};
    at.f[0] = 0.25;
    at.i[0] = 99;
    IrValue *d = ir_build(f, IR_OP_DROPOUT, &pv, 1, &at, L0);
    f->loss = ir_build_reduce(f, IR_OP_SUM, d, 0, false, L0);
    Jit *j = jit_compile(m);
    const AairtModel *md = jit_model(j);
    float *params = calloc(N, sizeof(float)), *grads = calloc(N, sizeof(float));
    float *st = calloc(2 * N, sizeof(float));
    float *ar = calloc((size_t)md->arena_static_floats + 1, sizeof(float));
    float g0[N];
    AairtOptimizer opt = {.kind = AAIRT_OPT_SGD, .lr = 0.0f, .n = N, .m = st, .v = st + N};
    float loss;
    AairtStepArgs args = {params, grads, ar, NULL, NULL, NULL, &loss, &opt, 1};
    int kept = 0, same = 0;
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < N; i++) params[i] = 1;
        opt.step = step * 7;
        jit_entry(j, IR_ENTRY_TRAIN)(&args);
        for (int i = 0; i < N; i++) {
            cr_assert(grads[i] == 0.0f || fabsf(grads[i] - 1.0f / 0.75f) < 1e-6f, "inverted scaling");
            if (step == 0) {
                g0[i] = grads[i];
                kept += grads[i] != 0;
            } else {
                same += g0[i] == grads[i];
            }
        }
        if (step == 0) cr_expect(fabsf(loss - (float)kept / 0.75f) < 1e-2f * (float)kept);
    }
    cr_expect(kept > N * 0.70 && kept < N * 0.80, "keep rate %d/%d", kept, N);
    cr_expect(same < N * 0.8, "a new mask each step (%d of %d equal)", same, N);
    /* the same step gives the same mask */
    opt.step = 0;
    jit_entry(j, IR_ENTRY_TRAIN)(&args);
    for (int i = 0; i < N; i++) cr_assert_eq(grads[i], g0[i]);
    free(params);
    free(grads);
    free(st);
    free(ar);
    module_close(&tm, j);
}

/* Row-local kernels (im2col, col2im, pooling and its gradient, element-wise
 * ops) run split over the batch on the runtime's threads when there is
 * enough work (compiler/codegen_rows.c). Every element is computed by the
 * same code either way, so outputs, loss and gradients at 3 threads must
 * equal those at 1 thread bit for bit. (The graph has no matrix product:
 * a product split over threads may round differently, test_blas.) */
enum { SB = 64, SHW = 28 };

typedef struct SplitRun {
    float *out, *grads, loss;
} SplitRun;

static SplitRun run_split_block(Jit *j, IrModule *m, const float *params, const float *x,
                                int threads) {
    int64_t np = m->n_param_floats;
    SplitRun r = {calloc((size_t)SB * 14 * 14, sizeof(float)), calloc((size_t)np, sizeof(float)), 0};
    float *ar = jit_arena(j, SB);
    float *p = malloc(sizeof(float) * (size_t)np);
    cr_assert(r.out && r.grads && ar && p);
    memcpy(p, params, sizeof(float) * (size_t)np);
    aairt_set_threads(threads);
    AairtStepArgs pa = {p, NULL, ar, x, NULL, r.out, NULL, NULL, SB};
    jit_entry(j, IR_ENTRY_PREDICT)(&pa);
    /* train_step ends with the optimizer update: SGD at rate 0 keeps p */
    AairtOptimizer opt = {.kind = AAIRT_OPT_SGD, .lr = 0.0f, .n = np};
    AairtStepArgs ta = {p, r.grads, ar, x, NULL, NULL, &r.loss, &opt, SB};
    jit_entry(j, IR_ENTRY_TRAIN)(&ta);
    aairt_set_threads(1);
    free(ar);
    free(p);
    return r;
}

/* pool(relu(x + b)), and for training sum(im2col(that)^2): im2col, its
 * adjoint col2im, the pooling gradient and the element-wise gradients. */
static IrValue *split_block(IrFunc *f, IrParam *b) {
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(4, (int64_t[]){IR_BATCH, 1, SHW, SHW}), L0);
    IrValue *h = ir_build_binary(f, IR_OP_ADD, x, ir_build_param(f, b, L0), L0);
    return ir_pool2d(f, ir_build_unary(f, IR_FN_RELU, h, 0, L0), 2, 2, 0, false, L0);
}

Test(layers, batch_split_kernels_match_one_thread) {
    TestModule tm;
    IrModule *m = module_open(&tm, "split");
    IrParam *b = ir_param_new(m, "b", ir_shape2(SHW, SHW), IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *fp = ir_func_new(m, IR_ENTRY_PREDICT);
    fp->output = split_block(fp, b);
    IrFunc *ft = ir_func_new(m, IR_ENTRY_TRAIN);
    IrAttrs at = {0};
    at.i[0] = 3; /* kernel 3, stride 1, padding 1, dilation 1 */
    at.i[1] = 1;
    at.i[2] = 1;
    at.i[3] = 1;
    IrValue *h = split_block(ft, b);
    IrValue *col = ir_build(ft, IR_OP_IM2COL, &h, 1, &at, L0);
    ft->loss = ir_build_reduce(ft, IR_OP_SUM, ir_build_unary(ft, IR_FN_SQUARE, col, 0, L0), 0, false, L0);
    Jit *j = jit_compile(m);
    int64_t np = m->n_param_floats;
    float *params = calloc((size_t)np, sizeof(float)), *x = malloc(sizeof(float) * SB * SHW * SHW);
    cr_assert(params && x);
    for (int64_t i = 0; i < np; i++) params[i] = (float)sin(0.37 * (double)i) * 0.3f;
    for (int i = 0; i < SB * SHW * SHW; i++) x[i] = (float)cos(0.013 * i);
    SplitRun one = run_split_block(j, m, params, x, 1), three = run_split_block(j, m, params, x, 3);
    cr_expect_eq(memcmp(one.out, three.out, sizeof(float) * SB * 14 * 14), 0, "predict differs");
    cr_expect_eq(memcmp(&one.loss, &three.loss, sizeof(float)), 0, "loss %g vs %g", one.loss, three.loss);
    cr_expect_eq(memcmp(one.grads, three.grads, sizeof(float) * (size_t)np), 0, "gradients differ");
    cr_expect_gt(one.loss, 0.0f, "the block computed nothing");
    free(one.out), free(one.grads), free(three.out), free(three.grads);
    free(params), free(x);
    module_close(&tm, j);
}

/* A convolution's forward pass and gradients through the whole pipeline
 * (im2col, the products, col2im, the bias gradient), against a direct
 * convolution in double. Its input is x times a parameter s, so the
 * input gradient (col2im of a product) shows in s's gradient. Cases: LeNet's two layers, and odd sizes with stride 2
 * and padding at several batch sizes. With at most 16 output channels
 * every product of the step runs in runtime/src/gemm_small.c, which sums
 * each element in the same order at any thread count, so 1 and 3 threads
 * must agree bit for bit. */
typedef struct ConvCase {
    int64_t batch, chans, h, w, outs, kern, stride, pad;
} ConvCase;

typedef struct ConvRun {
    float *y, *grads, loss;
} ConvRun;

static int64_t conv_out(int64_t size, const ConvCase *t) {
    return (size + 2 * t->pad - t->kern) / t->stride + 1;
}

static ConvRun run_conv(Jit *j, IrModule *m, const ConvCase *t, const float *params,
                        const float *x, int threads) {
    int64_t np = m->n_param_floats;
    int64_t ny = t->batch * t->outs * conv_out(t->h, t) * conv_out(t->w, t);
    ConvRun r = {calloc((size_t)ny, sizeof(float)), calloc((size_t)np, sizeof(float)), 0};
    float *ar = jit_arena(j, t->batch);
    float *p = malloc(sizeof(float) * (size_t)np);
    cr_assert(r.y && r.grads && ar && p);
    memcpy(p, params, sizeof(float) * (size_t)np);
    aairt_set_threads(threads);
    AairtStepArgs pa = {p, NULL, ar, x, NULL, r.y, NULL, NULL, t->batch};
    jit_entry(j, IR_ENTRY_PREDICT)(&pa);
    AairtOptimizer opt = {.kind = AAIRT_OPT_SGD, .lr = 0.0f, .n = np}; /* keeps p */
    AairtStepArgs ta = {p, r.grads, ar, x, NULL, NULL, &r.loss, &opt, t->batch};
    jit_entry(j, IR_ENTRY_TRAIN)(&ta);
    aairt_set_threads(1);
    free(ar);
    free(p);
    return r;
}

/* y = conv(x, w) + b in double; returns y, and dw, db and dx of
 * sum(y^2). */
static double *conv_reference(const ConvCase *t, const double *x, const float *w, const float *b,
                              double *dw, double *db, double *dx) {
    int64_t oh = conv_out(t->h, t), ow = conv_out(t->w, t), k = t->kern;
    double *y = calloc((size_t)(t->batch * t->outs * oh * ow), sizeof *y);
    cr_assert(y);
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t o = 0; o < t->outs; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t jj = 0; jj < ow; jj++) {
                    double s = b[o];
                    for (int64_t c = 0; c < t->chans; c++)
                        for (int64_t ki = 0; ki < k; ki++)
                            for (int64_t kj = 0; kj < k; kj++) {
                                int64_t ih = i * t->stride - t->pad + ki, iw = jj * t->stride - t->pad + kj;
                                if (ih < 0 || ih >= t->h || iw < 0 || iw >= t->w) continue;
                                s += (double)w[((o * t->chans + c) * k + ki) * k + kj] *
                                     x[((n * t->chans + c) * t->h + ih) * t->w + iw];
                            }
                    y[((n * t->outs + o) * oh + i) * ow + jj] = s;
                }
    for (int64_t n = 0; n < t->batch; n++)
        for (int64_t o = 0; o < t->outs; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t jj = 0; jj < ow; jj++) {
                    double dy = 2 * y[((n * t->outs + o) * oh + i) * ow + jj];
                    db[o] += dy;
                    for (int64_t c = 0; c < t->chans; c++)
                        for (int64_t ki = 0; ki < k; ki++)
                            for (int64_t kj = 0; kj < k; kj++) {
                                int64_t ih = i * t->stride - t->pad + ki, iw = jj * t->stride - t->pad + kj;
                                if (ih < 0 || ih >= t->h || iw < 0 || iw >= t->w) continue;
                                int64_t xi = ((n * t->chans + c) * t->h + ih) * t->w + iw;
                                int64_t wi = ((o * t->chans + c) * k + ki) * k + kj;
                                dw[wi] += dy * x[xi];
                                dx[xi] += dy * w[wi];
                            }
                }
    return y;
}

static void check_conv_case(const ConvCase *t) {
    TestModule tm;
    IrModule *m = module_open(&tm, "conv");
    int64_t k = t->kern, nw = t->outs * t->chans * k * k;
    IrParam *w = ir_param_new(m, "w", ir_shape(4, (int64_t[]){t->outs, t->chans, k, k}),
                              IR_INIT_ZEROS, t->chans * k * k, t->outs * k * k, L0);
    IrParam *b = ir_param_new(m, "b", ir_shape(1, (int64_t[]){t->outs}), IR_INIT_ZEROS, 1, 1, L0);
    int64_t plane = t->chans * t->h * t->w;
    IrParam *sp = ir_param_new(m, "s", ir_shape(3, (int64_t[]){t->chans, t->h, t->w}), IR_INIT_ZEROS,
                               1, 1, L0);
    IrShape xs = ir_shape(4, (int64_t[]){IR_BATCH, t->chans, t->h, t->w});
    IrFunc *fp = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *hp = ir_build_binary(fp, IR_OP_MUL, ir_build_input(fp, IR_SLOT_X, IR_F32, xs, L0),
                                  ir_build_param(fp, sp, L0), L0);
    fp->output = ir_conv2d(fp, hp, ir_build_param(fp, w, L0), ir_build_param(fp, b, L0), t->stride,
                           t->pad, 1, 1, L0);
    IrFunc *ft = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *ht = ir_build_binary(ft, IR_OP_MUL, ir_build_input(ft, IR_SLOT_X, IR_F32, xs, L0),
                                  ir_build_param(ft, sp, L0), L0);
    IrValue *y = ir_conv2d(ft, ht, ir_build_param(ft, w, L0), ir_build_param(ft, b, L0), t->stride,
                           t->pad, 1, 1, L0);
    ft->loss = ir_build_reduce(ft, IR_OP_SUM, ir_build_unary(ft, IR_FN_SQUARE, y, 0, L0), 0, false, L0);
    Jit *j = jit_compile(m);
    /* both entries convolve directly where they can (stride 1, a window);
     * the weight gradient is made one way: from the column matrix, or
     * directly (CONV2D_GRAD_W, only for a direct convolution) */
    bool direct = t->stride == 1 && (t->kern > 1 || t->pad > 0);
    cr_expect_eq(count_op(fp, IR_OP_CONV2D), direct);
    cr_expect_eq(count_op(ft, IR_OP_CONV2D), direct);
    int by_columns = count_op(ft, IR_OP_IM2COL), by_grad_w = count_op(ft, IR_OP_CONV2D_GRAD_W);
    cr_expect_eq(by_columns + by_grad_w, t->kern > 1 || t->pad > 0 || t->stride > 1);
    cr_expect(direct || by_grad_w == 0);
    int64_t np = m->n_param_floats, nx = t->batch * t->chans * t->h * t->w;
    int64_t ny = t->batch * t->outs * conv_out(t->h, t) * conv_out(t->w, t);
    float *params = calloc((size_t)np, sizeof(float)), *x = malloc(sizeof(float) * (size_t)nx);
    double *dw = calloc((size_t)nw, sizeof *dw), *db = calloc((size_t)t->outs, sizeof *db);
    double *h = calloc((size_t)nx, sizeof *h), *dh = calloc((size_t)nx, sizeof *dh);
    double *ds = calloc((size_t)plane, sizeof *ds);
    cr_assert(params && x && dw && db && h && dh && ds);
    for (int64_t i = 0; i < nw; i++) params[w->offset + i] = (float)sin(0.71 * (double)i) * 0.4f;
    for (int64_t i = 0; i < t->outs; i++) params[b->offset + i] = (float)cos(1.3 * (double)i) * 0.1f;
    for (int64_t i = 0; i < plane; i++) params[sp->offset + i] = 1.0f + (float)sin(0.3 * (double)i) * 0.2f;
    for (int64_t i = 0; i < nx; i++) {
        x[i] = (float)cos(0.029 * (double)i + 0.5);
        h[i] = (double)(x[i] * params[sp->offset + i % plane]); /* as the model rounds it */
    }
    double *want = conv_reference(t, h, params + w->offset, params + b->offset, dw, db, dh);
    for (int64_t i = 0; i < nx; i++) ds[i % plane] += dh[i] * x[i];
    ConvRun one = run_conv(j, m, t, params, x, 1), three = run_conv(j, m, t, params, x, 3);
    for (int64_t i = 0; i < ny; i++)
        cr_assert(fabs(one.y[i] - want[i]) <= 1e-4 * (1 + fabs(want[i])),
                  "batch %lld, %lldx%lld: y[%lld] %g, reference %g", (long long)t->batch,
                  (long long)t->h, (long long)t->w, (long long)i, (double)one.y[i], want[i]);
    for (int64_t i = 0; i < nw; i++) {
        double g = one.grads[w->offset + i];
        cr_assert(fabs(g - dw[i]) <= 1e-3 * (1 + fabs(dw[i])), "dw[%lld] %g, reference %g",
                  (long long)i, g, dw[i]);
    }
    for (int64_t i = 0; i < t->outs; i++) {
        double g = one.grads[b->offset + i];
        cr_assert(fabs(g - db[i]) <= 1e-3 * (1 + fabs(db[i])), "db[%lld] %g, reference %g",
                  (long long)i, g, db[i]);
    }
    for (int64_t i = 0; i < plane; i++) {
        double g = one.grads[sp->offset + i];
        cr_assert(fabs(g - ds[i]) <= 1e-3 * (1 + fabs(ds[i])), "ds[%lld] %g, reference %g",
                  (long long)i, g, ds[i]);
    }
    cr_expect_eq(memcmp(one.y, three.y, sizeof(float) * (size_t)ny), 0, "predict differs at 3 threads");
    cr_expect_eq(memcmp(&one.loss, &three.loss, sizeof(float)), 0, "loss %g vs %g", one.loss, three.loss);
    cr_expect_eq(memcmp(one.grads, three.grads, sizeof(float) * (size_t)np), 0,
                 "gradients differ at 3 threads");
    free(one.y), free(one.grads), free(three.y), free(three.grads);
    free(params), free(x), free(dw), free(db), free(want), free(h), free(dh), free(ds);
    module_close(&tm, j);
}

Test(layers, convolution_matches_direct_reference_at_any_thread_count) {
    static const ConvCase cases[] = {
        {64, 1, 28, 28, 8, 5, 1, 2}, /* LeNet conv1 */
        {64, 8, 14, 14, 16, 5, 1, 0}, /* LeNet conv2 */
        {3, 3, 11, 9, 5, 3, 2, 1},   /* stride 2, padding, odd sizes */
        {7, 2, 9, 13, 13, 3, 2, 0},  /* ragged channels and batch */
        {1, 4, 6, 6, 3, 1, 2, 0},    /* 1x1 kernel, stride 2 */
        {5, 3, 7, 10, 6, 3, 1, 1},   /* predict's direct kernel: a channel block and a tail */
        {2, 5, 6, 6, 20, 3, 1, 0},   /* more output channels than the narrow product takes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_conv_case(&cases[i]);
}

/* A convolution's weight "w" [O, C, k, k] and bias "b" [O] for case t. */
static void conv_params(IrModule *m, const ConvCase *t, IrParam **w, IrParam **b) {
    int64_t k = t->kern;
    *w = ir_param_new(m, "w", ir_shape(4, (int64_t[]){t->outs, t->chans, k, k}), IR_INIT_ZEROS, 1,
                      1, L0);
    *b = ir_param_new(m, "b", ir_shape(1, (int64_t[]){t->outs}), IR_INIT_ZEROS, 1, 1, L0);
}

/* predict = relu(conv(x)) + conv(x) * tap: the first relu folds into a
 * convolution used only by it (passes/fuse.c); the second convolution's
 * result is also read by the MUL, so its relu stays a kernel of its own.
 * Both give relu of the definition. */
Test(layers, relu_folds_into_a_convolution_it_alone_reads) {
    const ConvCase t = {3, 2, 9, 7, 5, 3, 1, 1};
    TestModule tm;
    IrModule *m = module_open(&tm, "fuse");
    int64_t k = t.kern, nw = t.outs * t.chans * k * k;
    IrParam *w, *b;
    conv_params(m, &t, &w, &b);
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32,
                                ir_shape(4, (int64_t[]){IR_BATCH, t.chans, t.h, t.w}), L0);
    IrValue *c1 = ir_conv2d(f, x, ir_build_param(f, w, L0), ir_build_param(f, b, L0), 1, t.pad,
                            1, 1, L0);
    IrValue *c2 = ir_conv2d(f, x, ir_build_param(f, w, L0), ir_build_param(f, b, L0), 1, t.pad,
                            1, 1, L0);
    IrValue *r2 = ir_build_unary(f, IR_FN_RELU, c2, 0, L0);
    f->output = ir_build_binary(f, IR_OP_ADD, ir_build_unary(f, IR_FN_RELU, c1, 0, L0),
                                ir_build_binary(f, IR_OP_MUL, r2, c2, L0), L0);
    Jit *j = jit_compile(m);
    cr_expect_eq(c1->attr.i[4], 1, "relu folded into the convolution only it reads");
    cr_expect_eq(c2->attr.i[4], 0, "relu kept: the convolution has another reader");
    cr_expect_eq(count_op(f, IR_OP_UNARY), 1);
    int64_t nx = t.batch * t.chans * t.h * t.w, ny = t.batch * t.outs * conv_out(t.h, &t) * conv_out(t.w, &t);
    float *params = calloc((size_t)m->n_param_floats, sizeof(float));
    float *xs = malloc(sizeof(float) * (size_t)nx), *y = calloc((size_t)ny, sizeof(float));
    double *h = malloc(sizeof *h * (size_t)nx), *dw = calloc((size_t)nw, sizeof *dw);
    double *db = calloc((size_t)t.outs, sizeof *db), *dh = calloc((size_t)nx, sizeof *dh);
    cr_assert(params && xs && y && h && dw && db && dh);
    for (int64_t i = 0; i < nw; i++) params[w->offset + i] = (float)sin(0.53 * (double)i) * 0.5f;
    for (int64_t i = 0; i < t.outs; i++) params[b->offset + i] = 0.05f * (float)(i - 2);
    for (int64_t i = 0; i < nx; i++) h[i] = xs[i] = (float)cos(0.41 * (double)i);
    double *want = conv_reference(&t, h, params + w->offset, params + b->offset, dw, db, dh);
    float *ar = jit_arena(j, t.batch);
    AairtStepArgs pa = {params, NULL, ar, xs, NULL, y, NULL, NULL, t.batch};
    jit_entry(j, IR_ENTRY_PREDICT)(&pa);
    for (int64_t i = 0; i < ny; i++) {
        double r = want[i] > 0 ? want[i] : 0, expect = r + r * want[i];
        cr_assert(fabs(y[i] - expect) <= 1e-4 * (1 + fabs(expect)), "y[%lld] %g, reference %g",
                  (long long)i, (double)y[i], expect);
    }
    free(params), free(xs), free(y), free(h), free(dw), free(db), free(dh), free(want), free(ar);
    module_close(&tm, j);
}

/* The k x k tile of channel plane `plane` ([OH, OW]) at pooled (ph, pw):
 * its maximum after relu when `max`, else its mean. */
static double tile_of(const double *plane, int64_t ow_n, int64_t k, int64_t ph, int64_t pw,
                      bool max) {
    double m = -INFINITY, sum = 0;
    for (int64_t ki = 0; ki < k; ki++)
        for (int64_t kj = 0; kj < k; kj++) {
            double v = plane[(ph * k + ki) * ow_n + pw * k + kj];
            double r = v > 0 ? v : 0;
            m = r > m ? r : m;
            sum += v;
        }
    return max ? m : sum / (double)(k * k);
}

/* predict = maxpool2(relu(conv(x))) + avgpool2(conv(x)): the max pooling
 * over tiles folds into the convolution it alone reads, with the relu
 * (passes/fuse.c); the average pooling stays an op of its own. A training
 * entry over the same max pooling keeps it apart (its gradient reads the
 * convolution's output). 9x7 outputs leave a ragged row and column.
 * Predictions match the definition and are the same bits at 1 and 3
 * threads. */
Test(layers, max_pooling_folds_into_a_convolution_it_alone_reads) {
    const ConvCase t = {5, 2, 9, 7, 5, 3, 1, 1};
    TestModule tm;
    IrModule *m = module_open(&tm, "fuse_pool");
    int64_t k = t.kern, nw = t.outs * t.chans * k * k;
    IrParam *w, *b;
    conv_params(m, &t, &w, &b);
    IrShape xs = ir_shape(4, (int64_t[]){IR_BATCH, t.chans, t.h, t.w});
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, xs, L0);
    IrValue *c1 = ir_conv2d(f, x, ir_build_param(f, w, L0), ir_build_param(f, b, L0), 1, t.pad,
                            1, 1, L0);
    IrValue *c2 = ir_conv2d(f, x, ir_build_param(f, w, L0), ir_build_param(f, b, L0), 1, t.pad,
                            1, 1, L0);
    IrValue *maxed = ir_pool2d(f, ir_build_unary(f, IR_FN_RELU, c1, 0, L0), 2, 2, 0, false, L0);
    f->output = ir_build_binary(f, IR_OP_ADD, maxed, ir_pool2d(f, c2, 2, 2, 0, true, L0), L0);
    IrFunc *ft = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *ct = ir_conv2d(ft, ir_build_input(ft, IR_SLOT_X, IR_F32, xs, L0),
                            ir_build_param(ft, w, L0), ir_build_param(ft, b, L0), 1, t.pad, 1, 1, L0);
    IrValue *pt = ir_pool2d(ft, ir_build_unary(ft, IR_FN_RELU, ct, 0, L0), 2, 2, 0, false, L0);
    ft->loss = ir_build_reduce(ft, IR_OP_SUM, ir_build_unary(ft, IR_FN_SQUARE, pt, 0, L0), 0,
                               false, L0);
    Jit *j = jit_compile(m);
    cr_expect_eq(c1->attr.i[5], 2, "max pooling folded into the convolution only it reads");
    cr_expect_eq(c2->attr.i[5], 0, "average pooling not folded");
    cr_expect_eq(count_op(f, IR_OP_POOL2D), 1, "only the average pooling is left");
    cr_expect_eq(ct->attr.i[5], 0, "training keeps the pooling apart");
    cr_expect_eq(count_op(ft, IR_OP_POOL2D), 1);
    int64_t oh = conv_out(t.h, &t), ow = conv_out(t.w, &t), ph = oh / 2, pw = ow / 2;
    int64_t nx = t.batch * t.chans * t.h * t.w, ny = t.batch * t.outs * ph * pw;
    float *params = calloc((size_t)m->n_param_floats, sizeof(float));
    float *xv = malloc(sizeof(float) * (size_t)nx);
    double *h = malloc(sizeof *h * (size_t)nx), *dw = calloc((size_t)nw, sizeof *dw);
    double *db = calloc((size_t)t.outs, sizeof *db), *dh = calloc((size_t)nx, sizeof *dh);
    cr_assert(params && xv && h && dw && db && dh);
    for (int64_t i = 0; i < nw; i++) params[w->offset + i] = (float)sin(0.53 * (double)i) * 0.5f;
    for (int64_t i = 0; i < t.outs; i++) params[b->offset + i] = 0.05f * (float)(i - 2);
    for (int64_t i = 0; i < nx; i++) h[i] = xv[i] = (float)cos(0.41 * (double)i);
    double *want = conv_reference(&t, h, params + w->offset, params + b->offset, dw, db, dh);
    ConvCase pooled = t; /* run_conv's output size: the pooled planes */
    pooled.h = ph, pooled.w = pw, pooled.kern = 1, pooled.stride = 1, pooled.pad = 0;
    ConvRun one = run_conv(j, m, &pooled, params, xv, 1);
    ConvRun three = run_conv(j, m, &pooled, params, xv, 3);
    for (int64_t n = 0, i = 0; n < t.batch; n++)
        for (int64_t o = 0; o < t.outs; o++)
            for (int64_t r = 0; r < ph; r++)
                for (int64_t c = 0; c < pw; c++, i++) {
                    const double *plane = want + (n * t.outs + o) * oh * ow;
                    double expect = tile_of(plane, ow, 2, r, c, true) +
                                    tile_of(plane, ow, 2, r, c, false);
                    cr_assert(fabs(one.y[i] - expect) <= 1e-4 * (1 + fabs(expect)),
                              "y[%lld] %g, reference %g", (long long)i, (double)one.y[i], expect);
                }
    cr_expect_eq(memcmp(one.y, three.y, sizeof(float) * (size_t)ny), 0,
                 "predict differs at 3 threads");
    free(one.y), free(one.grads), free(three.y), free(three.grads);
    free(params), free(xv), free(h), free(dw), free(db), free(dh), free(want);
    module_close(&tm, j);
}

/* A training step with loss sum(act(conv(x s))^2), act = relu (folded into
 * the convolution, its gradient reading the folded output) or maximum(., 0)
 * (the same function, which nothing folds). Returns the loss; *grads gets
 * the gradients (np of them, malloc'd) and *folded whether the relu was
 * folded. The parameters are set by index, so both models start alike. */
static float train_act_conv(bool relu, float **grads, int64_t *np, bool *folded) {
    enum { B = 3, C = 2, H = 7, W = 6, O = 5, K = 3 };
    TestModule tm;
    IrModule *m = module_open(&tm, "act");
    IrParam *w = ir_param_new(m, "w", ir_shape(4, (int64_t[]){O, C, K, K}), IR_INIT_ZEROS, 1, 1, L0);
    IrParam *b = ir_param_new(m, "b", ir_shape(1, (int64_t[]){O}), IR_INIT_ZEROS, 1, 1, L0);
    IrParam *s = ir_param_new(m, "s", ir_shape(3, (int64_t[]){C, H, W}), IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(4, (int64_t[]){IR_BATCH, C, H, W}), L0);
    IrValue *h = ir_build_binary(f, IR_OP_MUL, x, ir_build_param(f, s, L0), L0);
    IrValue *y = ir_conv2d(f, h, ir_build_param(f, w, L0), ir_build_param(f, b, L0), 1, 1, 1, 1, L0);
    IrValue *a = relu ? ir_build_unary(f, IR_FN_RELU, y, 0, L0)
                      : ir_build2(f, IR_OP_MAXIMUM, y, ir_build_const(f, 0, L0), L0);
    f->loss = ir_build_reduce(f, IR_OP_SUM, ir_build_unary(f, IR_FN_SQUARE, a, 0, L0), 0, false, L0);
    Jit *j = jit_compile(m);
    *folded = y->attr.i[4] != 0;
    *np = m->n_param_floats;
    float *p = malloc(sizeof(float) * (size_t)*np), xs[B * C * H * W], loss = 0;
    *grads = calloc((size_t)*np, sizeof(float));
    cr_assert(p && *grads);
    for (int64_t i = 0; i < *np; i++) p[i] = (float)cos(0.61 * (double)i) * 0.5f;
    for (int64_t i = 0; i < s->size; i++) p[s->offset + i] += 1.0f;
    for (int i = 0; i < B * C * H * W; i++) xs[i] = (float)sin(0.37 * i + 0.1);
    float *ar = jit_arena(j, B);
    AairtOptimizer opt = {.kind = AAIRT_OPT_SGD, .lr = 0.0f, .n = *np};
    AairtStepArgs ta = {p, *grads, ar, xs, NULL, NULL, &loss, &opt, B};
    jit_entry(j, IR_ENTRY_TRAIN)(&ta);
    free(p), free(ar);
    module_close(&tm, j);
    return loss;
}

/* In training the relu folds too: its gradient reads only its output.
 * The gradients equal those of maximum(y, 0), which nothing folds. */
Test(layers, relu_folds_into_a_convolution_in_training) {
    float *g_relu, *g_max;
    int64_t np_relu, np_max;
    bool folded_relu, folded_max;
    float l_relu = train_act_conv(true, &g_relu, &np_relu, &folded_relu);
    float l_max = train_act_conv(false, &g_max, &np_max, &folded_max);
    cr_assert_eq(np_relu, np_max);
    cr_expect(folded_relu, "relu folded into the training step's convolution");
    cr_expect(!folded_max);
    cr_expect(fabsf(l_relu - l_max) <= 1e-5f * (1 + fabsf(l_max)), "loss %g vs %g", l_relu, l_max);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < np_max; i++) {
        cr_expect(fabsf(g_relu[i] - g_max[i]) <= 1e-5f * (1 + fabsf(g_max[i])),
                  "grad[%lld] %g vs %g", (long long)i, g_relu[i], g_max[i]);
        nonzero += g_max[i] != 0;
    }
    cr_expect(nonzero > np_max / 2, "mostly non-zero gradients (%lld of %lld)", (long long)nonzero,
              (long long)np_max);
    free(g_relu);
    free(g_max);
}

/* What a fused train step's plan did with `op` (a fold of passes/fuse.c
 * that updates its first input): how many there are, how many share that
 * input's buffer. */
typedef struct FoldCount {
    int ops, in_place;
} FoldCount;

static FoldCount fold_count(const IrFunc *f, IrOpKind op) {
    FoldCount count = {0, 0};
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        if (v->dead || v->op != op) continue;
        count.ops++;
        const IrStorage *a = &v->store, *b = &v->in[0]->store;
        count.in_place += a->kind == b->kind && a->offset == b->offset && a->row_offset == b->row_offset;
    }
    return count;
}

/* Compiles tm's module (fuse on or off), counts `op` in f, runs one train
 * step at `batch` rows of `x_floats` each (parameters sin, inputs cos,
 * optimizer off) and returns the gradients (malloc'd). Closes tm. */
static float *fused_step_grads(TestModule *tm, IrFunc *f, bool fuse, IrOpKind op, int64_t batch,
                               int64_t x_floats, FoldCount *count) {
    IrModule *m = tm->m;
    PipelineOptions po = pipeline_options_default();
    po.fuse = fuse;
    Jit *j = jit_compile_with(m, po);
    *count = fold_count(f, op);
    int64_t np = m->n_param_floats, nx = batch * x_floats;
    float *params = malloc(sizeof(float) * (size_t)np), *xs = malloc(sizeof(float) * (size_t)nx);
    float *grads = calloc((size_t)np, sizeof(float));
    float *ar = jit_arena(j, batch);
    cr_assert(params && xs && grads && ar);
    for (int64_t i = 0; i < np; i++) params[i] = (float)sin(0.9 * (double)i + 0.3);
    for (int64_t i = 0; i < nx; i++) xs[i] = (float)cos(0.61 * (double)i);
    float loss_v = 0;
    AairtOptimizer opt = {.kind = AAIRT_OPT_SGD, .lr = 0.0f, .n = np}; /* keeps the parameters */
    AairtStepArgs ta = {params, grads, ar, xs, NULL, NULL, &loss_v, &opt, batch};
    jit_entry(j, IR_ENTRY_TRAIN)(&ta);
    free(params), free(xs), free(ar);
    module_close(tm, j);
    return grads;
}

/* A train step whose gradients are sums of slices, along a batch axis and
 * along a parameter's: y = x * q with x [B, 4, 6], q [4, 6]; loss = sum
 * over t of sum(slice(y, 1, t)^2) + sum over t of sum(slice(p, 0, t)^2 * t)
 * with p [4, 6]: the last sum of p's slices is p's gradient itself.
 * Returns the gradients (malloc'd) and what the plan did with SLICE_ADD. */
static float *slice_sum_grads(bool fuse, int64_t batch, FoldCount *count) {
    TestModule tm;
    IrModule *m = module_open(&tm, "slices");
    IrParam *pp = ir_param_new(m, "p", ir_shape(2, (int64_t[]){4, 6}), IR_INIT_ZEROS, 1, 1, L0);
    IrParam *pq = ir_param_new(m, "q", ir_shape(2, (int64_t[]){4, 6}), IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(3, (int64_t[]){IR_BATCH, 4, 6}), L0);
    IrValue *p = ir_build_param(f, pp, L0);
    IrValue *y = ir_build_binary(f, IR_OP_MUL, x, ir_build_param(f, pq, L0), L0), *loss = NULL;
    for (int t = 0; t < 4; t++) {
        IrValue *sy = ir_build_unary(f, IR_FN_SQUARE, ir_slice(f, y, 1, t, t + 1, L0), 0, L0);
        IrValue *sp = ir_build_unary(f, IR_FN_SQUARE, ir_slice(f, p, 0, t, t + 1, L0), 0, L0);
        IrValue *term = ir_build_binary(
            f, IR_OP_ADD, ir_build_reduce(f, IR_OP_SUM, sy, 0, false, L0),
            ir_build_binary(f, IR_OP_MUL, ir_build_reduce(f, IR_OP_SUM, sp, 0, false, L0),
                            ir_build_const(f, (double)t, L0), L0),
            L0);
        loss = loss ? ir_build_binary(f, IR_OP_ADD, loss, term, L0) : term;
    }
    f->loss = loss;
    return fused_step_grads(&tm, f, fuse, IR_OP_SLICE_ADD, batch, 24, count);
}

/* Sums of slice gradients become SLICE_ADDs, in place where their input
 * dies (all but the one written to the gradient block), with the bits of
 * the unfused zero-filled slices and adds. */
Test(layers, slice_gradient_sums_are_added_in_place) {
    FoldCount fused_count, plain_count;
    float *fused = slice_sum_grads(true, 5, &fused_count);
    float *plain = slice_sum_grads(false, 5, &plain_count);
    cr_expect_eq(plain_count.ops, 0);
    cr_expect_eq(fused_count.ops, 6, "three adds of slices per sum, two sums");
    cr_expect_eq(fused_count.in_place, 5, "every SLICE_ADD in place but the one writing p's gradient");
    cr_expect_eq(memcmp(fused, plain, sizeof(float) * 48), 0, "the gradients differ");
    free(fused), free(plain);
}

/* A weight gradient summed over time steps: h_t = x[:, t] @ W for t < 3,
 * loss = sum over t of sum(h_t^2), x [B, 3, I], W [I, O]. Returns dW
 * (malloc'd) and what the plan did with MATMUL_ACC. */
static float *step_sum_grads(bool fuse, int64_t batch, int64_t in, int64_t out,
                             FoldCount *count) {
    TestModule tm;
    IrModule *m = module_open(&tm, "steps");
    IrParam *pw = ir_param_new(m, "w", ir_shape(2, (int64_t[]){in, out}), IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(3, (int64_t[]){IR_BATCH, 3, in}), L0);
    IrValue *w = ir_build_param(f, pw, L0), *loss = NULL;
    for (int t = 0; t < 3; t++) {
        IrValue *xt = ir_reshape(f, ir_slice(f, x, 1, t, t + 1, L0),
                                 ir_shape(2, (int64_t[]){IR_BATCH, in}), L0);
        IrValue *h = ir_build_matmul(f, xt, w, false, false, L0);
        IrValue *term = ir_build_reduce(f, IR_OP_SUM, ir_build_unary(f, IR_FN_SQUARE, h, 0, L0), 0,
                                        false, L0);
        loss = loss ? ir_build_binary(f, IR_OP_ADD, loss, term, L0) : term;
    }
    f->loss = loss;
    return fused_step_grads(&tm, f, fuse, IR_OP_MATMUL_ACC, batch, 3 * in, count);
}

/* The per-step weight gradients accumulate into their sum (MATMUL_ACC, in
 * place but for the last, which writes the gradient block) with the bits
 * of separate products and adds: a narrow product (libaairt's kernels)
 * and one through OpenBLAS. */
Test(layers, weight_gradients_accumulate_over_steps) {
    const int64_t shapes[2][3] = {{5, 6, 5}, {64, 40, 24}}; /* batch, in, out */
    for (int s = 0; s < 2; s++) {
        FoldCount fused_count, plain_count;
        const int64_t *d = shapes[s];
        float *fused = step_sum_grads(true, d[0], d[1], d[2], &fused_count);
        float *plain = step_sum_grads(false, d[0], d[1], d[2], &plain_count);
        cr_expect_eq(plain_count.ops, 0);
        cr_expect_eq(fused_count.ops, 2, "three steps: two accumulations");
        cr_expect_eq(fused_count.in_place, 1, "the first in place, the last into the gradient block");
        cr_expect_eq(memcmp(fused, plain, sizeof(float) * (size_t)(d[1] * d[2])), 0,
                     "%lldx%lld: the gradients differ", (long long)d[1], (long long)d[2]);
        free(fused), free(plain);
    }
}

/* predict = x @ (t + t @ r), t = p @ q: the sum t is also the product's
 * operand, so MATMUL_ACC must not update it in place (the product would
 * read what it writes); the prediction equals the unfused one. */
static float *self_accumulating_predict(bool fuse, FoldCount *count) {
    TestModule tm;
    IrModule *m = module_open(&tm, "self_acc");
    IrShape sq = ir_shape(2, (int64_t[]){20, 20});
    IrParam *pp = ir_param_new(m, "p", sq, IR_INIT_ZEROS, 1, 1, L0);
    IrParam *pq = ir_param_new(m, "q", sq, IR_INIT_ZEROS, 1, 1, L0);
    IrParam *pr = ir_param_new(m, "r", sq, IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(2, (int64_t[]){IR_BATCH, 20}), L0);
    IrValue *t = ir_build_matmul(f, ir_build_param(f, pp, L0), ir_build_param(f, pq, L0), false,
                                 false, L0);
    IrValue *s = ir_build_binary(
        f, IR_OP_ADD, t, ir_build_matmul(f, t, ir_build_param(f, pr, L0), false, false, L0), L0);
    f->output = ir_build_matmul(f, x, s, false, false, L0);
    PipelineOptions po = pipeline_options_default();
    po.fuse = fuse;
    Jit *j = jit_compile_with(m, po);
    *count = fold_count(f, IR_OP_MATMUL_ACC);
    const int64_t batch = 3, np = m->n_param_floats;
    float *params = malloc(sizeof(float) * (size_t)np), xs[3 * 20], *y = calloc(3 * 20, sizeof(float));
    float *ar = jit_arena(j, batch);
    cr_assert(params && y && ar);
    for (int64_t i = 0; i < np; i++) params[i] = (float)sin(0.9 * (double)i + 0.3) * 0.3f;
    for (int i = 0; i < 3 * 20; i++) xs[i] = (float)cos(0.61 * i);
    AairtStepArgs pa = {params, NULL, ar, xs, NULL, y, NULL, NULL, batch};
    jit_entry(j, IR_ENTRY_PREDICT)(&pa);
    free(params), free(ar);
    module_close(&tm, j);
    return y;
}

Test(layers, an_accumulated_product_that_reads_its_sum_is_not_in_place) {
    FoldCount fused_count, plain_count;
    float *fused = self_accumulating_predict(true, &fused_count);
    float *plain = self_accumulating_predict(false, &plain_count);
    cr_expect_eq(fused_count.ops, 1, "t + t @ r folds");
    cr_expect_eq(fused_count.in_place, 0, "but not into t's own buffer");
    cr_expect_eq(memcmp(fused, plain, sizeof(float) * 3 * 20), 0, "predictions differ");
    free(fused), free(plain);
}
