/* autodiff.c - reverse-mode differentiation at compile time.
 *
 * For the train function: seed d(loss) = 1, walk the forward values in
 * reverse schedule order and apply each op's vector-Jacobian rule, emitting
 * new IR values after the forward ones. Contributions from several uses are
 * summed with ADD in a fixed order (reverse schedule), so the result is
 * deterministic. Only values that depend on a parameter get gradients.
 * Every parameter gets f->param_grads[i]; one used nowhere gets zeros.
 *
 * Requires: shapes inferred; f->loss a scalar. Preserves: the forward
 * values (new values are appended). Sets optimizer_step. */
#include "passes.h"

#include <assert.h>
#include <stdlib.h>

/* LINEAR, SLICE_ADD and MATMUL_ACC, made after autodiff by passes/fuse.c, have no VJP. */
static_assert(IR_OP_COUNT == 53, "add the new op's VJP rule below (layer ops: autodiff_layers.c)");

typedef struct AdCtx {
    IrModule *m;
    IrFunc *f;
    IrValue **grad;   /* by value id (forward values only) */
    bool *requires;   /* by value id: depends on a parameter */
    int n_fwd;        /* ids below this are forward values */
    bool failed;
} AdCtx;

static IrValue *check(AdCtx *c, IrValue *v, const IrValue *at) {
    if (!v && !c->failed) {
        diag_error(c->m->diag, at->loc, "internal error: autodiff built an ill-shaped %s gradient",
                   ir_op_name(at->op));
        c->failed = true;
    }
    return v;
}

/* Adds contribution `g` to the gradient of forward value `u`. */
static void accumulate(AdCtx *c, IrValue *u, IrValue *g, const IrValue *at) {
    if (!g || !c->requires[u->id]) return;
    IrValue *prev = c->grad[u->id];
    c->grad[u->id] = prev ? check(c, ir_build_binary(c->f, IR_OP_ADD, prev, g, at->loc), at) : g;
}

static IrValue *sum_to(AdCtx *c, IrValue *g, IrShape shape, const IrValue *at) {
    if (!g || ir_shape_eq(g->shape, shape)) return g;
    return check(c, ir_build_to_shape(c->f, IR_OP_SUM_TO, g, shape, at->loc), at);
}

static IrValue *neg(AdCtx *c, IrValue *g, const IrValue *at) {
    return g ? check(c, ir_build_unary(c->f, IR_FN_NEG, g, 0, at->loc), at) : NULL;
}

static IrValue *bin(AdCtx *c, IrOpKind op, IrValue *a, IrValue *b, const IrValue *at) {
    return check(c, ir_build_binary(c->f, op, a, b, at->loc), at);
}

static IrValue *mm(AdCtx *c, IrValue *a, IrValue *b, bool ta, bool tb, const IrValue *at) {
    return check(c, ir_build_matmul(c->f, a, b, ta, tb, at->loc), at);
}

static void not_differentiable(AdCtx *c, const IrValue *v, const char *what) {
    diag_error(c->m->diag, v->loc, "cannot differentiate %s", what);
    c->failed = true;
}

/* Layer ops and batched MATMUL: ir_vjp_layer gives per-input gradients,
 * summed back over broadcast dimensions here. */
static void vjp_layer(AdCtx *c, IrValue *v, IrValue *g) {
    bool need[IR_MAX_INPUTS] = {0};
    IrValue *dx[IR_MAX_INPUTS] = {0};
    for (int k = 0; k < v->n_in; k++) need[k] = c->requires[v->in[k]->id];
    if (!ir_vjp_layer(c->f, v, g, need, dx)) {
        check(c, NULL, v);
        return;
    }
    for (int k = 0; k < v->n_in; k++)
        if (need[k] && dx[k]) accumulate(c, v->in[k], sum_to(c, dx[k], v->in[k]->shape, v), v);
}

static void vjp_matmul(AdCtx *c, IrValue *v, IrValue *g) {
    IrValue *a = v->in[0], *b = v->in[1];
    if (a->shape.rank > 2 || b->shape.rank > 2) {
        vjp_layer(c, v, g);
        return;
    }
    bool ta = v->attr.i[0] != 0, tb = v->attr.i[1] != 0;
    bool need_a = c->requires[a->id], need_b = c->requires[b->id];
    IrValue *da = NULL, *db = NULL;
    if (!ta && !tb) { /* Y = A B */
        if (need_a) da = mm(c, g, b, false, true, v);
        if (need_b) db = mm(c, a, g, true, false, v);
    } else if (!ta && tb) { /* Y = A B^T, B stored [N,K] */
        if (need_a) da = mm(c, g, b, false, false, v);
        if (need_b) db = mm(c, g, a, true, false, v);
    } else if (ta && !tb) { /* Y = A^T B, A stored [K,M] */
        if (need_a) da = mm(c, b, g, false, true, v);
        if (need_b) db = mm(c, a, g, false, false, v);
    } else { /* Y = A^T B^T */
        if (need_a) da = mm(c, b, g, true, true, v);
        if (need_b) db = mm(c, g, a, true, true, v);
    }
    accumulate(c, a, da, v);
    accumulate(c, b, db, v);
}

