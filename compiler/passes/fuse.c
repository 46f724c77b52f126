/* fuse.c - bias adds and activations folded into the op that produces
 * their input.
 *
 * A dense layer is MATMUL(x, w^T), ADD of a bias, then often an activation:
 * three passes over the activations and, at batch 1, three calls where the
 * product is a few microseconds (the bias add and relu took 2.5 % of the
 * samples of batch-1 Fashion MLP predictions at 2 threads, reading back
 * the rows the other core had just written). Such a MATMUL becomes
 * LINEAR(x, w [, bias]), which adds the bias and applies a relu, sigmoid
 * or tanh as it stores each output (codegen_linear.c). A relu whose input
 * is a direct convolution (CONV2D) is likewise applied by the
 * convolution's kernel (relu was 10 % of batch-256 inference of
 * examples/fashion_cnn.aai), a relu after a batch norm by the batch
 * norm's (in training too: its gradient reads the normalization's input,
 * not its output), and so is a max pooling over tiles (stride =
 * kernel, no padding) of a convolution nothing else reads: the runtime
 * pools each sample while its convolution is still in cache (storing the
 * unpooled planes and reading them back took a fifth of that inference).
 * Training keeps the convolution's output for the pooling's gradient, so
 * there the two stay apart; there the relu's gradient folds into the max
 * pooling's instead (relu_grad(y, y, pool2d_grad(y, dy)), y the relu's
 * output: dy reaches a maximum only where it is > 0), which saves a pass
 * over the convolution's output.
 *
 * A gradient summed from slices (an unrolled recurrence's input and gate
 * gradients: ADD(x, SLICE_GRAD(d)), a full-size tensor of zeros with d in
 * one slice, then a full-size add) becomes SLICE_ADD(x, d), which adds d
 * into x's slice; where x dies there the memory plan gives both one buffer
 * and only the slice is touched (the LSTM of examples/sequence.aai spent a
 * fifth of its training in those adds and zero fills). The sums are the
 * same, but for the sign of a zero x element (-0 stays -0 instead of
 * -0 + 0 = +0). Likewise a batch-free product added to a sum, ADD(acc,
 * MATMUL(a, b)) (the same recurrence's weight gradients, one product per
 * time step), becomes MATMUL_ACC(acc, a, b): the product accumulates into
 * acc (sgemm with beta = 1) instead of being stored, then added. Products
 * with a batch dimension keep their matrix-vector path at batch 1.
 *
 * A folded value may have no other reader than the op folding it, except
 * for the activation's own gradient fn_grad(x, y, dy), which may read x
 * too: for these three activations that gradient reads only y
 * (codegen_ops.c: relu y > 0, sigmoid y (1 - y), tanh 1 - y^2), so once x
 * is the folded output too the pre-activation values are never needed.
 * (gelu, silu and the others read x, so they stay separate ops.) The
 * folded ops lose their uses; DCE removes them. Every kernel computes the
 * same expressions in the same order as the ops it absorbs ((x @ w^T) +
 * bias, then the UNARY kernel's expression), so answers do not change, in
 * training either: bit for bit for relu, to a few ULP for sigmoid and tanh,
 * whose libm calls a vectorized loop makes through glibc's vector variants
 * in its body and the scalar functions in its remainder
 * (codegen_vecmath.c).
 *
 * Requires: shapes inferred, autodiff done. Preserves: value ids, and the
 * schedule but for a folded product, which moves to its bias add's place. */
#include "passes.h"

/* An activation whose gradient reads only its output (see above). */
static bool is_foldable_activation(const IrValue *v) {
    if (v->dead || v->op != IR_OP_UNARY) return false;
    return v->attr.fn == IR_FN_RELU || v->attr.fn == IR_FN_SIGMOID || v->attr.fn == IR_FN_TANH;
}

/* fn_grad(x, act, dy): the gradient of activation `act` applied to `x`. */
static bool is_grad_of(const IrValue *u, const IrValue *x, const IrValue *act) {
    return !u->dead && u->op == IR_OP_UNARY_GRAD && u->attr.fn == act->attr.fn && u->in[0] == x &&
           u->in[1] == act;
}

