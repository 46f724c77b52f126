/* lower.c - model body (AST) to IR, one entry function at a time.
 *
 * Each binding `name = expr` evaluates to a tensor (an IrValue) or a
 * compile-time number. Calls dispatch through one table of builtins. Layer
 * calls create parameters named after the binding they appear in
 * (`hidden.weight`); the first entry point lowered creates them and later
 * ones look them up, so all entries share one parameter block. */
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lower_internal.h" /* Lower, LVal, Binding, CallArgs; lower_def.c */

static const LVal lval_none = {LV_NONE, NULL, 0, NULL};

static LVal lval_tensor(IrValue *v) {
    return v ? (LVal){LV_TENSOR, v, 0, NULL} : lval_none;
}

static LVal lval_number(double x) { return (LVal){LV_NUMBER, NULL, x, NULL}; }

/* ---- bindings ----------------------------------------------------------- */

const Binding *binding_find(const Lower *l, const char *name) {
    for (size_t i = l->scope_start; i < l->n_bindings; i++)
        if (strcmp(l->bindings[i].name, name) == 0)
            return &l->bindings[i];
    return NULL;
}

void binding_add(Lower *l, const char *name, SrcLoc loc, LVal v) {
    if (l->n_bindings == l->cap_bindings) {
        size_t cap = l->cap_bindings ? l->cap_bindings * 2 : 16;
        Binding *b = ARENA_NEW_ARRAY(l->arena, Binding, cap);
        if (l->n_bindings)
            memcpy(b, l->bindings, l->n_bindings * sizeof *b);
        l->bindings = b;
        l->cap_bindings = cap;
    }
    l->bindings[l->n_bindings++] = (Binding){name, loc, v};
}

/* ---- argument helpers --------------------------------------------------- */

/* A tensor operand: reports "expected a tensor" for numbers. */
static IrValue *expect_tensor(Lower *l, LVal v, SrcLoc loc, const char *what) {
    if (v.kind == LV_TENSOR)
        return v.tensor;
    if (v.kind == LV_NUMBER)
        diag_error(l->diag, loc, "%s expects a tensor, got a number", what);
    return NULL;
}

static IrValue *as_tensor(Lower *l, LVal v, SrcLoc loc) {
    if (v.kind == LV_NUMBER)
        return ir_build_const(l->func, v.number, loc);
    return v.tensor;
}

/* Binds `spec` where spec[0] is the tensor operand. The operand comes from
 * the pipe or from the first positional argument. out_exprs[i] for i >= 1
 * are the remaining arguments' expressions (NULL when absent). */
bool bind_layer_args(Lower *l, const CallArgs *c, const SemaArgSpec *spec,
                     int n_spec, LVal *operand, SrcLoc *operand_loc,
                     const AstExpr **out) {
    if (c->has_piped) {
        *operand = c->piped;
        *operand_loc = c->piped_loc;
        if (!c->call) {
            for (int i = 1; i < n_spec; i++) {
                out[i] = NULL;
                if (spec[i].required) {
                    diag_error(l->diag, c->loc, "'%s' needs argument '%s'",
                               c->name, spec[i].name);
                    return false;
                }
            }
            return true;
        }
        return sema_bind_args(l->diag, c->call, spec + 1, n_spec - 1, out + 1);
    }
    if (!c->call) {
        diag_error(l->diag, c->loc, "'%s' is a function; call it as %s(...)",
                   c->name, c->name);
        return false;
    }
    if (!sema_bind_args(l->diag, c->call, spec, n_spec, out))
        return false;
    *operand = lower_expr(l, out[0]);
    *operand_loc = out[0]->loc;
    return operand->kind != LV_NONE;
}

/* ---- parameters --------------------------------------------------------- */

