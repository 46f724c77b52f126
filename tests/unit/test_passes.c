/* test_passes.c - autodiff structure, constant folding, DCE, the memory
 * plan's invariants and the pipeline's dump/verify plumbing. Numerical
 * correctness of gradients is test_parity / test_gradcheck's job. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "passes.h"
#include "pipeline.h"

static Arena arena;
static Diag *diag;
static IrModule *mod;
static const SrcLoc L0 = {0, 0, 0, 0};

static void setup(void) {
    memset(&arena, 0, sizeof arena);
    diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    mod = ir_module_new(&arena, diag, "m");
}

static void teardown(void) {
    diag_free(diag);
    arena_free(&arena);
}

TestSuite(passes, .init = setup, .fini = teardown);

static IrShape S2(int64_t a, int64_t b) { return ir_shape2(a, b); }
static IrShape S1(int64_t a) { return ir_shape(1, &a); }

/* y = relu(x W^T + b); a train func with MSE and an unused parameter. */
static IrFunc *build_mlp(IrEntryKind kind) {
    IrParam *w = ir_param_find(mod, "w"), *b = ir_param_find(mod, "b");
    if (!w) {
        w = ir_param_new(mod, "w", S2(8, 4), IR_INIT_TORCH_DEFAULT, 4, 8, L0);
        b = ir_param_new(mod, "b", S1(8), IR_INIT_TORCH_DEFAULT, 4, 8, L0);
        ir_param_new(mod, "unused", S1(3), IR_INIT_ZEROS, 1, 1, L0);
    }
    IrFunc *f = ir_func_new(mod, kind);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, S2(IR_BATCH, 4), L0);
    IrValue *h = ir_build_matmul(f, x, ir_build_param(f, w, L0), false, true, L0);
    h = ir_build_binary(f, IR_OP_ADD, h, ir_build_param(f, b, L0), L0);
    h = ir_build_unary(f, IR_FN_RELU, h, 0, L0);
    if (kind == IR_ENTRY_PREDICT) {
        f->output = h;
    } else {
        IrValue *t = ir_build_input(f, IR_SLOT_Y, IR_F32, S2(IR_BATCH, 8), L0);
        f->loss = ir_build2(f, IR_OP_MSE, h, t, L0);
    }
    return f;
}

Test(passes, autodiff_sets_every_grad) {
    IrFunc *f = build_mlp(IR_ENTRY_TRAIN);
    pass_autodiff(mod);
    cr_assert_eq(diag_error_count(diag), 0);
    cr_assert(f->param_grads);
    cr_expect(f->optimizer_step);
    for (size_t i = 0; i < mod->params.len; i++) {
        IrParam *p = mod->params.items[i];
        IrValue *g = f->param_grads[i];
        cr_assert(g, "no grad for %s", p->name);
        cr_expect(ir_shape_eq(g->shape, p->shape), "grad shape of %s", p->name);
    }
    /* the unused parameter gets zeros */
    IrValue *gz = f->param_grads[2];
    cr_expect_eq(gz->op, IR_OP_BROADCAST);
    cr_expect_eq(gz->in[0]->op, IR_OP_CONST);
    cr_expect_eq(gz->in[0]->attr.f[0], 0.0);
    /* the weight gradient is a matmul with a transposed operand */
    cr_expect_eq(f->param_grads[0]->op, IR_OP_MATMUL);
    cr_expect(ir_verify_func(f, false, stderr));
}

Test(passes, autodiff_needs_a_loss) {
    IrFunc *f = ir_func_new(mod, IR_ENTRY_TRAIN);
    (void)f;
    pass_autodiff(mod);
    cr_expect_eq(diag_error_count(diag), 1);
}

