/* shape.c - the shape rule of every op, and the shape-check pass.
 *
 * ir_infer_shape computes a value's shape from its inputs and attributes
 * (one case per op in ir_ops.def). Shapes are static except dims[0], which
 * may be the symbolic batch B; a rule that would put B anywhere else, or
 * mix B with a static size, reports an error. Builders call it as each value
 * is created; pass_shape_check re-runs it over whole functions.
 *
 * pass_shape_check requires: nothing. Preserves: everything (reports only). */
#include "passes.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

static_assert(IR_OP_COUNT == 53, "add the new op's shape rule below (layer ops: shape_layers.c)");

typedef struct ShapeCtx {
    IrValue *v;
    Diag *d;
} ShapeCtx;

static bool fail(ShapeCtx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(ShapeCtx *c, const char *fmt, ...) {
    if (!c->d) return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(c->d, c->v->loc, "%s", msg);
    return false;
}

#define SHAPE(s) ir_shape_str((s), (char[96]){0}, 96)

static bool batch_only_first(IrShape s) {
    for (int i = 1; i < s.rank; i++)
        if (s.dims[i] == IR_BATCH) return false;
    for (int i = 0; i < s.rank; i++)
        if (s.dims[i] < IR_BATCH) return false;
    return true;
}

/* numpy broadcasting of two shapes (right-aligned; 1 stretches). */
static bool broadcast2(IrShape a, IrShape b, IrShape *out) {
    IrShape r = {0};
    r.rank = a.rank > b.rank ? a.rank : b.rank;
    for (int i = 0; i < r.rank; i++) {
        int ia = a.rank - r.rank + i, ib = b.rank - r.rank + i;
        int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
        if (da == db) r.dims[i] = da;
        else if (da == 1) r.dims[i] = db;
        else if (db == 1) r.dims[i] = da;
        else return false;
    }
    if (!batch_only_first(r)) return false;
    *out = r;
    return true;
}

/* True when `small` broadcasts to exactly `big`. */
static bool broadcasts_to(IrShape small, IrShape big) {
    IrShape r;
    return broadcast2(small, big, &r) && ir_shape_eq(r, big);
}

static uint32_t axes_of(const IrValue *v, int rank) {
    uint32_t mask = (uint32_t)v->attr.i[0];
    return mask == 0 ? (uint32_t)((1u << rank) - 1) : mask;
}

static bool rule_matmul(ShapeCtx *c, IrValue *a, IrValue *b) {
    IrValue *v = c->v;
    bool ta = v->attr.i[0] != 0, tb = v->attr.i[1] != 0;
    if ((a->shape.rank > 2 || b->shape.rank > 2) && a->shape.rank >= 2 && b->shape.rank >= 2)
        return ir_infer_shape_layer(v, c->d); /* batched */
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return fail(c, "matmul: operands must be 2-D: %s x %s", SHAPE(a->shape),
                    SHAPE(b->shape));
    int64_t m = ta ? a->shape.dims[1] : a->shape.dims[0];
    int64_t ka = ta ? a->shape.dims[0] : a->shape.dims[1];
    int64_t kb = tb ? b->shape.dims[1] : b->shape.dims[0];
    int64_t n = tb ? b->shape.dims[0] : b->shape.dims[1];
    if (ka != kb)
        return fail(c, "matmul: inner dimensions differ: %s%s x %s%s",
                    SHAPE(a->shape), ta ? "^T" : "", SHAPE(b->shape), tb ? "^T" : "");
    if (n == IR_BATCH)
        return fail(c, "matmul: the batch dimension cannot become a column: %s%s x %s%s",
                    SHAPE(a->shape), ta ? "^T" : "", SHAPE(b->shape), tb ? "^T" : "");
    v->shape = ir_shape2(m, n);
    return true;
}

static bool rule_reduce(ShapeCtx *c, IrValue *x) {
    IrValue *v = c->v;
    uint32_t mask = axes_of(v, x->shape.rank);
    bool keep = v->attr.i[1] != 0;
    if (x->shape.rank > 0 && (mask >> x->shape.rank) != 0)
        return fail(c, "%s: axis out of range for %s", ir_op_name(v->op), SHAPE(x->shape));
    IrShape r = {0};
    for (int i = 0; i < x->shape.rank; i++) {
        if (mask & (1u << i)) {
            if (keep) r.dims[r.rank++] = 1;
        } else {
            r.dims[r.rank++] = x->shape.dims[i];
        }
    }
    if (!batch_only_first(r))
        return fail(c, "%s: the batch dimension must stay first: %s", ir_op_name(v->op),
                    SHAPE(x->shape));
    v->shape = r;
    return true;
}

static bool rule_loss(ShapeCtx *c, IrValue **in, bool grad) {
    IrValue *v = c->v;
    IrValue *a = in[0], *b = in[1];
    if (v->op == IR_OP_CROSS_ENTROPY || v->op == IR_OP_CROSS_ENTROPY_GRAD) {
        if (a->shape.rank != 2)
            return fail(c, "cross_entropy: logits must be [batch, classes], got %s",
                        SHAPE(a->shape));
        bool lab_ok = (b->shape.rank == 1 || (b->shape.rank == 2 && b->shape.dims[1] == 1)) &&
                      b->shape.dims[0] == a->shape.dims[0];
        if (!lab_ok)
            return fail(c, "cross_entropy: labels must be one class index per row "
                        "([N] or [N,1]) for logits %s, got %s",
                        SHAPE(a->shape), SHAPE(b->shape));
    } else if (!ir_shape_eq(a->shape, b->shape)) {
        return fail(c, "%s: prediction and target shapes differ: %s vs %s",
                    ir_op_name(v->op), SHAPE(a->shape), SHAPE(b->shape));
    }
    if (grad) {
        if (in[2]->shape.rank != 0)
            return fail(c, "%s: dloss must be a scalar, got %s", ir_op_name(v->op),
                        SHAPE(in[2]->shape));
        v->shape = a->shape;
    } else {
        v->shape = ir_shape(0, NULL);
    }
    return true;
}

bool ir_infer_shape(IrValue *v, Diag *d) {
    ShapeCtx c = {v, d};
    IrValue **in = v->in;
    int ar = ir_op_arity(v->op);
    if (ar >= 0 && v->n_in != ar)
        return fail(&c, "%s: expects %d inputs, got %d", ir_op_name(v->op), ar, v->n_in);
    for (int k = 0; k < v->n_in; k++)
        if (!in[k]) return false;
    v->dtype = IR_F32;
    switch (v->op) {
    case IR_OP_INPUT:
        if (!batch_only_first(v->shape))
            return fail(&c, "input: the batch dimension must be first: %s", SHAPE(v->shape));
        return true;
    case IR_OP_PARAM:
        if (!v->attr.param) return fail(&c, "param: no parameter");
        v->shape = v->attr.param->shape;
        return true;
    case IR_OP_CONST: v->shape = ir_shape(0, NULL); return true;
    case IR_OP_MATMUL: return rule_matmul(&c, in[0], in[1]);
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV:
    case IR_OP_MAXIMUM:
    case IR_OP_MINIMUM:
    case IR_OP_GE_MASK:
        if (!broadcast2(in[0]->shape, in[1]->shape, &v->shape))
            return fail(&c, "%s: shapes do not broadcast: %s and %s", ir_op_name(v->op),
                        SHAPE(in[0]->shape), SHAPE(in[1]->shape));
        return true;
    case IR_OP_UNARY:
        if ((unsigned)v->attr.fn >= IR_FN_COUNT) return fail(&c, "unary: unknown function");
        v->shape = in[0]->shape;
        return true;
    case IR_OP_UNARY_GRAD:
        if (!ir_shape_eq(in[0]->shape, in[1]->shape) || !ir_shape_eq(in[0]->shape, in[2]->shape))
            return fail(&c, "%s_grad: x, y and dy shapes differ: %s, %s, %s",
                        ir_unary_name(v->attr.fn), SHAPE(in[0]->shape), SHAPE(in[1]->shape),
                        SHAPE(in[2]->shape));
        v->shape = in[0]->shape;
        return true;
    case IR_OP_SOFTMAX:
    case IR_OP_LOG_SOFTMAX:
        if (in[0]->shape.rank < 1)
            return fail(&c, "%s: needs at least one axis, got a scalar", ir_op_name(v->op));
        v->shape = in[0]->shape;
        return true;
    case IR_OP_SOFTMAX_GRAD:
    case IR_OP_LOG_SOFTMAX_GRAD:
        if (!ir_shape_eq(in[0]->shape, in[1]->shape) || in[0]->shape.rank < 1)
            return fail(&c, "%s: y and dy shapes differ: %s vs %s", ir_op_name(v->op),
                        SHAPE(in[0]->shape), SHAPE(in[1]->shape));
        v->shape = in[0]->shape;
        return true;
    case IR_OP_SUM:
    case IR_OP_MEAN:
    case IR_OP_REDUCE_MAX: return rule_reduce(&c, in[0]);
    case IR_OP_MEAN_GRAD: {
        IrShape t = v->attr.shape;
        uint32_t mask = axes_of(v, t.rank);
        int64_t kept = 1;
        bool kept_batch = false;
        for (int i = 0; i < t.rank; i++)
            if (!(mask & (1u << i))) {
                if (t.dims[i] == IR_BATCH) kept_batch = true;
                else kept *= t.dims[i];
            }
        if (!batch_only_first(t) || ir_shape_row_elems(in[0]->shape) != kept ||
            ir_shape_has_batch(in[0]->shape) != kept_batch)
            return fail(&c, "mean_grad: %s does not match the kept axes of %s",
                        SHAPE(in[0]->shape), SHAPE(t));
        v->shape = t;
        return true;
    }
    case IR_OP_SUM_TO:
        if (!broadcasts_to(v->attr.shape, in[0]->shape))
            return fail(&c, "sum_to: %s does not broadcast to %s", SHAPE(v->attr.shape),
                        SHAPE(in[0]->shape));
        v->shape = v->attr.shape;
        return true;
    case IR_OP_BROADCAST:
        if (!broadcasts_to(in[0]->shape, v->attr.shape))
            return fail(&c, "broadcast: %s does not broadcast to %s", SHAPE(in[0]->shape),
                        SHAPE(v->attr.shape));
        v->shape = v->attr.shape;
        return true;
    case IR_OP_RESHAPE: {
        IrShape t = v->attr.shape;
        if (!batch_only_first(t) ||
            ir_shape_has_batch(t) != ir_shape_has_batch(in[0]->shape) ||
            ir_shape_row_elems(t) != ir_shape_row_elems(in[0]->shape))
            return fail(&c, "reshape: element counts differ%s: %s to %s",
                        ir_shape_has_batch(in[0]->shape) ? " per batch row" : "",
                        SHAPE(in[0]->shape), SHAPE(t));
        v->shape = t;
        return true;
    }
    case IR_OP_COPY: v->shape = in[0]->shape; return true;
    case IR_OP_CROSS_ENTROPY:
    case IR_OP_MSE:
    case IR_OP_BCE_LOGITS: return rule_loss(&c, in, false);
    case IR_OP_CROSS_ENTROPY_GRAD:
    case IR_OP_MSE_GRAD:
    case IR_OP_BCE_LOGITS_GRAD: return rule_loss(&c, in, true);
    case IR_OP_COUNT: break;
    default: return ir_infer_shape_layer(v, d);
    }
    return fail(&c, "unknown op %d", (int)v->op);
}

void pass_shape_check(IrModule *m) {
    for (int k = 0; k < IR_ENTRY_COUNT; k++) {
        IrFunc *f = m->funcs[k];
        if (!f) continue;
        for (size_t i = 0; i < f->values.len; i++) {
            IrValue *v = f->values.items[i];
            if (!v->dead) ir_infer_shape(v, m->diag);
        }
        if (f->loss && f->loss->shape.rank != 0) {
            char sb[96];
            diag_error(m->diag, f->loss->loc, "the loss must be a scalar, got %s",
                       ir_shape_str(f->loss->shape, sb, sizeof sb));
        }
    }
}
