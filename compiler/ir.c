/* ir.c - the graph IR: op table, shapes, builders, printer and verifier.
 *
 * Builders append one value to a function in schedule order and run the
 * op's shape rule (passes/shape.c) at once, so a shape error is reported at
 * the source position that caused it. The printer's text is the golden-test
 * format of `aaic --emit=ir` and `--dump-after`: it never prints pointers
 * and depends only on the IR. */
#include "ir.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- op table ---------------------------------------------------------- */

static const struct {
    const char *name;
    int arity;
} op_table[] = {
#define IR_OP(kind, text, arity) [IR_OP_##kind] = {text, arity},
#include "ir_ops.def"
#undef IR_OP
};
static_assert(sizeof op_table / sizeof op_table[0] == IR_OP_COUNT,
              "op table out of sync with ir_ops.def");

static const char *const unary_names[] = {
#define IR_UNARY(kind, text) [IR_FN_##kind] = text,
#include "ir_unary.def"
#undef IR_UNARY
};
static_assert(sizeof unary_names / sizeof unary_names[0] == IR_FN_COUNT,
              "unary table out of sync with ir_unary.def");

static const char *const init_names[IR_INIT_COUNT] = {
    [IR_INIT_TORCH_DEFAULT] = "torch_default",
    [IR_INIT_HE_UNIFORM] = "he_uniform",
    [IR_INIT_HE_NORMAL] = "he_normal",
    [IR_INIT_XAVIER_UNIFORM] = "xavier_uniform",
    [IR_INIT_XAVIER_NORMAL] = "xavier_normal",
    [IR_INIT_ZEROS] = "zeros",
    [IR_INIT_ONES] = "ones",
};

static const char *const entry_names[IR_ENTRY_COUNT] = {
    [IR_ENTRY_PREDICT] = "predict",
    [IR_ENTRY_TRAIN] = "train_step",
    [IR_ENTRY_EVAL] = "eval_step",
};

static const char *const slot_names[IR_SLOT_COUNT] = {
    [IR_SLOT_X] = "x", [IR_SLOT_Y] = "y", [IR_SLOT_OUT] = "out",
    [IR_SLOT_LOSS] = "loss"};

const char *ir_op_name(IrOpKind op) {
    return (unsigned)op < IR_OP_COUNT ? op_table[op].name : "?";
}

int ir_op_arity(IrOpKind op) {
    return (unsigned)op < IR_OP_COUNT ? op_table[op].arity : -1;
}

/* Elements of one sample of v's widest input with a batch dimension; 0
 * when no input has one. */
static int64_t batch_input_row(const IrValue *v) {
    int64_t most = 0;
    for (int k = 0; k < v->n_in; k++)
        if (ir_shape_has_batch(v->in[k]->shape) && ir_shape_row_elems(v->in[k]->shape) > most)
            most = ir_shape_row_elems(v->in[k]->shape);
    return most;
}

