/* test_gradcheck.c - every op with a VJP against finite differences.
 *
 * Each case builds a train function loss = sum(op(p...) * w) with a random
 * projection w (or the loss op itself), differentiates it with
 * pass_autodiff, JIT-compiles it, and compares each analytic gradient
 * element with the double-sided difference (L(p+eps) - L(p-eps)) / 2eps,
 * eps = 1e-3, evaluated by the same compiled train step (optimizer off).
 * Inputs are small random numbers kept away from kinks (relu, abs at 0)
 * and inside domains (log, sqrt). Batch cases stream x and labels through
 * args->x / args->y to check the batch-dependent rules. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "ir.h"
#include "ir_compose.h"
#include "jit.h"
#include "jit_runtime.h"
#include "pipeline.h"

enum { GC_BATCH = 3 };

typedef enum GcKind {
    GC_ANY,   /* U(-1,1), |x| >= 0.1 */
    GC_POS,   /* U(0.5, 2) */
    GC_PROB,  /* U(0.1, 0.9) */
    GC_LABEL, /* class index in [0, classes): not differentiated */
    GC_X,     /* args->x, [B, ...]: not differentiated */
    GC_Y,     /* args->y labels [B, 1]: not differentiated */
} GcKind;

typedef struct GcCase GcCase;
typedef IrValue *(*GcBuild)(IrFunc *f, IrValue **p, const GcCase *c);

struct GcCase {
    const char *name;
    GcBuild build;
    int n;
    IrShape shape[4];
    GcKind kind[4];
    int i0;        /* case-specific: unary fn, axes mask, transposes, ... */
    double alpha;
    int classes;   /* GC_LABEL / GC_Y */
};

static const SrcLoc L0 = {0, 0, 0, 0};

static uint64_t rng_state;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float sample(GcKind k, int classes) {
    switch (k) {
    case GC_ANY:
    case GC_X: {
        double v = 0.1 + 0.9 * urand();
        return (float)(urand() < 0.5 ? -v : v);
    }
    case GC_POS: return (float)(0.5 + 1.5 * urand());
    case GC_PROB: return (float)(0.1 + 0.8 * urand());
    case GC_LABEL:
    case GC_Y: return (float)((int)(urand() * classes) % classes);
    }
    return 0;
}

static bool differentiable(GcKind k) { return k == GC_ANY || k == GC_POS || k == GC_PROB; }

typedef struct Runner {
    Jit *jit;
    float *params, *grads, *arena, *x, *y;
    int64_t batch;
} Runner;

static float run_loss(Runner *r) {
    float loss = NAN;
    AairtStepArgs a = {r->params, r->grads, r->arena, r->x, r->y, NULL, &loss, NULL, r->batch};
    jit_entry(r->jit, IR_ENTRY_TRAIN)(&a);
    return loss;
}

