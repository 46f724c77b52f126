/* shape_layers.c - shape rules of the layer ops (ir_ops.def, from IM2COL
 * on) and of batched MATMUL (either operand of rank > 2).
 *
 * Same contract as ir_infer_shape (shape.c), which calls in here: set
 * v->shape from the inputs and attributes, or report at v->loc (when `d`
 * is not NULL) and return false. The batch dimension may only ever be
 * dims[0]; conv/pool geometry and slice bounds never touch it. */
#include "passes.h"

#include <stdarg.h>
#include <string.h>

static bool fail(IrValue *v, Diag *d, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(IrValue *v, Diag *d, const char *fmt, ...) {
    if (!d) return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(d, v->loc, "%s", msg);
    return false;
}

#define SHAPE(s) ir_shape_str((s), (char[96]){0}, 96)

static bool batch_first_only(IrShape s) {
    for (int i = 1; i < s.rank; i++)
        if (s.dims[i] < 1) return false;
    return s.rank == 0 || s.dims[0] >= 1 || s.dims[0] == IR_BATCH;
}

/* numpy matmul: leading dims broadcast, last two multiply. */
static bool rule_bmm(IrValue *v, Diag *d) {
    IrShape a = v->in[0]->shape, b = v->in[1]->shape;
    bool ta = v->attr.i[0] != 0, tb = v->attr.i[1] != 0;
    int ra = a.rank, rb = b.rank;
    int64_t m = ta ? a.dims[ra - 1] : a.dims[ra - 2];
    int64_t ka = ta ? a.dims[ra - 2] : a.dims[ra - 1];
    int64_t kb = tb ? b.dims[rb - 1] : b.dims[rb - 2];
    int64_t n = tb ? b.dims[rb - 2] : b.dims[rb - 1];
    if (ka != kb)
        return fail(v, d, "matmul: inner dimensions differ: %s%s x %s%s", SHAPE(a),
                    ta ? "^T" : "", SHAPE(b), tb ? "^T" : "");
    int nb = (ra > rb ? ra : rb) - 2;
    IrShape r = {0};
    r.rank = nb + 2;
    for (int i = 0; i < nb; i++) {
        int ia = ra - 2 - nb + i, ib = rb - 2 - nb + i;
        int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
        if (da == db) r.dims[i] = da;
        else if (da == 1) r.dims[i] = db;
        else if (db == 1) r.dims[i] = da;
        else
            return fail(v, d, "matmul: batch dimensions do not broadcast: %s x %s", SHAPE(a),
                        SHAPE(b));
    }
    r.dims[nb] = m;
    r.dims[nb + 1] = n;
    if (v->attr.i[2]) { /* summed over the leading dims */
        if (ra != rb)
            return fail(v, d, "matmul: a batch-summed product needs equal ranks: %s x %s",
                        SHAPE(a), SHAPE(b));
        for (int i = 0; i < nb; i++)
            if (a.dims[i] != b.dims[i])
                return fail(v, d, "matmul: a batch-summed product needs equal batch dimensions: "
                            "%s x %s", SHAPE(a), SHAPE(b));
        r = ir_shape2(m, n);
    }
    if (!batch_first_only(r))
        return fail(v, d, "matmul: the batch dimension must stay first: %s x %s", SHAPE(a),
                    SHAPE(b));
    v->shape = r;
    return true;
}

static bool im2col_shape(IrValue *v, Diag *d, IrShape x, IrShape *out) {
    if (x.rank != 4 || x.dims[1] < 1)
        return fail(v, d, "convolution: expects an [N, C, H, W] input, got %s", SHAPE(x));
    int64_t k = v->attr.i[0], s = v->attr.i[1], p = v->attr.i[2], dil = v->attr.i[3];
    int64_t oh = ir_window_sweep(x.dims[2], k, s, p, dil), ow = ir_window_sweep(x.dims[3], k, s, p, dil);
    if (oh < 1 || ow < 1)
        return fail(v, d, "convolution: a %lldx%lld kernel (dilation %lld, padding %lld) does "
                    "not fit %s", (long long)k, (long long)k, (long long)dil, (long long)p,
                    SHAPE(x));
    *out = ir_shape(3, (int64_t[]){x.dims[0], oh * ow, x.dims[1] * k * k});
    return true;
}

/* CONV2D: x [N, C, H, W], w [O, C, k, k], bias [O] -> [N, O, OH, OW]. */
static bool conv2d_shape(IrValue *v, Diag *d) {
    if (v->n_in < 2 || v->n_in > 3)
        return fail(v, d, "conv2d: takes an input, a weight and an optional bias, got %d",
                    v->n_in);
    IrShape x = v->in[0]->shape, w = v->in[1]->shape, col;
    if (!im2col_shape(v, d, x, &col)) return false;
    int64_t k = v->attr.i[0];
    if (w.rank != 4 || w.dims[1] != x.dims[1] || w.dims[2] != k || w.dims[3] != k ||
        ir_shape_has_batch(w))
        return fail(v, d, "conv2d: weight %s does not match input %s and kernel %lld",
                    SHAPE(w), SHAPE(x), (long long)k);
    if (v->n_in == 3 && (v->in[2]->shape.rank != 1 || v->in[2]->shape.dims[0] != w.dims[0]))
        return fail(v, d, "conv2d: bias %s does not match weight %s", SHAPE(v->in[2]->shape),
                    SHAPE(w));
    int64_t s = v->attr.i[1], p = v->attr.i[2], dil = v->attr.i[3];
    int64_t pool = v->attr.i[5] > 1 ? v->attr.i[5] : 1; /* a folded max pooling's tiles */
    int64_t oh = ir_window_sweep(x.dims[2], k, s, p, dil) / pool;
    int64_t ow = ir_window_sweep(x.dims[3], k, s, p, dil) / pool;
    if (oh < 1 || ow < 1)
        return fail(v, d, "conv2d: a %lldx%lld pooling does not fit its output", (long long)pool,
                    (long long)pool);
    v->shape = ir_shape(4, (int64_t[]){x.dims[0], w.dims[0], oh, ow});
    return true;
}

/* CONV2D_GRAD_W: x [N, C, H, W], dy [N, O, OH, OW] -> [O, C, k, k]. */
static bool conv2d_grad_w_shape(IrValue *v, Diag *d) {
    IrShape x = v->in[0]->shape, dy = v->in[1]->shape, col;
    if (!im2col_shape(v, d, x, &col)) return false;
    int64_t k = v->attr.i[0], s = v->attr.i[1], p = v->attr.i[2], dil = v->attr.i[3];
    if (dy.rank != 4 || dy.dims[0] != x.dims[0] || dy.dims[2] != ir_window_sweep(x.dims[2], k, s, p, dil) ||
        dy.dims[3] != ir_window_sweep(x.dims[3], k, s, p, dil))
        return fail(v, d, "conv2d_grad_w: dy %s is not a convolution output of %s", SHAPE(dy),
                    SHAPE(x));
    v->shape = ir_shape(4, (int64_t[]){dy.dims[1], x.dims[1], k, k});
    return true;
}

/* LINEAR: x [B, K], w [N, K], bias [N] -> [B, N]. */
static bool linear_shape(IrValue *v, Diag *d) {
    if (v->n_in < 2 || v->n_in > 3)
        return fail(v, d, "linear: takes an input, a weight and an optional bias, got %d", v->n_in);
    IrShape x = v->in[0]->shape, w = v->in[1]->shape;
    if (x.rank != 2 || w.rank != 2 || w.dims[1] != x.dims[1] || ir_shape_has_batch(w))
        return fail(v, d, "linear: weight %s does not match input %s", SHAPE(w), SHAPE(x));
    if (v->n_in == 3 && (v->in[2]->shape.rank != 1 || v->in[2]->shape.dims[0] != w.dims[0]))
        return fail(v, d, "linear: bias %s does not match weight %s", SHAPE(v->in[2]->shape),
                    SHAPE(w));
    v->shape = ir_shape2(x.dims[0], w.dims[0]);
    return true;
}

static bool pool_shape(IrValue *v, Diag *d, IrShape x, IrShape *out) {
    if (x.rank != 4)
        return fail(v, d, "pooling: expects an [N, C, H, W] input, got %s", SHAPE(x));
    int64_t k = v->attr.i[0], s = v->attr.i[1], p = v->attr.i[2];
    if (p < 0 || 2 * p > k)
        return fail(v, d, "pooling: padding %lld must be at most half the kernel %lld",
                    (long long)p, (long long)k);
    int64_t oh = ir_window_sweep(x.dims[2], k, s, p, 1), ow = ir_window_sweep(x.dims[3], k, s, p, 1);
    if (oh < 1 || ow < 1)
        return fail(v, d, "pooling: a %lldx%lld window does not fit %s", (long long)k,
                    (long long)k, SHAPE(x));
    *out = ir_shape(4, (int64_t[]){x.dims[0], x.dims[1], oh, ow});
    return true;
}

static bool rule_transpose(IrValue *v, Diag *d) {
    IrShape x = v->in[0]->shape, perm = v->attr.shape;
    if (perm.rank != x.rank)
        return fail(v, d, "transpose: %d axes given for %s", perm.rank, SHAPE(x));
    bool seen[IR_MAX_RANK] = {0};
    IrShape r = x;
    for (int i = 0; i < x.rank; i++) {
        int64_t p = perm.dims[i];
        if (p < 0 || p >= x.rank || seen[p])
            return fail(v, d, "transpose: not a permutation of the axes of %s", SHAPE(x));
        seen[p] = true;
        r.dims[i] = x.dims[p];
    }
    if (ir_shape_has_batch(x) && perm.dims[0] != 0)
        return fail(v, d, "transpose: the batch dimension must stay first: %s", SHAPE(x));
    v->shape = r;
    return true;
}

static bool rule_concat(IrValue *v, Diag *d) {
    if (v->n_in < 2 || v->n_in > IR_MAX_INPUTS)
        return fail(v, d, "concat: joins 2 to %d tensors, got %d", IR_MAX_INPUTS, v->n_in);
    IrShape r = v->in[0]->shape;
    int64_t axis = v->attr.i[0];
    if (axis < 0 || axis >= r.rank || r.dims[axis] == IR_BATCH)
        return fail(v, d, "concat: axis %lld is not a static axis of %s", (long long)axis,
                    SHAPE(r));
    for (int k = 1; k < v->n_in; k++) {
        IrShape s = v->in[k]->shape;
        bool ok = s.rank == r.rank;
        for (int i = 0; ok && i < s.rank; i++)
            ok = i == axis || s.dims[i] == r.dims[i];
        if (!ok)
            return fail(v, d, "concat: %s and %s differ outside axis %lld", SHAPE(v->in[0]->shape),
                        SHAPE(s), (long long)axis);
        r.dims[axis] += s.dims[axis];
    }
    v->shape = r;
    return true;
}

static bool slice_ok(IrValue *v, Diag *d, IrShape full) {
    int64_t axis = v->attr.i[0], b = v->attr.i[1], e = v->attr.i[2];
    if (axis < 0 || axis >= full.rank || full.dims[axis] == IR_BATCH)
        return fail(v, d, "slice: axis %lld is not a static axis of %s", (long long)axis,
                    SHAPE(full));
    if (b < 0 || e <= b || e > full.dims[axis])
        return fail(v, d, "slice: [%lld, %lld) is not inside axis %lld of %s", (long long)b,
                    (long long)e, (long long)axis, SHAPE(full));
    return true;
}

/* SLICE_GRAD and SLICE_ADD: `part` must be v's slice of `full`, which v
 * takes as its shape. */
static bool slice_of(IrValue *v, Diag *d, IrShape full, IrShape part, const char *op) {
    if (!slice_ok(v, d, full)) return false;
    IrShape want = full;
    want.dims[v->attr.i[0]] = v->attr.i[2] - v->attr.i[1];
    if (!ir_shape_eq(want, part))
        return fail(v, d, "%s: %s is not the slice of %s", op, SHAPE(part), SHAPE(full));
    v->shape = full;
    return true;
}

/* The batch-norm ops: x is [N, C, ...]; `in` holds, after x, the [rows, C]
 * statistics or gradient rows and the [C] parameters the op reads. */
static bool bn_shape(IrValue *v, Diag *d, IrShape x) {
    if (x.rank < 2 || x.dims[1] < 1)
        return fail(v, d, "%s: expects [N, C] or [N, C, ...], got %s", ir_op_name(v->op), SHAPE(x));
    int64_t c = x.dims[1];
    IrShape per_channel[2] = {ir_shape(1, &c), ir_shape2(2, c)};
    IrShape g = ir_shape2(3, c);
    for (int j = 0; j < v->n_in; j++) {
        IrShape s = v->in[j]->shape, want;
        switch (v->op) {
        case IR_OP_BN_NORM: want = j == 0 ? x : j == 1 ? per_channel[1] : per_channel[0]; break;
        case IR_OP_BN_GRAD: want = j < 2 ? x : j == 2 ? per_channel[1] : per_channel[0]; break;
        case IR_OP_BN_GRAD_X: want = j < 2 ? x : j == 2 ? per_channel[1] : g; break;
        default: want = x; break;
        }
        if (!ir_shape_eq(s, want))
            return fail(v, d, "%s: operand %d is %s, expected %s", ir_op_name(v->op), j, SHAPE(s),
                        SHAPE(want));
    }
    v->shape = v->op == IR_OP_BN_STATS ? per_channel[1] : v->op == IR_OP_BN_GRAD ? g : x;
    return true;
}

bool ir_infer_shape_layer(IrValue *v, Diag *d) {
    IrValue **in = v->in;
    v->dtype = IR_F32;
    switch (v->op) {
    case IR_OP_MATMUL: return rule_bmm(v, d);
    case IR_OP_IM2COL: return im2col_shape(v, d, in[0]->shape, &v->shape);
    case IR_OP_CONV2D: return conv2d_shape(v, d);
    case IR_OP_CONV2D_GRAD_W: return conv2d_grad_w_shape(v, d);
    case IR_OP_LINEAR: return linear_shape(v, d);
    case IR_OP_COL2IM: {
        IrShape col;
        if (!im2col_shape(v, d, v->attr.shape, &col)) return false;
        if (!ir_shape_eq(col, in[0]->shape))
            return fail(v, d, "col2im: %s is not the column matrix of %s", SHAPE(in[0]->shape),
                        SHAPE(v->attr.shape));
        v->shape = v->attr.shape;
        return true;
    }
    case IR_OP_POOL2D:
        if ((unsigned long long)v->attr.i[3] > 1) return fail(v, d, "pooling: unknown mode");
        return pool_shape(v, d, in[0]->shape, &v->shape);
    case IR_OP_POOL2D_GRAD: {
        IrShape y;
        if (!pool_shape(v, d, in[0]->shape, &y)) return false;
        if (!ir_shape_eq(y, in[1]->shape))
            return fail(v, d, "pool2d_grad: dy %s does not match the pooled %s",
                        SHAPE(in[1]->shape), SHAPE(y));
        v->shape = in[0]->shape;
        return true;
    }
    case IR_OP_TRANSPOSE: return rule_transpose(v, d);
    case IR_OP_CONCAT: return rule_concat(v, d);
    case IR_OP_SLICE: {
        IrShape x = in[0]->shape;
        if (!slice_ok(v, d, x)) return false;
        x.dims[v->attr.i[0]] = v->attr.i[2] - v->attr.i[1];
        v->shape = x;
        return true;
    }
    case IR_OP_MATMUL_ACC: {
        IrShape a = in[1]->shape, b = in[2]->shape, acc = in[0]->shape;
        bool ta = v->attr.i[0], tb = v->attr.i[1];
        if (a.rank != 2 || b.rank != 2 || (ta ? a.dims[0] : a.dims[1]) != (tb ? b.dims[1] : b.dims[0]))
            return fail(v, d, "matmul_acc: %s x %s do not multiply", SHAPE(a), SHAPE(b));
        IrShape y = ir_shape(2, (int64_t[]){ta ? a.dims[1] : a.dims[0], tb ? b.dims[0] : b.dims[1]});
        if (!ir_shape_eq(y, acc))
            return fail(v, d, "matmul_acc: %s accumulates into %s", SHAPE(y), SHAPE(acc));
        v->shape = acc;
        return true;
    }
    case IR_OP_SLICE_ADD: return slice_of(v, d, in[0]->shape, in[1]->shape, "slice_add");
    case IR_OP_BN_STATS:
    case IR_OP_BN_NORM:
    case IR_OP_BN_GRAD: return bn_shape(v, d, in[0]->shape);
    case IR_OP_BN_GRAD_X: return bn_shape(v, d, in[1]->shape);
    case IR_OP_SLICE_GRAD: return slice_of(v, d, v->attr.shape, in[0]->shape, "slice_grad");
    case IR_OP_DROPOUT:
        if (!(v->attr.f[0] >= 0 && v->attr.f[0] < 1))
            return fail(v, d, "dropout: p must be in [0, 1), got %g", v->attr.f[0]);
        v->shape = in[0]->shape;
        return true;
    case IR_OP_RUNNING_UPDATE:
        if (!v->attr.param) return fail(v, d, "running_update: no buffer");
        if (ir_shape_has_batch(in[0]->shape) ||
            ir_shape_elems_static(in[0]->shape) != v->attr.param->size)
            return fail(v, d, "running_update: %s does not match buffer %s",
                        SHAPE(in[0]->shape), v->attr.param->name);
        v->shape = v->attr.param->shape;
        return true;
    case IR_OP_EMBEDDING: {
        IrShape ids = in[0]->shape, w = in[1]->shape;
        if (w.rank != 2 || ids.rank >= IR_MAX_RANK)
            return fail(v, d, "embedding: expects ids of rank < %d and a [num, dim] table, got "
                        "%s and %s", IR_MAX_RANK, SHAPE(ids), SHAPE(w));
        ids.dims[ids.rank++] = w.dims[1];
        v->shape = ids;
        return true;
    }
    case IR_OP_EMBEDDING_GRAD: {
        IrShape ids = in[0]->shape, t = v->attr.shape;
        if (t.rank != 2 || ids.rank >= IR_MAX_RANK)
            return fail(v, d, "embedding_grad: bad table shape %s", SHAPE(t));
        ids.dims[ids.rank++] = t.dims[1];
        if (!ir_shape_eq(ids, in[1]->shape))
            return fail(v, d, "embedding_grad: dy %s does not match ids %s",
                        SHAPE(in[1]->shape), SHAPE(in[0]->shape));
        v->shape = t;
        return true;
    }
    case IR_OP_REDUCE_MAX_GRAD: {
        IrShape x = in[0]->shape;
        for (int k = 1; k < 3; k++) {
            IrShape s = in[k]->shape;
            bool ok = s.rank == x.rank;
            for (int i = 0; ok && i < s.rank; i++) ok = s.dims[i] == x.dims[i] || s.dims[i] == 1;
            if (!ok)
                return fail(v, d, "reduce_max_grad: %s is not a keepdims reduction of %s",
                            SHAPE(s), SHAPE(x));
        }
        v->shape = x;
        return true;
    }
    default: break;
    }
    return fail(v, d, "unknown op %d", (int)v->op);
}