int64_t ir_value_flops(const IrValue *v) {
    int64_t row = ir_shape_row_elems(v->shape);
    /* a batch-free result of batch inputs sums over the batch (weight and
     * bias gradients, losses): a sample's share is its own rows' work */
    bool sums_batch = !ir_shape_has_batch(v->shape) && batch_input_row(v) > 0;
    switch (v->op) {
    case IR_OP_INPUT:
    case IR_OP_PARAM:
    case IR_OP_CONST:
    case IR_OP_RESHAPE:
    case IR_OP_COPY: return 0;
    case IR_OP_MATMUL: {
        const IrValue *a = v->in[0];
        int r = a->shape.rank; /* batched: the last two dims multiply */
        int64_t k = v->attr.i[0] ? a->shape.dims[r - 2] : a->shape.dims[r - 1];
        /* contracting over the batch rows (x^T dy): each sample adds a
         * rank-1 product the size of the result */
        return k == IR_BATCH ? 2 * row : 2 * k * row;
    }
    case IR_OP_MATMUL_ACC: { /* the product, then the folded add */
        const IrValue *a = v->in[1];
        int64_t k = v->attr.i[0] ? a->shape.dims[0] : a->shape.dims[1];
        return (k == IR_BATCH ? 2 * row : 2 * k * row) + row;
    }
    case IR_OP_LINEAR: /* the product, then the folded bias add and activation */
        return 2 * v->in[0]->shape.dims[1] * row + (v->n_in == 3 ? row : 0) +
               (v->attr.i[0] ? row : 0);
    case IR_OP_CONV2D: { /* a multiply-add per tap (C k k of them), bias, relu, then a
                           * folded pooling's one per output, as POOL2D counts */
        const IrShape w = v->in[1]->shape, x = v->in[0]->shape;
        const int64_t *a = v->attr.i;
        int64_t conv = w.dims[0] * ir_window_sweep(x.dims[2], a[0], a[1], a[2], a[3]) *
                       ir_window_sweep(x.dims[3], a[0], a[1], a[2], a[3]);
        return 2 * w.dims[1] * w.dims[2] * w.dims[3] * conv + (v->n_in == 3 ? conv : 0) +
               (a[4] ? conv : 0) + (a[5] > 1 ? row : 0);
    }
    case IR_OP_SLICE_ADD: return ir_shape_row_elems(v->in[1]->shape); /* the slice's adds */
    /* batch norm, per element: the sum, then the squared deviation's
     * subtract and multiply-add; a multiply-add; the two sums' adds and
     * the deviation's subtract and multiply; dx's four */
    case IR_OP_BN_STATS: return 4 * batch_input_row(v);
    case IR_OP_BN_NORM: return v->attr.i[1] ? 3 * row : 2 * row; /* + a folded relu */
    case IR_OP_BN_GRAD: return 4 * batch_input_row(v);
    case IR_OP_BN_GRAD_X: return 4 * row;
    case IR_OP_POOL2D_GRAD: return v->attr.i[4] ? 2 * row : row; /* + a folded relu_grad */
    case IR_OP_CONV2D_GRAD_W: { /* a sample: a multiply-add per weight per output pixel */
        const IrShape dy = v->in[1]->shape;
        return 2 * row * dy.dims[2] * dy.dims[3];
    }
    default: return sums_batch ? batch_input_row(v) : row;
    }
}

const char *ir_unary_name(IrUnaryFn fn) {
    return (unsigned)fn < IR_FN_COUNT ? unary_names[fn] : "?";
}

const char *ir_init_name(IrInit init) {
    return (unsigned)init < IR_INIT_COUNT ? init_names[init] : "?";
}

const char *ir_entry_name(IrEntryKind kind) {
    return (unsigned)kind < IR_ENTRY_COUNT ? entry_names[kind] : "?";
}

bool ir_unary_has_alpha(IrUnaryFn fn) {
    return fn == IR_FN_LEAKY_RELU || fn == IR_FN_ELU || fn == IR_FN_POW;
}

/* ---- shapes ------------------------------------------------------------ */

IrShape ir_shape(int rank, const int64_t *dims) {
    IrShape s = {0};
    assert(rank >= 0 && rank <= IR_MAX_RANK);
    s.rank = rank;
    for (int i = 0; i < rank; i++) s.dims[i] = dims[i];
    return s;
}

IrShape ir_shape2(int64_t d0, int64_t d1) {
    int64_t d[2] = {d0, d1};
    return ir_shape(2, d);
}

bool ir_shape_eq(IrShape a, IrShape b) {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; i++)
        if (a.dims[i] != b.dims[i]) return false;
    return true;
}

bool ir_shape_has_batch(IrShape s) {
    return s.rank > 0 && s.dims[0] == IR_BATCH;
}

int64_t ir_shape_row_elems(IrShape s) {
    int64_t n = 1;
    for (int i = ir_shape_has_batch(s) ? 1 : 0; i < s.rank; i++) n *= s.dims[i];
    return n;
}

int64_t ir_shape_elems_static(IrShape s) { return ir_shape_row_elems(s); }

const char *ir_shape_str(IrShape s, char *buf, size_t cap) {
    size_t n = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < s.rank && n < cap; i++) {
        if (s.dims[i] == IR_BATCH)
            n += (size_t)snprintf(buf + n, cap - n, "%sB", i ? "," : "");
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? "," : "",
                                  s.dims[i]);
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

/* ---- construction ------------------------------------------------------ */

IrModule *ir_module_new(Arena *a, Diag *d, const char *name) {
    IrModule *m = ARENA_NEW(a, IrModule);
    m->arena = a;
    m->diag = d;
    m->name = arena_strdup(a, name ? name : "model");
    return m;
}

