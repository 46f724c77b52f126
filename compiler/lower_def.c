/* lower_def.c - statement blocks: model and def bodies, `repeat` and `for`
 * loops, explicit `param` declarations, def calls and compile-time
 * substitution.
 *
 * A def is expanded at each call: its arguments are lowered in the
 * caller's scope, then its body is lowered in a fresh scope whose
 * parameter names carry the prefix of the call's binding
 * (`block1 = res(x, 16)` -> `block1.conv.weight`). Loops are unrolled;
 * a binding made inside iteration i names its layers `name.i`
 * (`h.0.weight`, like torch.nn.Sequential). Compile-time values (numbers,
 * lists, strings, booleans; def parameters, loop variables and consts) are
 * substituted into the AST before a statement is lowered, so every
 * builtin reads them as literals. Recursion is reported at the call that
 * closes the cycle. */
#include "lower_internal.h"

#include <math.h>
#include <string.h>

enum { LOOP_MAX_ITERATIONS = 4096, CONST_MAX_DEPTH = 32 };

static const LVal lval_none = {LV_NONE, NULL, 0, NULL};

static bool is_literal(const AstExpr *e) {
    return e->kind == AST_EXPR_NUMBER || e->kind == AST_EXPR_STRING ||
           e->kind == AST_EXPR_BOOL || e->kind == AST_EXPR_LIST;
}

const char *lower_callee_name(const Lower *l, const AstExpr *call) {
    return imports_dotted_name(l->arena, call->as.call.callee);
}

/* A def or const visible from the current scope; without an import set
 * (unit tests lowering one file) the model's own file is searched. */
static const AstItem *lookup_item(const Lower *l, const char *name,
                                  AstItemKind kind) {
    if (l->prog->imports)
        return imports_lookup(l->prog->imports, l->scope_file, name, kind);
    const AstFile *f = l->prog->file;
    for (size_t i = f->n_items; i-- > 0;)
        if (f->items[i].kind == kind && f->items[i].name &&
            strcmp(f->items[i].name, name) == 0)
            return &f->items[i];
    return NULL;
}

const AstItem *lower_find_def(const Lower *l, const char *name) {
    return name ? lookup_item(l, name, AST_ITEM_DEF) : NULL;
}

void lower_unknown_function(Lower *l, const char *name, SrcLoc loc) {
    const char *names[256];
    int n = lower_builtin_names(names, 128);
    n += imports_visible_names(l->prog->imports, l->scope_file, AST_ITEM_DEF,
                               names + n, 256 - n);
    const char *hint = sema_closest(name, names, n);
    if (hint)
        diag_error(l->diag, loc, "unknown function '%s'; did you mean '%s'?",
                   name, hint);
    else
        diag_error(l->diag, loc, "unknown function '%s'", name);
}

/* ---- compile-time substitution ------------------------------------------ */

static AstExpr *expr_copy(Lower *l, const AstExpr *e) {
    AstExpr *c = ARENA_NEW(l->arena, AstExpr);
    *c = *e;
    return c;
}

static AstExpr *number_at(Lower *l, double v, SrcLoc loc) {
    AstExpr *n = ARENA_NEW(l->arena, AstExpr);
    n->kind = AST_EXPR_NUMBER;
    n->loc = loc;
    n->depth = 1;
    n->as.number.value = v;
    n->as.number.is_int = v == floor(v) && fabs(v) < 9007199254740992.0;
    return n;
}

/* A literal moved to `loc` (diagnostics about it point at the use). */
static const AstExpr *literal_at(Lower *l, const AstExpr *lit, SrcLoc loc) {
    AstExpr *c = expr_copy(l, lit);
    c->loc = loc;
    return c;
}

static const AstExpr *subst_depth(Lower *l, const AstExpr *e, int depth);

/* The value of name `name` used at `loc` when it is compile-time, else
 * NULL. */