IrInit parse_init(Lower *l, const AstExpr *e, bool *ok) {
    static const char *const names[] = {"torch_default", "he_uniform",
                                        "he_normal",     "xavier_uniform",
                                        "xavier_normal", "zeros", "ones"};
    if (e->kind == AST_EXPR_NAME)
        for (int i = 0; i < (int)IR_INIT_COUNT; i++)
            if (strcmp(e->as.name, names[i]) == 0)
                return (IrInit)i;
    const char *name = e->kind == AST_EXPR_NAME ? e->as.name : "?";
    const char *hint = sema_closest(name, names, IR_INIT_COUNT);
    if (hint)
        diag_error(l->diag, e->loc,
                   "unknown initializer '%s'; did you mean '%s'?", name, hint);
    else
        diag_error(l->diag, e->loc,
                   "unknown initializer; expected one of torch_default, "
                   "he_uniform, he_normal, xavier_uniform, xavier_normal, "
                   "zeros, ones");
    *ok = false;
    return IR_INIT_TORCH_DEFAULT;
}

/* The name the next layer in this statement gets. */
const char *next_layer_name(Lower *l, const AstExpr *name_arg, bool *ok) {
    l->layer_index++;
    if (name_arg) {
        const char *name;
        if (!sema_eval_string(l->diag, name_arg, &name)) {
            *ok = false;
            return NULL;
        }
        for (size_t i = 0; i < l->explicit_names.len; i++) {
            if (strcmp(l->explicit_names.items[i], name) == 0) {
                diag_error(l->diag, name_arg->loc,
                           "a layer named \"%s\" already exists; share it "
                           "explicitly or pick another name",
                           name);
                *ok = false;
                return NULL;
            }
        }
        ptrvec_push(l->arena, &l->explicit_names, (void *)name);
        return arena_printf(l->arena, "%s%s", l->prefix, name);
    }
    if (l->layers_in_stmt <= 1)
        return l->layer_base;
    return arena_printf(l->arena, "%s_%d", l->layer_base, l->layer_index);
}

IrParam *get_param(Lower *l, const char *name, IrShape shape, IrInit init,
                   int64_t fan_in, int64_t fan_out, SrcLoc loc) {
    if (!l->create_params)
        return ir_param_find(l->module, name);
    if (l->sharing) {
        /* share = "...": the parameter must exist with the same shape */
        IrParam *shared = ir_param_find(l->module, name);
        char a[64], b[64];
        if (!shared)
            diag_error(l->diag, loc, "nothing to share: no parameter '%s'",
                       name);
        else if (!ir_shape_eq(shared->shape, shape)) {
            diag_error(l->diag, loc,
                       "shared parameter '%s' is %s here but %s where it "
                       "was created",
                       name, ir_shape_str(shape, a, sizeof a),
                       ir_shape_str(shared->shape, b, sizeof b));
            diag_note(l->diag, shared->loc, "'%s' was created here", name);
            return NULL;
        }
        return shared;
    }
    IrParam *existing = ir_param_find(l->module, name);
    if (existing) {
        diag_error(l->diag, loc,
                   "parameter '%s' already exists; give this layer another "
                   "name with name = \"...\"",
                   name);
        diag_note(l->diag, existing->loc, "'%s' was created here", name);
        return NULL;
    }
    /* Sizes are bounded here, where the error can point at the layer: at
     * most 2^40 floats per parameter and in all, so no size, offset or
     * FLOP count computed from them later can overflow int64. */
    const int64_t max_floats = (int64_t)1 << 40;
    int64_t elems = 1;
    for (int i = 0; i < shape.rank; i++) {
        int64_t d = shape.dims[i];
        if (d < 1 || elems > max_floats / d) {
            diag_error(l->diag, loc,
                       "parameter '%s' would have more than 2^40 elements",
                       name);
            return NULL;
        }
        elems *= d;
    }
    if (elems + 16 > max_floats - l->module->n_param_floats) {
        diag_error(l->diag, loc,
                   "the model's parameters would exceed 2^40 floats "
                   "(at '%s')",
                   name);
        return NULL;
    }
    return ir_param_new(l->module, name, shape, init, fan_in, fan_out, loc);
}

