/* test_ir.c - the IR: op table, shapes, builders, shape rules and their
 * diagnostics, the printer's golden text, the verifier. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "passes.h"

typedef struct Captured {
    int n;
    char msg[8][256];
    SrcLoc loc[8];
} Captured;

static void capture(void *user, DiagLevel level, const char *path, SrcLoc loc, const char *message,
                    const char *source_line) {
    (void)level;
    (void)path;
    (void)source_line;
    Captured *c = user;
    if (c->n < 8) {
        snprintf(c->msg[c->n], sizeof c->msg[0], "%s", message);
        c->loc[c->n] = loc;
    }
    c->n++;
}

static Arena arena;
static Diag *diag;
static Captured cap;
static IrModule *mod;
static IrFunc *fn;
static const SrcLoc L0 = {0, 0, 0, 0};

static void setup(void) {
    memset(&arena, 0, sizeof arena);
    memset(&cap, 0, sizeof cap);
    diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    diag_set_sink(diag, capture, &cap);
    mod = ir_module_new(&arena, diag, "m");
    fn = ir_func_new(mod, IR_ENTRY_PREDICT);
}

static void teardown(void) {
    diag_free(diag);
    arena_free(&arena);
}

TestSuite(ir, .init = setup, .fini = teardown);

static IrShape S(int rank, int64_t d0, int64_t d1, int64_t d2) {
    int64_t d[3] = {d0, d1, d2};
    return ir_shape(rank, d);
}

static IrValue *input(IrShape s) { return ir_build_input(fn, IR_SLOT_X, IR_F32, s, L0); }

static IrValue *param(const char *name, IrShape s) {
    return ir_build_param(fn, ir_param_new(mod, name, s, IR_INIT_ZEROS, 1, 1, L0), L0);
}

static const char *str(IrShape s) {
    static char buf[4][96];
    static int k;
    k = (k + 1) % 4;
    return ir_shape_str(s, buf[k], sizeof buf[k]);
}

Test(ir, op_table) {
    cr_expect_str_eq(ir_op_name(IR_OP_MATMUL), "matmul");
    cr_expect_eq(ir_op_arity(IR_OP_MATMUL), 2);
    cr_expect_eq(ir_op_arity(IR_OP_UNARY_GRAD), 3);
    cr_expect_str_eq(ir_unary_name(IR_FN_GELU_TANH), "gelu_tanh");
    cr_expect_str_eq(ir_init_name(IR_INIT_TORCH_DEFAULT), "torch_default");
    cr_expect_str_eq(ir_entry_name(IR_ENTRY_TRAIN), "train_step");
    for (int op = 0; op < IR_OP_COUNT; op++) cr_expect_neq(ir_op_name((IrOpKind)op)[0], '?');
}

Test(ir, shapes) {
    cr_expect_str_eq(str(S(2, IR_BATCH, 16, 0)), "[B,16]");
    cr_expect_str_eq(str(S(0, 0, 0, 0)), "[]");
    cr_expect_eq(ir_shape_row_elems(S(3, IR_BATCH, 3, 4)), 12);
    cr_expect_eq(ir_shape_elems_static(S(2, 3, 4, 0)), 12);
    cr_expect(ir_shape_has_batch(S(1, IR_BATCH, 0, 0)));
    cr_expect(!ir_shape_has_batch(S(0, 0, 0, 0)));
}

Test(ir, param_offsets_aligned) {
    IrParam *a = ir_param_new(mod, "a", S(2, 3, 5, 0), IR_INIT_ZEROS, 5, 3, L0);
    IrParam *b = ir_param_new(mod, "b", S(1, 3, 0, 0), IR_INIT_ZEROS, 5, 3, L0);
    IrParam *c = ir_param_new(mod, "c", S(1, 16, 0, 0), IR_INIT_ZEROS, 5, 3, L0);
    cr_expect_eq(a->offset, 0);
    cr_expect_eq(b->offset, 16);
    cr_expect_eq(c->offset, 32);
    cr_expect_eq(mod->n_param_floats, 48);
    cr_expect_eq(ir_param_find(mod, "b"), b);
    cr_expect_null(ir_param_find(mod, "zz"));
    cr_expect_eq(c->index, 2);
}

Test(ir, matmul_shapes) {
    IrValue *x = input(S(2, IR_BATCH, 4, 0));
    IrValue *w = param("w", S(2, 16, 4, 0));
    IrValue *y = ir_build_matmul(fn, x, w, false, true, L0);
    cr_assert(y);
    cr_expect_str_eq(str(y->shape), "[B,16]");
    /* weight gradient: [B,K]^T x [B,N] -> [K,N], static */
    IrValue *g = ir_build_matmul(fn, x, y, true, false, L0);
    cr_assert(g);
    cr_expect_str_eq(str(g->shape), "[4,16]");
    cr_expect_eq(cap.n, 0);
}