static void gradcheck(const GcCase *c) {
    Arena arena = {0};
    Diag *diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    IrModule *m = ir_module_new(&arena, diag, c->name);
    IrFunc *f = ir_func_new(m, IR_ENTRY_TRAIN);
    IrParam *ps[4] = {0};
    IrValue *vals[4];
    char pname[16];
    for (int i = 0; i < c->n; i++) {
        if (c->kind[i] == GC_X || c->kind[i] == GC_Y) {
            vals[i] = ir_build_input(f, c->kind[i] == GC_X ? IR_SLOT_X : IR_SLOT_Y, IR_F32,
                                     c->shape[i], L0);
            continue;
        }
        snprintf(pname, sizeof pname, "p%d", i);
        ps[i] = ir_param_new(m, pname, c->shape[i], IR_INIT_ZEROS, 1, 1, L0);
        vals[i] = ir_build_param(f, ps[i], L0);
    }
    IrValue *y = c->build(f, vals, c);
    cr_assert(y, "%s: build failed", c->name);
    IrShape ws = y->shape;
    if (ir_shape_has_batch(ws)) { /* project each row with the same weights */
        for (int i = 1; i < ws.rank; i++) ws.dims[i - 1] = ws.dims[i];
        ws.rank--;
    }
    IrParam *pw = ir_param_new(m, "w", ws, IR_INIT_ZEROS, 1, 1, L0);
    IrValue *prod = ir_build_binary(f, IR_OP_MUL, y, ir_build_param(f, pw, L0), L0);
    f->loss = ir_build_reduce(f, IR_OP_SUM, prod, 0, false, L0);
    cr_assert(f->loss);
    PipelineOptions po = pipeline_options_default();
    po.verify = true;
    cr_assert(pipeline_run(m, &po), "%s: pipeline failed", c->name);
    f->optimizer_step = false;
    char *err = NULL;
    Runner r = {0};
    r.jit = jit_new(m, NULL, jit_runtime, JIT_RUNTIME_COUNT, &err);
    cr_assert(r.jit, "%s: JIT: %s", c->name, err ? err : "");
    r.batch = GC_BATCH;
    int64_t np = m->n_param_floats;
    r.params = calloc((size_t)np + 1, sizeof(float));
    r.grads = calloc((size_t)np + 1, sizeof(float));
    r.arena = jit_arena(r.jit, r.batch);
    rng_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)strlen(c->name) * 7919u;
    for (int i = 0; i < c->n; i++) {
        if (ps[i]) {
            for (int64_t e = 0; e < ps[i]->size; e++)
                r.params[ps[i]->offset + e] = sample(c->kind[i], c->classes);
        } else {
            int64_t n = ir_shape_row_elems(c->shape[i]) * r.batch;
            float *buf = calloc((size_t)n, sizeof(float));
            for (int64_t e = 0; e < n; e++) buf[e] = sample(c->kind[i], c->classes);
            if (c->kind[i] == GC_X) r.x = buf;
            else r.y = buf;
        }
    }
    for (int64_t e = 0; e < pw->size; e++) r.params[pw->offset + e] = sample(GC_ANY, 0);

    float l0 = run_loss(&r);
    cr_assert(isfinite(l0), "%s: loss %g", c->name, (double)l0);
    float *analytic = malloc((size_t)np * sizeof(float) + 1);
    memcpy(analytic, r.grads, (size_t)np * sizeof(float));
    const float eps = 1e-3f;
    int bad = 0, checked = 0;
    for (int i = 0; i < c->n; i++) {
        if (!ps[i] || !differentiable(c->kind[i])) continue;
        for (int64_t e = 0; e < ps[i]->size; e++) {
            float *p = &r.params[ps[i]->offset + e];
            float keep = *p;
            *p = keep + eps;
            double lp = run_loss(&r);
            *p = keep - eps;
            double lm = run_loss(&r);
            *p = keep;
            double num = (lp - lm) / (2.0 * eps);
            double ana = analytic[ps[i]->offset + e];
            checked++;
            if (!(fabs(num - ana) <= 5e-3 + 1e-2 * fabs(ana))) {
                if (bad < 5)
                    cr_log_error("%s: d/d%s[%lld]: analytic %.6g, numeric %.6g", c->name,
                                 ps[i]->name, (long long)e, ana, num);
                bad++;
            }
        }
    }
    cr_expect_gt(checked, 0, "%s: nothing checked", c->name);
    cr_expect_eq(bad, 0, "%s: %d of %d gradient elements off", c->name, bad, checked);
    free(analytic);
    free(r.params);
    free(r.grads);
    free(r.arena);
    free(r.x);
    free(r.y);
    jit_free(r.jit);
    diag_free(diag);
    arena_free(&arena);
}

/* ---- graph builders ----------------------------------------------------- */

