/* ir_compose.c - layers as graphs of IR ops (see ir_compose.h).
 *
 * Convolution is IM2COL + one batched MATMUL per (sample, group) against
 * the weight viewed as [groups, out/groups, in/groups*k*k] (a 1x1 stride-1
 * unpadded convolution skips IM2COL: its column matrix is x itself). The
 * forward pass has no use for the column matrix, which is most of a small
 * convolution's cost: an ungrouped stride-1 convolution is one CONV2D,
 * bias included, computed directly (runtime/src/conv2d.c); in training,
 * its VJP makes the column matrix the weight gradient needs
 * (passes/autodiff_layers.c).
 * Batch norm is ops of its own (in training the statistics, then the
 * normalization, with dedicated backward kernels: the composed form made
 * ~30 passes over each feature map a step; in inference the normalization
 * by the running statistics). Other normalization and
 * recurrent cells are spelled out in elementwise ops,
 * reductions and slices, so autodiff derives their backward passes from
 * rules that are each checked on their own; recurrent layers are unrolled
 * over the (static) sequence length. */
#include "ir_compose.h"

#include <math.h>

static Diag *diag_of(IrFunc *f) { return f->module->diag; }

static IrValue *bin(IrFunc *f, IrOpKind op, IrValue *a, IrValue *b, SrcLoc loc) {
    return ir_build_binary(f, op, a, b, loc);
}
static IrValue *un(IrFunc *f, IrUnaryFn fn, IrValue *x, SrcLoc loc) {
    return ir_build_unary(f, fn, x, 0, loc);
}
static IrValue *num(IrFunc *f, double x, SrcLoc loc) { return ir_build_const(f, x, loc); }

IrValue *ir_reshape(IrFunc *f, IrValue *x, IrShape s, SrcLoc loc) {
    if (!x) return NULL;
    if (ir_shape_eq(x->shape, s)) return x;
    return ir_build_to_shape(f, IR_OP_RESHAPE, x, s, loc);
}

IrValue *ir_slice(IrFunc *f, IrValue *x, int axis, int64_t start, int64_t end, SrcLoc loc) {
    if (!x) return NULL;
    if (axis >= 0 && axis < x->shape.rank && start == 0 && end == x->shape.dims[axis]) return x;
    IrAttrs at = {0};
    at.i[0] = axis;
    at.i[1] = start;
    at.i[2] = end;
    return ir_build(f, IR_OP_SLICE, &x, 1, &at, loc);
}

IrValue *ir_concat(IrFunc *f, IrValue **xs, int n, int axis, SrcLoc loc) {
    if (n <= 0) return NULL;
    if (n == 1) return xs[0];
    if (n <= IR_MAX_INPUTS) {
        IrAttrs at = {0};
        at.i[0] = axis;
        return ir_build(f, IR_OP_CONCAT, xs, n, &at, loc);
    }
    IrValue *parts[IR_MAX_INPUTS];
    int per = (n + IR_MAX_INPUTS - 1) / IR_MAX_INPUTS, np = 0;
    for (int i = 0; i < n; i += per)
        parts[np++] = ir_concat(f, xs + i, n - i < per ? n - i : per, axis, loc);
    return ir_concat(f, parts, np, axis, loc);
}

IrValue *ir_permute(IrFunc *f, IrValue *x, const int64_t *perm, SrcLoc loc) {
    if (!x) return NULL;
    IrAttrs at = {0};
    at.shape = ir_shape(x->shape.rank, perm);
    return ir_build(f, IR_OP_TRANSPOSE, &x, 1, &at, loc);
}

/* ---- convolution and pooling --------------------------------------------- */

/* Whether a convolution is one direct CONV2D: ungrouped, of stride 1 and
 * with a window (a 1x1 unpadded one is a plain product already). */
static bool direct_conv(int64_t k, int64_t stride, int64_t padding, int64_t groups) {
    return groups == 1 && stride == 1 && (k > 1 || padding > 0);
}