Test(ir, matmul_error_has_position_and_shapes) {
    IrValue *x = input(S(2, IR_BATCH, 4, 0));
    IrValue *w = param("w", S(2, 8, 16, 0));
    SrcLoc at = {1, 3, 5, 6};
    cr_expect_null(ir_build_matmul(fn, x, w, false, false, at));
    cr_assert_eq(cap.n, 1);
    cr_expect_str_eq(cap.msg[0], "matmul: inner dimensions differ: [B,4] x [8,16]");
    cr_expect_eq(cap.loc[0].line, 3);
    cr_expect_eq(cap.loc[0].col, 5);
    /* the batch can't become a column */
    cr_expect_null(ir_build_matmul(fn, w, x, true, true, at));
    cr_expect_eq(cap.n, 2);
    /* a failed value is not appended; later builders just propagate NULL */
    size_t n = fn->values.len;
    cr_expect_null(ir_build_unary(fn, IR_FN_RELU, NULL, 0, at));
    cr_expect_eq(fn->values.len, n);
    cr_expect_eq(cap.n, 2);
}

Test(ir, broadcasting) {
    IrValue *a = input(S(2, IR_BATCH, 5, 0));
    IrValue *b = param("b", S(1, 5, 0, 0));
    IrValue *c = param("c", S(2, 4, 1, 0));
    IrValue *s = ir_build_const(fn, 2.0, L0);
    cr_expect_str_eq(str(ir_build_binary(fn, IR_OP_ADD, a, b, L0)->shape), "[B,5]");
    cr_expect_str_eq(str(ir_build_binary(fn, IR_OP_MUL, c, b, L0)->shape), "[4,5]");
    cr_expect_str_eq(str(ir_build_binary(fn, IR_OP_DIV, s, a, L0)->shape), "[B,5]");
    cr_expect_str_eq(str(ir_build_binary(fn, IR_OP_SUB, s, s, L0)->shape), "[]");
    cr_expect_eq(cap.n, 0);
    IrValue *d = param("d", S(1, 4, 0, 0));
    cr_expect_null(ir_build_binary(fn, IR_OP_ADD, a, d, L0));
    cr_assert_eq(cap.n, 1);
    cr_expect_str_eq(cap.msg[0], "add: shapes do not broadcast: [B,5] and [4]");
    /* B against a static size is an error, not a broadcast */
    cr_expect_null(ir_build_binary(fn, IR_OP_ADD, a, c, L0));
    cr_expect_eq(cap.n, 2);
}

Test(ir, reductions) {
    IrValue *x = input(S(2, IR_BATCH, 5, 0));
    cr_expect_str_eq(str(ir_build_reduce(fn, IR_OP_SUM, x, 1u << 1, false, L0)->shape), "[B]");
    cr_expect_str_eq(str(ir_build_reduce(fn, IR_OP_SUM, x, 1u << 1, true, L0)->shape), "[B,1]");
    cr_expect_str_eq(str(ir_build_reduce(fn, IR_OP_MEAN, x, 1u << 0, false, L0)->shape), "[5]");
    cr_expect_str_eq(str(ir_build_reduce(fn, IR_OP_MEAN, x, 0, false, L0)->shape), "[]");
    cr_expect_str_eq(str(ir_build_reduce(fn, IR_OP_SUM, x, 3, true, L0)->shape), "[1,1]");
    cr_expect_null(ir_build_reduce(fn, IR_OP_SUM, x, 1u << 2, false, L0));
    cr_expect_eq(cap.n, 1);
}

Test(ir, reshape_sum_to_broadcast) {
    IrValue *x = input(S(3, IR_BATCH, 2, 3));
    cr_expect_str_eq(str(ir_build_to_shape(fn, IR_OP_RESHAPE, x, S(2, IR_BATCH, 6, 0), L0)->shape),
                     "[B,6]");
    cr_expect_null(ir_build_to_shape(fn, IR_OP_RESHAPE, x, S(2, IR_BATCH, 4, 0), L0));
    cr_assert_eq(cap.n, 1);
    cr_expect_str_eq(cap.msg[0], "reshape: element counts differ per batch row: [B,2,3] to [B,4]");
    cr_expect_null(ir_build_to_shape(fn, IR_OP_RESHAPE, x, S(1, 6, 0, 0), L0));
    cr_expect_eq(cap.n, 2);
    cr_expect_str_eq(str(ir_build_to_shape(fn, IR_OP_SUM_TO, x, S(1, 3, 0, 0), L0)->shape), "[3]");
    cr_expect_str_eq(str(ir_build_to_shape(fn, IR_OP_SUM_TO, x, S(2, 2, 1, 0), L0)->shape), "[2,1]");
    cr_expect_null(ir_build_to_shape(fn, IR_OP_SUM_TO, x, S(1, 4, 0, 0), L0));
    IrValue *b = param("b", S(1, 3, 0, 0));
    cr_expect_str_eq(str(ir_build_to_shape(fn, IR_OP_BROADCAST, b, S(2, IR_BATCH, 3, 0), L0)->shape),
                     "[B,3]");
    cr_expect_null(ir_build_to_shape(fn, IR_OP_BROADCAST, b, S(2, IR_BATCH, 4, 0), L0));
    cr_expect_eq(cap.n, 4);
}

