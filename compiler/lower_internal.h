/* lower_internal.h - state shared by lower.c (expressions, builtins,
 * entry points) and lower_def.c (statement blocks, defs, loops, explicit
 * parameters, compile-time substitution). Private to lowering. */
#ifndef AAI_LOWER_INTERNAL_H
#define AAI_LOWER_INTERNAL_H

#include "imports.h"
#include "lower.h"

/* A value while lowering: a tensor, a compile-time number, or another
 * compile-time literal (a list, string or boolean, kept as its AST). */
typedef enum LValKind { LV_NONE, LV_TENSOR, LV_NUMBER, LV_CONST } LValKind;

typedef struct LVal {
    LValKind kind;
    IrValue *tensor;
    double number;
    const AstExpr *literal; /* LV_CONST */
} LVal;

typedef struct Binding {
    const char *name;
    SrcLoc loc;
    LVal value;
} Binding;

enum { LOWER_MAX_CALL_DEPTH = 64 };

typedef struct Lower {
    Arena *arena;
    Diag *diag;
    IrModule *module;
    IrFunc *func;
    const SemaProgram *prog;
    bool create_params; /* first entry lowered: make parameters */
    Binding *bindings;
    size_t n_bindings, cap_bindings;
    const char *layer_base; /* binding the current statement defines */
    int layers_in_stmt;     /* layer calls in the current statement */
    int layer_index;        /* layers lowered so far in it */
    PtrVec explicit_names;  /* name = "..." seen in this entry */
    /* defs and loops (lower_def.c) */
    size_t scope_start;     /* first binding visible in the current body */
    uint32_t scope_file;    /* file whose defs and consts are visible */
    const char *prefix;     /* parameter name prefix: "" or "block1." */
    const char *loop_suffix; /* ".0", ".1.2" inside loops, else "" */
    int loop_depth;
    bool sharing;           /* parameters exist: look up, do not create */
    const AstItem *calls[LOWER_MAX_CALL_DEPTH]; /* defs being expanded */
    SrcLoc call_locs[LOWER_MAX_CALL_DEPTH];
    int n_calls;
} Lower;

/* A call's arguments, with the pipe's left side (if any) as the first
 * positional one. */
typedef struct CallArgs {
    const AstExpr *call; /* AST_EXPR_CALL, or NULL for a bare name */
    SrcLoc loc;
    const char *name;
    bool has_piped;
    LVal piped;
    SrcLoc piped_loc;
} CallArgs;

/* ---- lower.c ---- */
LVal lower_expr(Lower *l, const AstExpr *e);
const Binding *binding_find(const Lower *l, const char *name);
void binding_add(Lower *l, const char *name, SrcLoc loc, LVal v);
const char *next_layer_name(Lower *l, const AstExpr *name_arg, bool *ok);
IrParam *get_param(Lower *l, const char *name, IrShape shape, IrInit init,
                   int64_t fan_in, int64_t fan_out, SrcLoc loc);
IrInit parse_init(Lower *l, const AstExpr *e, bool *ok);
bool lower_type(Lower *l, const AstType *t, IrShape *out);
int count_layers(const Lower *l, const AstExpr *e);
/* Builtin function names, for suggestions; returns the count. */
int lower_builtin_names(const char **out, int max);

/* Binds a builtin's arguments; spec[0] is the tensor operand, from the
 * pipe or the first positional argument (see lower.c). */
bool bind_layer_args(Lower *l, const CallArgs *c, const SemaArgSpec *spec,
                     int n_spec, LVal *operand, SrcLoc *operand_loc,
                     const AstExpr **out);

/* ---- lower_layers.c ---- */
/* Lowers a call of one of the layer and tensor builtins (conv2d, pooling,
 * normalization, dropout, reshape/transpose/concat/slice, reductions,
 * pow/minimum/maximum, embedding, attention, lstm, gru) into *out;
 * returns false, reporting nothing, when `c->name` is none of them. */
bool lower_layer_call(Lower *l, const CallArgs *c, LVal *out);
/* True for those builtins that create parameters (named like dense's). */
bool lower_layer_has_params(const char *name);
/* Their names, for suggestions; returns the count. */
int lower_layer_names(const char **out, int max);

/* ---- lower_def.c ---- */
/* Lowers a model body; returns the returned value (LV_NONE after an
 * error, reported). */
LVal lower_model_body(Lower *l, const AstItem *model);
/* The def a call names, visible from the current scope, or NULL. */
const AstItem *lower_find_def(const Lower *l, const char *name);
/* Expands a call of `def` (recursion, arguments, sharing, naming). */
LVal lower_def_call(Lower *l, const CallArgs *c, const AstItem *def);
/* The callee of `c` as a dotted name ("relu", "std.nn.mlp"). */
const char *lower_callee_name(const Lower *l, const AstExpr *call);
/* Reports an unknown function, suggesting builtins and visible defs. */
void lower_unknown_function(Lower *l, const char *name, SrcLoc loc);
/* `e` with compile-time bindings and consts replaced by literals (numbers,
 * lists, strings, booleans), so builtins can read them as constants. */
const AstExpr *lower_subst(Lower *l, const AstExpr *e);

#endif
