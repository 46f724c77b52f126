/* passes.h - the IR passes, each `void pass_<name>(IrModule *)` in its own
 * file under passes/. Passes report user errors through m->diag and leave
 * the module consistent; pipeline.c runs them in order. */
#ifndef AAI_PASSES_H
#define AAI_PASSES_H

#include "ir.h"

/* shape.c: re-runs every op's shape rule; reports mismatches. */
void pass_shape_check(IrModule *m);
/* autodiff.c: builds the backward graph of the train function (seed
 * d(loss) = 1, VJP rules in reverse schedule order), sets param_grads for
 * every parameter and optimizer_step. */
void pass_autodiff(IrModule *m);
/* fold.c: folds scalar constant arithmetic; removes x*1, x+0, x-0, x/1. */
void pass_fold(IrModule *m);
/* fuse.c: a relu whose input is a CONV2D used by nothing else becomes part
 * of the convolution (attr.i[4]). */
void pass_fuse(IrModule *m);
/* dce.c: marks values that reach no output, loss or gradient dead. */
void pass_dce(IrModule *m);
/* memplan.c: gives every live value a storage (arena offsets by liveness,
 * params, grads, slots, views, immediates); sets the arena sizes. */
void pass_memplan(IrModule *m);

/* autodiff_layers.c: the VJP of a layer op or a batched MATMUL. `need[k]`
 * says whether input k wants a gradient; sets dx[k] (NULL when not needed
 * or not differentiable), shaped like the input up to broadcasting (the
 * caller sums to the input's shape). Returns false on an internal error. */
bool ir_vjp_layer(IrFunc *f, IrValue *v, IrValue *g, const bool *need, IrValue **dx);

#endif