IrValue *ir_conv2d(IrFunc *f, IrValue *x, IrValue *w, IrValue *bias, int64_t stride,
                   int64_t padding, int64_t dilation, int64_t groups, SrcLoc loc) {
    if (!x || !w) return NULL;
    IrShape xs = x->shape, ws = w->shape;
    char a[96], b[96];
    if (xs.rank != 4 || ws.rank != 4 || ws.dims[2] != ws.dims[3] || groups < 1 ||
        ws.dims[1] * groups != xs.dims[1] || ws.dims[0] % groups != 0) {
        diag_error(diag_of(f), loc,
                   "conv2d: input %s and weight %s do not match ([N, C, H, W] and "
                   "[out, C/groups, k, k], groups %lld)",
                   ir_shape_str(xs, a, sizeof a), ir_shape_str(ws, b, sizeof b), (long long)groups);
        return NULL;
    }
    int64_t n = xs.dims[0], c = xs.dims[1], h = xs.dims[2], wd = xs.dims[3];
    int64_t o = ws.dims[0], k = ws.dims[2], ck = ws.dims[1] * k * k;
    int64_t span = dilation * (k - 1) + 1;
    int64_t oh = (h + 2 * padding - span) / stride + 1, ow = (wd + 2 * padding - span) / stride + 1;
    IrValue *y;
    if (direct_conv(k, stride, padding, groups)) {
        IrAttrs at = {0};
        at.i[0] = k;
        at.i[1] = stride;
        at.i[2] = padding;
        at.i[3] = dilation;
        IrValue *ins[3] = {x, w, bias};
        return ir_build(f, IR_OP_CONV2D, ins, bias ? 3 : 2, &at, loc);
    }
    if (k == 1 && stride == 1 && padding == 0 && groups == 1) { /* x is its own column matrix */
        IrValue *xr = ir_reshape(f, x, ir_shape(3, (int64_t[]){n, c, h * wd}), loc);
        y = ir_build_matmul(f, ir_reshape(f, w, ir_shape2(o, ck), loc), xr, false, false, loc);
    } else {
        /* one row per output position: [N, OH*OW, C*k*k] */
        IrAttrs at = {0};
        at.i[0] = k;
        at.i[1] = stride;
        at.i[2] = padding;
        at.i[3] = dilation;
        IrValue *col = ir_build(f, IR_OP_IM2COL, &x, 1, &at, loc);
        if (!col) return NULL;
        int64_t p = oh * ow;
        if (groups == 1) { /* rows x W^T: one GEMM over the whole batch */
            y = ir_build_matmul(f, col, ir_reshape(f, w, ir_shape2(o, ck), loc), false, true, loc);
            y = ir_permute(f, y, (int64_t[]){0, 2, 1}, loc);
        } else {
            IrValue *cr = ir_reshape(f, col, ir_shape(4, (int64_t[]){n, p, groups, ck}), loc);
            cr = ir_permute(f, cr, (int64_t[]){0, 2, 1, 3}, loc); /* [N, g, P, ck] */
            IrValue *wr = ir_reshape(f, w, ir_shape(3, (int64_t[]){groups, o / groups, ck}), loc);
            y = ir_build_matmul(f, cr, wr, false, true, loc); /* [N, g, P, o/g] */
            y = ir_permute(f, y, (int64_t[]){0, 1, 3, 2}, loc);
        }
    }
    y = ir_reshape(f, y, ir_shape(4, (int64_t[]){n, o, oh, ow}), loc);
    if (!bias || !y) return y;
    return bin(f, IR_OP_ADD, y, ir_reshape(f, bias, ir_shape(3, (int64_t[]){o, 1, 1}), loc), loc);
}

IrValue *ir_pool2d(IrFunc *f, IrValue *x, int64_t kernel, int64_t stride, int64_t padding,
                   bool avg, SrcLoc loc) {
    IrAttrs at = {0};
    at.i[0] = kernel;
    at.i[1] = stride;
    at.i[2] = padding;
    at.i[3] = avg;
    return ir_build(f, IR_OP_POOL2D, &x, 1, &at, loc);
}