static IrValue *g_matmul(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build_matmul(f, p[0], p[1], c->i0 & 1, (c->i0 >> 1) & 1, L0);
}
static IrValue *g_binary(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build_binary(f, (IrOpKind)c->i0, p[0], p[1], L0);
}
static IrValue *g_unary(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build_unary(f, (IrUnaryFn)c->i0, p[0], c->alpha, L0);
}
static IrValue *g_op1(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build1(f, (IrOpKind)c->i0, p[0], L0);
}
static IrValue *g_sum(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build_reduce(f, IR_OP_SUM, p[0], (uint32_t)c->i0 & 0xff, (c->i0 >> 8) & 1, L0);
}
static IrValue *g_mean(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build_reduce(f, IR_OP_MEAN, p[0], (uint32_t)c->i0 & 0xff, (c->i0 >> 8) & 1, L0);
}
static IrValue *g_to_shape(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build_to_shape(f, (IrOpKind)c->i0, p[0], c->shape[1], L0);
}
static IrValue *g_loss(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build2(f, (IrOpKind)c->i0, p[0], p[1], L0);
}
/* tanh(x W^T + b) then cross-entropy against streamed labels */
static IrValue *g_batch_mlp(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    IrValue *h = ir_build_matmul(f, p[0], p[1], false, true, L0);
    h = ir_build_unary(f, IR_FN_TANH, ir_build_binary(f, IR_OP_ADD, h, p[2], L0), 0, L0);
    return ir_build2(f, IR_OP_CROSS_ENTROPY, h, p[3], L0);
}
/* mean over the batch of x W^T, and a reshape of a batch value */
static IrValue *g_batch_mean(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    IrValue *h = ir_build_matmul(f, p[0], p[1], false, true, L0);
    IrValue *r = ir_build_to_shape(f, IR_OP_RESHAPE, h, ir_shape(3, (int64_t[]){IR_BATCH, 2, 3}), L0);
    IrValue *s = ir_build_unary(f, IR_FN_SQUARE, r, 0, L0);
    return ir_build_reduce(f, IR_OP_MEAN, s, 1u, false, L0);
}
/* a value used twice, through different paths (gradient accumulation) */
static IrValue *g_reuse(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    IrValue *s = ir_build_unary(f, IR_FN_SIGMOID, p[0], 0, L0);
    IrValue *t = ir_build_binary(f, IR_OP_MUL, s, p[0], L0);
    return ir_build_binary(f, IR_OP_ADD, t, ir_build_matmul(f, s, p[1], false, false, L0), L0);
}

#define SH(...) ir_shape(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__})
static const IrShape SCALAR = {0, {0}};

static GcCase unary_case(const char *name, IrUnaryFn fn, GcKind k, double alpha) {
    GcCase c = {name, g_unary, 1, {SH(3, 4)}, {k}, fn, alpha, 0};
    return c;
}

static void check_unary(IrUnaryFn fn, GcKind k, double alpha) {
    GcCase c = unary_case(ir_unary_name(fn), fn, k, alpha);
    gradcheck(&c);
}

Test(gradcheck, matmul) {
    GcCase cs[4] = {
        {"matmul", g_matmul, 2, {SH(3, 4), SH(4, 2)}, {GC_ANY, GC_ANY}, 0, 0, 0},
        {"matmul_tb", g_matmul, 2, {SH(3, 4), SH(2, 4)}, {GC_ANY, GC_ANY}, 2, 0, 0},
        {"matmul_ta", g_matmul, 2, {SH(4, 3), SH(4, 2)}, {GC_ANY, GC_ANY}, 1, 0, 0},
        {"matmul_tatb", g_matmul, 2, {SH(4, 3), SH(2, 4)}, {GC_ANY, GC_ANY}, 3, 0, 0},
    };
    for (int i = 0; i < 4; i++) gradcheck(&cs[i]);
}

