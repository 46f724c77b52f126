/* autodiff_layers.c - vector-Jacobian rules of the layer ops and of
 * batched MATMUL, for pass_autodiff (autodiff.c), which sums each result
 * back to its input's shape and accumulates it.
 *
 * Every rule builds ordinary IR values after the forward ones; the
 * adjoint of a data-movement op is its mirror (IM2COL <-> COL2IM, SLICE <->
 * SLICE_GRAD, CONCAT -> SLICEs, TRANSPOSE -> the inverse permutation),
 * DROPOUT is its own adjoint (the mask is recomputed from the same hash),
 * pooling, embedding and max get dedicated *_GRAD ops, and a direct
 * convolution's gradients go through its column matrix. */
#include "passes.h"

#include "ir_compose.h"

static IrValue *build(IrFunc *f, IrOpKind op, IrValue **ins, int n, const IrAttrs *at,
                      const IrValue *v) {
    return ir_build(f, op, ins, n, at, v->loc);
}

/* x y summed over equal leading dims: a rank-2 result in one GEMM. */
static IrValue *mm_sum(IrFunc *f, IrValue *x, IrValue *y, bool tx, bool ty, SrcLoc loc) {
    IrAttrs at = {0};
    IrValue *ins[2] = {x, y};
    at.i[0] = tx;
    at.i[1] = ty;
    at.i[2] = 1;
    return ir_build(f, IR_OP_MATMUL, ins, 2, &at, loc);
}

static bool same_lead(IrShape x, IrShape y) {
    if (x.rank != y.rank) return false;
    for (int i = 0; i < x.rank - 2; i++)
        if (x.dims[i] != y.dims[i]) return false;
    return true;
}

static bool vjp_bmm(IrFunc *f, IrValue *v, IrValue *g, const bool *need, IrValue **dx) {
    IrValue *a = v->in[0], *b = v->in[1];
    bool ta = v->attr.i[0] != 0, tb = v->attr.i[1] != 0;
    SrcLoc l = v->loc;
    if (v->attr.i[2]) return false; /* batch-summed products are gradients */
    /* a shared weight matrix: its gradient summed over the batch directly */
    bool sum_a = a->shape.rank == 2 && same_lead(g->shape, b->shape);
    bool sum_b = b->shape.rank == 2 && same_lead(g->shape, a->shape);
    /* What is still needed after the batch-summed shortcuts above. */
    bool want[2] = {need[0], need[1]};
    if (sum_a && need[0]) {
        dx[0] = !ta ? mm_sum(f, g, b, false, !tb, l) : mm_sum(f, b, g, tb, true, l);
        if (!dx[0]) return false;
        want[0] = false;
    }
    if (sum_b && need[1]) {
        dx[1] = !tb ? mm_sum(f, a, g, !ta, false, l) : mm_sum(f, g, a, true, ta, l);
        if (!dx[1]) return false;
        want[1] = false;
    }
    if (!ta && !tb) {
        if (want[0]) dx[0] = ir_build_matmul(f, g, b, false, true, l);
        if (want[1]) dx[1] = ir_build_matmul(f, a, g, true, false, l);
    } else if (!ta && tb) {
        if (want[0]) dx[0] = ir_build_matmul(f, g, b, false, false, l);
        if (want[1]) dx[1] = ir_build_matmul(f, g, a, true, false, l);
    } else if (ta && !tb) {
        if (want[0]) dx[0] = ir_build_matmul(f, b, g, false, true, l);
        if (want[1]) dx[1] = ir_build_matmul(f, a, g, false, false, l);
    } else {
        if (want[0]) dx[0] = ir_build_matmul(f, b, g, true, true, l);
        if (want[1]) dx[1] = ir_build_matmul(f, g, a, true, true, l);
    }
    return (!need[0] || dx[0]) && (!need[1] || dx[1]);
}