static void vjp_binary(AdCtx *c, IrValue *v, IrValue *g) {
    IrValue *a = v->in[0], *b = v->in[1];
    bool need_a = c->requires[a->id], need_b = c->requires[b->id];
    IrValue *da = NULL, *db = NULL;
    switch (v->op) {
    case IR_OP_ADD:
        da = g;
        db = g;
        break;
    case IR_OP_SUB:
        da = g;
        if (need_b) db = neg(c, g, v);
        break;
    case IR_OP_MUL:
        if (need_a) da = bin(c, IR_OP_MUL, g, b, v);
        if (need_b) db = bin(c, IR_OP_MUL, g, a, v);
        break;
    case IR_OP_DIV: /* d/da = g / b; d/db = -(g * y) / b */
        if (need_a) da = bin(c, IR_OP_DIV, g, b, v);
        if (need_b) db = neg(c, bin(c, IR_OP_DIV, bin(c, IR_OP_MUL, g, v, v), b, v), v);
        break;
    default: assert(0);
    }
    if (need_a) accumulate(c, a, sum_to(c, da, a->shape, v), v);
    if (need_b) accumulate(c, b, sum_to(c, db, b->shape, v), v);
}

static void vjp_sum(AdCtx *c, IrValue *v, IrValue *g) {
    IrValue *x = v->in[0];
    if (v->op == IR_OP_MEAN) {
        IrAttrs at = {0};
        at.i[0] = v->attr.i[0];
        at.shape = x->shape;
        accumulate(c, x, check(c, ir_build(c->f, IR_OP_MEAN_GRAD, &g, 1, &at, v->loc), v), v);
        return;
    }
    /* SUM: put the reduced axes back as size 1, then broadcast. */
    IrShape keep = x->shape;
    uint32_t mask = v->attr.i[0] ? (uint32_t)v->attr.i[0] : (uint32_t)((1u << x->shape.rank) - 1);
    for (int i = 0; i < keep.rank; i++)
        if (mask & (1u << i)) keep.dims[i] = 1;
    IrValue *gk = g;
    if (g->shape.rank != 0 && !ir_shape_eq(g->shape, keep))
        gk = check(c, ir_build_to_shape(c->f, IR_OP_RESHAPE, g, keep, v->loc), v);
    if (!gk) return;
    accumulate(c, x, check(c, ir_build_to_shape(c->f, IR_OP_BROADCAST, gk, x->shape, v->loc), v), v);
}

static void vjp_loss(AdCtx *c, IrValue *v, IrValue *g) {
    IrValue *a = v->in[0], *b = v->in[1];
    IrOpKind gop = v->op == IR_OP_CROSS_ENTROPY ? IR_OP_CROSS_ENTROPY_GRAD
                 : v->op == IR_OP_MSE           ? IR_OP_MSE_GRAD
                                                : IR_OP_BCE_LOGITS_GRAD;
    IrValue *da = NULL;
    if (c->requires[a->id] || (v->op == IR_OP_MSE && c->requires[b->id]))
        da = check(c, ir_build3(c->f, gop, a, b, g, v->loc), v);
    accumulate(c, a, da, v);
    if (!c->requires[b->id]) return;
    if (v->op == IR_OP_MSE) accumulate(c, b, neg(c, da, v), v);
    else if (v->op == IR_OP_BCE_LOGITS) { /* d/dt = -x * dloss / numel */
        IrAttrs at = {0};
        at.shape = a->shape;
        IrValue *scaled = check(c, ir_build(c->f, IR_OP_MEAN_GRAD, &g, 1, &at, v->loc), v);
        if (scaled) accumulate(c, b, bin(c, IR_OP_MUL, neg(c, a, v), scaled, v), v);
    }
    /* cross-entropy labels are class indices: no gradient */
}