IrFunc *ir_func_new(IrModule *m, IrEntryKind kind) {
    IrFunc *f = ARENA_NEW(m->arena, IrFunc);
    f->kind = kind;
    f->name = ir_entry_name(kind);
    f->module = m;
    m->funcs[kind] = f;
    return f;
}

static int64_t align16(int64_t n) { return (n + 15) & ~(int64_t)15; }

IrParam *ir_param_new(IrModule *m, const char *name, IrShape shape,
                      IrInit init, int64_t fan_in, int64_t fan_out,
                      SrcLoc loc) {
    IrParam *p = ARENA_NEW(m->arena, IrParam);
    p->name = arena_strdup(m->arena, name);
    p->loc = loc;
    p->shape = shape;
    p->size = ir_shape_elems_static(shape);
    /* 64-byte aligned so every parameter starts a vector */
    p->offset = align16(m->n_param_floats);
    p->init = init;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->index = (int)m->params.len;
    m->n_param_floats = p->offset + p->size;
    m->n_trainable_floats = m->n_param_floats;
    ptrvec_push(m->arena, &m->params, p);
    return p;
}

void ir_module_layout_buffers(IrModule *m) {
    int64_t off = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < m->params.len; i++) {
            IrParam *p = m->params.items[i];
            if (p->buffer != (pass == 1)) continue;
            p->offset = align16(off);
            off = p->offset + p->size;
        }
        if (pass == 0) m->n_trainable_floats = off;
    }
    m->n_param_floats = off;
}

IrParam *ir_param_find(const IrModule *m, const char *name) {
    for (size_t i = 0; i < m->params.len; i++) {
        IrParam *p = m->params.items[i];
        if (strcmp(p->name, name) == 0) return p;
    }
    return NULL;
}

static IrValue *value_new(IrFunc *f, IrOpKind op, IrValue **ins, int n_in,
                          const IrAttrs *attrs, SrcLoc loc) {
    IrValue *v = ARENA_NEW(f->module->arena, IrValue);
    assert(n_in >= 0 && n_in <= IR_MAX_INPUTS);
    v->op = op;
    v->dtype = IR_F32;
    v->n_in = n_in;
    for (int i = 0; i < n_in; i++) v->in[i] = ins[i];
    if (attrs) v->attr = *attrs;
    v->loc = loc;
    return v;
}

static void value_append(IrFunc *f, IrValue *v) {
    v->id = f->next_id++;
    ptrvec_push(f->module->arena, &f->values, v);
}

IrValue *ir_build(IrFunc *f, IrOpKind op, IrValue **ins, int n_in,
                  const IrAttrs *attrs, SrcLoc loc) {
    for (int i = 0; i < n_in; i++)
        if (!ins[i]) return NULL; /* an earlier error; already reported */
    IrValue *v = value_new(f, op, ins, n_in, attrs, loc);
    if (op == IR_OP_CONST) v->shape.rank = 0;
    if (!ir_infer_shape(v, f->module->diag)) return NULL;
    value_append(f, v);
    return v;
}

IrValue *ir_build_input(IrFunc *f, IrSlot slot, IrDType dt, IrShape shape,
                        SrcLoc loc) {
    IrAttrs at = {0};
    at.slot = slot;
    IrValue *v = value_new(f, IR_OP_INPUT, NULL, 0, &at, loc);
    v->dtype = dt;
    v->shape = shape;
    value_append(f, v);
    return v;
}

IrValue *ir_build_param(IrFunc *f, IrParam *p, SrcLoc loc) {
    IrAttrs at = {0};
    at.param = p;
    IrValue *v = ir_build(f, IR_OP_PARAM, NULL, 0, &at, loc);
    if (v) v->name = p->name;
    return v;
}

IrValue *ir_build_const(IrFunc *f, double value, SrcLoc loc) {
    IrAttrs at = {0};
    at.f[0] = value;
    return ir_build(f, IR_OP_CONST, NULL, 0, &at, loc);
}

IrValue *ir_build_unary(IrFunc *f, IrUnaryFn fn, IrValue *x, double alpha,
                        SrcLoc loc) {
    IrAttrs at = {0};
    at.fn = fn;
    at.f[0] = alpha;
    return ir_build(f, IR_OP_UNARY, &x, 1, &at, loc);
}

IrValue *ir_build_binary(IrFunc *f, IrOpKind op, IrValue *a, IrValue *b,
                         SrcLoc loc) {
    IrValue *ins[2] = {a, b};
    return ir_build(f, op, ins, 2, NULL, loc);
}

