/* test_linear.c - dense layers (compiler/codegen_linear.c, passes/fuse.c).
 *
 * At batch 1, `x @ W^T` runs as a generated matrix-vector kernel instead of
 * sgemm; when W is big it is cut into blocks of rows that the runtime's
 * threads share. A dense layer's bias add and its relu, sigmoid or tanh fold
 * into that product (LINEAR), applied as each output is stored, or in one
 * pass after sgemm.
 * Checked here: the answer against a double-precision reference and
 * against the batch-N (sgemm) path, bit-for-bit equality between 1 and 3
 * threads, the rows after the last whole block, and that folding changes
 * no bit of predictions or of training gradients (relu; sigmoid and tanh
 * within a few ULP, see check_same_answers). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "ir.h"
#include "ir_count.h"
#include "jit.h"
#include "jit_runtime.h"
#include "manifest.h"
#include "pipeline.h"

static const SrcLoc L0 = {0, 0, 0, 0};

/* The layer: act(x @ W^T (+ b)), act relu, sigmoid, tanh or none (NO_ACT);
 * fuse: run passes/fuse.c. */
enum { NO_ACT = -1 };
typedef struct Dense {
    bool bias;
    int act; /* an IrUnaryFn, or NO_ACT */
    bool fuse;
} Dense;

static const Dense BIAS_FUSED = {true, NO_ACT, true};

typedef struct Product {
    Arena arena;
    Diag *diag;
    Jit *jit;
    IrModule *m;
    Dense d;
    int64_t n, k, n_params, w_at, b_at; /* offsets of W and b in params */
    float *params, *x;
} Product;

/* act(x @ W^T (+ b)) with W [n, k], x [B, k]. */
static IrValue *layer(IrFunc *f, IrValue *x, IrParam *w, IrParam *b, Dense d) {
    IrValue *h = ir_build_matmul(f, x, ir_build_param(f, w, L0), false, true, L0);
    if (d.bias) h = ir_build_binary(f, IR_OP_ADD, h, ir_build_param(f, b, L0), L0);
    return d.act != NO_ACT ? ir_build_unary(f, (IrUnaryFn)d.act, h, 0, L0) : h;
}

/* predict(x) = act(x @ W^T (+ b)) with W [n, k]; the train step's loss
 * is sum(predict(x)^2). */
static void product_new(Product *p, int64_t n, int64_t k, Dense d) {
    memset(p, 0, sizeof *p);
    p->diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    p->n = n;
    p->k = k;
    p->d = d;
    IrModule *m = p->m = ir_module_new(&p->arena, p->diag, "gemv");
    IrParam *w = ir_param_new(m, "w", ir_shape2(n, k), IR_INIT_ZEROS, k, n, L0);
    IrParam *b = ir_param_new(m, "b", ir_shape(1, &n), IR_INIT_ZEROS, k, n, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    f->output = layer(f, ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape2(IR_BATCH, k), L0), w, b, d);
    IrFunc *t = ir_func_new(m, IR_ENTRY_TRAIN);
    IrValue *y = layer(t, ir_build_input(t, IR_SLOT_X, IR_F32, ir_shape2(IR_BATCH, k), L0), w, b, d);
    t->loss = ir_build_reduce(t, IR_OP_SUM, ir_build_unary(t, IR_FN_SQUARE, y, 0, L0), 0, false, L0);
    PipelineOptions po = pipeline_options_default();
    po.fuse = d.fuse;
    p->jit = jit_compile_with(m, po);
    p->n_params = m->n_param_floats;
    p->w_at = w->offset;
    p->b_at = b->offset;
    p->params = calloc((size_t)p->n_params, sizeof(float));
    p->x = malloc(sizeof(float) * (size_t)(4 * k));
    cr_assert(p->params && p->x);
    for (int64_t i = 0; i < p->n_params; i++) p->params[i] = (float)sin(0.37 * (double)i) * 0.1f;
    for (int64_t i = 0; i < 4 * k; i++) p->x[i] = (float)cos(0.011 * (double)i);
}

static void product_free(Product *p) {
    free(p->params);
    free(p->x);
    jit_free(p->jit);
    diag_free(p->diag);
    arena_free(&p->arena);
}

