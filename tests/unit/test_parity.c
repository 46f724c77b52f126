/* test_parity.c - generated code against PyTorch reference tensors.
 *
 * For every fixture in the fixtures folder ($AAI_FIXTURES or the build's
 * default) whose `op` this file knows how to build, it builds a module
 * where each float tensor is a parameter, with a predict function
 * (output = y) and a train function (loss = sum(y * dy)), runs the full
 * pass pipeline (autodiff included), JIT-compiles it and compares y and
 * every grad.<name> within 1e-4 relative. Cases whose first tensor `x`
 * carries the batch run a second time with x and dy coming in through
 * args->x / args->y as [B, ...] inputs, to exercise batch-sized code.
 * train_mlp_adam replays five Adam training steps of a small MLP. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "ir.h"
#include "ir_compose.h"
#include "jit.h"
#include "jit_runtime.h"
#include "pipeline.h"
#include "st_read.h"

typedef struct Case Case;
typedef IrValue *(*BuildFn)(Case *c);

typedef struct CaseDef {
    const char *op;       /* __metadata__ "op" */
    BuildFn build;
    bool batchable;       /* x and dy may come in as [B, ...] inputs */
    IrUnaryFn fn;         /* unary cases */
    const char *alpha_key;
    double alpha;
} CaseDef;

struct Case {
    const CaseDef *def;
    StFile *st;
    IrModule *m;
    IrFunc *f;
    bool batch_mode;
    const char *file;
};

static const SrcLoc NOLOC = {0, 0, 0, 0};

static IrShape shape_of(const StTensor *t, bool batch) {
    IrShape s = ir_shape(t->rank, t->shape);
    if (batch && s.rank > 0) s.dims[0] = IR_BATCH;
    return s;
}

static bool is_streamed(const Case *c, const char *name) {
    return c->batch_mode && (strcmp(name, "x") == 0 || strcmp(name, "dy") == 0);
}

/* The tensor `name` as a value of the function being built. */
static IrValue *T(Case *c, const char *name) {
    const StTensor *t = st_get(c->st, name);
    if (is_streamed(c, name) && t)
        return ir_build_input(c->f, strcmp(name, "x") == 0 ? IR_SLOT_X : IR_SLOT_Y, IR_F32,
                              shape_of(t, true), NOLOC);
    IrParam *p = ir_param_find(c->m, name);
    cr_assert(p, "%s: no param %s", c->file, name);
    return ir_build_param(c->f, p, NOLOC);
}

static IrValue *bin(Case *c, IrOpKind op, IrValue *a, IrValue *b) {
    IrValue *v = ir_build_binary(c->f, op, a, b, NOLOC);
    cr_assert(v, "%s: binary op failed", c->file);
    return v;
}

static IrValue *un(Case *c, IrUnaryFn fn, IrValue *x, double alpha) {
    return ir_build_unary(c->f, fn, x, alpha, NOLOC);
}

/* ---- case builders ---------------------------------------------------- */

static IrValue *b_linear(Case *c) {
    IrValue *h = ir_build_matmul(c->f, T(c, "x"), T(c, "weight"), false, true, NOLOC);
    return bin(c, IR_OP_ADD, h, T(c, "bias"));
}

static IrValue *b_matmul(Case *c) {
    return ir_build_matmul(c->f, T(c, "a"), T(c, "b"), false, false, NOLOC);
}

static IrValue *b_transpose(Case *c) { /* x^T = matmul(x^T, I) */
    return ir_build_matmul(c->f, T(c, "x"), T(c, "eye"), true, false, NOLOC);
}

static IrValue *b_unary(Case *c) {
    double alpha = c->def->alpha;
    const char *s = c->def->alpha_key ? st_meta(c->st, c->def->alpha_key) : NULL;
    if (s) alpha = atof(s);
    return un(c, c->def->fn, T(c, "x"), alpha);
}

static IrValue *b_softmax(Case *c) { return ir_build1(c->f, IR_OP_SOFTMAX, T(c, "x"), NOLOC); }
static IrValue *b_log_softmax(Case *c) { return ir_build1(c->f, IR_OP_LOG_SOFTMAX, T(c, "x"), NOLOC); }

static IrValue *b_cross_entropy(Case *c) {
    return ir_build2(c->f, IR_OP_CROSS_ENTROPY, T(c, "logits"), T(c, "target"), NOLOC);
}
static IrValue *b_mse(Case *c) { return ir_build2(c->f, IR_OP_MSE, T(c, "x"), T(c, "target"), NOLOC); }
static IrValue *b_bce(Case *c) {
    return ir_build2(c->f, IR_OP_BCE_LOGITS, T(c, "x"), T(c, "target"), NOLOC);
}