Test(ir, losses) {
    IrValue *logits = input(S(2, IR_BATCH, 3, 0));
    IrValue *lab = ir_build_input(fn, IR_SLOT_Y, IR_F32, S(2, IR_BATCH, 1, 0), L0);
    IrValue *ce = ir_build2(fn, IR_OP_CROSS_ENTROPY, logits, lab, L0);
    cr_assert(ce);
    cr_expect_eq(ce->shape.rank, 0);
    IrValue *lab1 = ir_build_input(fn, IR_SLOT_Y, IR_F32, S(1, IR_BATCH, 0, 0), L0);
    cr_expect(ir_build2(fn, IR_OP_CROSS_ENTROPY, logits, lab1, L0) != NULL);
    IrValue *lab2 = ir_build_input(fn, IR_SLOT_Y, IR_F32, S(2, IR_BATCH, 2, 0), L0);
    cr_expect_null(ir_build2(fn, IR_OP_CROSS_ENTROPY, logits, lab2, L0));
    cr_expect_null(ir_build2(fn, IR_OP_MSE, logits, lab, L0));
    cr_assert_eq(cap.n, 2);
    cr_expect_str_eq(cap.msg[1], "mse: prediction and target shapes differ: [B,3] vs [B,1]");
    cr_expect(ir_build2(fn, IR_OP_BCE_LOGITS, logits, logits, L0) != NULL);
    IrValue *one = ir_build_const(fn, 1, L0);
    IrValue *g = ir_build3(fn, IR_OP_CROSS_ENTROPY_GRAD, logits, lab, one, L0);
    cr_assert(g);
    cr_expect_str_eq(str(g->shape), "[B,3]");
}

Test(ir, printer_golden) {
    IrParam *w = ir_param_new(mod, "hidden.weight", S(2, 16, 4, 0), IR_INIT_TORCH_DEFAULT, 4, 16, L0);
    IrParam *b = ir_param_new(mod, "hidden.bias", S(1, 16, 0, 0), IR_INIT_TORCH_DEFAULT, 4, 16, L0);
    IrValue *x = input(S(2, IR_BATCH, 4, 0));
    IrValue *h = ir_build_matmul(fn, x, ir_build_param(fn, w, L0), false, true, L0);
    h->name = "hidden";
    h = ir_build_binary(fn, IR_OP_ADD, h, ir_build_param(fn, b, L0), L0);
    h = ir_build_unary(fn, IR_FN_LEAKY_RELU, h, 0.1, L0);
    fn->output = ir_build_reduce(fn, IR_OP_SUM, h, 2, true, L0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ir_print_module(out, mod);
    fclose(out);
    const char *want =
        "module \"m\"\n"
        "params 80 floats {\n"
        "  \"hidden.weight\" f32[16,4] offset=0 size=64 init=torch_default fan_in=4 fan_out=16\n"
        "  \"hidden.bias\" f32[16] offset=64 size=16 init=torch_default fan_in=4 fan_out=16\n"
        "}\n"
        "func predict {\n"
        "  %0 = input x f32[B,4]\n"
        "  %1 = param \"hidden.weight\" f32[16,4]\n"
        "  %2 = matmul(%0, %1) trans_b f32[B,16]  ; hidden\n"
        "  %3 = param \"hidden.bias\" f32[16]\n"
        "  %4 = add(%2, %3) f32[B,16]\n"
        "  %5 = leaky_relu(%4) alpha=0.1 f32[B,16]\n"
        "  %6 = sum(%5) axes=[1] keepdims f32[B,1]\n"
        "  output %6\n"
        "}\n";
    cr_expect_str_eq(buf, want);
    free(buf);
}

Test(ir, verifier) {
    IrValue *x = input(S(2, IR_BATCH, 4, 0));
    IrValue *y = ir_build_unary(fn, IR_FN_RELU, x, 0, L0);
    IrValue *z = ir_build_binary(fn, IR_OP_ADD, y, x, L0);
    fn->output = z;
    cr_expect(ir_verify_func(fn, false, NULL));
    cr_expect(!ir_verify_func(fn, true, NULL)); /* not planned yet */
    /* use before definition */
    fn->values.items[1] = z;
    fn->values.items[2] = y;
    cr_expect(!ir_verify_func(fn, false, NULL));
    fn->values.items[1] = y;
    fn->values.items[2] = z;
    /* a shape that disagrees with the rule */
    z->shape = S(2, IR_BATCH, 5, 0);
    cr_expect(!ir_verify_func(fn, false, NULL));
    z->shape = S(2, IR_BATCH, 4, 0);
    cr_expect(ir_verify_func(fn, false, NULL));
}

Test(ir, shape_check_pass_reports) {
    IrValue *x = input(S(2, IR_BATCH, 4, 0));
    IrValue *w = param("w", S(2, 4, 3, 0));
    IrValue *y = ir_build_matmul(fn, x, w, false, false, L0);
    cr_assert(y);
    w->attr.param->shape = S(2, 5, 3, 0); /* a later edit breaks the rule */
    pass_shape_check(mod);
    cr_expect_geq(cap.n, 1);
}
