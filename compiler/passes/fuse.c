/* fuse.c - activations folded into the op that produces their input.
 *
 * A relu whose input is a direct convolution (CONV2D) is applied by the
 * convolution as it stores its output: one pass over the activations
 * instead of two (relu was 10 % of batch-256 inference of
 * examples/fashion_cnn.aai, 4 % of a training epoch). The convolution's
 * other readers may only be the relu's own gradients, relu_grad(x, y, dy)
 * with y the relu's output: that gradient reads only y (codegen_ops.c), so
 * once x is the folded output too the pre-activation values are never
 * needed. The
 * relu loses its uses; DCE removes it. The convolution computes relu as
 * the generated kernel did (x > 0 ? x : 0), so answers do not change.
 *
 * Requires: shapes inferred. Preserves: schedule order, value ids. */
#include "passes.h"

static bool is_relu(const IrValue *v) {
    return !v->dead && v->op == IR_OP_UNARY && v->attr.fn == IR_FN_RELU;
}

/* relu_grad(conv, relu, dy): the gradient of `relu` applied to `conv`. */
static bool is_grad_of(const IrValue *u, const IrValue *conv, const IrValue *relu) {
    return !u->dead && u->op == IR_OP_UNARY_GRAD && u->attr.fn == IR_FN_RELU &&
           u->in[0] == conv && u->in[1] == relu;
}

/* Whether every reader of conv but `relu` is relu's gradient; counts them. */
static bool only_relu_reads(IrFunc *f, const IrValue *conv, const IrValue *relu) {
    int grads = 0;
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *u = f->values.items[i];
        if (u == relu || u->dead) continue;
        for (int k = 0; k < u->n_in; k++) {
            if (u->in[k] != conv) continue;
            if (!is_grad_of(u, conv, relu)) return false;
            grads++;
            break;
        }
    }
    return conv->n_uses == 1 + grads;
}

static void fuse_func(IrFunc *f) {
    ir_count_uses(f);
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        if (!is_relu(v)) continue;
        IrValue *conv = v->in[0];
        if (conv->op != IR_OP_CONV2D || conv->attr.i[4] || !only_relu_reads(f, conv, v)) continue;
        /* relu_grad(conv, v, dy) becomes relu_grad(conv, conv, dy): both
         * now the relu's output, the only one it reads */
        conv->attr.i[4] = 1;
        if (!conv->name) conv->name = v->name;
        ir_replace_uses(f, v, conv);
        ir_count_uses(f);
    }
}

void pass_fuse(IrModule *m) {
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) fuse_func(m->funcs[k]);
}