/* log(exp(x) + 1) + sqrt(x*x + 1) */
static IrValue *b_exp_log_sqrt(Case *c) {
    IrValue *x = T(c, "x");
    IrValue *one = ir_build_const(c->f, 1.0, NOLOC);
    IrValue *a = un(c, IR_FN_LOG, bin(c, IR_OP_ADD, un(c, IR_FN_EXP, x, 0), one), 0);
    IrValue *b = un(c, IR_FN_SQRT, bin(c, IR_OP_ADD, bin(c, IR_OP_MUL, x, x), one), 0);
    return bin(c, IR_OP_ADD, a, b);
}

/* (a + b) * c */
static IrValue *b_broadcast_add_mul(Case *c) {
    return bin(c, IR_OP_MUL, bin(c, IR_OP_ADD, T(c, "a"), T(c, "b")), T(c, "c"));
}

static IrValue *b_sum_rows(Case *c) {
    const char *d = st_meta(c->st, "dim");
    int axis = d ? atoi(d) : 1;
    return ir_build_reduce(c->f, IR_OP_SUM, T(c, "x"), 1u << axis, false, NOLOC);
}

static IrValue *b_mean_all(Case *c) {
    return ir_build_reduce(c->f, IR_OP_MEAN, T(c, "x"), 0, false, NOLOC);
}

/* ---- layer ops: the builders lowering uses (ir_compose.c) ------------- */

static int64_t meta_int(Case *c, const char *key, int64_t fallback) {
    const char *s = st_meta(c->st, key);
    return s ? atoll(s) : fallback;
}

static double meta_num(Case *c, const char *key, double fallback) {
    const char *s = st_meta(c->st, key);
    return s ? atof(s) : fallback;
}

static IrValue *b_conv2d(Case *c) {
    return ir_conv2d(c->f, T(c, "x"), T(c, "weight"), T(c, "bias"), meta_int(c, "stride", 1),
                     meta_int(c, "padding", 0), meta_int(c, "dilation", 1), meta_int(c, "groups", 1),
                     NOLOC);
}

static IrValue *b_pool(Case *c) {
    int64_t k = meta_int(c, "kernel", 2);
    return ir_pool2d(c->f, T(c, "x"), k, meta_int(c, "stride", k), meta_int(c, "padding", 0),
                     strcmp(c->def->op, "avg_pool2d") == 0, NOLOC);
}

static IrValue *b_global_avg_pool(Case *c) {
    return ir_build_reduce(c->f, IR_OP_MEAN, T(c, "x"), 0xcu, false, NOLOC);
}

static IrValue *b_batch_norm_train(Case *c) {
    return ir_batch_norm_train(c->f, T(c, "x"), T(c, "weight"), T(c, "bias"),
                               meta_num(c, "eps", 1e-5), NULL, NULL, NOLOC);
}

static IrValue *b_layer_norm(Case *c) {
    return ir_layer_norm(c->f, T(c, "x"), T(c, "weight"), T(c, "bias"), meta_num(c, "eps", 1e-5),
                         NOLOC);
}

static IrValue *b_embedding(Case *c) {
    return ir_build2(c->f, IR_OP_EMBEDDING, T(c, "indices"), T(c, "weight"), NOLOC);
}

static IrValue *b_attention(Case *c) {
    return ir_attention(c->f, T(c, "q"), T(c, "k"), T(c, "v"), NOLOC);
}

static IrValue *b_concat(Case *c) {
    IrValue *xs[2] = {T(c, "a"), T(c, "b")};
    return ir_concat(c->f, xs, 2, (int)meta_int(c, "dim", 1), NOLOC);
}

static IrValue *b_lstm(Case *c) {
    return ir_lstm(c->f, T(c, "x"), T(c, "w_ih"), T(c, "w_hh"), T(c, "b_ih"), T(c, "b_hh"), true,
                   NOLOC);
}