/* CONV2D: the forward pass convolved directly; the backward pass is the
 * column path's, or CONV2D_GRAD_W for the weight (direct_weight_grad).
 * The column path's weight gradient needs the column matrix, so IM2COL
 * runs here, on the input the forward pass read: the sum over the batch of
 * g^T col (one GEMM), where g is dy as [N, OH*OW, O]; the input gradient
 * is COL2IM of g W; the bias gradient sums dy over all but the channels.
 * For an input that wants no gradient (the data) only IM2COL and one GEMM
 * run, as before the forward pass went direct. */
/* Whether CONV2D v's weight gradient is worth computing without the column
 * matrix (CONV2D_GRAD_W): few output channels, whose dy is little against
 * the column matrix's C k k floats a pixel, and output rows that fill most
 * of the padded width the kernel runs over. Measured on Zen 1 (batch 64,
 * ms, direct against im2col + GEMM): LeNet's 1->8 5x5 1.10 vs 1.76, a
 * 16->16 3x3 on 14x14 3.03 vs 3.58; lost: 8->16 5x5 valid on 14x14 (a
 * third of the width wasted) 2.46 vs 2.17, 32->32 3x3 on 7x7 3.60 vs 2.56,
 * 64->64 on 14x14 44 vs 33. */
static bool direct_weight_grad(const IrValue *v) {
    enum { MAX_OUTS = 16 };
    IrShape x = v->in[0]->shape, y = v->shape;
    int64_t wp = x.dims[3] + 2 * v->attr.i[2], run = (y.dims[2] * wp + 7) / 8 * 8;
    return y.dims[1] <= MAX_OUTS && 100 * run <= 135 * y.dims[2] * y.dims[3];
}

static bool vjp_conv2d(IrFunc *f, IrValue *v, IrValue *g, const bool *need, IrValue **dx) {
    IrValue *x = v->in[0], *w = v->in[1];
    IrShape ws = w->shape, ys = v->shape;
    int64_t o = ws.dims[0], taps = ws.dims[1] * ws.dims[2] * ws.dims[3];
    SrcLoc l = v->loc;
    if (v->n_in == 3 && need[2]) {
        const uint32_t all_but_channels = 1u << 0 | 1u << 2 | 1u << 3;
        if (!(dx[2] = ir_build_reduce(f, IR_OP_SUM, g, all_but_channels, false, l))) return false;
    }
    IrAttrs at = v->attr;
    at.i[4] = 0;
    bool by_columns[2] = {need[0], need[1]}; /* the gradients still to make */
    if (need[1] && direct_weight_grad(v)) {
        IrValue *ins[2] = {x, g};
        if (!(dx[1] = build(f, IR_OP_CONV2D_GRAD_W, ins, 2, &at, v))) return false;
        by_columns[1] = false;
    }
    if (!by_columns[0] && !by_columns[1]) return true;
    IrValue *rows = ir_reshape(f, g, ir_shape(3, (int64_t[]){ys.dims[0], o, ys.dims[2] * ys.dims[3]}), l);
    IrValue *gt = ir_permute(f, rows, (int64_t[]){0, 2, 1}, l);
    if (!gt) return false;
    if (by_columns[1]) {
        IrValue *col = build(f, IR_OP_IM2COL, &x, 1, &at, v);
        IrValue *dw = col ? mm_sum(f, gt, col, true, false, l) : NULL;
        if (!(dx[1] = ir_reshape(f, dw, ws, l))) return false;
    }
    if (by_columns[0]) {
        IrValue *dcol = ir_build_matmul(f, gt, ir_reshape(f, w, ir_shape2(o, taps), l), false,
                                        false, l);
        at.shape = x->shape;
        if (!dcol || !(dx[0] = build(f, IR_OP_COL2IM, &dcol, 1, &at, v))) return false;
    }
    return true;
}

/* A [C] vector broadcast along x's channel axis: [C, 1, ...]. */
static IrValue *per_channel(IrFunc *f, IrValue *c, IrShape x, SrcLoc loc) {
    IrShape s = {.rank = x.rank - 1};
    for (int i = 0; i < s.rank; i++) s.dims[i] = i == 0 ? x.dims[1] : 1;
    return ir_reshape(f, c, s, loc);
}

