/* dce.c - dead code elimination.
 *
 * A value is live when the output, the loss or a parameter gradient depends
 * on it; the rest are marked dead (kept in the list so ids stay stable, but
 * skipped by the printer, the planner and codegen). Also recounts n_uses.
 *
 * Requires: nothing. Preserves: schedule order, value ids. */
#include "passes.h"

#include <stdlib.h>

static void dce_func(IrFunc *f) {
    bool *live = calloc((size_t)f->next_id + 1, sizeof *live);
    if (f->output) live[f->output->id] = true;
    if (f->loss) live[f->loss->id] = true;
    if (f->param_grads)
        for (size_t i = 0; i < f->module->params.len; i++)
            if (f->param_grads[i]) live[f->param_grads[i]->id] = true;
    for (size_t i = 0; i < f->values.len; i++) { /* writes elsewhere: keep */
        IrValue *v = f->values.items[i];
        if (ir_op_has_effect(v->op)) live[v->id] = true;
    }
    /* schedule order is topological: one backward sweep marks everything */
    for (size_t i = f->values.len; i-- > 0;) {
        IrValue *v = f->values.items[i];
        if (!live[v->id]) continue;
        for (int k = 0; k < v->n_in; k++) live[v->in[k]->id] = true;
        if (v->store.kind == IR_STORE_VIEW && v->store.view_of) live[v->store.view_of->id] = true;
    }
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        v->dead = !live[v->id];
    }
    free(live);
    ir_count_uses(f);
}

void pass_dce(IrModule *m) {
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) dce_func(m->funcs[k]);
}