static const AstExpr *subst_name(Lower *l, const char *name, SrcLoc loc,
                                 int depth) {
    const Binding *b = binding_find(l, name);
    if (b) {
        if (b->value.kind == LV_NUMBER)
            return number_at(l, b->value.number, loc);
        if (b->value.kind == LV_CONST)
            return literal_at(l, b->value.literal, loc);
        return NULL;
    }
    const AstItem *c = lookup_item(l, name, AST_ITEM_CONST);
    if (!c)
        return NULL;
    if (depth > CONST_MAX_DEPTH) {
        diag_error(l->diag, loc, "const '%s' refers to itself", name);
        return NULL;
    }
    /* a const's value is read in its own file's scope */
    uint32_t file = l->scope_file;
    size_t start = l->scope_start;
    l->scope_file = c->loc.file;
    l->scope_start = l->n_bindings;
    const AstExpr *v = subst_depth(l, c->value, depth + 1);
    l->scope_file = file;
    l->scope_start = start;
    if (!is_literal(v)) {
        diag_error(l->diag, c->value->loc,
                   "a const must be a number, string, boolean or list");
        return NULL;
    }
    return literal_at(l, v, loc);
}

static const AstExpr *subst_depth(Lower *l, const AstExpr *e, int depth) {
    AstExpr *c;
    switch (e->kind) {
    case AST_EXPR_NAME: {
        const AstExpr *v = subst_name(l, e->as.name, e->loc, depth);
        return v ? v : e;
    }
    case AST_EXPR_FIELD: {
        const char *dotted = imports_dotted_name(l->arena, e);
        const AstExpr *v = dotted ? subst_name(l, dotted, e->loc, depth) : NULL;
        return v ? v : e;
    }
    case AST_EXPR_CALL: {
        c = expr_copy(l, e);
        c->as.call.args = ARENA_NEW_ARRAY(l->arena, AstArg, e->as.call.n_args);
        for (size_t i = 0; i < e->as.call.n_args; i++) {
            c->as.call.args[i] = e->as.call.args[i];
            c->as.call.args[i].value = (AstExpr *)subst_depth(
                l, e->as.call.args[i].value, depth);
        }
        return c;
    }
    case AST_EXPR_PIPE:
        c = expr_copy(l, e);
        c->as.binary.lhs = (AstExpr *)subst_depth(l, e->as.binary.lhs, depth);
        return c; /* the right side names a function */
    case AST_EXPR_BINARY: {
        c = expr_copy(l, e);
        c->as.binary.lhs = (AstExpr *)subst_depth(l, e->as.binary.lhs, depth);
        c->as.binary.rhs = (AstExpr *)subst_depth(l, e->as.binary.rhs, depth);
        double a, b;
        if (c->as.binary.lhs->kind == AST_EXPR_NUMBER &&
            c->as.binary.rhs->kind == AST_EXPR_NUMBER) {
            a = c->as.binary.lhs->as.number.value;
            b = c->as.binary.rhs->as.number.value;
            double r = e->as.binary.op == AST_ADD   ? a + b
                       : e->as.binary.op == AST_SUB ? a - b
                       : e->as.binary.op == AST_MUL ? a * b
                                                    : a / b;
            if (isfinite(r)) {
                AstExpr *n = number_at(l, r, e->loc);
                /* 1 / 16 stays a float; 2 * 8 stays an integer */
                n->as.number.is_int = c->as.binary.lhs->as.number.is_int &&
                                      c->as.binary.rhs->as.number.is_int &&
                                      e->as.binary.op != AST_DIV;
                return n;
            }
        }
        return c;
    }
    case AST_EXPR_NEG:
        c = expr_copy(l, e);
        c->as.unary.operand =
            (AstExpr *)subst_depth(l, e->as.unary.operand, depth);
        if (c->as.unary.operand->kind == AST_EXPR_NUMBER) {
            AstExpr *n = expr_copy(l, c->as.unary.operand);
            n->as.number.value = -n->as.number.value;
            n->loc = e->loc;
            return n;
        }
        return c;
    case AST_EXPR_LIST:
        c = expr_copy(l, e);
        c->as.list.items = ARENA_NEW_ARRAY(l->arena, AstExpr *, e->as.list.len);
        for (size_t i = 0; i < e->as.list.len; i++)
            c->as.list.items[i] =
                (AstExpr *)subst_depth(l, e->as.list.items[i], depth);
        return c;
    default:
        return e;
    }
}