/* ---- builtins ----------------------------------------------------------- */

static LVal lower_dense(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true},      {"units", true},
                                       {"bias", false},  {"init", false},
                                       {"name", false}};
    const AstExpr *a[5];
    LVal xv;
    SrcLoc xloc;
    if (!bind_layer_args(l, c, spec, 5, &xv, &xloc, a))
        return lval_none;
    IrValue *x = expect_tensor(l, xv, xloc, "dense");
    long long units;
    bool bias = true, ok = x != NULL;
    ok &= sema_eval_int(l->diag, a[1], 1, 1 << 26, &units);
    if (a[2])
        ok &= sema_eval_bool(l->diag, a[2], &bias);
    IrInit init = a[3] ? parse_init(l, a[3], &ok) : IR_INIT_TORCH_DEFAULT;
    const char *name = next_layer_name(l, a[4], &ok);
    if (!ok)
        return lval_none;
    if (x->shape.rank != 2) {
        char buf[64];
        diag_error(l->diag, c->loc,
                   "dense expects a [batch, features] input, got %s; "
                   "flatten it first",
                   ir_shape_str(x->shape, buf, sizeof buf));
        return lval_none;
    }
    int64_t in = x->shape.dims[1];
    IrParam *w = get_param(l, arena_printf(l->arena, "%s.weight", name),
                           ir_shape2(units, in), init, in, units, c->loc);
    if (!w)
        return lval_none;
    IrValue *y = ir_build_matmul(l->func, x, ir_build_param(l->func, w, c->loc),
                                 false, true, c->loc);
    if (!y || !bias)
        return lval_tensor(y);
    IrInit bias_init = init == IR_INIT_TORCH_DEFAULT || init == IR_INIT_ONES
                           ? init
                           : IR_INIT_ZEROS;
    int64_t bdims[1] = {units};
    IrParam *b = get_param(l, arena_printf(l->arena, "%s.bias", name),
                           ir_shape(1, bdims), bias_init, in, units, c->loc);
    if (!b)
        return lval_none;
    return lval_tensor(ir_build_binary(l->func, IR_OP_ADD, y,
                                       ir_build_param(l->func, b, c->loc),
                                       c->loc));
}

/* relu(x), leaky_relu(x, slope), elu(x, alpha), gelu(x, approximate). */
static LVal lower_activation(Lower *l, const CallArgs *c, IrUnaryFn fn,
                             const char *alpha_name, double alpha_default) {
    SemaArgSpec spec[2] = {{"x", true}, {alpha_name, false}};
    const AstExpr *a[2];
    LVal xv;
    SrcLoc xloc;
    if (!bind_layer_args(l, c, spec, alpha_name ? 2 : 1, &xv, &xloc, a))
        return lval_none;
    double alpha = alpha_default;
    if (alpha_name && a[1]) {
        if (fn == IR_FN_GELU) {
            const char *mode;
            if (!sema_eval_string(l->diag, a[1], &mode))
                return lval_none;
            if (strcmp(mode, "tanh") == 0)
                fn = IR_FN_GELU_TANH;
            else if (strcmp(mode, "none") != 0) {
                diag_error(l->diag, a[1]->loc,
                           "gelu's approximate is \"none\" or \"tanh\"");
                return lval_none;
            }
        } else if (!sema_eval_number(l->diag, a[1], &alpha)) {
            return lval_none;
        }
    }
    if (xv.kind == LV_NUMBER && fn == IR_FN_NEG)
        return lval_number(-xv.number);
    IrValue *x = expect_tensor(l, xv, xloc, c->name);
    return x ? lval_tensor(ir_build_unary(l->func, fn, x, alpha, c->loc))
             : lval_none;
}