static IrValue *mul(IrFunc *f, IrValue *a, IrValue *b, SrcLoc loc) {
    return a && b ? ir_build_binary(f, IR_OP_MUL, a, b, loc) : NULL;
}

/* The statistics' gradient of a BN_NORM with fixed ones, from BN_GRAD's
 * sums (dw = sum dy xhat, db = sum dy, w rstd): d mean = -db w rstd,
 * d var = -dw w rstd^2 / 2, as the [2, C] block they came in. */
static IrValue *fixed_stats_grad(IrFunc *f, IrValue *v, IrValue *sums) {
    SrcLoc l = v->loc;
    IrValue *var = ir_channel_row(f, v->in[1], 1, l), *eps = ir_build_const(f, v->attr.f[0], l);
    IrValue *rstd2 = var ? ir_build_binary(f, IR_OP_DIV, ir_build_const(f, 1.0, l),
                                           ir_build_binary(f, IR_OP_ADD, var, eps, l), l)
                         : NULL;
    IrValue *dmean = mul(f, mul(f, ir_channel_row(f, sums, 1, l), ir_channel_row(f, sums, 2, l), l),
                         ir_build_const(f, -1.0, l), l);
    IrValue *dvar = mul(f, mul(f, mul(f, ir_channel_row(f, sums, 0, l), v->in[2], l), rstd2, l),
                        ir_build_const(f, -0.5, l), l);
    if (!dmean || !dvar) return NULL;
    IrShape row = ir_shape2(1, v->in[0]->shape.dims[1]);
    IrValue *parts[2] = {ir_reshape(f, dmean, row, l), ir_reshape(f, dvar, row, l)};
    return ir_concat(f, parts, 2, 0, l);
}

/* BN_NORM: the batch norm's gradients from BN_GRAD's sums (dw, db, w rstd)
 * over dy. With batch statistics dx goes through them too (BN_GRAD_X)
 * and they get none; with fixed ones dx = dy w rstd and they get theirs. */
static bool vjp_bn_norm(IrFunc *f, IrValue *v, IrValue *g, const bool *need, IrValue **dx) {
    IrValue *x = v->in[0], *stats = v->in[1];
    bool fixed = v->attr.i[0] != 0;
    IrAttrs at = {0};
    at.f[0] = v->attr.f[0];
    IrValue *sums = build(f, IR_OP_BN_GRAD, (IrValue *[]){g, x, stats, v->in[2]}, 4, &at, v);
    if (!sums) return false;
    if (need[0]) {
        dx[0] = fixed ? mul(f, g, per_channel(f, ir_channel_row(f, sums, 2, v->loc), x->shape, v->loc),
                            v->loc)
                      : build(f, IR_OP_BN_GRAD_X, (IrValue *[]){g, x, stats, sums}, 4, &at, v);
        if (!dx[0]) return false;
    }
    if (need[1] && fixed && !(dx[1] = fixed_stats_grad(f, v, sums))) return false;
    if (need[2] && !(dx[2] = ir_channel_row(f, sums, 0, v->loc))) return false;
    if (need[3] && !(dx[3] = ir_channel_row(f, sums, 1, v->loc))) return false;
    return true;
}

/* y (and g) with the reduced axes kept as size 1. */
static IrValue *keep_axes(IrFunc *f, IrValue *y, const IrValue *v) {
    IrShape x = v->in[0]->shape, k = x;
    uint32_t mask = v->attr.i[0] ? (uint32_t)v->attr.i[0] : (uint32_t)((1u << x.rank) - 1);
    for (int i = 0; i < k.rank; i++)
        if (mask & (1u << i)) k.dims[i] = 1;
    if (ir_shape_eq(y->shape, k)) return y;
    return ir_build_to_shape(f, IR_OP_RESHAPE, y, k, v->loc);
}