IrValue *ir_build_matmul(IrFunc *f, IrValue *a, IrValue *b, bool trans_a,
                         bool trans_b, SrcLoc loc) {
    IrAttrs at = {0};
    IrValue *ins[2] = {a, b};
    at.i[0] = trans_a;
    at.i[1] = trans_b;
    return ir_build(f, IR_OP_MATMUL, ins, 2, &at, loc);
}

IrValue *ir_build1(IrFunc *f, IrOpKind op, IrValue *x, SrcLoc loc) {
    return ir_build(f, op, &x, 1, NULL, loc);
}

IrValue *ir_build2(IrFunc *f, IrOpKind op, IrValue *a, IrValue *b, SrcLoc loc) {
    IrValue *ins[2] = {a, b};
    return ir_build(f, op, ins, 2, NULL, loc);
}

IrValue *ir_build3(IrFunc *f, IrOpKind op, IrValue *a, IrValue *b, IrValue *c,
                   SrcLoc loc) {
    IrValue *ins[3] = {a, b, c};
    return ir_build(f, op, ins, 3, NULL, loc);
}

IrValue *ir_build_reduce(IrFunc *f, IrOpKind op, IrValue *x, uint32_t axes_mask,
                         bool keepdims, SrcLoc loc) {
    IrAttrs at = {0};
    at.i[0] = axes_mask;
    at.i[1] = keepdims;
    return ir_build(f, op, &x, 1, &at, loc);
}

IrValue *ir_build_to_shape(IrFunc *f, IrOpKind op, IrValue *x, IrShape shape,
                           SrcLoc loc) {
    IrAttrs at = {0};
    at.shape = shape;
    return ir_build(f, op, &x, 1, &at, loc);
}

void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to) {
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        for (int k = 0; k < v->n_in; k++)
            if (v->in[k] == from) v->in[k] = to;
        if (v->store.view_of == from) v->store.view_of = to;
    }
    if (f->output == from) f->output = to;
    if (f->loss == from) f->loss = to;
    if (f->param_grads)
        for (size_t i = 0; i < f->module->params.len; i++)
            if (f->param_grads[i] == from) f->param_grads[i] = to;
}

void ir_count_uses(IrFunc *f) {
    for (size_t i = 0; i < f->values.len; i++)
        ((IrValue *)f->values.items[i])->n_uses = 0;
    for (size_t i = 0; i < f->values.len; i++) {
        IrValue *v = f->values.items[i];
        if (v->dead) continue;
        for (int k = 0; k < v->n_in; k++) v->in[k]->n_uses++;
    }
    if (f->output) f->output->n_uses++;
    if (f->loss) f->loss->n_uses++;
    if (f->param_grads)
        for (size_t i = 0; i < f->module->params.len; i++)
            if (f->param_grads[i]) f->param_grads[i]->n_uses++;
}

IrValue *ir_value_root(IrValue *v) {
    while (v->store.kind == IR_STORE_VIEW && v->store.view_of) v = v->store.view_of;
    return v;
}

/* ---- printer ----------------------------------------------------------- */

static void print_axes(FILE *out, int64_t mask) {
    fprintf(out, " axes=");
    if (mask == 0) {
        fprintf(out, "all");
        return;
    }
    fprintf(out, "[");
    bool first = true;
    for (int k = 0; k < IR_MAX_RANK; k++)
        if (mask & ((int64_t)1 << k)) {
            fprintf(out, "%s%d", first ? "" : ",", k);
            first = false;
        }
    fprintf(out, "]");
}

static void print_storage(FILE *out, const IrValue *v) {
    const IrStorage *s = &v->store;
    switch (s->kind) {
    case IR_STORE_UNPLANNED: return;
    case IR_STORE_ARENA:
        if (ir_shape_has_batch(v->shape))
            fprintf(out, "  @arena[row+%" PRId64 "]", s->row_offset);
        else
            fprintf(out, "  @arena[%" PRId64 "]", s->offset);
        return;
    case IR_STORE_PARAM: fprintf(out, "  @param[%" PRId64 "]", s->offset); return;
    case IR_STORE_GRAD: fprintf(out, "  @grad[%" PRId64 "]", s->offset); return;
    case IR_STORE_SLOT:
        fprintf(out, "  @%s[%" PRId64 "]",
                (unsigned)s->slot < IR_SLOT_COUNT ? slot_names[s->slot] : "?",
                s->offset);
        return;
    case IR_STORE_VIEW:
        fprintf(out, "  @view(%%%d)", s->view_of ? s->view_of->id : -1);
        return;
    case IR_STORE_IMMEDIATE: fprintf(out, "  @imm"); return;
    }
}