Test(gradcheck, binary_broadcast) {
    GcCase cs[] = {
        {"add", g_binary, 2, {SH(3, 4), SH(4)}, {GC_ANY, GC_ANY}, IR_OP_ADD, 0, 0},
        {"sub", g_binary, 2, {SH(3, 1), SH(4)}, {GC_ANY, GC_ANY}, IR_OP_SUB, 0, 0},
        {"mul", g_binary, 2, {SH(3, 4), SCALAR}, {GC_ANY, GC_ANY}, IR_OP_MUL, 0, 0},
        {"mul_col", g_binary, 2, {SH(3, 4), SH(3, 1)}, {GC_ANY, GC_ANY}, IR_OP_MUL, 0, 0},
        {"div", g_binary, 2, {SH(3, 4), SH(3, 1)}, {GC_ANY, GC_POS}, IR_OP_DIV, 0, 0},
        {"div_scalar_num", g_binary, 2, {SCALAR, SH(2, 3)}, {GC_ANY, GC_POS}, IR_OP_DIV, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, unary_functions) {
    check_unary(IR_FN_NEG, GC_ANY, 0);
    check_unary(IR_FN_RELU, GC_ANY, 0);
    check_unary(IR_FN_LEAKY_RELU, GC_ANY, 0.1);
    check_unary(IR_FN_ELU, GC_ANY, 1.3);
    check_unary(IR_FN_SIGMOID, GC_ANY, 0);
    check_unary(IR_FN_TANH, GC_ANY, 0);
    check_unary(IR_FN_GELU, GC_ANY, 0);
    check_unary(IR_FN_GELU_TANH, GC_ANY, 0);
    check_unary(IR_FN_SILU, GC_ANY, 0);
    check_unary(IR_FN_SOFTPLUS, GC_ANY, 0);
    check_unary(IR_FN_EXP, GC_ANY, 0);
    check_unary(IR_FN_LOG, GC_POS, 0);
    check_unary(IR_FN_SQRT, GC_POS, 0);
    check_unary(IR_FN_ABS, GC_ANY, 0);
    check_unary(IR_FN_SQUARE, GC_ANY, 0);
}

Test(gradcheck, softmax_family) {
    GcCase cs[] = {
        {"softmax", g_op1, 1, {SH(3, 5)}, {GC_ANY}, IR_OP_SOFTMAX, 0, 0},
        {"log_softmax", g_op1, 1, {SH(3, 5)}, {GC_ANY}, IR_OP_LOG_SOFTMAX, 0, 0},
        {"copy", g_op1, 1, {SH(3, 5)}, {GC_ANY}, IR_OP_COPY, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, reductions) {
    GcCase cs[] = {
        {"sum_axis1", g_sum, 1, {SH(3, 4)}, {GC_ANY}, 2, 0, 0},
        {"sum_axis0_keep", g_sum, 1, {SH(3, 4)}, {GC_ANY}, 1 | 256, 0, 0},
        {"sum_all", g_sum, 1, {SH(2, 3, 2)}, {GC_ANY}, 0, 0, 0},
        {"mean_axis1", g_mean, 1, {SH(3, 4)}, {GC_ANY}, 2, 0, 0},
        {"mean_axis02_keep", g_mean, 1, {SH(2, 3, 2)}, {GC_ANY}, 5 | 256, 0, 0},
        {"mean_all", g_mean, 1, {SH(3, 4)}, {GC_ANY}, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, shape_ops) {
    GcCase cs[] = {
        {"broadcast", g_to_shape, 1, {SH(4), SH(3, 4)}, {GC_ANY}, IR_OP_BROADCAST, 0, 0},
        {"sum_to", g_to_shape, 1, {SH(3, 4), SH(1, 4)}, {GC_ANY}, IR_OP_SUM_TO, 0, 0},
        {"reshape", g_to_shape, 1, {SH(3, 4), SH(2, 6)}, {GC_ANY}, IR_OP_RESHAPE, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, losses) {
    GcCase cs[] = {
        {"cross_entropy", g_loss, 2, {SH(4, 3), SH(4)}, {GC_ANY, GC_LABEL}, IR_OP_CROSS_ENTROPY, 0, 3},
        {"cross_entropy_col", g_loss, 2, {SH(4, 3), SH(4, 1)}, {GC_ANY, GC_LABEL},
         IR_OP_CROSS_ENTROPY, 0, 3},
        {"mse", g_loss, 2, {SH(3, 4), SH(3, 4)}, {GC_ANY, GC_ANY}, IR_OP_MSE, 0, 0},
        {"bce_with_logits", g_loss, 2, {SH(3, 4), SH(3, 4)}, {GC_ANY, GC_PROB}, IR_OP_BCE_LOGITS, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, batched_and_accumulated) {
    GcCase cs[] = {
        {"batch_mlp", g_batch_mlp, 4, {SH(IR_BATCH, 4), SH(3, 4), SH(3), SH(IR_BATCH, 1)},
         {GC_X, GC_ANY, GC_ANY, GC_Y}, 0, 0, 3},
        {"batch_mean", g_batch_mean, 2, {SH(IR_BATCH, 4), SH(6, 4)}, {GC_X, GC_ANY}, 0, 0, 0},
        {"reuse", g_reuse, 2, {SH(3, 4), SH(4, 4)}, {GC_ANY, GC_ANY}, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

/* ---- layer ops (ir_compose.c, codegen_layers.c) ---------------------------- */

/* i0: stride | padding << 4 | dilation << 8 | groups << 12 */
static IrValue *g_conv(IrFunc *f, IrValue **p, const GcCase *c) {
    int v = c->i0;
    return ir_conv2d(f, p[0], p[1], c->n > 2 ? p[2] : NULL, v & 15, (v >> 4) & 15, (v >> 8) & 15,
                     (v >> 12) & 15, L0);
}
/* i0: kernel | stride << 4 | padding << 8 | avg << 12 */
static IrValue *g_pool(IrFunc *f, IrValue **p, const GcCase *c) {
    int v = c->i0;
    return ir_pool2d(f, p[0], v & 15, (v >> 4) & 15, (v >> 8) & 15, (v >> 12) & 1, L0);
}
static IrValue *g_bn(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    return ir_batch_norm_train(f, p[0], p[1], p[2], 1e-5, NULL, NULL, L0);
}
static IrValue *g_bn_eval(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    return ir_batch_norm_eval(f, p[0], p[1], p[2], p[3], p[3], 1e-5, L0);
}
static IrValue *g_ln(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    return ir_layer_norm(f, p[0], p[1], p[2], 1e-5, L0);
}
static IrValue *g_permute(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    return ir_permute(f, p[0], (int64_t[]){2, 0, 1}, L0);
}
static IrValue *g_concat(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_concat(f, p, c->n, c->i0, L0);
}
static IrValue *g_slice(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_slice(f, p[0], c->i0, 1, 3, L0);
}
static IrValue *g_dropout(IrFunc *f, IrValue **p, const GcCase *c) {
    IrAttrs at = {0};
    at.f[0] = c->alpha;
    at.i[0] = 1234;
    return ir_build(f, IR_OP_DROPOUT, p, 1, &at, L0);
}
static IrValue *g_embedding(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    return ir_build2(f, IR_OP_EMBEDDING, p[0], p[1], L0);
}
static IrValue *g_reduce_max(IrFunc *f, IrValue **p, const GcCase *c) {
    return ir_build_reduce(f, IR_OP_REDUCE_MAX, p[0], (uint32_t)c->i0 & 0xff, (c->i0 >> 8) & 1, L0);
}
static IrValue *g_attention(IrFunc *f, IrValue **p, const GcCase *c) {
    (void)c;
    return ir_attention(f, p[0], p[1], p[2], L0);
}
static IrValue *g_rnn(IrFunc *f, IrValue **p, const GcCase *c) {
    IrValue *w_ih = ir_slice(f, p[1], 1, 0, p[0]->shape.dims[2], L0); /* [G*H, I] */
    IrValue *w_hh = ir_slice(f, p[1], 1, p[0]->shape.dims[2], p[1]->shape.dims[1], L0);
    IrValue *b_ih = ir_slice(f, p[2], 0, 0, p[1]->shape.dims[0], L0);
    IrValue *b_hh = ir_slice(f, p[2], 0, p[1]->shape.dims[0], 2 * p[1]->shape.dims[0], L0);
    bool seq = (c->i0 & 2) != 0;
    return c->i0 & 1 ? ir_gru(f, p[0], w_ih, w_hh, b_ih, b_hh, seq, L0)
                     : ir_lstm(f, p[0], w_ih, w_hh, b_ih, b_hh, seq, L0);
}

Test(gradcheck, convolution_and_pooling) {
    GcCase cs[] = {
        {"conv_s1p1", g_conv, 3, {SH(2, 3, 5, 5), SH(4, 3, 3, 3), SH(4)}, {GC_ANY, GC_ANY, GC_ANY},
         1 | 1 << 4 | 1 << 8 | 1 << 12, 0, 0},
        {"conv_s2p0", g_conv, 3, {SH(1, 2, 6, 6), SH(3, 2, 3, 3), SH(3)}, {GC_ANY, GC_ANY, GC_ANY},
         2 | 0 << 4 | 1 << 8 | 1 << 12, 0, 0},
        {"conv_dil2", g_conv, 2, {SH(1, 2, 6, 6), SH(2, 2, 3, 3)}, {GC_ANY, GC_ANY},
         1 | 2 << 4 | 2 << 8 | 1 << 12, 0, 0},
        {"conv_groups", g_conv, 3, {SH(1, 4, 4, 4), SH(4, 2, 3, 3), SH(4)}, {GC_ANY, GC_ANY, GC_ANY},
         1 | 1 << 4 | 1 << 8 | 2 << 12, 0, 0},
        {"conv_1x1", g_conv, 2, {SH(2, 3, 3, 3), SH(2, 3, 1, 1)}, {GC_ANY, GC_ANY},
         1 | 0 << 4 | 1 << 8 | 1 << 12, 0, 0},
        {"conv_batch", g_conv, 3, {SH(IR_BATCH, 2, 5, 5), SH(3, 2, 3, 3), SH(3)}, {GC_X, GC_ANY, GC_ANY},
         1 | 1 << 4 | 1 << 8 | 1 << 12, 0, 0},
        {"max_pool", g_pool, 1, {SH(2, 2, 4, 4)}, {GC_ANY}, 2 | 2 << 4, 0, 0},
        {"max_pool_ragged", g_pool, 1, {SH(1, 2, 5, 7)}, {GC_ANY}, 2 | 2 << 4, 0, 0},
        {"max_pool_pad", g_pool, 1, {SH(1, 2, 5, 5)}, {GC_ANY}, 3 | 2 << 4 | 1 << 8, 0, 0},
        {"avg_pool_pad", g_pool, 1, {SH(1, 2, 5, 5)}, {GC_ANY}, 3 | 2 << 4 | 1 << 8 | 1 << 12, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, normalization_and_dropout) {
    GcCase cs[] = {
        {"batch_norm", g_bn, 3, {SH(4, 3, 2, 2), SH(3), SH(3)}, {GC_ANY, GC_ANY, GC_ANY}, 0, 0, 0},
        {"batch_norm_1d", g_bn, 3, {SH(5, 3), SH(3), SH(3)}, {GC_ANY, GC_ANY, GC_ANY}, 0, 0, 0},
        {"batch_norm_batch", g_bn, 3, {SH(IR_BATCH, 2, 2, 2), SH(2), SH(2)}, {GC_X, GC_ANY, GC_ANY}, 0, 0, 0},
        {"batch_norm_eval", g_bn_eval, 4, {SH(2, 3, 2, 2), SH(3), SH(3), SH(3)},
         {GC_ANY, GC_ANY, GC_ANY, GC_POS}, 0, 0, 0},
        {"layer_norm", g_ln, 3, {SH(3, 2, 5), SH(5), SH(5)}, {GC_ANY, GC_ANY, GC_ANY}, 0, 0, 0},
        {"dropout", g_dropout, 1, {SH(4, 6)}, {GC_ANY}, 0, 0.3, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, data_movement) {
    GcCase cs[] = {
        {"permute", g_permute, 1, {SH(2, 3, 4)}, {GC_ANY}, 0, 0, 0},
        {"concat3", g_concat, 3, {SH(2, 1, 3), SH(2, 2, 3), SH(2, 3, 3)}, {GC_ANY, GC_ANY, GC_ANY}, 1, 0, 0},
        {"slice", g_slice, 1, {SH(2, 4, 3)}, {GC_ANY}, 1, 0, 0},
        {"slice_last", g_slice, 1, {SH(2, 3, 4)}, {GC_ANY}, 2, 0, 0},
        {"embedding", g_embedding, 2, {SH(2, 3), SH(5, 4)}, {GC_LABEL, GC_ANY}, 0, 0, 5},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, elementwise_and_reductions) {
    GcCase cs[] = {
        {"pow", g_unary, 1, {SH(3, 4)}, {GC_POS}, IR_FN_POW, 2.5, 0},
        {"maximum", g_binary, 2, {SH(3, 4), SH(4)}, {GC_ANY, GC_ANY}, IR_OP_MAXIMUM, 0, 0},
        {"minimum", g_binary, 2, {SH(3, 4), SH(3, 1)}, {GC_ANY, GC_ANY}, IR_OP_MINIMUM, 0, 0},
        {"reduce_max", g_reduce_max, 1, {SH(3, 4)}, {GC_ANY}, 2, 0, 0},
        {"reduce_max_keep", g_reduce_max, 1, {SH(2, 3, 2)}, {GC_ANY}, 5 | 256, 0, 0},
        {"bmm", g_matmul, 2, {SH(2, 3, 4), SH(4, 2)}, {GC_ANY, GC_ANY}, 0, 0, 0},
        {"bmm_tb", g_matmul, 2, {SH(3, 4), SH(2, 2, 4)}, {GC_ANY, GC_ANY}, 2, 0, 0},
        {"bmm_ta", g_matmul, 2, {SH(2, 4, 3), SH(2, 4, 2)}, {GC_ANY, GC_ANY}, 1, 0, 0},
        {"bmm_tatb", g_matmul, 2, {SH(2, 1, 4, 3), SH(3, 2, 4)}, {GC_ANY, GC_ANY}, 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}

Test(gradcheck, sequence_layers) {
    GcCase cs[] = {
        {"attention", g_attention, 3, {SH(2, 3, 4), SH(2, 5, 4), SH(2, 5, 2)}, {GC_ANY, GC_ANY, GC_ANY}, 0, 0, 0},
        /* rnn: x [N,T,I], [W_ih | W_hh] [G*H, I+H], [b_ih | b_hh] [2*G*H] */
        {"lstm_seq", g_rnn, 3, {SH(2, 3, 2), SH(12, 5), SH(24)}, {GC_ANY, GC_ANY, GC_ANY}, 2, 0, 0},
        {"lstm_last", g_rnn, 3, {SH(IR_BATCH, 3, 2), SH(8, 4), SH(16)}, {GC_X, GC_ANY, GC_ANY}, 0, 0, 0},
        {"gru_seq", g_rnn, 3, {SH(2, 3, 2), SH(9, 5), SH(18)}, {GC_ANY, GC_ANY, GC_ANY}, 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) gradcheck(&cs[i]);
}