/* Whether every reader of x but `act` is act's gradient. */
static bool only_act_reads(IrFunc *f, const IrValue *x, const IrValue *act) {
    int grads = 0;
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *u = f->values.items[i];
        if (u == act || u->dead) continue;
        for (int k = 0; k < u->n_in; k++) {
            if (u->in[k] != x) continue;
            if (!is_grad_of(u, x, act)) return false;
            grads++;
            break;
        }
    }
    return x->n_uses == 1 + grads;
}

/* A dense layer's product: x [B, K] @ w^T with w [N, K] a static matrix. */
static bool is_dense_product(const IrValue *v) {
    if (v->dead || v->op != IR_OP_MATMUL || v->attr.i[0] || !v->attr.i[1] || v->attr.i[2])
        return false;
    const IrShape x = v->in[0]->shape, w = v->in[1]->shape;
    return x.rank == 2 && w.rank == 2 && !ir_shape_has_batch(w);
}

/* A dense product MATMUL(x, w^T) becomes LINEAR(x, w): same inputs, no
 * bias, no activation yet. A LINEAR stays as it is. */
static void make_linear(IrValue *v) {
    if (v->op == IR_OP_LINEAR) return;
    v->op = IR_OP_LINEAR;
    v->attr = (IrAttrs){0};
}

/* The bias [N] of an add of a dense product's output and a bias, or NULL. */
static IrValue *bias_of(const IrValue *add, const IrValue *product) {
    IrValue *b = add->in[0] == product ? add->in[1] : add->in[0];
    const IrShape s = b->shape, y = product->shape;
    bool fits = s.rank == 1 && s.dims[0] == y.dims[1] && ir_shape_eq(add->shape, y);
    return fits && b != product ? b : NULL;
}

/* The input of an add that is a dense product (or one already LINEAR
 * without bias or activation) read by nothing else, or NULL. */
static IrValue *foldable_product(const IrValue *add) {
    for (int k = 0; k < 2; k++) {
        IrValue *p = add->in[k];
        bool bare = p->op == IR_OP_LINEAR ? p->n_in == 2 && !p->attr.i[0] : is_dense_product(p);
        if (bare && p->n_uses == 1) return p;
    }
    return NULL;
}

/* `from` folded into `into`: its readers read `into`, and it is gone
 * (dead now, so that it no longer counts as a reader of `into`). */
static void absorb(IrFunc *f, IrValue *from, IrValue *into) {
    if (!into->name) into->name = from->name;
    ir_replace_uses(f, from, into);
    from->dead = true;
    ir_count_uses(f);
}

/* ADD(product, bias) at schedule index `at`: the bias joins the LINEAR,
 * which takes the add's place in the schedule (the bias may be defined
 * after the product; the add comes after both). */
static void fold_bias(IrFunc *f, size_t at) {
    IrValue *add = f->values.items[at];
    IrValue *p = foldable_product(add), *bias = p ? bias_of(add, p) : NULL;
    if (!bias) return;
    make_linear(p);
    p->in[p->n_in++] = bias;
    for (size_t i = 0; i < at; i++)
        if (f->values.items[i] == p) f->values.items[i] = add;
    f->values.items[at] = p;
    absorb(f, add, p);
}

/* act(x) for a dense product x, or relu(x) for a CONV2D or BN_NORM x: the
 * activation joins x's op (LINEAR: attr.i[0] set, attr.fn the function;
 * CONV2D: attr.i[4], BN_NORM: attr.i[1], relu only, applied by the
 * runtime's kernel).
 * act_grad(x, act, dy) becomes act_grad(x, x, dy): both now the
 * activation's output, the only one it reads. */
static void fold_activation(IrFunc *f, IrValue *act) {
    IrValue *x = act->in[0];
    if (x->op == IR_OP_CONV2D || x->op == IR_OP_BN_NORM) {
        int64_t *relu = &x->attr.i[x->op == IR_OP_CONV2D ? 4 : 1];
        if (act->attr.fn != IR_FN_RELU || *relu || !only_act_reads(f, x, act)) return;
        *relu = 1;
    } else {
        bool bare = x->op == IR_OP_LINEAR ? !x->attr.i[0] : is_dense_product(x);
        if (!bare || !only_act_reads(f, x, act)) return;
        make_linear(x);
        x->attr.i[0] = 1;
        x->attr.fn = act->attr.fn;
    }
    absorb(f, act, x);
}