bool ir_vjp_layer(IrFunc *f, IrValue *v, IrValue *g, const bool *need, IrValue **dx) {
    IrAttrs at = v->attr;
    IrValue *x = v->in[0];
    switch (v->op) {
    case IR_OP_MATMUL: return vjp_bmm(f, v, g, need, dx);
    case IR_OP_IM2COL:
        at.shape = x->shape;
        dx[0] = build(f, IR_OP_COL2IM, &g, 1, &at, v);
        return dx[0] != NULL;
    case IR_OP_COL2IM: dx[0] = build(f, IR_OP_IM2COL, &g, 1, &at, v); return dx[0] != NULL;
    case IR_OP_POOL2D: {
        IrValue *ins[2] = {x, g};
        dx[0] = build(f, IR_OP_POOL2D_GRAD, ins, 2, &at, v);
        return dx[0] != NULL;
    }
    case IR_OP_TRANSPOSE: {
        IrShape inv = at.shape;
        for (int i = 0; i < inv.rank; i++) inv.dims[at.shape.dims[i]] = i;
        at.shape = inv;
        dx[0] = build(f, IR_OP_TRANSPOSE, &g, 1, &at, v);
        return dx[0] != NULL;
    }
    case IR_OP_CONCAT: {
        int64_t axis = at.i[0], off = 0;
        for (int k = 0; k < v->n_in; k++) {
            int64_t len = v->in[k]->shape.dims[axis];
            if (need[k]) {
                IrAttrs sa = {0};
                sa.i[0] = axis;
                sa.i[1] = off;
                sa.i[2] = off + len;
                if (!(dx[k] = build(f, IR_OP_SLICE, &g, 1, &sa, v))) return false;
            }
            off += len;
        }
        return true;
    }
    case IR_OP_SLICE:
        at.shape = x->shape;
        dx[0] = build(f, IR_OP_SLICE_GRAD, &g, 1, &at, v);
        return dx[0] != NULL;
    case IR_OP_SLICE_GRAD: dx[0] = build(f, IR_OP_SLICE, &g, 1, &at, v); return dx[0] != NULL;
    case IR_OP_DROPOUT: dx[0] = build(f, IR_OP_DROPOUT, &g, 1, &at, v); return dx[0] != NULL;
    case IR_OP_EMBEDDING: {
        if (!need[1]) return true; /* ids are not differentiable */
        IrValue *ins[2] = {x, g};
        IrAttrs ea = {0};
        ea.shape = v->in[1]->shape;
        dx[1] = build(f, IR_OP_EMBEDDING_GRAD, ins, 2, &ea, v);
        return dx[1] != NULL;
    }
    case IR_OP_MAXIMUM:
    case IR_OP_MINIMUM: { /* ties go to the first operand */
        IrValue *a = v->in[0], *b = v->in[1];
        IrValue *mask = v->op == IR_OP_MAXIMUM ? ir_build2(f, IR_OP_GE_MASK, a, b, v->loc)
                                               : ir_build2(f, IR_OP_GE_MASK, b, a, v->loc);
        IrValue *ga = mask ? ir_build_binary(f, IR_OP_MUL, g, mask, v->loc) : NULL;
        if (!ga) return false;
        if (need[0]) dx[0] = ga;
        if (need[1] && !(dx[1] = ir_build_binary(f, IR_OP_SUB, g, ga, v->loc))) return false;
        return true;
    }
    case IR_OP_REDUCE_MAX: {
        IrValue *yk = keep_axes(f, v, v), *gk = keep_axes(f, g, v);
        if (!yk || !gk) return false;
        IrValue *ins[3] = {x, yk, gk};
        dx[0] = build(f, IR_OP_REDUCE_MAX_GRAD, ins, 3, NULL, v);
        return dx[0] != NULL;
    }
    case IR_OP_BN_NORM: return vjp_bn_norm(f, v, g, need, dx);
    case IR_OP_GE_MASK:
    case IR_OP_BN_STATS: /* its gradient is in BN_NORM's */
    case IR_OP_RUNNING_UPDATE: return true; /* no gradient flows */
    case IR_OP_CONV2D: return vjp_conv2d(f, v, g, need, dx);
    default: break;
    }
    return false; /* gradient ops: no second derivatives */
}