const AstExpr *lower_subst(Lower *l, const AstExpr *e) {
    if (!e)
        return NULL;
    return subst_depth(l, e, 0);
}

/* A compile-time value for a binding: numbers stay numbers (they take
 * part in tensor arithmetic), other literals are kept as AST. */
static LVal lval_literal(const AstExpr *e) {
    if (e->kind == AST_EXPR_NUMBER)
        return (LVal){LV_NUMBER, NULL, e->as.number.value, NULL};
    return (LVal){LV_CONST, NULL, 0, e};
}

/* ---- blocks ------------------------------------------------------------- */

typedef enum BlockKind { BLOCK_MODEL, BLOCK_DEF, BLOCK_LOOP } BlockKind;

static LVal lower_block(Lower *l, const AstStmt *stmts, size_t n,
                        BlockKind kind, const AstItem *owner,
                        bool *returned);

/* The layer base name of binding `name` in the current scope. */
static const char *scoped_name(Lower *l, const char *name) {
    return arena_printf(l->arena, "%s%s%s", l->prefix, name, l->loop_suffix);
}

static void lower_let(Lower *l, const AstStmt *s) {
    const Binding *prev = binding_find(l, s->name);
    /* inside a loop, `h = f(h)` updates the enclosing binding */
    bool rebind = prev && l->loop_depth > 0;
    size_t prev_index = prev ? (size_t)(prev - l->bindings) : 0;
    if (prev && !rebind) {
        diag_error(l->diag, s->loc, "'%s' is already defined", s->name);
        diag_note(l->diag, prev->loc, "previous definition is here");
        return;
    }
    const AstExpr *value = lower_subst(l, s->value);
    LVal v;
    if (is_literal(value) && value->kind != AST_EXPR_NUMBER) {
        v = lval_literal(value);
    } else {
        l->layer_base = scoped_name(l, s->name);
        l->layers_in_stmt = count_layers(l, value);
        l->layer_index = 0;
        v = lower_expr(l, value);
        if (v.kind == LV_TENSOR && !v.tensor->name)
            v.tensor->name = l->layer_base;
    }
    if (rebind) /* bindings may have moved while lowering */
        l->bindings[prev_index].value = v;
    else
        binding_add(l, s->name, s->loc, v);
}

/* Fan-in / fan-out of an explicit parameter, PyTorch's convention:
 * [out, in, k...] -> fan_in = in * k..., fan_out = out * k... */
static void param_fans(IrShape shape, int64_t *fan_in, int64_t *fan_out) {
    int64_t receptive = 1;
    for (int i = 2; i < shape.rank; i++)
        receptive *= shape.dims[i];
    *fan_out = shape.dims[0] * receptive;
    *fan_in = shape.rank > 1 ? shape.dims[1] * receptive : shape.dims[0];
}