static const CaseDef case_defs[] = {
    {"conv2d", b_conv2d, true, 0, NULL, 0},
    {"max_pool2d", b_pool, true, 0, NULL, 0},
    {"avg_pool2d", b_pool, true, 0, NULL, 0},
    {"global_avg_pool", b_global_avg_pool, true, 0, NULL, 0},
    {"batch_norm_train", b_batch_norm_train, true, 0, NULL, 0},
    {"layer_norm", b_layer_norm, true, 0, NULL, 0},
    {"embedding", b_embedding, false, 0, NULL, 0},
    {"attention", b_attention, false, 0, NULL, 0},
    {"concat", b_concat, false, 0, NULL, 0},
    {"lstm", b_lstm, true, 0, NULL, 0},
    {"linear", b_linear, true, 0, NULL, 0},
    {"matmul", b_matmul, false, 0, NULL, 0},
    {"transpose", b_transpose, false, 0, NULL, 0},
    {"relu", b_unary, true, IR_FN_RELU, NULL, 0},
    {"sigmoid", b_unary, true, IR_FN_SIGMOID, NULL, 0},
    {"tanh", b_unary, true, IR_FN_TANH, NULL, 0},
    {"elu", b_unary, true, IR_FN_ELU, "alpha", 1.0},
    {"softplus", b_unary, true, IR_FN_SOFTPLUS, NULL, 0},
    {"silu", b_unary, true, IR_FN_SILU, NULL, 0},
    {"gelu_erf", b_unary, true, IR_FN_GELU, NULL, 0},
    {"gelu_tanh", b_unary, true, IR_FN_GELU_TANH, NULL, 0},
    {"leaky_relu", b_unary, true, IR_FN_LEAKY_RELU, "negative_slope", 0.01},
    {"softmax", b_softmax, true, 0, NULL, 0},
    {"log_softmax", b_log_softmax, true, 0, NULL, 0},
    {"cross_entropy", b_cross_entropy, false, 0, NULL, 0},
    {"mse_loss", b_mse, false, 0, NULL, 0},
    {"bce_with_logits", b_bce, false, 0, NULL, 0},
    {"exp_log_sqrt", b_exp_log_sqrt, true, 0, NULL, 0},
    {"broadcast_add_mul", b_broadcast_add_mul, false, 0, NULL, 0},
    {"sum_rows", b_sum_rows, true, 0, NULL, 0},
    {"mean_all", b_mean_all, false, 0, NULL, 0},
};

static const CaseDef *find_def(const char *op) {
    if (!op) return NULL;
    for (size_t i = 0; i < sizeof case_defs / sizeof case_defs[0]; i++)
        if (strcmp(case_defs[i].op, op) == 0) return &case_defs[i];
    return NULL;
}

/* ---- running ------------------------------------------------------------ */

static bool close_enough(float a, float b) {
    return fabsf(a - b) <= 1e-4f * fmaxf(1.0f, fabsf(b));
}

static int compare(const char *file, const char *what, const float *got, const float *want,
                   int64_t n) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!close_enough(got[i], want[i]) || isnan(got[i])) {
            if (bad < 5)
                cr_log_error("%s: %s[%lld] = %.8g, want %.8g", file, what, (long long)i,
                             (double)got[i], (double)want[i]);
            bad++;
        }
    return bad;
}

static Jit *jit_or_fail(IrModule *m) {
    char *err = NULL;
    Jit *j = jit_new(m, NULL, jit_runtime, JIT_RUNTIME_COUNT, &err);
    cr_assert(j, "JIT failed: %s", err ? err : "?");
    return j;
}

static bool is_param_tensor(const Case *c, const char *name) {
    return strcmp(name, "y") != 0 && strncmp(name, "grad.", 5) != 0 && !is_streamed(c, name);
}

typedef struct ParityParam {
    char file[512];
    bool batch;
} ParityParam;