Test(passes, fold_constants_and_identities) {
    IrFunc *f = ir_func_new(mod, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, S2(IR_BATCH, 3), L0);
    IrValue *two = ir_build_const(f, 2, L0), *three = ir_build_const(f, 3, L0);
    IrValue *six = ir_build_binary(f, IR_OP_MUL, two, three, L0);
    IrValue *e = ir_build_unary(f, IR_FN_EXP, ir_build_const(f, 0, L0), 0, L0); /* = 1 */
    IrValue *y = ir_build_binary(f, IR_OP_MUL, x, e, L0);                         /* x*1 */
    IrValue *z = ir_build_binary(f, IR_OP_ADD, y, ir_build_const(f, 0, L0), L0);  /* +0 */
    f->output = ir_build_binary(f, IR_OP_MUL, z, six, L0);
    pass_fold(mod);
    pass_dce(mod);
    cr_expect_eq(six->op, IR_OP_CONST);
    cr_expect_eq(six->attr.f[0], 6.0);
    cr_expect_eq(e->op, IR_OP_CONST);
    cr_expect_eq(f->output->in[0], x, "x*1+0 folds to x");
    cr_expect(y->dead);
    cr_expect(z->dead);
    cr_expect(!x->dead);
    cr_expect(ir_verify_func(f, false, stderr));
}

Test(passes, dce_marks_unreachable) {
    IrFunc *f = ir_func_new(mod, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, S2(IR_BATCH, 3), L0);
    IrValue *dead = ir_build_unary(f, IR_FN_EXP, x, 0, L0);
    IrValue *live = ir_build_unary(f, IR_FN_TANH, x, 0, L0);
    f->output = live;
    pass_dce(mod);
    cr_expect(dead->dead);
    cr_expect(!live->dead);
    cr_expect_eq(x->n_uses, 1);
}

/* No two arena buffers of one region overlap while both are live. */
static void check_plan(IrFunc *f) {
    size_t n = f->values.len;
    int *def = calloc((size_t)f->next_id, sizeof(int)), *last = calloc((size_t)f->next_id, sizeof(int));
    int pos = 0;
    for (size_t i = 0; i < n; i++) {
        IrValue *v = f->values.items[i];
        if (v->dead) continue;
        def[v->id] = last[v->id] = pos;
        for (int k = 0; k < v->n_in; k++) last[ir_value_root(v->in[k])->id] = pos;
        pos++;
    }
    for (size_t i = 0; i < n; i++) {
        IrValue *a = f->values.items[i];
        if (a->dead) continue;
        cr_expect_neq(a->store.kind, IR_STORE_UNPLANNED);
        if (a->store.kind != IR_STORE_ARENA) continue;
        bool ab = ir_shape_has_batch(a->shape);
        int64_t ao = ab ? a->store.row_offset : a->store.offset, as = ir_shape_row_elems(a->shape);
        cr_expect_eq(ao % 16, 0);
        cr_expect_leq(ao + as, ab ? f->arena_row_floats : f->arena_static_floats);
        for (size_t j = i + 1; j < n; j++) {
            IrValue *b = f->values.items[j];
            if (b->dead || b->store.kind != IR_STORE_ARENA || ir_shape_has_batch(b->shape) != ab)
                continue;
            bool live_together = def[b->id] <= last[a->id] && def[a->id] <= last[b->id];
            int64_t bo = ab ? b->store.row_offset : b->store.offset, bs = ir_shape_row_elems(b->shape);
            bool overlap = ao < bo + bs && bo < ao + as;
            cr_expect(!(live_together && overlap), "%%%d and %%%d share memory", a->id, b->id);
        }
    }
    free(def);
    free(last);
}

Test(passes, memplan_invariants) {
    build_mlp(IR_ENTRY_PREDICT);
    IrFunc *t = build_mlp(IR_ENTRY_TRAIN);
    PipelineOptions o = pipeline_options_default();
    o.verify = true;
    cr_assert(pipeline_run(mod, &o));
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (mod->funcs[k]) check_plan(mod->funcs[k]);
    cr_expect_eq(mod->funcs[IR_ENTRY_PREDICT]->output->store.kind, IR_STORE_SLOT);
    cr_expect_eq(mod->funcs[IR_ENTRY_PREDICT]->output->store.slot, IR_SLOT_OUT);
    cr_expect_eq(t->loss->store.slot, IR_SLOT_LOSS);
    for (size_t i = 0; i < mod->params.len; i++) {
        IrParam *p = mod->params.items[i];
        cr_expect_eq(t->param_grads[i]->store.kind, IR_STORE_GRAD);
        cr_expect_eq(t->param_grads[i]->store.offset, p->offset);
    }
    /* batch values are planned per row: the reuse makes the row region
     * smaller than the sum of all batch buffers */
    cr_expect_gt(t->arena_row_floats, 0);
}