/* param name: f32[d, ...] = init */
static void lower_param_stmt(Lower *l, const AstStmt *s) {
    const Binding *prev = binding_find(l, s->name);
    if (prev) {
        diag_error(l->diag, s->name_loc, "'%s' is already defined", s->name);
        diag_note(l->diag, prev->loc, "previous definition is here");
        return;
    }
    if (strcmp(s->type.dtype, "f32") != 0) {
        diag_error(l->diag, s->type.loc,
                   "unsupported element type '%s'; parameters are f32",
                   s->type.dtype);
        return;
    }
    if (s->type.n_dims < 1 || s->type.n_dims > IR_MAX_RANK) {
        diag_error(l->diag, s->type.loc,
                   "a parameter has 1 to %d dimensions, like f32[16, 4]",
                   IR_MAX_RANK);
        return;
    }
    int64_t dims[IR_MAX_RANK];
    for (size_t i = 0; i < s->type.n_dims; i++) {
        const AstDim *d = &s->type.dims[i];
        long long size = d->size;
        if (d->symbol) {
            const Binding *b = binding_find(l, d->symbol);
            const AstExpr *c = b ? NULL
                                 : lookup_item(l, d->symbol, AST_ITEM_CONST)
                                       ? subst_name(l, d->symbol, d->loc, 0)
                                       : NULL;
            if (b && b->value.kind == LV_NUMBER)
                size = (long long)b->value.number;
            else if (c && c->kind == AST_EXPR_NUMBER)
                size = (long long)c->as.number.value;
            else {
                diag_error(l->diag, d->loc,
                           "a parameter's dimensions are fixed: '%s' is not "
                           "a compile-time integer",
                           d->symbol);
                return;
            }
        }
        if (size < 1 || size > (1LL << 31)) {
            diag_error(l->diag, d->loc, "dimension %lld is out of range", size);
            return;
        }
        dims[i] = size;
    }
    IrShape shape = ir_shape((int)s->type.n_dims, dims);
    bool ok = true;
    const AstExpr *init = lower_subst(l, s->value);
    IrInit kind = parse_init(l, init, &ok);
    if (!ok)
        return;
    int64_t fan_in, fan_out;
    param_fans(shape, &fan_in, &fan_out);
    const char *name = scoped_name(l, s->name);
    IrParam *p = get_param(l, name, shape, kind, fan_in, fan_out, s->name_loc);
    if (!p)
        return;
    IrValue *v = ir_build_param(l->func, p, s->name_loc);
    binding_add(l, s->name, s->name_loc,
                (LVal){LV_TENSOR, v, 0, NULL});
}

/* repeat N { ... } / for v in [a, b, ...] { ... } */
static void lower_loop(Lower *l, const AstStmt *s, const AstItem *owner) {
    const AstExpr *over = lower_subst(l, s->value);
    long long count = 0;
    if (!s->name) {
        if (!sema_eval_int(l->diag, over, 0, LOOP_MAX_ITERATIONS, &count))
            return;
    } else if (over->kind == AST_EXPR_CALL &&
               strcmp(sema_call_name(over), "range") == 0) {
        static const SemaArgSpec spec[] = {{"n", true}};
        const AstExpr *a[1];
        if (!sema_bind_args(l->diag, over, spec, 1, a) ||
            !sema_eval_int(l->diag, a[0], 0, LOOP_MAX_ITERATIONS, &count))
            return;
        over = NULL;
    } else if (over->kind != AST_EXPR_LIST) {
        diag_error(l->diag, over->loc,
                   "'for' iterates over a list (like [64, 32]) or range(n)");
        return;
    } else {
        count = (long long)over->as.list.len;
    }
    const char *suffix = l->loop_suffix;
    l->loop_depth++;
    for (long long i = 0; i < count; i++) {
        size_t mark = l->n_bindings;
        l->loop_suffix = arena_printf(l->arena, "%s.%lld", suffix, i);
        if (s->name) {
            LVal v = over ? lval_literal(over->as.list.items[i])
                          : (LVal){LV_NUMBER, NULL, (double)i, NULL};
            if (over && !is_literal(over->as.list.items[i])) {
                diag_error(l->diag, over->as.list.items[i]->loc,
                           "'for' needs compile-time values in its list");
                break;
            }
            binding_add(l, s->name, s->name_loc, v);
        }
        int errors = diag_error_count(l->diag);
        bool returned = false;
        lower_block(l, s->body, s->n_body, BLOCK_LOOP, owner, &returned);
        l->n_bindings = mark; /* bindings made in the body end with it */
        if (diag_error_count(l->diag) > errors)
            break;
    }
    l->loop_depth--;
    l->loop_suffix = suffix;
}