/* A max pooling over tiles of a CONV2D's output that nothing else reads:
 * the convolution pools (attr.i[5] = the tile) and takes the pooling's
 * shape and readers. */
static void fold_pool(IrFunc *f, IrValue *pool) {
    IrValue *x = pool->in[0];
    const int64_t *a = pool->attr.i; /* kernel, stride, padding, avg */
    bool tiles = a[0] > 1 && a[1] == a[0] && a[2] == 0 && !a[3];
    if (!tiles || x->dead || x->op != IR_OP_CONV2D || x->attr.i[5] || x->n_uses != 1) return;
    x->attr.i[5] = a[0];
    x->shape = pool->shape;
    absorb(f, pool, x);
}

static bool is_slice_grad(const IrValue *v) { return v->op == IR_OP_SLICE_GRAD; }

/* A 2-D product of batch-free shape. */
static bool is_static_product(const IrValue *p) {
    return p->op == IR_OP_MATMUL && !p->attr.i[2] && p->in[0]->shape.rank == 2 &&
           p->in[1]->shape.rank == 2 && !ir_shape_has_batch(p->shape);
}

/* The input of an add that `is` accepts, that only the add reads, with
 * the add's shape, the other input (the running sum) of that shape too,
 * as input `*which`; NULL when there is none. */
static IrValue *summand(const IrValue *add, bool (*is)(const IrValue *), int *which) {
    for (int k = 1; k >= 0; k--) {
        IrValue *v = add->in[k];
        if (is(v) && v->n_uses == 1 && add->in[1 - k] != v && ir_shape_eq(v->shape, add->shape) &&
            ir_shape_eq(add->in[1 - k]->shape, add->shape)) {
            *which = k;
            return v;
        }
    }
    return NULL;
}

/* ADD(acc, MATMUL(a, b)) -> MATMUL_ACC(acc, a, b), in the add's place. */
static void fold_matmul_acc(IrFunc *f, IrValue *add) {
    int k;
    IrValue *p = summand(add, is_static_product, &k);
    if (!p) return;
    add->op = IR_OP_MATMUL_ACC;
    add->in[0] = add->in[1 - k];
    add->in[1] = p->in[0];
    add->in[2] = p->in[1];
    add->n_in = 3;
    add->attr = (IrAttrs){0};
    add->attr.i[0] = p->attr.i[0];
    add->attr.i[1] = p->attr.i[1];
    p->dead = true;
    ir_count_uses(f);
}

/* ADD(x, SLICE_GRAD(d)) -> SLICE_ADD(x, d), in the add's place. */
static void fold_slice_add(IrFunc *f, IrValue *add) {
    int k;
    IrValue *s = summand(add, is_slice_grad, &k);
    if (!s) return;
    IrValue *x = add->in[1 - k];
    add->op = IR_OP_SLICE_ADD;
    add->in[0] = x;
    add->in[1] = s->in[0];
    add->attr = s->attr;
    add->attr.shape = (IrShape){0};
    s->dead = true;
    ir_count_uses(f);
}

/* relu_grad(x, y, g) with g = POOL2D_GRAD(y, dy) of a max pooling that
 * only it reads: the pooling's gradient applies the relu's (attr.i[4]). */
static void fold_relu_grad(IrFunc *f, IrValue *rg) {
    IrValue *g = rg->in[2];
    if (rg->attr.fn != IR_FN_RELU || g->op != IR_OP_POOL2D_GRAD || g->attr.i[3] || g->attr.i[4] ||
        g->n_uses != 1 || g->in[0] != rg->in[1])
        return;
    g->attr.i[4] = 1;
    absorb(f, rg, g);
}

static void fuse_func(IrFunc *f) {
    ir_count_uses(f);
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        if (v->dead) continue;
        if (v->op == IR_OP_ADD) {
            fold_bias(f, i);
            if (!v->dead) fold_slice_add(f, v);
            if (!v->dead && v->op == IR_OP_ADD) fold_matmul_acc(f, v);
        } else if (v->op == IR_OP_POOL2D) fold_pool(f, v);
        else if (v->op == IR_OP_UNARY_GRAD) fold_relu_grad(f, v);
        else if (is_foldable_activation(v)) fold_activation(f, v);
    }
}

void pass_fuse(IrModule *m) {
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) fuse_func(m->funcs[k]);
}
