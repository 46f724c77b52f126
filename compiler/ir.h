/* ir.h - the typed, statically shaped graph IR.
 *
 * A module holds the model's parameters and up to three entry functions
 * (predict, train_step, eval_step). Each function is a list of SSA values in
 * schedule order; a value is the result of one op on earlier values. Every
 * value has a dtype and a shape whose first dimension may be the symbolic
 * batch (IR_BATCH); all other dimensions are static. Ops come from the table
 * in ir_ops.def. After memory planning each value also has a storage: where
 * codegen finds it at run time.
 *
 * Lowering (lower.c) builds functions with the ir_build_* helpers, which run
 * the shape rule at once so shape errors point at the source. Passes
 * (passes/, one file each) transform functions in place. Everything lives in the
 * module's arena. */
#ifndef AAI_IR_H
#define AAI_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

enum { IR_MAX_RANK = 6, IR_MAX_INPUTS = 4 };
#define IR_BATCH (-1) /* the symbolic batch dimension, only ever dims[0] */

typedef enum IrDType { IR_F32, IR_I64 } IrDType;

typedef struct IrShape {
    int rank;
    int64_t dims[IR_MAX_RANK]; /* dims[0] may be IR_BATCH */
} IrShape;

typedef enum IrOpKind {
#define IR_OP(kind, text, arity) IR_OP_##kind,
#include "ir_ops.def"
#undef IR_OP
    IR_OP_COUNT
} IrOpKind;

/* Pointwise functions of one tensor (IR_OP_UNARY / IR_OP_UNARY_GRAD). */
typedef enum IrUnaryFn {
#define IR_UNARY(kind, text) IR_FN_##kind,
#include "ir_unary.def"
#undef IR_UNARY
    IR_FN_COUNT
} IrUnaryFn;

/* Where an entry's external buffers come from (fields of AairtStepArgs). */
typedef enum IrSlot {
    IR_SLOT_X,    /* args->x: model input batch */
    IR_SLOT_Y,    /* args->y: labels/targets batch */
    IR_SLOT_OUT,  /* args->out: model output batch */
    IR_SLOT_LOSS, /* args->loss: one float */
    IR_SLOT_COUNT
} IrSlot;

/* Weight initialisation rules, drawn from the seed by the runtime. */
typedef enum IrInit {
    IR_INIT_TORCH_DEFAULT, /* U(±1/sqrt(fan_in)): nn.Linear's default */
    IR_INIT_HE_UNIFORM,
    IR_INIT_HE_NORMAL,
    IR_INIT_XAVIER_UNIFORM,
    IR_INIT_XAVIER_NORMAL,
    IR_INIT_ZEROS,
    IR_INIT_ONES,
    IR_INIT_COUNT
} IrInit;

typedef struct IrParam {
    const char *name; /* stable, source-derived: "hidden.weight" */
    SrcLoc loc;       /* the layer call that created it */
    IrShape shape;    /* static (no batch dimension) */
    int64_t offset;   /* floats from the start of the parameter block */
    int64_t size;     /* floats */
    IrInit init;
    int64_t fan_in, fan_out;
    int index;        /* position in IrModule.params */
    bool buffer;      /* not trained (batch-norm running stats): laid out
                         after every trainable parameter, never given to
                         the optimizer (ir_module_layout_buffers) */
} IrParam;

/* Op attributes; which fields matter is up to the op (see ir_ops.def). */
typedef struct IrAttrs {
    int64_t i[6];
    double f[4];
    IrUnaryFn fn;   /* UNARY, UNARY_GRAD */
    IrSlot slot;    /* INPUT */
    IrParam *param; /* PARAM */
    IrShape shape;  /* RESHAPE, BROADCAST, SUM_TO target shape */
} IrAttrs;

typedef enum IrStorageKind {
    IR_STORE_UNPLANNED, /* before memory planning */
    IR_STORE_ARENA,     /* scratch arena, planned by liveness */
    IR_STORE_PARAM,     /* params + offset */
    IR_STORE_GRAD,      /* grads + offset (same layout as params) */
    IR_STORE_SLOT,      /* an AairtStepArgs pointer, + offset */
    IR_STORE_VIEW,      /* same memory as `view_of` (reshape, flatten) */
    IR_STORE_IMMEDIATE, /* a scalar constant folded into the code */
} IrStorageKind;