/* ---- normalization --------------------------------------------------------- */

static bool bn_input_ok(IrFunc *f, IrValue *x, SrcLoc loc) {
    if (x->shape.rank >= 2 && x->shape.dims[1] >= 1) return true;
    char a[96];
    diag_error(diag_of(f), loc, "batch_norm: expects [N, C] or [N, C, ...], got %s",
               ir_shape_str(x->shape, a, sizeof a));
    return false;
}

/* y = (x - mean) / sqrt(var + eps) * w + b with mean/var broadcastable. */
static IrValue *normalize(IrFunc *f, IrValue *xc, IrValue *var, IrValue *w, IrValue *b,
                          IrShape cs, double eps, SrcLoc loc) {
    IrValue *sd = un(f, IR_FN_SQRT, bin(f, IR_OP_ADD, var, num(f, eps, loc), loc), loc);
    IrValue *y = bin(f, IR_OP_DIV, xc, sd, loc);
    if (w) y = bin(f, IR_OP_MUL, y, ir_reshape(f, w, cs, loc), loc);
    if (b) y = bin(f, IR_OP_ADD, y, ir_reshape(f, b, cs, loc), loc);
    return y;
}

IrValue *ir_channel_row(IrFunc *f, IrValue *rows, int64_t row, SrcLoc loc) {
    if (!rows) return NULL;
    IrShape c = ir_shape(1, &rows->shape.dims[1]);
    return ir_reshape(f, ir_slice(f, rows, 0, row, row + 1, loc), c, loc);
}

/* Training: one op for the statistics and one for the normalization, whose
 * VJP (passes/autodiff_layers.c) is the whole batch norm's. */
IrValue *ir_batch_norm_train(IrFunc *f, IrValue *x, IrValue *w, IrValue *b, double eps,
                             IrValue **mean, IrValue **var, SrcLoc loc) {
    if (!x || !w || !b || !bn_input_ok(f, x, loc)) return NULL;
    IrValue *stats = ir_build1(f, IR_OP_BN_STATS, x, loc);
    if (!stats) return NULL;
    if (mean) *mean = ir_channel_row(f, stats, 0, loc);
    if (var) *var = ir_channel_row(f, stats, 1, loc);
    IrAttrs at = {0};
    at.f[0] = eps;
    return ir_build(f, IR_OP_BN_NORM, (IrValue *[]){x, stats, w, b}, 4, &at, loc);
}

/* Inference: the running statistics as one [2, C] block (a concat of 2C
 * floats), normalized by training's kernel with them held fixed (i[0]):
 * one pass over x, where the formula in element-wise ops made four. */
IrValue *ir_batch_norm_eval(IrFunc *f, IrValue *x, IrValue *w, IrValue *b, IrValue *rm,
                            IrValue *rv, double eps, SrcLoc loc) {
    if (!x || !w || !b || !rm || !rv || !bn_input_ok(f, x, loc)) return NULL;
    IrShape row = ir_shape2(1, x->shape.dims[1]);
    IrValue *parts[2] = {ir_reshape(f, rm, row, loc), ir_reshape(f, rv, row, loc)};
    IrValue *stats = ir_concat(f, parts, 2, 0, loc);
    if (!stats) return NULL;
    IrAttrs at = {0};
    at.f[0] = eps;
    at.i[0] = 1;
    return ir_build(f, IR_OP_BN_NORM, (IrValue *[]){x, stats, w, b}, 4, &at, loc);
}