Test(passes, memplan_copies_roots_it_cannot_own) {
    IrParam *w = ir_param_new(mod, "w", S2(2, 3), IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *f = ir_func_new(mod, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, S2(IR_BATCH, 6), L0);
    IrValue *r = ir_build_to_shape(f, IR_OP_RESHAPE, x, ir_shape(3, (int64_t[]){IR_BATCH, 2, 3}), L0);
    IrValue *r2 = ir_build_binary(f, IR_OP_ADD, r, ir_build_param(f, w, L0), L0);
    IrValue *back = ir_build_to_shape(f, IR_OP_RESHAPE, r2, S2(IR_BATCH, 6), L0);
    f->output = back; /* a view: must be copied into args->out */
    PipelineOptions o = pipeline_options_default();
    o.verify = true;
    o.autodiff = false;
    cr_assert(pipeline_run(mod, &o));
    cr_expect_eq(r->store.kind, IR_STORE_VIEW);
    cr_expect_eq(ir_value_root(r), x);
    cr_expect_eq(f->output->op, IR_OP_COPY);
    cr_expect_eq(f->output->in[0], back);
    cr_expect_eq(f->output->store.slot, IR_SLOT_OUT);
    check_plan(f);
}

Test(passes, memplan_copies_shared_grads) {
    /* loss = mse(a + b, t): both grads are the same value (dy) */
    IrParam *a = ir_param_new(mod, "a", S1(4), IR_INIT_ZEROS, 1, 1, L0);
    IrParam *b = ir_param_new(mod, "b", S1(4), IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *f = ir_func_new(mod, IR_ENTRY_TRAIN);
    IrValue *s = ir_build_binary(f, IR_OP_ADD, ir_build_param(f, a, L0), ir_build_param(f, b, L0), L0);
    IrValue *t = ir_build_input(f, IR_SLOT_Y, IR_F32, S1(4), L0);
    f->loss = ir_build2(f, IR_OP_MSE, s, t, L0);
    PipelineOptions o = pipeline_options_default();
    o.verify = true;
    cr_assert(pipeline_run(mod, &o));
    cr_expect_neq(f->param_grads[0], f->param_grads[1]);
    cr_expect_eq(f->param_grads[0]->store.kind, IR_STORE_GRAD);
    cr_expect_eq(f->param_grads[1]->store.kind, IR_STORE_GRAD);
}

Test(passes, pipeline_dump_after) {
    build_mlp(IR_ENTRY_TRAIN);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    PipelineOptions o = pipeline_options_default();
    o.dump_after = "autodiff";
    o.dump = out;
    cr_assert(pipeline_run(mod, &o));
    fclose(out);
    cr_expect(strstr(buf, "; after autodiff\n") != NULL);
    cr_expect(strstr(buf, "relu_grad(") != NULL);
    cr_expect(strstr(buf, "@arena") == NULL, "the dump comes before planning");
    free(buf);
    cr_expect(pipeline_has_pass("memplan"));
    cr_expect(pipeline_has_pass("all"));
    cr_expect(!pipeline_has_pass("nope"));
}

Test(passes, pipeline_stops_on_errors) {
    IrFunc *f = ir_func_new(mod, IR_ENTRY_TRAIN);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, S2(IR_BATCH, 3), L0);
    f->loss = x; /* not a scalar */
    cr_expect(!pipeline_run(mod, NULL));
    cr_expect_geq(diag_error_count(diag), 1);
}
