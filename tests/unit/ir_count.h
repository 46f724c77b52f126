/* ir_count.h - counting ops in a function's IR, for tests that check what
 * a pass turned the graph into. */
#ifndef AAI_TEST_IR_COUNT_H
#define AAI_TEST_IR_COUNT_H

#include "ir.h"

/* How many live values of f are `op`. */
static inline int count_op(const IrFunc *f, IrOpKind op) {
    int n = 0;
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        n += !v->dead && v->op == op;
    }
    return n;
}

#endif