static void print_value(FILE *out, const IrValue *v) {
    char sb[96];
    fprintf(out, "  %%%d = ", v->id);
    switch (v->op) {
    case IR_OP_INPUT:
        fprintf(out, "input %s", (unsigned)v->attr.slot < IR_SLOT_COUNT
                                     ? slot_names[v->attr.slot] : "?");
        break;
    case IR_OP_PARAM:
        fprintf(out, "param \"%s\"", v->attr.param ? v->attr.param->name : "?");
        break;
    case IR_OP_CONST: fprintf(out, "const %.9g", v->attr.f[0]); break;
    case IR_OP_UNARY:
    case IR_OP_UNARY_GRAD:
        fprintf(out, "%s%s", ir_unary_name(v->attr.fn),
                v->op == IR_OP_UNARY_GRAD ? "_grad" : "");
        break;
    default: fprintf(out, "%s", ir_op_name(v->op)); break;
    }
    if (v->n_in > 0) {
        fprintf(out, "(");
        for (int k = 0; k < v->n_in; k++)
            fprintf(out, "%s%%%d", k ? ", " : "", v->in[k] ? v->in[k]->id : -1);
        fprintf(out, ")");
    }
    switch (v->op) {
    case IR_OP_MATMUL:
        if (v->attr.i[0]) fprintf(out, " trans_a");
        if (v->attr.i[1]) fprintf(out, " trans_b");
        if (v->attr.i[2]) fprintf(out, " batch_sum");
        break;
    case IR_OP_UNARY:
    case IR_OP_UNARY_GRAD:
        if (ir_unary_has_alpha(v->attr.fn)) fprintf(out, " alpha=%.9g", v->attr.f[0]);
        break;
    case IR_OP_SUM:
    case IR_OP_MEAN:
        print_axes(out, v->attr.i[0]);
        if (v->attr.i[1]) fprintf(out, " keepdims");
        break;
    case IR_OP_MEAN_GRAD:
        print_axes(out, v->attr.i[0]);
        break;
    case IR_OP_REDUCE_MAX:
        print_axes(out, v->attr.i[0]);
        if (v->attr.i[1]) fprintf(out, " keepdims");
        break;
    default: ir_print_layer_attrs(out, v); break;
    }
    fprintf(out, " %s%s", v->dtype == IR_I64 ? "i64" : "f32",
            ir_shape_str(v->shape, sb, sizeof sb));
    if (v->name && v->op != IR_OP_PARAM) fprintf(out, "  ; %s", v->name);
    print_storage(out, v);
    fprintf(out, "\n");
}

void ir_print_func(FILE *out, const IrFunc *f) {
    fprintf(out, "func %s {\n", f->name);
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        if (!v->dead) print_value(out, v);
    }
    if (f->output) fprintf(out, "  output %%%d\n", f->output->id);
    if (f->loss) fprintf(out, "  loss %%%d\n", f->loss->id);
    if (f->param_grads)
        for (size_t i = 0; i < f->module->params.len; i++) {
            const IrParam *p = f->module->params.items[i];
            if (f->param_grads[i])
                fprintf(out, "  grad \"%s\" = %%%d\n", p->name, f->param_grads[i]->id);
        }
    if (f->optimizer_step) fprintf(out, "  optimizer_step\n");
    if (f->arena_static_floats || f->arena_row_floats)
        fprintf(out, "  arena static=%" PRId64 " row=%" PRId64 "\n",
                f->arena_static_floats, f->arena_row_floats);
    fprintf(out, "}\n");
}

void ir_print_module(FILE *out, const IrModule *m) {
    char sb[96];
    fprintf(out, "module \"%s\"\n", m->name);
    fprintf(out, "params %" PRId64 " floats {\n", m->n_param_floats);
    for (size_t i = 0; i < m->params.len; i++) {
        const IrParam *p = m->params.items[i];
        fprintf(out, "  \"%s\" f32%s offset=%" PRId64 " size=%" PRId64
                     " init=%s fan_in=%" PRId64 " fan_out=%" PRId64 "\n",
                p->name, ir_shape_str(p->shape, sb, sizeof sb), p->offset,
                p->size, ir_init_name(p->init), p->fan_in, p->fan_out);
    }
    fprintf(out, "}\n");
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) ir_print_func(out, m->funcs[k]);
}