static LVal lower_block(Lower *l, const AstStmt *stmts, size_t n,
                        BlockKind kind, const AstItem *owner,
                        bool *returned) {
    for (size_t i = 0; i < n; i++) {
        const AstStmt *s = &stmts[i];
        switch (s->kind) {
        case AST_STMT_LET:
            lower_let(l, s);
            continue;
        case AST_STMT_PARAM:
            lower_param_stmt(l, s);
            continue;
        case AST_STMT_LOOP:
            lower_loop(l, s, owner);
            continue;
        case AST_STMT_RETURN:
            break;
        }
        if (kind == BLOCK_LOOP) {
            diag_error(l->diag, s->loc,
                       "'return' inside a loop; return after the loop");
            return lval_none;
        }
        *returned = true;
        if (i + 1 < n)
            diag_error(l->diag, stmts[i + 1].loc,
                       "statement after 'return' is never reached");
        const AstExpr *value = lower_subst(l, s->value);
        l->layer_base = scoped_name(l, "output");
        l->layers_in_stmt = count_layers(l, value);
        l->layer_index = 0;
        LVal v = lower_expr(l, value);
        if (v.kind == LV_TENSOR && !v.tensor->name)
            v.tensor->name = l->layer_base;
        return v;
    }
    if (kind != BLOCK_LOOP && diag_error_count(l->diag) == 0)
        diag_error(l->diag, owner->end_loc, "%s '%s' has no 'return'",
                   kind == BLOCK_DEF ? "def" : "model", owner->name);
    return lval_none;
}

LVal lower_model_body(Lower *l, const AstItem *model) {
    bool returned = false;
    LVal v = lower_block(l, model->stmts, model->n_stmts, BLOCK_MODEL, model,
                         &returned);
    if (v.kind == LV_NUMBER) {
        diag_error(l->diag, model->end_loc, "a model must return a tensor");
        return lval_none;
    }
    return v;
}

/* ---- def calls ---------------------------------------------------------- */

typedef enum ParamKind { PK_TENSOR, PK_INT, PK_FLOAT, PK_BOOL, PK_STR, PK_LIST, PK_BAD } ParamKind;

static ParamKind param_kind(const AstParam *p) {
    if (!p->has_type)
        return PK_TENSOR;
    static const char *const names[] = {"tensor", "int", "float", "bool",
                                        "str", "list"};
    for (int k = 0; k < 6; k++)
        if (strcmp(p->type.dtype, names[k]) == 0 && p->type.n_dims == 0)
            return (ParamKind)k;
    if (strcmp(p->type.dtype, "f32") == 0 && p->type.n_dims > 0)
        return PK_TENSOR;
    return PK_BAD;
}

static bool recursion_check(Lower *l, const AstItem *def, SrcLoc loc) {
    for (int i = 0; i < l->n_calls; i++) {
        if (l->calls[i] != def)
            continue;
        if (i + 1 == l->n_calls)
            diag_error(l->diag, loc,
                       "def '%s' calls itself; defs are expanded at compile "
                       "time, so recursion is not allowed (use repeat)",
                       def->name);
        else
            diag_error(l->diag, loc,
                       "recursive call: '%s' is already being expanded; "
                       "defs cannot call each other in a cycle",
                       def->name);
        return false; /* the callers add "in 'f' called here" notes */
    }
    if (l->n_calls >= LOWER_MAX_CALL_DEPTH) {
        diag_error(l->diag, loc, "defs nested more than %d calls deep",
                   LOWER_MAX_CALL_DEPTH);
        return false;
    }
    return true;
}