static void run_case(const ParityParam *pp) {
    Case c = {0};
    c.file = pp->file;
    c.batch_mode = pp->batch;
    c.st = st_open(pp->file);
    cr_assert(c.st, "cannot read %s", pp->file);
    c.def = find_def(st_meta(c.st, "op"));
    cr_assert(c.def);
    Arena arena = {0};
    Diag *diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    c.m = ir_module_new(&arena, diag, c.def->op);
    for (int i = 0; i < c.st->n; i++) {
        const StTensor *t = &c.st->tensors[i];
        if (is_param_tensor(&c, t->name))
            ir_param_new(c.m, t->name, shape_of(t, false), IR_INIT_ZEROS, 1, 1, NOLOC);
    }
    const StTensor *x = st_get(c.st, "x");
    if (strcmp(c.def->op, "transpose") == 0) /* identity [rows, rows] */
        ir_param_new(c.m, "eye", ir_shape2(x->shape[0], x->shape[0]), IR_INIT_ZEROS, 1, 1, NOLOC);

    c.f = ir_func_new(c.m, IR_ENTRY_PREDICT);
    c.f->output = c.def->build(&c);
    cr_assert(c.f->output, "%s: building y failed", pp->file);
    c.f = ir_func_new(c.m, IR_ENTRY_TRAIN);
    IrValue *y = c.def->build(&c);
    cr_assert(y);
    IrValue *prod = bin(&c, IR_OP_MUL, y, T(&c, "dy"));
    c.f->loss = ir_build_reduce(c.f, IR_OP_SUM, prod, 0, false, NOLOC);
    cr_assert(c.f->loss);

    PipelineOptions po = pipeline_options_default();
    po.verify = true;
    cr_assert(pipeline_run(c.m, &po), "%s: pipeline failed", pp->file);
    c.m->funcs[IR_ENTRY_TRAIN]->optimizer_step = false;
    Jit *j = jit_or_fail(c.m);

    int64_t batch = c.batch_mode ? x->shape[0] : 1;
    const AairtModel *md = jit_model(j);
    cr_assert_eq(md->n_param_floats, c.m->n_param_floats);
    float *params = calloc((size_t)c.m->n_param_floats + 1, sizeof(float));
    float *grads = calloc((size_t)c.m->n_param_floats + 1, sizeof(float));
    float *arena_buf = jit_arena(j, batch);
    for (size_t i = 0; i < c.m->params.len; i++) {
        IrParam *p = c.m->params.items[i];
        const StTensor *t = st_get(c.st, p->name);
        if (t) memcpy(params + p->offset, t->data, (size_t)t->n * sizeof(float));
        else /* eye */
            for (int64_t r = 0; r < p->shape.dims[0]; r++) params[p->offset + r * p->shape.dims[0] + r] = 1;
    }
    const StTensor *ty = st_get(c.st, "y"), *tdy = st_get(c.st, "dy");
    float *out = calloc((size_t)ty->n + 1, sizeof(float));
    float loss = NAN;
    AairtStepArgs args = {params, grads, arena_buf, x ? x->data : NULL, tdy->data, out, &loss, NULL, batch};
    jit_entry(j, IR_ENTRY_PREDICT)(&args);
    int bad = compare(pp->file, "y", out, ty->data, ty->n);
    jit_entry(j, IR_ENTRY_TRAIN)(&args);
    cr_expect(isfinite(loss), "%s: loss is %g", pp->file, (double)loss);
    int n_grads = 0;
    for (int i = 0; i < c.st->n; i++) {
        const StTensor *g = &c.st->tensors[i];
        if (strncmp(g->name, "grad.", 5) != 0) continue;
        IrParam *p = ir_param_find(c.m, g->name + 5);
        if (!p) continue; /* streamed in as an input: no gradient */
        cr_assert_eq(p->size, g->n);
        bad += compare(pp->file, g->name, grads + p->offset, g->data, g->n);
        n_grads++;
    }
    cr_expect(n_grads > 0 || c.batch_mode, "%s: no gradients compared", pp->file);
    cr_expect_eq(bad, 0, "%s%s: %d mismatches", pp->file, c.batch_mode ? " (batched)" : "", bad);
    free(out);
    free(params);
    free(grads);
    free(arena_buf);
    jit_free(j);
    st_close(c.st);
    diag_free(diag);
    arena_free(&arena);
}

static void free_params(struct criterion_test_params *crp) { cr_free(crp->params); }