static LVal lower_softmax(Lower *l, const CallArgs *c, IrOpKind op) {
    static const SemaArgSpec spec[] = {{"x", true}};
    const AstExpr *a[1];
    LVal xv;
    SrcLoc xloc;
    if (!bind_layer_args(l, c, spec, 1, &xv, &xloc, a))
        return lval_none;
    IrValue *x = expect_tensor(l, xv, xloc, c->name);
    if (!x)
        return lval_none;
    IrValue *in[1] = {x};
    return lval_tensor(ir_build(l->func, op, in, 1, NULL, c->loc));
}

static LVal lower_flatten(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}};
    const AstExpr *a[1];
    LVal xv;
    SrcLoc xloc;
    if (!bind_layer_args(l, c, spec, 1, &xv, &xloc, a))
        return lval_none;
    IrValue *x = expect_tensor(l, xv, xloc, "flatten");
    if (!x)
        return lval_none;
    if (!ir_shape_has_batch(x->shape)) {
        diag_error(l->diag, c->loc, "flatten expects a batched tensor");
        return lval_none;
    }
    IrAttrs attrs = {0};
    attrs.shape = ir_shape2(IR_BATCH, ir_shape_row_elems(x->shape));
    IrValue *in[1] = {x};
    return lval_tensor(ir_build(l->func, IR_OP_RESHAPE, in, 1, &attrs, c->loc));
}

static LVal lower_matmul(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"a", true}, {"b", true}};
    const AstExpr *a[2];
    LVal av;
    SrcLoc aloc;
    if (!bind_layer_args(l, c, spec, 2, &av, &aloc, a))
        return lval_none;
    LVal bv = lower_expr(l, a[1]);
    IrValue *x = expect_tensor(l, av, aloc, "matmul");
    IrValue *y = expect_tensor(l, bv, a[1]->loc, "matmul");
    if (!x || !y)
        return lval_none;
    return lval_tensor(ir_build_matmul(l->func, x, y, false, false, c->loc));
}

typedef enum BuiltinKind { BI_DENSE, BI_ACT, BI_SOFTMAX, BI_LOG_SOFTMAX, BI_FLATTEN, BI_MATMUL } BuiltinKind;

typedef struct Builtin {
    const char *name;
    BuiltinKind kind;
    IrUnaryFn fn;
    const char *alpha_name;
    double alpha_default;
} Builtin;

static const Builtin builtins[] = {
    {"dense", BI_DENSE, 0, NULL, 0},
    {"matmul", BI_MATMUL, 0, NULL, 0},
    {"relu", BI_ACT, IR_FN_RELU, NULL, 0},
    {"leaky_relu", BI_ACT, IR_FN_LEAKY_RELU, "slope", 0.01},
    {"elu", BI_ACT, IR_FN_ELU, "alpha", 1.0},
    {"gelu", BI_ACT, IR_FN_GELU, "approximate", 0},
    {"silu", BI_ACT, IR_FN_SILU, NULL, 0},
    {"sigmoid", BI_ACT, IR_FN_SIGMOID, NULL, 0},
    {"tanh", BI_ACT, IR_FN_TANH, NULL, 0},
    {"softplus", BI_ACT, IR_FN_SOFTPLUS, NULL, 0},
    {"exp", BI_ACT, IR_FN_EXP, NULL, 0},
    {"log", BI_ACT, IR_FN_LOG, NULL, 0},
    {"sqrt", BI_ACT, IR_FN_SQRT, NULL, 0},
    {"abs", BI_ACT, IR_FN_ABS, NULL, 0},
    {"softmax", BI_SOFTMAX, 0, NULL, 0},
    {"log_softmax", BI_LOG_SOFTMAX, 0, NULL, 0},
    {"flatten", BI_FLATTEN, 0, NULL, 0},
};
enum { N_BUILTINS = sizeof builtins / sizeof builtins[0] };