/* predict on the first `batch` rows of x at `threads`; out gets batch * n. */
static void predict(const Product *p, int64_t batch, int threads, float *out) {
    const AairtModel *md = jit_model(p->jit);
    float *ar = jit_arena(p->jit, batch);
    aairt_set_threads(threads);
    AairtStepArgs a = {p->params, NULL, ar, p->x, NULL, out, NULL, NULL, batch};
    md->predict(&a);
    aairt_set_threads(1);
    free(ar);
}

/* Output r of row `row` in double precision. */
static double reference(const Product *p, int64_t row, int64_t r) {
    const float *w = p->params + p->w_at;
    double s = p->d.bias ? p->params[p->b_at + r] : 0;
    for (int64_t c = 0; c < p->k; c++) s += (double)p->x[row * p->k + c] * (double)w[r * p->k + c];
    switch (p->d.act) {
    case IR_FN_RELU: return s > 0 ? s : 0;
    case IR_FN_SIGMOID: return 1 / (1 + exp(-s));
    case IR_FN_TANH: return tanh(s);
    case IR_FN_GELU: return 0.5 * s * (1 + erf(s / sqrt(2.0)));
    default: return s;
    }
}

static void check_shape(int64_t n, int64_t k, Dense d) {
    Product p;
    product_new(&p, n, k, d);
    float *one = calloc((size_t)n, sizeof(float)), *three = calloc((size_t)n, sizeof(float));
    float *four = calloc((size_t)(4 * n), sizeof(float));
    cr_assert(one && three && four);
    predict(&p, 1, 1, one);
    predict(&p, 1, 3, three);
    predict(&p, 4, 1, four);
    cr_expect_eq(memcmp(one, three, sizeof(float) * (size_t)n), 0,
                 "n %lld k %lld: batch 1 differs between 1 and 3 threads", (long long)n,
                 (long long)k);
    for (int64_t r = 0; r < n; r++) {
        double want = reference(&p, 0, r);
        cr_expect(fabs((double)one[r] - want) <= 1e-5 * (1 + fabs(want)),
                  "n %lld k %lld row %lld: %g, reference %g", (long long)n, (long long)k,
                  (long long)r, (double)one[r], want);
        cr_expect(fabsf(one[r] - four[r]) <= 1e-5f * (1 + fabsf(four[r])),
                  "row %lld: batch 1 %g, batch 4 %g", (long long)r, (double)one[r],
                  (double)four[r]);
    }
    free(one), free(three), free(four);
    product_free(&p);
}

/* 130 x 300: 39,000 weight floats, split over the threads, 32 blocks of 4
 * rows plus 2 rows after them. */
Test(gemv, big_layer_split_over_threads) { check_shape(130, 300, BIAS_FUSED); }

/* 784 -> 256, the Fashion MLP's first layer: blocks only, no tail. */
Test(gemv, mlp_first_layer) { check_shape(256, 784, BIAS_FUSED); }

/* Small: one kernel, one thread, a remainder row. */
Test(gemv, small_layer_in_one_kernel) { check_shape(5, 8, BIAS_FUSED); }

/* The whole layer is one LINEAR in both entries: no add, no activation
 * left, the activation recorded on it; its gradient (train step) reads
 * the LINEAR's output. */
static void check_folded(const Product *p) {
    for (int e = 0; e < 2; e++) {
        const IrFunc *f = p->m->funcs[e ? IR_ENTRY_TRAIN : IR_ENTRY_PREDICT];
        cr_expect_eq(count_op(f, IR_OP_LINEAR), 1, "entry %d: one linear", e);
        cr_expect_eq(count_op(f, IR_OP_ADD), 0, "entry %d: the bias add folded", e);
        cr_expect_eq(count_op(f, IR_OP_UNARY), e ? 1 : 0,
                     "entry %d: activation folded (square stays)", e);
        for (size_t i = 0; i < f->values.len; i++) {
            const IrValue *v = f->values.items[i];
            if (v->dead) continue;
            if (v->op == IR_OP_UNARY_GRAD && (int)v->attr.fn == p->d.act) { /* x and y: the output */
                cr_expect_eq(v->in[0]->op, IR_OP_LINEAR);
                cr_expect_eq(v->in[1]->op, IR_OP_LINEAR);
            }
            if (v->op != IR_OP_LINEAR) continue;
            cr_expect_eq(v->n_in, p->d.bias ? 3 : 2);
            cr_expect_eq(v->attr.i[0], p->d.act != NO_ACT ? 1 : 0);
            if (p->d.act != NO_ACT) cr_expect_eq((int)v->attr.fn, p->d.act);
        }
    }
}