ParameterizedTestParameters(parity, op) {
    const char *dir = st_fixtures_dir();
    ParityParam *ps = cr_malloc(sizeof(ParityParam) * 256);
    size_t n = 0;
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n_names = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors") != 0) continue;
        names = realloc(names, (n_names + 1) * sizeof *names);
        names[n_names++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    for (size_t a = 0; a < n_names; a++) /* sorted: stable test numbering */
        for (size_t b = a + 1; b < n_names; b++)
            if (strcmp(names[a], names[b]) > 0) {
                char *t = names[a];
                names[a] = names[b];
                names[b] = t;
            }
    for (size_t i = 0; i < n_names && n + 2 <= 256; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        StFile *st = st_open(path);
        const CaseDef *def = st ? find_def(st_meta(st, "op")) : NULL;
        if (def) {
            snprintf(ps[n].file, sizeof ps[n].file, "%s", path);
            ps[n++].batch = false;
            const StTensor *x = st_get(st, "x"), *dy = st_get(st, "dy");
            if (def->batchable && x && dy && x->rank >= 1 && dy->rank >= 1 &&
                x->shape[0] == dy->shape[0]) {
                snprintf(ps[n].file, sizeof ps[n].file, "%s", path);
                ps[n++].batch = true;
            }
        }
        st_close(st);
        free(names[i]);
    }
    free(names);
    return cr_make_param_array(ParityParam, ps, n, free_params);
}

ParameterizedTest(ParityParam *pp, parity, op) { run_case(pp); }

/* ---- training --------------------------------------------------------- */

Test(parity, train_mlp_adam) {
    char path[512];
    snprintf(path, sizeof path, "%s/train_mlp_adam.safetensors", st_fixtures_dir());
    FILE *probe = fopen(path, "rb");
    if (!probe) cr_skip_test("no %s", path);
    fclose(probe);
    StFile *st = st_open(path);
    cr_assert(st);
    Arena arena = {0};
    Diag *diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    IrModule *m = ir_module_new(&arena, diag, "mlp");
    const char *names[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    IrParam *ps[4];
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "init.%s", names[i]);
        const StTensor *t = st_get(st, key);
        cr_assert(t);
        ps[i] = ir_param_new(m, names[i], shape_of(t, false), IR_INIT_TORCH_DEFAULT, 1, 1, NOLOC);
    }
    const StTensor *x0 = st_get(st, "batch0.x");
    int64_t d_in = x0->shape[1], n_rows = x0->shape[0];
    for (int k = IR_ENTRY_PREDICT; k <= IR_ENTRY_TRAIN; k++) {
        IrFunc *f = ir_func_new(m, (IrEntryKind)k);
        IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape2(IR_BATCH, d_in), NOLOC);
        IrValue *h = ir_build_matmul(f, x, ir_build_param(f, ps[0], NOLOC), false, true, NOLOC);
        h = ir_build_binary(f, IR_OP_ADD, h, ir_build_param(f, ps[1], NOLOC), NOLOC);
        h = ir_build_unary(f, IR_FN_RELU, h, 0, NOLOC);
        IrValue *o = ir_build_matmul(f, h, ir_build_param(f, ps[2], NOLOC), false, true, NOLOC);
        o = ir_build_binary(f, IR_OP_ADD, o, ir_build_param(f, ps[3], NOLOC), NOLOC);
        cr_assert(o);
        if (k == IR_ENTRY_PREDICT) {
            f->output = o;
        } else {
            IrValue *lab = ir_build_input(f, IR_SLOT_Y, IR_F32, ir_shape2(IR_BATCH, 1), NOLOC);
            f->loss = ir_build2(f, IR_OP_CROSS_ENTROPY, o, lab, NOLOC);
        }
    }
    PipelineOptions po = pipeline_options_default();
    po.verify = true;
    cr_assert(pipeline_run(m, &po));
    cr_assert(m->funcs[IR_ENTRY_TRAIN]->optimizer_step);
    Jit *j = jit_or_fail(m);
    int64_t np = m->n_param_floats;
    float *params = calloc((size_t)np, sizeof(float));
    float *grads = calloc((size_t)np, sizeof(float));
    float *mom = calloc((size_t)np, sizeof(float));
    float *vel = calloc((size_t)np, sizeof(float));
    float *arena_buf = jit_arena(j, n_rows);
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "init.%s", names[i]);
        const StTensor *t = st_get(st, key);
        memcpy(params + ps[i]->offset, t->data, (size_t)t->n * sizeof(float));
    }
    AairtOptimizer opt = {.kind = AAIRT_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                          .eps = 1e-8f, .n = np, .m = mom, .v = vel};
    const StTensor *losses = st_get(st, "losses");
    int bad = 0;
    for (int s = 0; s < 5; s++) {
        char kx[32], ky[32];
        snprintf(kx, sizeof kx, "batch%d.x", s);
        snprintf(ky, sizeof ky, "batch%d.y", s);
        const StTensor *bx = st_get(st, kx), *by = st_get(st, ky);
        cr_assert(bx && by);
        float loss = NAN;
        AairtStepArgs args = {params, grads, arena_buf, bx->data, by->data, NULL, &loss, &opt, bx->shape[0]};
        jit_entry(j, IR_ENTRY_TRAIN)(&args);
        if (losses) bad += compare(path, "losses", &loss, &losses->data[s], 1);
    }
    cr_expect_eq(opt.step, 5);
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "final.%s", names[i]);
        const StTensor *t = st_get(st, key);
        cr_assert(t);
        bad += compare(path, key, params + ps[i]->offset, t->data, t->n);
    }
    cr_expect_eq(bad, 0, "train_mlp_adam: %d mismatches", bad);
    free(params);
    free(grads);
    free(mom);
    free(vel);
    free(arena_buf);
    jit_free(j);
    st_close(st);
    diag_free(diag);
    arena_free(&arena);
}
