/* fold.c - constant folding and algebraic identities.
 *
 * A scalar op whose inputs are all CONST becomes a CONST (computed in double,
 * rounded to float as codegen would store it). x*1, 1*x, x+0, 0+x, x-0 and
 * x/1 are replaced by x when x already has the result's shape. Replaced
 * values lose their uses; DCE removes them.
 *
 * Requires: shapes inferred. Preserves: schedule order, value ids. */
#include "passes.h"

#include <math.h>

static bool is_const(const IrValue *v, double *out) {
    if (v->op != IR_OP_CONST) return false;
    if (out) *out = v->attr.f[0];
    return true;
}

static bool is_const_eq(const IrValue *v, double k) {
    double x;
    return is_const(v, &x) && x == k;
}

static bool fold_unary(IrUnaryFn fn, double a, double x, double *r) {
    switch (fn) {
    case IR_FN_NEG: *r = -x; return true;
    case IR_FN_RELU: *r = x > 0 ? x : 0; return true;
    case IR_FN_LEAKY_RELU: *r = x > 0 ? x : a * x; return true;
    case IR_FN_ELU: *r = x > 0 ? x : a * expm1(x); return true;
    case IR_FN_SIGMOID: *r = 1 / (1 + exp(-x)); return true;
    case IR_FN_TANH: *r = tanh(x); return true;
    case IR_FN_EXP: *r = exp(x); return true;
    case IR_FN_LOG: *r = log(x); return true;
    case IR_FN_SQRT: *r = sqrt(x); return true;
    case IR_FN_ABS: *r = fabs(x); return true;
    case IR_FN_SQUARE: *r = x * x; return true;
    case IR_FN_SILU: *r = x / (1 + exp(-x)); return true;
    case IR_FN_SOFTPLUS: *r = x > 20 ? x : log1p(exp(x)); return true;
    case IR_FN_GELU: *r = 0.5 * x * (1 + erf(x / sqrt(2.0))); return true;
    case IR_FN_GELU_TANH:
        *r = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        return true;
    case IR_FN_POW: *r = pow(x, a); return true;
    case IR_FN_COUNT: break;
    }
    return false;
}

/* Folds v into a CONST when possible; returns true if it did. */
static bool fold_const(IrValue *v) {
    double a, b, r;
    if (v->shape.rank != 0) return false;
    switch (v->op) {
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV:
        if (!is_const(v->in[0], &a) || !is_const(v->in[1], &b)) return false;
        r = v->op == IR_OP_ADD ? a + b : v->op == IR_OP_SUB ? a - b
          : v->op == IR_OP_MUL ? a * b : a / b;
        break;
    case IR_OP_UNARY:
        if (!is_const(v->in[0], &a) || !fold_unary(v->attr.fn, v->attr.f[0], a, &r)) return false;
        break;
    default: return false;
    }
    v->op = IR_OP_CONST;
    v->n_in = 0;
    v->attr = (IrAttrs){0};
    v->attr.f[0] = (double)(float)r;
    return true;
}

/* The input v reduces to, or NULL. */
static IrValue *identity_of(IrValue *v) {
    if (v->n_in != 2) return NULL;
    IrValue *a = v->in[0], *b = v->in[1];
    bool a_fits = ir_shape_eq(a->shape, v->shape), b_fits = ir_shape_eq(b->shape, v->shape);
    switch (v->op) {
    case IR_OP_ADD:
        if (a_fits && is_const_eq(b, 0)) return a;
        if (b_fits && is_const_eq(a, 0)) return b;
        return NULL;
    case IR_OP_SUB: return a_fits && is_const_eq(b, 0) ? a : NULL;
    case IR_OP_MUL:
        if (a_fits && is_const_eq(b, 1)) return a;
        if (b_fits && is_const_eq(a, 1)) return b;
        return NULL;
    case IR_OP_DIV: return a_fits && is_const_eq(b, 1) ? a : NULL;
    default: return NULL;
    }
}

static void fold_func(IrFunc *f) {
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        if (v->dead || fold_const(v)) continue;
        IrValue *x = identity_of(v);
        if (x) ir_replace_uses(f, v, x);
    }
}

void pass_fold(IrModule *m) {
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) fold_func(m->funcs[k]);
}
