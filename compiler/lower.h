/* lower.h - turn a checked model into IR entry functions.
 *
 * Lowering walks the model body once per entry point (predict, eval_step
 * and, with a train block, train_step), expanding layer calls (`dense`)
 * into IR ops plus named parameters and checking every shape as it goes:
 * a mismatch is reported at the call that caused it. The loss of the train
 * block is appended to eval_step and train_step; autodiff (a pass) later
 * extends train_step with the backward graph. */
#ifndef AAI_LOWER_H
#define AAI_LOWER_H

#include "ir.h"
#include "sema.h"

/* Returns the module, or NULL when errors were reported. */
IrModule *lower_program(Arena *a, Diag *d, const SemaProgram *prog);

#endif