/* ---- verifier ---------------------------------------------------------- */

static bool verify_fail(FILE *err, const IrFunc *f, const IrValue *v,
                        const char *what) {
    if (err) {
        if (v)
            fprintf(err, "internal error: IR verifier: %s: %%%d (%s): %s\n",
                    f->name, v->id, ir_op_name(v->op), what);
        else
            fprintf(err, "internal error: IR verifier: %s: %s\n", f->name, what);
    }
    return false;
}

bool ir_verify_func(const IrFunc *f, bool planned, FILE *err) {
    int n = f->next_id;
    bool ok = true;
    unsigned char *seen = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!seen) return verify_fail(err, f, NULL, "out of memory");
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        if (v->id < 0 || v->id >= n || seen[v->id]) {
            ok = verify_fail(err, f, v, "id out of range or duplicated");
            continue;
        }
        if ((unsigned)v->op >= IR_OP_COUNT) {
            ok = verify_fail(err, f, v, "unknown op");
            continue;
        }
        int ar = ir_op_arity(v->op);
        if (ar >= 0 && v->n_in != ar) ok = verify_fail(err, f, v, "wrong input count");
        if (!v->dead)
            for (int k = 0; k < v->n_in; k++) {
                if (!v->in[k] || v->in[k]->id < 0 || v->in[k]->id >= n ||
                    !seen[v->in[k]->id])
                    ok = verify_fail(err, f, v, "input used before its definition");
                else if (v->in[k]->dead)
                    ok = verify_fail(err, f, v, "input is dead");
            }
        if (v->shape.rank < 0 || v->shape.rank > IR_MAX_RANK)
            ok = verify_fail(err, f, v, "bad rank");
        for (int k = 1; k < v->shape.rank; k++)
            if (v->shape.dims[k] < 0) ok = verify_fail(err, f, v, "batch dim not first");
        if (!v->dead && v->op != IR_OP_INPUT) {
            IrValue tmp = *v;
            if (!ir_infer_shape(&tmp, NULL) || !ir_shape_eq(tmp.shape, v->shape))
                ok = verify_fail(err, f, v, "shape differs from its shape rule");
        }
        if (planned && !v->dead) {
            if (v->store.kind == IR_STORE_UNPLANNED)
                ok = verify_fail(err, f, v, "no storage after planning");
            if (v->store.kind == IR_STORE_VIEW &&
                (!v->store.view_of || !seen[v->store.view_of->id]))
                ok = verify_fail(err, f, v, "view of an undefined value");
        }
        seen[v->id] = 1;
    }
    const IrValue *roots[2] = {f->output, f->loss};
    for (int r = 0; r < 2; r++)
        if (roots[r] && (roots[r]->id >= n || !seen[roots[r]->id] || roots[r]->dead))
            ok = verify_fail(err, f, roots[r], "output/loss not a live value");
    if (f->loss && f->loss->shape.rank != 0)
        ok = verify_fail(err, f, f->loss, "loss is not a scalar");
    if (f->param_grads)
        for (size_t i = 0; i < f->module->params.len; i++) {
            const IrValue *g = f->param_grads[i];
            const IrParam *p = f->module->params.items[i];
            if (!g) continue;
            if (g->dead || !seen[g->id]) ok = verify_fail(err, f, g, "gradient not live");
            else if (ir_shape_elems_static(g->shape) != p->size ||
                     ir_shape_has_batch(g->shape))
                ok = verify_fail(err, f, g, "gradient shape differs from its parameter");
            if (planned && g->store.kind != IR_STORE_GRAD)
                ok = verify_fail(err, f, g, "gradient not stored in the grad block");
        }
    if (planned && f->output && f->output->store.kind != IR_STORE_SLOT)
        ok = verify_fail(err, f, f->output, "output not stored to args->out");
    if (planned && f->loss && f->loss->store.kind != IR_STORE_SLOT)
        ok = verify_fail(err, f, f->loss, "loss not stored to args->loss");
    free(seen);
    return ok;
}