IrValue *ir_layer_norm(IrFunc *f, IrValue *x, IrValue *w, IrValue *b, double eps, SrcLoc loc) {
    if (!x) return NULL;
    int r = x->shape.rank;
    if (r < 1) {
        diag_error(diag_of(f), loc, "layer_norm: expects a tensor with at least one axis");
        return NULL;
    }
    uint32_t mask = 1u << (r - 1);
    IrValue *mu = ir_build_reduce(f, IR_OP_MEAN, x, mask, true, loc);
    IrValue *xc = bin(f, IR_OP_SUB, x, mu, loc);
    IrValue *vr = ir_build_reduce(f, IR_OP_MEAN, bin(f, IR_OP_MUL, xc, xc, loc), mask, true, loc);
    return normalize(f, xc, vr, w, b, ir_shape(1, &x->shape.dims[r - 1]), eps, loc);
}

/* ---- attention -------------------------------------------------------------- */

IrValue *ir_attention(IrFunc *f, IrValue *q, IrValue *k, IrValue *v, SrcLoc loc) {
    if (!q || !k || !v) return NULL;
    if (q->shape.rank < 2) {
        diag_error(diag_of(f), loc, "attention: q must be [..., T, d]");
        return NULL;
    }
    double d = (double)q->shape.dims[q->shape.rank - 1];
    IrValue *s = ir_build_matmul(f, q, k, false, true, loc);
    s = bin(f, IR_OP_MUL, s, num(f, 1.0 / sqrt(d), loc), loc);
    return ir_build_matmul(f, ir_build1(f, IR_OP_SOFTMAX, s, loc), v, false, false, loc);
}

/* ---- recurrent layers ---------------------------------------------------------- */

static bool rnn_ok(IrFunc *f, IrValue *x, IrValue *w_ih, IrValue *w_hh, int gates, int64_t *hidden,
                   SrcLoc loc) {
    if (!x || !w_ih || !w_hh) return false;
    char a[96], b[96];
    if (x->shape.rank != 3 || w_hh->shape.rank != 2 || w_ih->shape.rank != 2 ||
        w_hh->shape.dims[0] != gates * w_hh->shape.dims[1] ||
        w_ih->shape.dims[1] != x->shape.dims[2] || w_ih->shape.dims[0] != w_hh->shape.dims[0]) {
        diag_error(diag_of(f), loc,
                   "recurrent layer: expects x [N, T, features] (batch first), got %s with "
                   "weights %s",
                   ir_shape_str(x->shape, a, sizeof a), ir_shape_str(w_ih->shape, b, sizeof b));
        return false;
    }
    *hidden = w_hh->shape.dims[1];
    return true;
}

/* The per-step input projections x W_ih^T + bias: [N, T, gates*H]. */
static IrValue *project(IrFunc *f, IrValue *x, IrValue *w_ih, IrValue *bias, SrcLoc loc) {
    IrValue *xw = ir_build_matmul(f, x, w_ih, false, true, loc);
    return bias ? bin(f, IR_OP_ADD, xw, bias, loc) : xw;
}

static IrValue *step_of(IrFunc *f, IrValue *xw, int64_t t, SrcLoc loc) {
    IrValue *s = ir_slice(f, xw, 1, t, t + 1, loc);
    return s ? ir_reshape(f, s, ir_shape2(xw->shape.dims[0], xw->shape.dims[2]), loc) : NULL;
}

static IrValue *gate(IrFunc *f, IrValue *g, int idx, int64_t h, SrcLoc loc) {
    return ir_slice(f, g, g ? g->shape.rank - 1 : 0, idx * h, (idx + 1) * h, loc);
}

static IrValue *finish(IrFunc *f, IrValue **hs, int64_t steps, bool sequence, SrcLoc loc) {
    if (!sequence) return hs[steps - 1];
    for (int64_t t = 0; t < steps; t++) {
        if (!hs[t]) return NULL;
        IrShape s = ir_shape(3, (int64_t[]){hs[t]->shape.dims[0], 1, hs[t]->shape.dims[1]});
        hs[t] = ir_reshape(f, hs[t], s, loc);
    }
    return ir_concat(f, hs, (int)steps, 1, loc);
}