static const int ACTS[3] = {IR_FN_RELU, IR_FN_SIGMOID, IR_FN_TANH};

/* act(x @ W^T + b) and act(x @ W^T) for relu, sigmoid and tanh: right at
 * batch 1 (split over the threads and not) and batch 4 (sgemm, then the
 * bias and activation pass). */
Test(linear, bias_and_activation_fold_into_the_product) {
    const int64_t shapes[3][2] = {{130, 300}, {256, 784}, {5, 8}};
    for (int a = 0; a < 3; a++)
        for (int s = 0; s < 3; s++)
            for (int b = 0; b < 2; b++) {
                Dense d = {b == 1, ACTS[a], true};
                Product p;
                product_new(&p, shapes[s][0], shapes[s][1], d);
                check_folded(&p);
                product_free(&p);
                check_shape(shapes[s][0], shapes[s][1], d);
            }
}

/* gelu's gradient reads its input, so a gelu stays a separate op: the
 * product still becomes a LINEAR with the bias, not the activation. */
Test(linear, gelu_is_not_folded) {
    Product p;
    product_new(&p, 5, 8, (Dense){true, IR_FN_GELU, true});
    for (int e = 0; e < 2; e++) {
        const IrFunc *f = p.m->funcs[e ? IR_ENTRY_TRAIN : IR_ENTRY_PREDICT];
        cr_expect_eq(count_op(f, IR_OP_LINEAR), 1, "entry %d", e);
        cr_expect_eq(count_op(f, IR_OP_UNARY), e ? 2 : 1, "entry %d: gelu stays", e);
    }
    product_free(&p);
    check_shape(5, 8, (Dense){true, IR_FN_GELU, true});
}

/* One train step (lr 0: the gradients alone) at `threads`; returns the
 * loss, grads gets the gradients. */
static float train_grads(const Product *p, int64_t batch, float *grads) {
    const AairtModel *md = jit_model(p->jit);
    float *ar = jit_arena(p->jit, batch);
    float *params = malloc(sizeof(float) * (size_t)p->n_params), loss = 0;
    cr_assert(ar && params);
    memcpy(params, p->params, sizeof(float) * (size_t)p->n_params);
    memset(grads, 0, sizeof(float) * (size_t)p->n_params);
    AairtOptimizer opt = {.kind = AAIRT_OPT_SGD, .lr = 0.0f, .n = p->n_params};
    AairtStepArgs a = {params, grads, ar, p->x, NULL, NULL, &loss, &opt, batch};
    md->train_step(&a);
    free(ar), free(params);
    return loss;
}

/* Whether a and b (n floats) are equal: bit for bit when exact, else
 * within `rel` of each other (relative, plus as much absolute). */
static bool same(const float *a, const float *b, size_t n, bool exact, double rel) {
    if (exact) return memcmp(a, b, sizeof(float) * n) == 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - (double)b[i]) > rel * (1 + fabs((double)b[i]))) return false;
    return true;
}

/* predict (batch 1 at 1 and 3 threads, batch 4) and a train step of the
 * layer `d` folded against the unfused ops: the same bits for relu and no
 * activation. sigmoid and tanh go through libm, and a loop's vectorized
 * body calls glibc's vector variants where its remainder and the batch-1
 * kernel call the scalar functions (compiler/codegen_vecmath.c): those
 * agree to a few ULP, not bit for bit, depending on where an element
 * falls. */
static void check_same_answers(int64_t n, int64_t k, Dense d) {
    Dense u = d;
    u.fuse = false;
    Product fp, up;
    product_new(&fp, n, k, d);
    product_new(&up, n, k, u);
    cr_expect_eq(count_op(up.m->funcs[IR_ENTRY_PREDICT], IR_OP_LINEAR), 0);
    bool exact = d.act == NO_ACT || d.act == IR_FN_RELU;
    size_t np = (size_t)fp.n_params;
    float *a = calloc((size_t)(4 * n), sizeof(float)), *b = calloc((size_t)(4 * n), sizeof(float));
    float *ga = malloc(sizeof(float) * np), *gb = malloc(sizeof(float) * np);
    cr_assert(a && b && ga && gb && fp.n_params == up.n_params);
    const int64_t batch[3] = {1, 1, 4};
    const int threads[3] = {1, 3, 1};
    for (int r = 0; r < 3; r++) {
        predict(&fp, batch[r], threads[r], a);
        predict(&up, batch[r], threads[r], b);
        cr_expect(same(a, b, (size_t)(batch[r] * n), exact, 1e-6),
                  "n %lld bias %d act %d batch %lld threads %d: predictions differ",
                  (long long)n, d.bias, d.act, (long long)batch[r], threads[r]);
    }
    float la = train_grads(&fp, 4, ga), lb = train_grads(&up, 4, gb);
    cr_expect(same(&la, &lb, 1, exact, 1e-6), "loss %g vs %g", (double)la, (double)lb);
    cr_expect(same(ga, gb, np, exact, 1e-5), "n %lld bias %d act %d: gradients differ",
              (long long)n, d.bias, d.act);
    free(a), free(b), free(ga), free(gb);
    product_free(&fp);
    product_free(&up);
}