/* Lowers argument `e` for parameter `p` of `def` in the caller's scope. */
static bool bind_param(Lower *l, const AstItem *def, const AstParam *p,
                       const AstExpr *e, bool piped, LVal piped_value,
                       SrcLoc loc, LVal *out) {
    ParamKind kind = param_kind(p);
    if (kind == PK_BAD) {
        diag_error(l->diag, p->type.loc,
                   "unknown parameter type '%s' (use tensor, f32[...], int, "
                   "float, bool, str or list)",
                   p->type.dtype);
        return false;
    }
    if (piped) {
        *out = piped_value;
    } else if (kind == PK_TENSOR || kind == PK_INT || kind == PK_FLOAT) {
        *out = lower_expr(l, lower_subst(l, e));
        if (out->kind == LV_NONE)
            return false;
    } else {
        const AstExpr *v = lower_subst(l, e);
        static const AstExprKind want[] = {[PK_BOOL] = AST_EXPR_BOOL,
                                           [PK_STR] = AST_EXPR_STRING,
                                           [PK_LIST] = AST_EXPR_LIST};
        static const char *const what[] = {[PK_BOOL] = "true or false",
                                           [PK_STR] = "a string",
                                           [PK_LIST] = "a list"};
        if (v->kind != want[kind]) {
            diag_error(l->diag, v->loc, "argument '%s' of '%s' must be %s",
                       p->name, def->name, what[kind]);
            return false;
        }
        *out = lval_literal(v);
        return true;
    }
    if (kind == PK_TENSOR) {
        if (out->kind != LV_TENSOR) {
            diag_error(l->diag, loc, "argument '%s' of '%s' must be a tensor",
                       p->name, def->name);
            return false;
        }
        IrShape want;
        if (p->has_type && lower_type(l, &p->type, &want) &&
            !ir_shape_eq(want, out->tensor->shape)) {
            char a[64], b[64];
            diag_error(l->diag, loc,
                       "argument '%s' of '%s' has shape %s but the def "
                       "declares %s",
                       p->name, def->name,
                       ir_shape_str(out->tensor->shape, a, sizeof a),
                       ir_shape_str(want, b, sizeof b));
            diag_note(l->diag, p->type.loc, "'%s' is declared here", p->name);
            return false;
        }
        return true;
    }
    if (out->kind != LV_NUMBER) {
        diag_error(l->diag, loc, "argument '%s' of '%s' must be %s", p->name,
                   def->name, kind == PK_INT ? "an integer" : "a number");
        return false;
    }
    if (kind == PK_INT && out->number != floor(out->number)) {
        diag_error(l->diag, loc, "argument '%s' of '%s' must be an integer, "
                   "got %g", p->name, def->name, out->number);
        return false;
    }
    return true;
}