static void vjp(AdCtx *c, IrValue *v, IrValue *g) {
    IrValue *x = v->n_in > 0 ? v->in[0] : NULL;
    switch (v->op) {
    case IR_OP_INPUT:
    case IR_OP_PARAM:
    case IR_OP_CONST: return;
    case IR_OP_MATMUL: vjp_matmul(c, v, g); return;
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV: vjp_binary(c, v, g); return;
    case IR_OP_UNARY: {
        IrAttrs at = v->attr;
        IrValue *ins[3] = {x, v, g};
        accumulate(c, x, check(c, ir_build(c->f, IR_OP_UNARY_GRAD, ins, 3, &at, v->loc), v), v);
        return;
    }
    case IR_OP_SOFTMAX:
    case IR_OP_LOG_SOFTMAX: {
        IrOpKind gop = v->op == IR_OP_SOFTMAX ? IR_OP_SOFTMAX_GRAD : IR_OP_LOG_SOFTMAX_GRAD;
        accumulate(c, x, check(c, ir_build2(c->f, gop, v, g, v->loc), v), v);
        return;
    }
    case IR_OP_SUM:
    case IR_OP_MEAN: vjp_sum(c, v, g); return;
    case IR_OP_SUM_TO:
        accumulate(c, x, check(c, ir_build_to_shape(c->f, IR_OP_BROADCAST, g, x->shape, v->loc), v), v);
        return;
    case IR_OP_BROADCAST: accumulate(c, x, sum_to(c, g, x->shape, v), v); return;
    case IR_OP_RESHAPE:
        accumulate(c, x, check(c, ir_build_to_shape(c->f, IR_OP_RESHAPE, g, x->shape, v->loc), v), v);
        return;
    case IR_OP_COPY: accumulate(c, x, g, v); return;
    case IR_OP_CROSS_ENTROPY:
    case IR_OP_MSE:
    case IR_OP_BCE_LOGITS: vjp_loss(c, v, g); return;
    case IR_OP_UNARY_GRAD:
    case IR_OP_SOFTMAX_GRAD:
    case IR_OP_LOG_SOFTMAX_GRAD:
    case IR_OP_CROSS_ENTROPY_GRAD:
    case IR_OP_MSE_GRAD:
    case IR_OP_BCE_LOGITS_GRAD:
    case IR_OP_MEAN_GRAD: not_differentiable(c, v, "a gradient op (no second derivatives)"); return;
    case IR_OP_COUNT: break;
    default: vjp_layer(c, v, g); return;
    }
    assert(0);
}

static void differentiate(IrModule *m, IrFunc *f) {
    if (!f->loss) {
        diag_error(m->diag, (SrcLoc){0}, "the train function has no loss");
        return;
    }
    AdCtx c = {m, f, NULL, NULL, f->next_id, false};
    c.grad = calloc((size_t)c.n_fwd + 1, sizeof *c.grad);
    c.requires = calloc((size_t)c.n_fwd + 1, sizeof *c.requires);
    size_t n_vals = f->values.len;
    for (size_t i = 0; i < n_vals; i++) {
        IrValue *v = f->values.items[i];
        if (v->dead) continue;
        bool r = v->op == IR_OP_PARAM;
        for (int k = 0; k < v->n_in; k++) r = r || c.requires[v->in[k]->id];
        c.requires[v->id] = r;
    }
    if (c.requires[f->loss->id])
        c.grad[f->loss->id] = ir_build_const(f, 1.0, f->loss->loc);
    for (size_t i = n_vals; i-- > 0 && !c.failed;) {
        IrValue *v = f->values.items[i];
        IrValue *g = c.grad[v->id];
        if (!g || v->dead) continue;
        vjp(&c, v, g);
    }
    size_t np = m->params.len;
    f->param_grads = ARENA_NEW_ARRAY(m->arena, IrValue *, np ? np : 1);
    for (size_t p = 0; p < np && !c.failed; p++) {
        IrParam *param = m->params.items[p];
        IrValue *sum = NULL;
        for (size_t i = 0; i < n_vals; i++) {
            IrValue *v = f->values.items[i];
            if (v->op != IR_OP_PARAM || v->attr.param != param || v->dead || !c.grad[v->id])
                continue;
            sum = sum ? ir_build_binary(f, IR_OP_ADD, sum, c.grad[v->id], param->loc)
                      : c.grad[v->id];
        }
        if (!sum) /* unused parameter: its gradient is zero */
            sum = ir_build_to_shape(f, IR_OP_BROADCAST, ir_build_const(f, 0.0, param->loc),
                                    param->shape, param->loc);
        f->param_grads[p] = sum;
    }
    f->optimizer_step = true;
    free(c.grad);
    free(c.requires);
}

void pass_autodiff(IrModule *m) {
    IrFunc *f = m->funcs[IR_ENTRY_TRAIN];
    if (f && !f->param_grads) differentiate(m, f);
}