typedef struct IrValue IrValue;

typedef struct IrStorage {
    IrStorageKind kind;
    IrSlot slot;       /* IR_STORE_SLOT */
    int64_t offset;    /* floats: PARAM/GRAD/SLOT offset, ARENA static offset */
    int64_t row_offset; /* ARENA, batch-dependent values: offset in floats
                          per batch row inside the batch region */
    IrValue *view_of;  /* IR_STORE_VIEW */
} IrStorage;

struct IrValue {
    int id;          /* unique in its function, printed as %id */
    IrOpKind op;
    IrDType dtype;
    IrShape shape;
    IrValue *in[IR_MAX_INPUTS];
    int n_in;
    IrAttrs attr;
    const char *name; /* source binding it came from, for dumps; may be NULL */
    SrcLoc loc;       /* source position, zero for compiler-made values */
    IrStorage store;
    int n_uses;       /* maintained by passes that need it */
    bool dead;        /* set by DCE; codegen skips dead values */
};

typedef enum IrEntryKind { IR_ENTRY_PREDICT, IR_ENTRY_TRAIN, IR_ENTRY_EVAL, IR_ENTRY_COUNT } IrEntryKind;

typedef struct IrFunc {
    IrEntryKind kind;
    const char *name;       /* "predict", "train_step", "eval_step" */
    PtrVec values;          /* IrValue*, schedule order */
    IrValue *output;        /* stored to args->out (NULL in train) */
    IrValue *loss;          /* scalar, stored to args->loss (train/eval) */
    IrValue **param_grads;  /* train: per param (IrModule.params order) */
    bool optimizer_step;    /* train: call aairt_optimizer_step at the end */
    int64_t arena_static_floats; /* set by memory planning */
    int64_t arena_row_floats;    /* per batch row */
    int next_id;
    struct IrModule *module; /* owner: arena and diagnostics for builders */
} IrFunc;

typedef struct IrModule {
    Arena *arena;
    Diag *diag;
    const char *name;       /* model name */
    PtrVec params;          /* IrParam* */
    int64_t n_param_floats;
    int64_t n_trainable_floats; /* the optimizer's n: params before the
                                   first buffer (ir_module_layout_buffers) */
    IrFunc *funcs[IR_ENTRY_COUNT]; /* NULL when not built */
} IrModule;

/* The op table. */
const char *ir_op_name(IrOpKind op);
int ir_op_arity(IrOpKind op); /* -1: variadic */
/* Floating-point operations of one sample of v (a multiply-add is two;
 * an op summing over the batch counts one sample's share); what the
 * manifest's flops_per_sample and train_flops_per_sample and --report
 * sum. */
int64_t ir_value_flops(const IrValue *v);
const char *ir_unary_name(IrUnaryFn fn);
const char *ir_init_name(IrInit init);
const char *ir_entry_name(IrEntryKind kind);

/* Shapes. */
IrShape ir_shape(int rank, const int64_t *dims);
IrShape ir_shape2(int64_t d0, int64_t d1);
bool ir_shape_eq(IrShape a, IrShape b);
bool ir_shape_has_batch(IrShape s);
/* Elements per batch row (product of dims[1..]) when the shape has a batch
 * dimension, else the total element count. */
int64_t ir_shape_row_elems(IrShape s);
int64_t ir_shape_elems_static(IrShape s); /* batch counted as 1 */
/* "[B,16]" into buf; returns buf. */
const char *ir_shape_str(IrShape s, char *buf, size_t cap);

/* Construction. */
IrModule *ir_module_new(Arena *a, Diag *d, const char *name);
IrFunc *ir_func_new(IrModule *m, IrEntryKind kind);
/* Adds a parameter and assigns its offset in the parameter block. */
IrParam *ir_param_new(IrModule *m, const char *name, IrShape shape,
                      IrInit init, int64_t fan_in, int64_t fan_out,
                      SrcLoc loc);
IrParam *ir_param_find(const IrModule *m, const char *name);
/* Moves every buffer parameter after the trainable ones (offsets change,
 * order in IrModule.params does not) and sets n_trainable_floats. Run by
 * memory planning; idempotent. */
void ir_module_layout_buffers(IrModule *m);