static const Builtin *builtin_find(const char *name) {
    for (int i = 0; i < N_BUILTINS; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

static bool is_layer_call(const Lower *l, const AstExpr *e) {
    return e->kind == AST_EXPR_CALL &&
           (strcmp(sema_call_name(e), "dense") == 0 ||
            lower_layer_has_params(sema_call_name(e)) ||
            (!builtin_find(sema_call_name(e)) &&
             lower_find_def(l, lower_callee_name(l, e))));
}

static bool is_layer_name(const AstExpr *e) {
    return e->kind == AST_EXPR_NAME && (strcmp(e->as.name, "dense") == 0 ||
                                        lower_layer_has_params(e->as.name));
}

/* Layer calls in an expression, counting `x |> dense(3)` once. */
int count_layers(const Lower *l, const AstExpr *e) {
    if (!e)
        return 0;
    int n = 0;
    switch (e->kind) {
    case AST_EXPR_CALL:
        n += is_layer_call(l, e);
        for (size_t i = 0; i < e->as.call.n_args; i++)
            n += count_layers(l, e->as.call.args[i].value);
        return n;
    case AST_EXPR_PIPE:
    case AST_EXPR_BINARY:
        return count_layers(l, e->as.binary.lhs) +
               count_layers(l, e->as.binary.rhs) +
               (e->kind == AST_EXPR_PIPE &&
                (is_layer_name(e->as.binary.rhs) ||
                 (e->as.binary.rhs->kind == AST_EXPR_NAME &&
                  !builtin_find(e->as.binary.rhs->as.name) &&
                  lower_find_def(l, e->as.binary.rhs->as.name))));
    case AST_EXPR_NEG:
        return count_layers(l, e->as.unary.operand);
    case AST_EXPR_LIST:
        for (size_t i = 0; i < e->as.list.len; i++)
            n += count_layers(l, e->as.list.items[i]);
        return n;
    default:
        return 0;
    }
}

int lower_builtin_names(const char **out, int max) {
    int n = 0;
    for (int i = 0; i < N_BUILTINS && n < max; i++)
        out[n++] = builtins[i].name;
    return n + lower_layer_names(out + n, max - n);
}

static LVal lower_call(Lower *l, const CallArgs *c) {
    const char *full = c->call ? lower_callee_name(l, c->call) : c->name;
    const Builtin *b = full && !strchr(full, '.') ? builtin_find(c->name)
                                                 : NULL;
    LVal layer;
    if (!b && full && !strchr(full, '.') && lower_layer_call(l, c, &layer))
        return layer; /* lower_layers.c */
    if (!b) {
        const AstItem *def = full ? lower_find_def(l, full) : NULL;
        if (def)
            return lower_def_call(l, c, def);
        lower_unknown_function(l, full ? full : c->name, c->loc);
        return lval_none;
    }
    switch (b->kind) {
    case BI_DENSE: return lower_dense(l, c);
    case BI_MATMUL: return lower_matmul(l, c);
    case BI_ACT:
        return lower_activation(l, c, b->fn, b->alpha_name, b->alpha_default);
    case BI_SOFTMAX: return lower_softmax(l, c, IR_OP_SOFTMAX);
    case BI_LOG_SOFTMAX: return lower_softmax(l, c, IR_OP_LOG_SOFTMAX);
    case BI_FLATTEN: return lower_flatten(l, c);
    }
    return lval_none;
}

/* ---- expressions -------------------------------------------------------- */

static LVal lower_name(Lower *l, const AstExpr *e) {
    const Binding *b = binding_find(l, e->as.name);
    if (b)
        return b->value;
    if (builtin_find(e->as.name)) {
        diag_error(l->diag, e->loc, "'%s' is a function; call it as %s(...)",
                   e->as.name, e->as.name);
        return lval_none;
    }
    const char *names[256];
    int n = 0;
    for (size_t i = 0; i < l->n_bindings && n < 256; i++)
        names[n++] = l->bindings[i].name;
    const char *hint = sema_closest(e->as.name, names, n);
    if (hint)
        diag_error(l->diag, e->loc, "unknown name '%s'; did you mean '%s'?",
                   e->as.name, hint);
    else
        diag_error(l->diag, e->loc, "unknown name '%s'", e->as.name);
    return lval_none;
}

static LVal lower_binary(Lower *l, const AstExpr *e) {
    LVal a = lower_expr(l, e->as.binary.lhs);
    LVal b = lower_expr(l, e->as.binary.rhs);
    if (a.kind == LV_NONE || b.kind == LV_NONE)
        return lval_none;
    AstBinOp op = e->as.binary.op;
    if (a.kind == LV_NUMBER && b.kind == LV_NUMBER) {
        double x = a.number, y = b.number;
        double r = op == AST_ADD ? x + y
                   : op == AST_SUB ? x - y
                   : op == AST_MUL ? x * y
                                   : x / y;
        return lval_number(r);
    }
    static const IrOpKind ops[] = {IR_OP_ADD, IR_OP_SUB, IR_OP_MUL, IR_OP_DIV};
    return lval_tensor(ir_build_binary(l->func, ops[op],
                                       as_tensor(l, a, e->as.binary.lhs->loc),
                                       as_tensor(l, b, e->as.binary.rhs->loc),
                                       e->loc));
}

static LVal lower_pipe(Lower *l, const AstExpr *e) {
    LVal lhs = lower_expr(l, e->as.binary.lhs);
    if (lhs.kind == LV_NONE)
        return lval_none;
    const AstExpr *rhs = e->as.binary.rhs;
    CallArgs c = {0};
    c.has_piped = true;
    c.piped = lhs;
    c.piped_loc = e->as.binary.lhs->loc;
    if (rhs->kind == AST_EXPR_NAME) {
        c.name = rhs->as.name;
        c.loc = rhs->loc;
    } else if (rhs->kind == AST_EXPR_CALL) {
        c.call = rhs;
        c.name = sema_call_name(rhs);
        c.loc = rhs->loc;
    } else {
        diag_error(l->diag, rhs->loc,
                   "the right side of |> must be a function or a call");
        return lval_none;
    }
    return lower_call(l, &c);
}

LVal lower_expr(Lower *l, const AstExpr *e) {
    switch (e->kind) {
    case AST_EXPR_NUMBER:
        return lval_number(e->as.number.value);
    case AST_EXPR_NAME:
        return lower_name(l, e);
    case AST_EXPR_CALL: {
        CallArgs c = {e, e->loc, sema_call_name(e), false, lval_none, {0}};
        return lower_call(l, &c);
    }
    case AST_EXPR_PIPE:
        return lower_pipe(l, e);
    case AST_EXPR_BINARY:
        return lower_binary(l, e);
    case AST_EXPR_NEG: {
        LVal v = lower_expr(l, e->as.unary.operand);
        if (v.kind == LV_NUMBER)
            return lval_number(-v.number);
        if (v.kind == LV_NONE)
            return v;
        return lval_tensor(ir_build_unary(l->func, IR_FN_NEG, v.tensor, 0,
                                          e->loc));
    }
    case AST_EXPR_STRING:
        diag_error(l->diag, e->loc, "a string is not a value in a model");
        return lval_none;
    case AST_EXPR_BOOL:
        diag_error(l->diag, e->loc, "a boolean is not a value in a model");
        return lval_none;
    case AST_EXPR_LIST:
        diag_error(l->diag, e->loc, "a list is not a value in a model");
        return lval_none;
    case AST_EXPR_FIELD:
        diag_error(l->diag, e->loc, "unknown name '%s'", e->as.field.member);
        return lval_none;
    }
    return lval_none;
}

/* ---- types and the model signature -------------------------------------- */

/* Converts a declared type; the first dimension must be symbolic (batch). */
bool lower_type(Lower *l, const AstType *t, IrShape *out) {
    if (strcmp(t->dtype, "f32") != 0 && strcmp(t->dtype, "i64") != 0) {
        diag_error(l->diag, t->loc,
                   "unsupported element type '%s'; models take f32 (or i64 "
                   "ids, carried as floats) tensors",
                   t->dtype);
        return false;
    }
    if (t->n_dims < 1 || !t->dims[0].symbol) {
        SrcLoc loc = t->n_dims ? t->dims[0].loc : t->loc;
        diag_error(l->diag, loc,
                   "the first dimension must be the symbolic batch, as in "
                   "f32[batch, 4]");
        return false;
    }
    if (t->n_dims > IR_MAX_RANK) {
        diag_error(l->diag, t->loc, "tensors have at most %d dimensions",
                   IR_MAX_RANK);
        return false;
    }
    out->rank = (int)t->n_dims;
    out->dims[0] = IR_BATCH;
    int64_t elems = 1;
    for (size_t i = 1; i < t->n_dims; i++) {
        const AstDim *dim = &t->dims[i];
        if (dim->symbol) {
            diag_error(l->diag, dim->loc,
                       "only the first dimension may be symbolic; '%s' "
                       "needs a size",
                       dim->symbol);
            return false;
        }
        if (dim->size < 1 || dim->size > (1LL << 31) ||
            elems > (1LL << 40) / dim->size) {
            diag_error(l->diag, dim->loc,
                       "dimension %lld is out of range (1 to 2^31, and at "
                       "most 2^40 elements per sample)",
                       dim->size);
            return false;
        }
        elems *= dim->size;
        out->dims[i] = dim->size;
    }
    return true;
}

static bool check_output_shape(Lower *l, IrValue *out, SrcLoc loc) {
    const AstItem *m = l->prog->model;
    if (!m->has_result)
        return true;
    IrShape want;
    if (!lower_type(l, &m->result, &want))
        return false;
    if (ir_shape_eq(want, out->shape))
        return true;
    char a[64], b[64];
    diag_error(l->diag, loc, "the model returns %s but declares %s",
               ir_shape_str(out->shape, a, sizeof a),
               ir_shape_str(want, b, sizeof b));
    diag_note(l->diag, m->result.loc, "declared here");
    return false;
}

/* Checks the output against the train block's loss and label; returns the
 * label's shape. */
static bool check_loss_shapes(Lower *l, IrValue *out, IrShape *label) {
    const SemaProgram *p = l->prog;
    char buf[64];
    *label = ir_shape2(IR_BATCH, 1);
    if (out->shape.rank != 2) {
        diag_error(l->diag, p->loss_loc,
                   "the loss needs a [batch, n] model output, got %s",
                   ir_shape_str(out->shape, buf, sizeof buf));
        return false;
    }
    int64_t width = out->shape.dims[1];
    if (p->loss == SEMA_LOSS_CROSS_ENTROPY && width != p->n_classes) {
        diag_error(l->diag, p->label_loc,
                   "the label has %d classes but the model outputs %lld "
                   "values per sample",
                   p->n_classes, (long long)width);
        diag_note(l->diag, p->model->name_loc, "model '%s' is defined here",
                  p->model->name);
        return false;
    }
    if (p->loss != SEMA_LOSS_CROSS_ENTROPY && width != 1) {
        diag_error(l->diag, p->loss_loc,
                   "%s compares the output with one label column, but the "
                   "model outputs %lld values per sample",
                   p->loss == SEMA_LOSS_MSE ? "mse" : "bce_with_logits",
                   (long long)width);
        return false;
    }
    return true;
}

static bool check_feature_width(Lower *l, const IrShape *in, SrcLoc loc) {
    const cJSON *ds = l->prog->dataset_json;
    const cJSON *features = ds ? cJSON_GetObjectItem(ds, "features") : NULL;
    const cJSON *cols = features ? cJSON_GetObjectItem(features, "columns")
                                 : NULL;
    if (!cols)
        return true;
    int n = cJSON_GetArraySize(cols);
    if (ir_shape_row_elems(*in) == n)
        return true;
    char buf[64];
    diag_error(l->diag, loc,
               "dataset '%s' gives %d features per sample but the model input "
               "is %s",
               l->prog->dataset->name, n, ir_shape_str(*in, buf, sizeof buf));
    return false;
}

/* ---- entry points ------------------------------------------------------- */

static IrValue *lower_body(Lower *l) {
    const AstItem *m = l->prog->model;
    l->n_bindings = 0;
    l->scope_start = 0;
    l->scope_file = m->loc.file;
    l->prefix = "";
    l->loop_suffix = "";
    l->explicit_names = (PtrVec){0};
    if (m->n_params != 1) {
        SrcLoc loc = m->n_params ? m->params[1].loc : m->name_loc;
        diag_error(l->diag, loc, "a model takes exactly one input tensor");
        return NULL;
    }
    IrShape in_shape;
    if (!lower_type(l, &m->params[0].type, &in_shape))
        return NULL;
    if (l->create_params && !check_feature_width(l, &in_shape, m->params[0].loc))
        return NULL;
    IrValue *x = ir_build_input(l->func, IR_SLOT_X, IR_F32, in_shape,
                                m->params[0].loc);
    x->name = m->params[0].name;
    binding_add(l, m->params[0].name, m->params[0].loc, lval_tensor(x));
    LVal v = lower_model_body(l, m); /* lower_def.c */
    if (v.kind == LV_NONE)
        return NULL;
    if (v.kind != LV_TENSOR) {
        diag_error(l->diag, m->end_loc, "a model must return a tensor");
        return NULL;
    }
    return check_output_shape(l, v.tensor, v.tensor->loc) ? v.tensor : NULL;
}

static IrValue *build_loss(Lower *l, IrValue *out) {
    IrShape label_shape;
    if (!check_loss_shapes(l, out, &label_shape))
        return NULL;
    IrValue *y = ir_build_input(l->func, IR_SLOT_Y, IR_F32, label_shape,
                                l->prog->loss_loc);
    y->name = "label";
    static const IrOpKind ops[] = {IR_OP_COPY, IR_OP_CROSS_ENTROPY, IR_OP_MSE,
                                   IR_OP_BCE_LOGITS};
    IrValue *in[2] = {out, y};
    IrValue *loss =
        ir_build(l->func, ops[l->prog->loss], in, 2, NULL, l->prog->loss_loc);
    if (loss)
        loss->name = "loss";
    return loss;
}

static bool lower_entry(Lower *l, IrEntryKind kind) {
    l->func = ir_func_new(l->module, kind);
    IrValue *out = lower_body(l);
    if (!out)
        return false;
    l->create_params = false;
    if (kind != IR_ENTRY_TRAIN)
        l->func->output = out;
    if (kind == IR_ENTRY_PREDICT)
        return true;
    l->func->loss = build_loss(l, out);
    return l->func->loss != NULL;
}

IrModule *lower_program(Arena *a, Diag *d, const SemaProgram *prog) {
    Lower l = {0};
    l.arena = a;
    l.diag = d;
    l.prog = prog;
    l.create_params = true;
    l.module = ir_module_new(a, d, prog->model->name);
    int errors = diag_error_count(d);
    if (!lower_entry(&l, IR_ENTRY_PREDICT) || diag_error_count(d) > errors)
        return NULL;
    if (prog->train) {
        if (!lower_entry(&l, IR_ENTRY_EVAL) || !lower_entry(&l, IR_ENTRY_TRAIN))
            return NULL;
    }
    return diag_error_count(d) > errors ? NULL : l.module;
}
