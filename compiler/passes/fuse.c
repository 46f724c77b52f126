/* fuse.c - activations folded into the op that produces their input.
 *
 * A relu whose input is a direct convolution (CONV2D, predict and eval
 * only) used by nothing else is applied by the convolution as it stores
 * its output: one pass over the activations instead of two (relu was 10 %
 * of batch-256 inference of examples/fashion_cnn.aai). The relu loses its
 * uses; DCE removes it. The convolution computes relu exactly as the
 * generated kernel did (x > 0 ? x : 0), so answers do not change.
 *
 * Requires: shapes inferred. Preserves: schedule order, value ids. */
#include "passes.h"

static bool is_relu(const IrValue *v) {
    return !v->dead && v->op == IR_OP_UNARY && v->attr.fn == IR_FN_RELU;
}

static void fuse_func(IrFunc *f) {
    ir_count_uses(f);
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        if (!is_relu(v)) continue;
        IrValue *conv = v->in[0];
        if (conv->op != IR_OP_CONV2D || conv->attr.i[4] || conv->n_uses != 1) continue;
        conv->attr.i[4] = 1;
        if (!conv->name) conv->name = v->name;
        ir_replace_uses(f, v, conv);
        conv->n_uses = v->n_uses;
        v->n_uses = 0;
    }
}

void pass_fuse(IrModule *m) {
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) fuse_func(m->funcs[k]);
}
