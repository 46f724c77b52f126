/* memplan.c - memory planning: a storage for every live value.
 *
 * Parameters live in the parameter block, inputs in their AairtStepArgs
 * slot, scalar constants in the code, reshapes alias their input. The
 * output, the loss and each parameter gradient are computed straight into
 * args->out, args->loss and the gradient block; where such a root is not a
 * value of its own (a parameter, an input, a view, a constant, or a value
 * already claimed by another root) a COPY is appended first.
 *
 * Everything else goes to the scratch arena, packed first-fit by liveness
 * over the schedule. The arena has two regions: static values (no batch
 * dimension) at [0, arena_static_floats), and batch values after it, where
 * a value at row offset r occupies [r*B, (r+row)*B) of the batch region.
 * Packing batch values in units of per-row floats keeps the plan valid for
 * any batch size. Every buffer starts on a 16-float (64-byte) boundary.
 *
 * An op that updates its first input in place (SLICE_ADD, MATMUL_ACC) takes that
 * input's buffer when the input dies there and both are arena values of
 * one size; otherwise codegen copies the input into its buffer first.
 *
 * Requires: DCE done (dead values are skipped). Preserves: schedule order. */
#include "passes.h"

#include <stdlib.h>

typedef struct Block {
    int64_t off, size;
    int last; /* schedule index of the last use */
} Block;

typedef struct Region {
    Block *blocks;
    int n, cap;
    int64_t total;
} Region;

static int64_t align16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* Places `size` floats live over [def, last] at the lowest free offset. */
static int64_t region_place(Region *r, int64_t size, int def, int last) {
    int k = 0;
    for (int i = 0; i < r->n; i++) /* drop buffers dead before `def` */
        if (r->blocks[i].last >= def) r->blocks[k++] = r->blocks[i];
    r->n = k;
    int64_t off = 0;
    for (bool moved = true; moved;) { /* first fit: bump past any overlap */
        moved = false;
        for (int i = 0; i < r->n; i++) {
            Block *b = &r->blocks[i];
            if (off < b->off + b->size && b->off < off + size) {
                off = b->off + b->size;
                moved = true;
            }
        }
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->blocks = realloc(r->blocks, (size_t)r->cap * sizeof *r->blocks);
    }
    r->blocks[r->n++] = (Block){off, size, last};
    if (off + size > r->total) r->total = off + size;
    return off;
}

/* Extends the life of the buffer at `off` to `last`: a value that took it
 * over in place. */
static void region_extend(Region *r, int64_t off, int last) {
    for (int i = 0; i < r->n; i++)
        if (r->blocks[i].off == off && r->blocks[i].last < last) r->blocks[i].last = last;
}

/* Whether v can take over the buffer of its first input (see above): not
 * when another of its inputs is that input or a view of it, which the
 * update would overwrite while reading it (acc + acc @ w). */
static bool takes_input_buffer(const IrValue *v, const int *def, const int *last) {
    if (!ir_op_updates_first_input(v->op)) return false;
    const IrValue *x = v->in[0];
    for (int j = 1; j < v->n_in; j++)
        if (ir_value_root(v->in[j]) == x) return false;
    return x->store.kind == IR_STORE_ARENA && v->store.kind == IR_STORE_ARENA &&
           ir_shape_eq(x->shape, v->shape) && last[x->id] == def[v->id];
}

static bool owns_memory(const IrValue *v) {
    return v->op != IR_OP_PARAM && v->op != IR_OP_INPUT && v->op != IR_OP_CONST &&
           v->op != IR_OP_RESHAPE;
}

/* Returns the value to store root `v` in, appending a COPY when `v` cannot
 * be given the root's storage. `claimed` marks values already taken. */
static IrValue *own_root(IrFunc *f, IrValue *v, bool *claimed, int n_claimed) {
    if (owns_memory(v) && (v->id >= n_claimed || !claimed[v->id])) return v;
    IrValue *c = ir_build1(f, IR_OP_COPY, v, v->loc);
    return c ? c : v;
}