/* Folding changes no answer, with and without a bias, for no activation,
 * relu, sigmoid and tanh, with a weight split over the threads at batch 1
 * and one that is not. */
Test(linear, folding_changes_no_answer) {
    for (int bias = 0; bias < 2; bias++)
        for (int a = -1; a < 3; a++) {
            Dense d = {bias == 1, a < 0 ? NO_ACT : ACTS[a], true};
            check_same_answers(130, 300, d);
            check_same_answers(5, 8, d);
        }
}

/* FLOPs per row (manifest flops_per_sample / train_flops_per_sample):
 * predict is the product plus the folded bias add and relu; a train step
 * adds the weight gradient, one row's rank-1 share of x^T dy (not the
 * batch times it, nor a negative count from the symbolic batch), a few
 * element-wise ops per output, and no input gradient (x needs none). */
Test(linear, flops_per_row_of_predict_and_train) {
    const int64_t n = 130, k = 300;
    Product p;
    product_new(&p, n, k, (Dense){true, IR_FN_RELU, true});
    int64_t fwd = manifest_flops_per_sample(p.m->funcs[IR_ENTRY_PREDICT]);
    int64_t train = manifest_flops_per_sample(p.m->funcs[IR_ENTRY_TRAIN]);
    cr_expect_eq(fwd, 2 * n * k + 2 * n);
    cr_expect(train >= 4 * n * k + 2 * n && train <= 4 * n * k + 10 * n, "train %lld for %lld",
              (long long)train, (long long)(4 * n * k));
    product_free(&p);
}

/* An element-wise kernel cut over the threads gives the bits of one
 * uncut call: tanh over [B, 130] (130 floats a row, not a multiple of the
 * vector width) at batch 1000, on 1 and 3 threads. The cuts fall on
 * 16-float blocks (runtime/src/pool.c), so the kernel's vectorized body,
 * which calls glibc's vector tanhf, and its scalar remainder, which calls
 * tanhf, meet the same elements however the batch is cut. */
Test(rows, elementwise_answers_do_not_depend_on_the_thread_count) {
    enum { WIDTH = 130, BATCH = 1000 };
    Arena arena = {0};
    Diag *diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    IrModule *m = ir_module_new(&arena, diag, "rows");
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape2(IR_BATCH, WIDTH), L0);
    f->output = ir_build_unary(f, IR_FN_TANH, x, 0, L0);
    Jit *jit = jit_compile(m);
    const AairtModel *md = jit_model(jit);
    size_t n = (size_t)BATCH * WIDTH;
    float *in = malloc(n * sizeof *in), *one = malloc(n * sizeof *one);
    float *three = malloc(n * sizeof *three), param = 0;
    float *ar = jit_arena(jit, BATCH);
    cr_assert(in && one && three && ar);
    for (size_t i = 0; i < n; i++) in[i] = (float)sin(0.7 * (double)i) * 3.0f;
    for (int t = 0; t < 2; t++) {
        aairt_set_threads(t ? 3 : 1);
        AairtStepArgs a = {&param, NULL, ar, in, NULL, t ? three : one, NULL, NULL, BATCH};
        md->predict(&a);
    }
    aairt_set_threads(1);
    cr_expect_eq(memcmp(one, three, n * sizeof *one), 0, "tanh differs between 1 and 3 threads");
    for (size_t i = 0; i < n; i++)
        cr_expect(fabs((double)one[i] - tanh((double)in[i])) <= 4e-7, "element %zu: %g, tanh %g",
                  i, (double)one[i], tanh((double)in[i]));
    free(in), free(one), free(three), free(ar);
    jit_free(jit);
    diag_free(diag);
    arena_free(&arena);
}