IrValue *ir_lstm(IrFunc *f, IrValue *x, IrValue *w_ih, IrValue *w_hh, IrValue *b_ih,
                 IrValue *b_hh, bool sequence, SrcLoc loc) {
    int64_t hd;
    if (!rnn_ok(f, x, w_ih, w_hh, 4, &hd, loc)) return NULL;
    IrValue *bias = b_ih && b_hh ? bin(f, IR_OP_ADD, b_ih, b_hh, loc) : b_ih ? b_ih : b_hh;
    IrValue *xw = project(f, x, w_ih, bias, loc);
    int64_t steps = x->shape.dims[1];
    IrValue *hs[steps];
    IrValue *h = NULL, *c = NULL;
    for (int64_t t = 0; t < steps; t++) {
        IrValue *g = step_of(f, xw, t, loc);
        if (h) g = bin(f, IR_OP_ADD, g, ir_build_matmul(f, h, w_hh, false, true, loc), loc);
        IrValue *ig = un(f, IR_FN_SIGMOID, gate(f, g, 0, hd, loc), loc);
        IrValue *gg = un(f, IR_FN_TANH, gate(f, g, 2, hd, loc), loc);
        IrValue *og = un(f, IR_FN_SIGMOID, gate(f, g, 3, hd, loc), loc);
        IrValue *ic = bin(f, IR_OP_MUL, ig, gg, loc);
        if (c) {
            IrValue *fg = un(f, IR_FN_SIGMOID, gate(f, g, 1, hd, loc), loc);
            c = bin(f, IR_OP_ADD, bin(f, IR_OP_MUL, fg, c, loc), ic, loc);
        } else {
            c = ic;
        }
        h = bin(f, IR_OP_MUL, og, un(f, IR_FN_TANH, c, loc), loc);
        if (!h) return NULL;
        hs[t] = h;
    }
    return finish(f, hs, steps, sequence, loc);
}

IrValue *ir_gru(IrFunc *f, IrValue *x, IrValue *w_ih, IrValue *w_hh, IrValue *b_ih,
                IrValue *b_hh, bool sequence, SrcLoc loc) {
    int64_t hd;
    if (!rnn_ok(f, x, w_ih, w_hh, 3, &hd, loc)) return NULL;
    IrValue *xw = project(f, x, w_ih, b_ih, loc);
    int64_t steps = x->shape.dims[1];
    IrValue *hs[steps];
    IrValue *h = NULL;
    for (int64_t t = 0; t < steps; t++) {
        IrValue *gx = step_of(f, xw, t, loc);
        IrValue *gh = h ? ir_build_matmul(f, h, w_hh, false, true, loc) : NULL;
        if (gh && b_hh) gh = bin(f, IR_OP_ADD, gh, b_hh, loc);
        else if (!gh) gh = b_hh; /* zero state: W_hh h = 0 */
        IrValue *rx = gate(f, gx, 0, hd, loc), *zx = gate(f, gx, 1, hd, loc), *nx = gate(f, gx, 2, hd, loc);
        IrValue *r = gh ? bin(f, IR_OP_ADD, rx, gate(f, gh, 0, hd, loc), loc) : rx;
        IrValue *z = gh ? bin(f, IR_OP_ADD, zx, gate(f, gh, 1, hd, loc), loc) : zx;
        r = un(f, IR_FN_SIGMOID, r, loc);
        z = un(f, IR_FN_SIGMOID, z, loc);
        IrValue *nn = gh ? bin(f, IR_OP_ADD, nx, bin(f, IR_OP_MUL, r, gate(f, gh, 2, hd, loc), loc), loc)
                         : nx;
        nn = un(f, IR_FN_TANH, nn, loc);
        IrValue *keep = bin(f, IR_OP_SUB, num(f, 1.0, loc), z, loc);
        IrValue *hn = bin(f, IR_OP_MUL, keep, nn, loc);
        h = h ? bin(f, IR_OP_ADD, hn, bin(f, IR_OP_MUL, z, h, loc), loc) : hn;
        if (!h) return NULL;
        hs[t] = h;
    }
    return finish(f, hs, steps, sequence, loc);
}
