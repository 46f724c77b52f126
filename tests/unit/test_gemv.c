/* test_gemv.c - batch-1 matrix products (compiler/codegen_gemv.c).
 *
 * At batch 1, `x @ W^T` runs as a generated matrix-vector kernel instead of
 * sgemm; when W is big it is cut into blocks of rows that the runtime's
 * threads share. Checked here: the answer against a double-precision
 * reference and against the batch-N (sgemm) path, bit-for-bit equality
 * between 1 and 3 threads, and the rows after the last whole block. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "ir.h"
#include "jit.h"
#include "jit_runtime.h"
#include "pipeline.h"

static const SrcLoc L0 = {0, 0, 0, 0};

typedef struct Product {
    Arena arena;
    Diag *diag;
    Jit *jit;
    int64_t n, k, n_params, w_at, b_at; /* offsets of W and b in params */
    float *params, *x;
} Product;

/* predict(x) = x @ W^T + b with W [n, k]. */
static void product_new(Product *p, int64_t n, int64_t k) {
    memset(p, 0, sizeof *p);
    p->diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    p->n = n;
    p->k = k;
    IrModule *m = ir_module_new(&p->arena, p->diag, "gemv");
    IrParam *w = ir_param_new(m, "w", ir_shape2(n, k), IR_INIT_ZEROS, k, n, L0);
    IrParam *b = ir_param_new(m, "b", ir_shape(1, &n), IR_INIT_ZEROS, k, n, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape2(IR_BATCH, k), L0);
    IrValue *h = ir_build_matmul(f, x, ir_build_param(f, w, L0), false, true, L0);
    f->output = ir_build_binary(f, IR_OP_ADD, h, ir_build_param(f, b, L0), L0);
    PipelineOptions po = pipeline_options_default();
    po.verify = true;
    cr_assert(pipeline_run(m, &po), "pipeline failed");
    char *err = NULL;
    p->jit = jit_new(m, NULL, jit_runtime, JIT_RUNTIME_COUNT, &err);
    cr_assert(p->jit, "JIT: %s", err ? err : "?");
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
    float *ar = calloc((size_t)(md->arena_static_floats + md->arena_row_floats * batch) + 1,
                       sizeof(float));
    cr_assert(ar);
    aairt_set_threads(threads);
    AairtStepArgs a = {p->params, NULL, ar, p->x, NULL, out, NULL, NULL, batch};
    md->predict(&a);
    aairt_set_threads(1);
    free(ar);
}

/* Output r of row `row` in double precision. */
static double reference(const Product *p, int64_t row, int64_t r) {
    const float *w = p->params + p->w_at;
    double s = p->params[p->b_at + r];
    for (int64_t c = 0; c < p->k; c++) s += (double)p->x[row * p->k + c] * (double)w[r * p->k + c];
    return s;
}

static void check_shape(int64_t n, int64_t k) {
    Product p;
    product_new(&p, n, k);
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
Test(gemv, big_layer_split_over_threads) { check_shape(130, 300); }

/* 784 -> 256, the Fashion MLP's first layer: blocks only, no tail. */
Test(gemv, mlp_first_layer) { check_shape(256, 784); }

/* Small: one kernel, one thread, a remainder row. */
Test(gemv, small_layer_in_one_kernel) { check_shape(5, 8); }