static void plan_func(IrModule *m, IrFunc *f) {
    int n_ids = f->next_id;
    bool *claimed = calloc((size_t)n_ids + 1, sizeof *claimed);
    /* 1. roots get values of their own */
    if (f->output) {
        f->output = own_root(f, f->output, claimed, n_ids);
        if (f->output->id < n_ids) claimed[f->output->id] = true;
    }
    if (f->loss) {
        f->loss = own_root(f, f->loss, claimed, n_ids);
        if (f->loss->id < n_ids) claimed[f->loss->id] = true;
    }
    size_t np = m->params.len;
    if (f->param_grads)
        for (size_t i = 0; i < np; i++) {
            if (!f->param_grads[i]) continue;
            f->param_grads[i] = own_root(f, f->param_grads[i], claimed, n_ids);
            if (f->param_grads[i]->id < n_ids) claimed[f->param_grads[i]->id] = true;
        }
    free(claimed);

    /* 2. storage kinds */
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        v->store = (IrStorage){0};
        if (v->dead) continue;
        switch (v->op) {
        case IR_OP_PARAM:
            v->store.kind = IR_STORE_PARAM;
            v->store.offset = v->attr.param->offset;
            break;
        case IR_OP_INPUT:
            v->store.kind = IR_STORE_SLOT;
            v->store.slot = v->attr.slot;
            break;
        case IR_OP_CONST: v->store.kind = IR_STORE_IMMEDIATE; break;
        case IR_OP_RUNNING_UPDATE: /* updates its buffer in place */
            v->store.kind = IR_STORE_PARAM;
            v->store.offset = v->attr.param->offset;
            break;
        case IR_OP_RESHAPE:
            if (v->in[0]->store.kind != IR_STORE_IMMEDIATE) {
                v->store.kind = IR_STORE_VIEW;
                v->store.view_of = v->in[0];
                break;
            }
            v->store.kind = IR_STORE_ARENA; /* a reshaped constant needs memory */
            break;
        default: v->store.kind = IR_STORE_ARENA; break;
        }
    }
    if (f->output) f->output->store = (IrStorage){.kind = IR_STORE_SLOT, .slot = IR_SLOT_OUT};
    if (f->loss) f->loss->store = (IrStorage){.kind = IR_STORE_SLOT, .slot = IR_SLOT_LOSS};
    if (f->param_grads)
        for (size_t i = 0; i < np; i++) {
            IrParam *p = m->params.items[i];
            if (f->param_grads[i])
                f->param_grads[i]->store = (IrStorage){.kind = IR_STORE_GRAD, .offset = p->offset};
        }

    /* 3. liveness over the schedule (uses of a view keep its base alive) */
    int n_all = f->next_id;
    int *def = calloc((size_t)n_all + 1, sizeof *def);
    int *last = calloc((size_t)n_all + 1, sizeof *last);
    int pos = 0;
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        if (v->dead) continue;
        def[v->id] = last[v->id] = pos;
        for (int k = 0; k < v->n_in; k++) {
            IrValue *r = ir_value_root(v->in[k]);
            if (last[r->id] < pos) last[r->id] = pos;
        }
        pos++;
    }

    /* 4. first-fit packing, one region per kind of size */
    Region stat = {0}, rows = {0};
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        if (v->dead || v->store.kind != IR_STORE_ARENA) continue;
        int64_t size = align16(ir_shape_row_elems(v->shape));
        bool batch = ir_shape_has_batch(v->shape);
        if (takes_input_buffer(v, def, last)) {
            const IrStorage *x = &v->in[0]->store;
            v->store.offset = x->offset;
            v->store.row_offset = x->row_offset;
            region_extend(batch ? &rows : &stat, batch ? x->row_offset : x->offset, last[v->id]);
            continue;
        }
        if (batch) {
            v->store.row_offset = region_place(&rows, size, def[v->id], last[v->id]);
        } else {
            v->store.offset = region_place(&stat, size, def[v->id], last[v->id]);
        }
    }
    f->arena_static_floats = stat.total;
    f->arena_row_floats = rows.total;
    free(stat.blocks);
    free(rows.blocks);
    free(def);
    free(last);
}

void pass_memplan(IrModule *m) {
    ir_module_layout_buffers(m);
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) plan_func(m, m->funcs[k]);
}