/* Appends a value computed by `op` from `ins`; runs the shape rule and, on a
 * mismatch, reports a diagnostic at `loc` and returns NULL. */
IrValue *ir_build(IrFunc *f, IrOpKind op, IrValue **ins, int n_in,
                  const IrAttrs *attrs, SrcLoc loc);
IrValue *ir_build_input(IrFunc *f, IrSlot slot, IrDType dt, IrShape shape,
                        SrcLoc loc);
IrValue *ir_build_param(IrFunc *f, IrParam *p, SrcLoc loc);
IrValue *ir_build_const(IrFunc *f, double value, SrcLoc loc); /* scalar */
IrValue *ir_build_unary(IrFunc *f, IrUnaryFn fn, IrValue *x, double alpha,
                        SrcLoc loc);
IrValue *ir_build_binary(IrFunc *f, IrOpKind op, IrValue *a, IrValue *b,
                         SrcLoc loc);
IrValue *ir_build_matmul(IrFunc *f, IrValue *a, IrValue *b, bool trans_a,
                         bool trans_b, SrcLoc loc);
/* One-input ops without attributes (SOFTMAX, LOG_SOFTMAX, COPY), and
 * two/three-input ops without attributes (losses, *_GRAD). */
IrValue *ir_build1(IrFunc *f, IrOpKind op, IrValue *x, SrcLoc loc);
IrValue *ir_build2(IrFunc *f, IrOpKind op, IrValue *a, IrValue *b, SrcLoc loc);
IrValue *ir_build3(IrFunc *f, IrOpKind op, IrValue *a, IrValue *b, IrValue *c,
                   SrcLoc loc);
/* SUM or MEAN over the axes in `axes_mask` (bit k = axis k; 0 = all axes). */
IrValue *ir_build_reduce(IrFunc *f, IrOpKind op, IrValue *x, uint32_t axes_mask,
                         bool keepdims, SrcLoc loc);
/* RESHAPE, BROADCAST or SUM_TO to `shape`. */
IrValue *ir_build_to_shape(IrFunc *f, IrOpKind op, IrValue *x, IrShape shape,
                           SrcLoc loc);
/* Rewrites every use of `from` (inputs, output, loss, param_grads) to `to`. */
void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to);
/* Recounts IrValue.n_uses over live values and the function's roots. */
void ir_count_uses(IrFunc *f);
/* The value whose memory a view (IR_STORE_VIEW chain) refers to. */
IrValue *ir_value_root(IrValue *v);
/* True when the unary fn reads attr.f[0] (leaky_relu slope, elu alpha). */
bool ir_unary_has_alpha(IrUnaryFn fn);

/* The shape rule of v->op applied to v's inputs and attributes; sets
 * v->shape and v->dtype. Reports at v->loc and returns false on mismatch. */
bool ir_infer_shape(IrValue *v, Diag *d);
/* The shape rules of the layer ops (ir_ops.def, after MEAN_GRAD) and of
 * batched MATMUL (rank > 2), passes/shape_layers.c; called by
 * ir_infer_shape. */
bool ir_infer_shape_layer(IrValue *v, Diag *d);
/* Layer-op attributes in the textual IR (ir_layers.c). */
void ir_print_layer_attrs(FILE *out, const IrValue *v);
/* Output positions of a window of k (stride s, padding p, dilation dil)
 * swept over `in`; <= 0 when the window does not fit. */
int64_t ir_window_sweep(int64_t in, int64_t k, int64_t s, int64_t p, int64_t dil);
/* True for ops that update their first input in place (SLICE_ADD,
 * MATMUL_ACC): the memory plan may give them its buffer. */
bool ir_op_updates_first_input(IrOpKind op);
/* True for ops that write outside their own value (RUNNING_UPDATE): DCE
 * keeps them. */
bool ir_op_has_effect(IrOpKind op);

/* Textual form: stable, the golden-test format of --emit=ir. */
void ir_print_func(FILE *out, const IrFunc *f);
void ir_print_module(FILE *out, const IrModule *m);
/* Structural checks (inputs defined before use, shapes consistent, storage
 * planned when `planned`). Reports an internal error and returns false. */
bool ir_verify_func(const IrFunc *f, bool planned, FILE *err);

#endif