LVal lower_def_call(Lower *l, const CallArgs *c, const AstItem *def) {
    if (!recursion_check(l, def, c->loc))
        return lval_none;
    /* arguments: the def's parameters, then name = and share = */
    size_t np = def->n_params;
    SemaArgSpec *spec = ARENA_NEW_ARRAY(l->arena, SemaArgSpec, np + 2);
    for (size_t i = 0; i < np; i++)
        spec[i] = (SemaArgSpec){def->params[i].name,
                                !def->params[i].default_value};
    spec[np] = (SemaArgSpec){"name", false};
    spec[np + 1] = (SemaArgSpec){"share", false};
    const AstExpr **a = ARENA_NEW_ARRAY(l->arena, const AstExpr *, np + 2);
    int skip = c->has_piped ? 1 : 0;
    if (c->has_piped && np == 0) {
        diag_error(l->diag, c->loc, "'%s' takes no arguments to pipe into",
                   def->name);
        return lval_none;
    }
    if (c->call) {
        if (!sema_bind_args(l->diag, c->call, spec + skip, (int)np + 2 - skip,
                            a + skip))
            return lval_none;
    } else if (!c->has_piped) {
        diag_error(l->diag, c->loc, "'%s' is a function; call it as %s(...)",
                   c->name, c->name);
        return lval_none;
    } else {
        for (size_t i = 1; i < np + 2; i++) {
            a[i] = NULL;
            if (i < np && spec[i].required) {
                diag_error(l->diag, c->loc, "'%s' needs argument '%s'",
                           def->name, spec[i].name);
                return lval_none;
            }
        }
    }
    LVal *vals = ARENA_NEW_ARRAY(l->arena, LVal, np ? np : 1);
    bool ok = true;
    for (size_t i = 0; i < np; i++) {
        const AstParam *p = &def->params[i];
        bool piped = skip && i == 0;
        const AstExpr *e = piped ? NULL : a[i];
        SrcLoc loc = piped ? c->piped_loc : e ? e->loc : c->loc;
        if (!piped && !e) {
            /* a default is read in the def's own scope */
            uint32_t file = l->scope_file;
            size_t start = l->scope_start;
            l->scope_file = def->loc.file;
            l->scope_start = l->n_bindings;
            ok &= bind_param(l, def, p, p->default_value, false, lval_none,
                             loc, &vals[i]);
            l->scope_file = file;
            l->scope_start = start;
            continue;
        }
        ok &= bind_param(l, def, p, e, piped, c->piped, loc, &vals[i]);
    }
    const char *share = NULL;
    if (a[np + 1] && !sema_eval_string(l->diag, lower_subst(l, a[np + 1]),
                                        &share))
        ok = false;
    if (a[np] && share) {
        diag_error(l->diag, a[np]->loc, "give either name = or share =");
        ok = false;
    }
    const char *name = ok ? next_layer_name(l, a[np] ? lower_subst(l, a[np])
                                                      : NULL, &ok)
                          : NULL;
    if (!ok)
        return lval_none;
    /* the body: a fresh scope, parameters prefixed by the call's name */
    Lower saved = *l;
    l->calls[l->n_calls] = def;
    l->call_locs[l->n_calls++] = c->loc;
    l->scope_start = l->n_bindings;
    l->scope_file = def->loc.file;
    l->prefix = arena_printf(l->arena, "%s.",
                             share ? arena_printf(l->arena, "%s%s", l->prefix,
                                                  share)
                                   : name);
    l->loop_suffix = "";
    l->loop_depth = 0;
    l->explicit_names = (PtrVec){0};
    l->sharing = l->sharing || share != NULL;
    for (size_t i = 0; i < np; i++)
        binding_add(l, def->params[i].name, def->params[i].loc, vals[i]);
    int errors = diag_error_count(l->diag);
    bool returned = false;
    LVal v = lower_block(l, def->stmts, def->n_stmts, BLOCK_DEF, def,
                         &returned);
    if (v.kind == LV_NONE && !returned && diag_error_count(l->diag) == errors)
        diag_error(l->diag, def->end_loc, "def '%s' has no 'return'",
                   def->name);
    if (diag_error_count(l->diag) > errors)
        diag_note(l->diag, c->loc, "in '%s' called here", def->name);
    if (v.kind == LV_TENSOR && def->has_result) {
        IrShape want;
        char x[64], y[64];
        if (lower_type(l, &def->result, &want) &&
            !ir_shape_eq(want, v.tensor->shape)) {
            diag_error(l->diag, c->loc,
                       "'%s' returns %s here but declares %s", def->name,
                       ir_shape_str(v.tensor->shape, x, sizeof x),
                       ir_shape_str(want, y, sizeof y));
            diag_note(l->diag, def->result.loc, "declared here");
            v = lval_none;
        }
    }
    /* back to the caller's statement */
    l->n_bindings = saved.n_bindings;
    l->scope_start = saved.scope_start;
    l->scope_file = saved.scope_file;
    l->prefix = saved.prefix;
    l->loop_suffix = saved.loop_suffix;
    l->loop_depth = saved.loop_depth;
    l->explicit_names = saved.explicit_names;
    l->sharing = saved.sharing;
    l->layer_base = saved.layer_base;
    l->layers_in_stmt = saved.layers_in_stmt;
    l->layer_index = saved.layer_index;
    l->n_calls--;
    return v;
}
