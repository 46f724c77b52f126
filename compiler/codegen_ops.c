/* codegen_ops.c - one generated kernel per IR op.
 *
 * Each live value becomes a call to an internal function
 * `<prefix>.<op>.<hash>` taking (out, inputs in memory..., batch) with
 * every pointer `noalias` (the memory plan never lets an op's output
 * overlap its inputs), so the loop vectorizer needs no runtime checks.
 * Values whose kernels would be identical (cg_key_value) share one.
 * Kernels are simple counted loops over i64 indices. Elementwise ops walk
 * an n-d iteration space with per-operand strides (0 on broadcast axes),
 * after dropping size-1 axes and merging neighbours with the same
 * broadcast pattern, so the common cases are one flat loop. Float math
 * uses only the `contract` fast-math flag. Matrix products call
 * aairt_sgemm (runtime/src/blas.c). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"

/* LINEAR: codegen_linear.c; SLICE_ADD: codegen_layers.c; MATMUL_ACC below. */
static_assert(IR_OP_COUNT == 53, "add the new op's lowering below (layer ops: codegen_layers.c)");

typedef struct Opnd {
    LLVMValueRef ptr; /* NULL: immediate */
    LLVMValueRef imm;
    IrShape shape;
} Opnd;

typedef struct Kern {
    CgCtx *c;
    LLVMBuilderRef b;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;
    LLVMValueRef batch; /* the batch, or a flat kernel's element count */
    LLVMValueRef out;
    Opnd in[IR_MAX_INPUTS];
    const IrValue *v;
    bool flat;        /* is_flat: one loop over `batch` elements */
    const struct NdPlan *plan; /* set: the loop nest's extents are arguments */
    LLVMValueRef ext[IR_MAX_RANK]; /* ... these, static part of each extent */
} Kern;

/* ---- small builders ---------------------------------------------------- */

static LLVMValueRef kc(Kern *k, int64_t v) { return LLVMConstInt(k->c->i64, (unsigned long long)v, 1); }
static LLVMValueRef fc(Kern *k, double v) { return LLVMConstReal(k->c->f32, v); }

static LLVMValueRef contract(LLVMValueRef v) {
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowContract);
    return v;
}
static LLVMValueRef fadd(Kern *k, LLVMValueRef a, LLVMValueRef b) { return contract(LLVMBuildFAdd(k->b, a, b, "")); }
static LLVMValueRef fsub(Kern *k, LLVMValueRef a, LLVMValueRef b) { return contract(LLVMBuildFSub(k->b, a, b, "")); }
static LLVMValueRef fmul(Kern *k, LLVMValueRef a, LLVMValueRef b) { return contract(LLVMBuildFMul(k->b, a, b, "")); }
static LLVMValueRef fdiv(Kern *k, LLVMValueRef a, LLVMValueRef b) { return contract(LLVMBuildFDiv(k->b, a, b, "")); }
static LLVMValueRef fneg(Kern *k, LLVMValueRef a) { return LLVMBuildFNeg(k->b, a, ""); }
static LLVMValueRef fgt(Kern *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(k->b, LLVMRealOGT, a, b, ""); }
static LLVMValueRef sel(Kern *k, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(k->b, c, a, b, ""); }
static LLVMValueRef fmaxv(Kern *k, LLVMValueRef a, LLVMValueRef b) { return sel(k, fgt(k, a, b), a, b); }
static LLVMValueRef imul(Kern *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(k->b, a, b, ""); }
static LLVMValueRef iadd(Kern *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(k->b, a, b, ""); }

/* Calls float(float...) `name`: an llvm.* intrinsic or a libm function,
 * marked with its vector variants where it has some (codegen_vecmath.c).
 * The libm functions are declared memory(none): generated code never
 * reads errno, and a call that may write memory would keep LLVM from
 * moving loads around it. */
static LLVMValueRef callf(Kern *k, const char *name, LLVMValueRef *args, unsigned n) {
    name = cg_vecmath_scalar_name(k->c, name);
    LLVMTypeRef ps[3] = {k->c->f32, k->c->f32, k->c->f32};
    LLVMTypeRef fty = LLVMFunctionType(k->c->f32, ps, n, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(k->c->mod, name);
    if (!fn) {
        fn = LLVMAddFunction(k->c->mod, name, fty);
        cg_add_fn_attr(k->c, fn, "nounwind");
        if (strncmp(name, "llvm.", 5) != 0) cg_add_fn_attr(k->c, fn, "memory");
    }
    LLVMValueRef call = LLVMBuildCall2(k->b, fty, fn, args, n, "");
    cg_vecmath_annotate(k->c, call, name);
    return call;
}
static LLVMValueRef call1(Kern *k, const char *name, LLVMValueRef x) { return callf(k, name, &x, 1); }
static LLVMValueRef fexp(Kern *k, LLVMValueRef x) { return call1(k, "llvm.exp.f32", x); }
static LLVMValueRef flog(Kern *k, LLVMValueRef x) { return call1(k, "llvm.log.f32", x); }

static LLVMValueRef dimv(Kern *k, IrShape s, int i) {
    return s.dims[i] == IR_BATCH ? k->batch : kc(k, s.dims[i]);
}

static LLVMValueRef nelems(Kern *k, IrShape s) {
    LLVMValueRef n = kc(k, ir_shape_row_elems(s));
    return ir_shape_has_batch(s) ? imul(k, n, k->batch) : n;
}

static LLVMValueRef at(Kern *k, LLVMValueRef ptr, LLVMValueRef idx) {
    return LLVMBuildInBoundsGEP2(k->b, k->c->f32, ptr, &idx, 1, "");
}
static LLVMValueRef ld(Kern *k, const Opnd *o, LLVMValueRef idx) {
    return o->ptr ? LLVMBuildLoad2(k->b, k->c->f32, at(k, o->ptr, idx), "") : o->imm;
}
static void st(Kern *k, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef val) {
    LLVMBuildStore(k->b, val, at(k, ptr, idx));
}

/* A stack variable in the kernel's entry block (promoted to a register). */
static LLVMValueRef var_new(Kern *k, LLVMTypeRef t, LLVMValueRef init) {
    LLVMValueRef a = cg_entry_alloca(k->c, k->entry, t, "");
    LLVMBuildStore(k->b, init, a);
    return a;
}
static LLVMValueRef var_get(Kern *k, LLVMValueRef var, LLVMTypeRef t) { return LLVMBuildLoad2(k->b, t, var, ""); }
static void var_set(Kern *k, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(k->b, v, var); }

/* ---- loops ------------------------------------------------------------- */

typedef CgLoop Loop;

/* for (i = 0; i < n; i++): returns i, builder inside the body. */
static LLVMValueRef loop_begin(Kern *k, Loop *l, LLVMValueRef n) {
    return cg_loop_begin(k->b, k->fn, k->c->i64, l, n);
}

static void loop_end(Kern *k, Loop *l) { cg_loop_end(k->b, k->c->i64, l); }

/* ---- n-d iteration with broadcasting ------------------------------------ */

enum { ND_MAX_OPS = IR_MAX_INPUTS + 1 };

typedef void (*NdBody)(Kern *k, void *user, LLVMValueRef *off);

typedef struct NdSpace {
    int n_dims, n_ops;
    LLVMValueRef ext[IR_MAX_RANK];
    LLVMValueRef stride[ND_MAX_OPS][IR_MAX_RANK];
} NdSpace;

/* Builds the loop space for iterating `space` with operands of `shapes`
 * (each broadcasting to `space`, right-aligned). */
static void nd_space(Kern *k, IrShape space, int n_ops, const IrShape *shapes, NdSpace *s) {
    int r = space.rank;
    bool bc[ND_MAX_OPS][IR_MAX_RANK];
    int keep[IR_MAX_RANK], nk = 0;
    for (int d = 0; d < r; d++) {
        if (space.dims[d] == 1) continue; /* size-1 axes contribute nothing */
        keep[nk++] = d;
    }
    for (int o = 0; o < n_ops; o++)
        for (int j = 0; j < nk; j++) {
            int d = keep[j], od = shapes[o].rank - r + d;
            bc[o][j] = od < 0 || shapes[o].dims[od] == 1;
        }
    /* per-operand strides over the kept axes */
    LLVMValueRef st_full[ND_MAX_OPS][IR_MAX_RANK];
    for (int o = 0; o < n_ops; o++) {
        LLVMValueRef acc = kc(k, 1);
        for (int j = nk; j-- > 0;) {
            st_full[o][j] = bc[o][j] ? kc(k, 0) : acc;
            if (!bc[o][j]) acc = imul(k, acc, dimv(k, space, keep[j]));
        }
    }
    /* merge neighbours with the same broadcast pattern */
    s->n_dims = 0;
    s->n_ops = n_ops;
    for (int j = 0; j < nk; j++) {
        bool merge = s->n_dims > 0;
        for (int o = 0; o < n_ops && merge; o++) merge = bc[o][j] == bc[o][j - 1];
        LLVMValueRef e = dimv(k, space, keep[j]);
        if (merge) {
            int m = s->n_dims - 1;
            s->ext[m] = imul(k, s->ext[m], e);
            for (int o = 0; o < n_ops; o++) s->stride[o][m] = st_full[o][j];
        } else {
            s->ext[s->n_dims] = e;
            for (int o = 0; o < n_ops; o++) s->stride[o][s->n_dims] = st_full[o][j];
            s->n_dims++;
        }
    }
}

static void nd_rec(Kern *k, const NdSpace *s, int d, LLVMValueRef *base, NdBody body, void *user) {
    if (d >= s->n_dims || d >= IR_MAX_RANK) { /* n_dims <= IR_MAX_RANK */
        body(k, user, base);
        return;
    }
    Loop l;
    LLVMValueRef i = loop_begin(k, &l, s->ext[d]);
    LLVMValueRef off[ND_MAX_OPS];
    for (int o = 0; o < s->n_ops; o++) {
        LLVMValueRef stv = s->stride[o][d];
        bool zero = LLVMIsAConstantInt(stv) && LLVMConstIntGetSExtValue(stv) == 0;
        off[o] = zero ? base[o] : iadd(k, base[o], imul(k, i, stv));
    }
    nd_rec(k, s, d + 1, off, body, user);
    loop_end(k, &l);
}

/* The same loop nest decided from the shapes alone, without LLVM: what a
 * kernel whose extents are arguments is keyed by. ext[d] is the static
 * part of merged extent d, times the batch where batch[d]. */
typedef struct NdPlan {
    int n_dims, n_ops;
    int64_t ext[IR_MAX_RANK];
    bool batch[IR_MAX_RANK];
    bool bc[ND_MAX_OPS][IR_MAX_RANK];
} NdPlan;

static void nd_plan(IrShape space, int n_ops, const IrShape *shapes, NdPlan *p) {
    memset(p, 0, sizeof *p);
    p->n_ops = n_ops;
    int r = space.rank;
    for (int d = 0; d < r; d++) {
        if (space.dims[d] == 1) continue;
        bool bc[ND_MAX_OPS];
        for (int o = 0; o < n_ops; o++) {
            int od = shapes[o].rank - r + d;
            bc[o] = od < 0 || shapes[o].dims[od] == 1;
        }
        bool merge = p->n_dims > 0;
        for (int o = 0; o < n_ops && merge; o++) merge = bc[o] == p->bc[o][p->n_dims - 1];
        int m = merge ? p->n_dims - 1 : p->n_dims++;
        if (!merge) {
            p->ext[m] = 1;
            for (int o = 0; o < n_ops; o++) p->bc[o][m] = bc[o];
        }
        if (space.dims[d] == IR_BATCH) p->batch[m] = true;
        else p->ext[m] *= space.dims[d];
    }
}

/* The extent of plan dimension d, in the kernel. */
static LLVMValueRef plan_ext(Kern *k, int d) {
    return k->plan->batch[d] ? imul(k, k->ext[d], k->batch) : k->ext[d];
}

/* nd_space from the kernel's plan and extent arguments. */
static void nd_space_planned(Kern *k, NdSpace *s) {
    const NdPlan *p = k->plan;
    s->n_dims = p->n_dims;
    s->n_ops = p->n_ops;
    for (int d = 0; d < p->n_dims; d++) s->ext[d] = plan_ext(k, d);
    for (int o = 0; o < p->n_ops; o++) {
        LLVMValueRef acc = kc(k, 1);
        for (int d = p->n_dims; d-- > 0;) {
            s->stride[o][d] = p->bc[o][d] ? kc(k, 0) : acc;
            if (!p->bc[o][d]) acc = imul(k, acc, s->ext[d]);
        }
    }
}

/* The product of the plan's extents where operand o is (broadcast) or is
 * not (!broadcast) broadcast: a reduction's output and reduced counts. */
static LLVMValueRef plan_count(Kern *k, int o, bool broadcast) {
    LLVMValueRef n = kc(k, 1);
    for (int d = 0; d < k->plan->n_dims; d++)
        if (k->plan->bc[o][d] == broadcast) n = imul(k, n, plan_ext(k, d));
    return n;
}

static void nd_loop(Kern *k, IrShape space, int n_ops, const IrShape *shapes, NdBody body, void *user) {
    NdSpace s;
    if (k->plan) nd_space_planned(k, &s);
    else nd_space(k, space, n_ops, shapes, &s);
    LLVMValueRef base[ND_MAX_OPS];
    for (int o = 0; o < n_ops; o++) base[o] = kc(k, 0);
    nd_rec(k, &s, 0, base, body, user);
}

/* ---- unary functions ----------------------------------------------------- */

static LLVMValueRef sigmoid(Kern *k, LLVMValueRef x) {
    return fdiv(k, fc(k, 1), fadd(k, fc(k, 1), fexp(k, fneg(k, x))));
}

static const double kGeluBeta = 0.7978845608028654; /* sqrt(2/pi) */
static const double kGeluKappa = 0.044715;

static LLVMValueRef unary_fwd(Kern *k, IrUnaryFn fn, double alpha, LLVMValueRef x) {
    LLVMValueRef zero = fc(k, 0), one = fc(k, 1);
    switch (fn) {
    case IR_FN_NEG: return fneg(k, x);
    case IR_FN_RELU: return sel(k, fgt(k, x, zero), x, zero);
    case IR_FN_LEAKY_RELU: return sel(k, fgt(k, x, zero), x, fmul(k, x, fc(k, alpha)));
    case IR_FN_ELU: return sel(k, fgt(k, x, zero), x, fmul(k, fc(k, alpha), call1(k, "expm1f", x)));
    case IR_FN_SIGMOID: return sigmoid(k, x);
    case IR_FN_TANH: return call1(k, "tanhf", x);
    case IR_FN_GELU:
        return fmul(k, fmul(k, fc(k, 0.5), x),
                    fadd(k, one, call1(k, "erff", fmul(k, x, fc(k, M_SQRT1_2)))));
    case IR_FN_GELU_TANH: {
        LLVMValueRef cube = fmul(k, fmul(k, x, x), x);
        LLVMValueRef inner = fmul(k, fc(k, kGeluBeta), fadd(k, x, fmul(k, fc(k, kGeluKappa), cube)));
        return fmul(k, fmul(k, fc(k, 0.5), x), fadd(k, one, call1(k, "tanhf", inner)));
    }
    case IR_FN_SILU: return fdiv(k, x, fadd(k, one, fexp(k, fneg(k, x))));
    case IR_FN_SOFTPLUS:
        return sel(k, fgt(k, x, fc(k, 20)), x, call1(k, "log1pf", fexp(k, x)));
    case IR_FN_EXP: return fexp(k, x);
    case IR_FN_LOG: return flog(k, x);
    case IR_FN_SQRT: return call1(k, "llvm.sqrt.f32", x);
    case IR_FN_ABS: return call1(k, "llvm.fabs.f32", x);
    case IR_FN_SQUARE: return fmul(k, x, x);
    case IR_FN_POW: {
        LLVMValueRef a[2] = {x, fc(k, alpha)};
        return callf(k, "llvm.pow.f32", a, 2);
    }
    case IR_FN_COUNT: break;
    }
    assert(0);
    return x;
}

LLVMValueRef cg_unary_value(CgCtx *c, LLVMBuilderRef b, IrUnaryFn fn, double alpha,
                           LLVMValueRef x) {
    Kern k = {.c = c, .b = b};
    return unary_fwd(&k, fn, alpha, x);
}

/* d(fn)/dx * dy, given x, y = fn(x) and dy (PyTorch's backward formulas). */
static LLVMValueRef unary_bwd(Kern *k, IrUnaryFn fn, double alpha, LLVMValueRef x, LLVMValueRef y,
                              LLVMValueRef dy) {
    LLVMValueRef zero = fc(k, 0), one = fc(k, 1);
    switch (fn) {
    case IR_FN_NEG: return fneg(k, dy);
    case IR_FN_RELU: return sel(k, fgt(k, y, zero), dy, zero);
    case IR_FN_LEAKY_RELU: return sel(k, fgt(k, x, zero), dy, fmul(k, dy, fc(k, alpha)));
    case IR_FN_ELU:
        return sel(k, fgt(k, x, zero), dy, fmul(k, dy, fmul(k, fc(k, alpha), fexp(k, x))));
    case IR_FN_SIGMOID: return fmul(k, dy, fmul(k, fsub(k, one, y), y));
    case IR_FN_TANH: return fmul(k, dy, fsub(k, one, fmul(k, y, y)));
    case IR_FN_GELU: {
        LLVMValueRef cdf = fmul(k, fc(k, 0.5), fadd(k, one, call1(k, "erff", fmul(k, x, fc(k, M_SQRT1_2)))));
        LLVMValueRef pdf = fmul(k, fexp(k, fmul(k, fc(k, -0.5), fmul(k, x, x))), fc(k, 0.3989422804014327));
        return fmul(k, dy, fadd(k, cdf, fmul(k, x, pdf)));
    }
    case IR_FN_GELU_TANH: {
        LLVMValueRef xsq = fmul(k, x, x), cube = fmul(k, xsq, x);
        LLVMValueRef inner = fmul(k, fc(k, kGeluBeta), fadd(k, x, fmul(k, fc(k, kGeluKappa), cube)));
        LLVMValueRef t = call1(k, "tanhf", inner);
        LLVMValueRef left = fmul(k, fc(k, 0.5), x), right = fadd(k, one, t);
        LLVMValueRef dleft = fmul(k, fc(k, 0.5), right);
        LLVMValueRef dright = fmul(k, left, fsub(k, one, fmul(k, t, t)));
        LLVMValueRef dinner = fmul(k, fc(k, kGeluBeta), fadd(k, one, fmul(k, fc(k, 3 * kGeluKappa), xsq)));
        return fmul(k, dy, fadd(k, dleft, fmul(k, dright, dinner)));
    }
    case IR_FN_SILU: {
        LLVMValueRef s = sigmoid(k, x);
        return fmul(k, dy, fmul(k, s, fadd(k, one, fmul(k, x, fsub(k, one, s)))));
    }
    case IR_FN_SOFTPLUS: {
        LLVMValueRef z = fexp(k, x);
        return sel(k, fgt(k, x, fc(k, 20)), dy, fdiv(k, fmul(k, dy, z), fadd(k, z, one)));
    }
    case IR_FN_EXP: return fmul(k, dy, y);
    case IR_FN_LOG: return fdiv(k, dy, x);
    case IR_FN_SQRT: return fdiv(k, dy, fmul(k, fc(k, 2), y));
    case IR_FN_ABS: {
        LLVMValueRef sgn = sel(k, fgt(k, x, zero), one,
                               sel(k, fgt(k, zero, x), fc(k, -1), zero));
        return fmul(k, dy, sgn);
    }
    case IR_FN_SQUARE: return fmul(k, dy, fmul(k, fc(k, 2), x));
    case IR_FN_POW: { /* p * x^(p-1) */
        LLVMValueRef a[2] = {x, fc(k, alpha - 1)};
        return fmul(k, dy, fmul(k, fc(k, alpha), callf(k, "llvm.pow.f32", a, 2)));
    }
    case IR_FN_COUNT: break;
    }
    assert(0);
    return dy;
}

/* ---- elementwise map ----------------------------------------------------- */

typedef LLVMValueRef (*MapFn)(Kern *k, LLVMValueRef *xs);

typedef struct MapUser {
    MapFn fn;
    int n_in;
} MapUser;

static void map_body(Kern *k, void *user, LLVMValueRef *off) {
    MapUser *u = user;
    LLVMValueRef xs[IR_MAX_INPUTS];
    for (int j = 0; j < u->n_in; j++) xs[j] = ld(k, &k->in[j], off[j + 1]);
    st(k, k->out, off[0], u->fn(k, xs));
}

/* out[i] = fn(in0[..], in1[..], ...) over the output shape, inputs read
 * through `in_shapes` (which broadcast to the output). */
static void emit_map(Kern *k, int n_in, const IrShape *in_shapes, MapFn fn) {
    IrShape shapes[ND_MAX_OPS];
    shapes[0] = k->v->shape;
    for (int j = 0; j < n_in; j++) shapes[j + 1] = in_shapes[j];
    MapUser u = {fn, n_in};
    nd_loop(k, k->v->shape, n_in + 1, shapes, map_body, &u);
}

static void emit_map_inputs(Kern *k, MapFn fn) {
    if (k->flat) {
        Loop l;
        LLVMValueRef i = loop_begin(k, &l, k->batch), xs[IR_MAX_INPUTS];
        for (int j = 0; j < k->v->n_in; j++) xs[j] = ld(k, &k->in[j], i);
        st(k, k->out, i, fn(k, xs));
        loop_end(k, &l);
        return;
    }
    IrShape s[IR_MAX_INPUTS];
    for (int j = 0; j < k->v->n_in; j++) s[j] = k->v->in[j]->shape;
    emit_map(k, k->v->n_in, s, fn);
}

static LLVMValueRef map_add(Kern *k, LLVMValueRef *x) { return fadd(k, x[0], x[1]); }
static LLVMValueRef map_sub(Kern *k, LLVMValueRef *x) { return fsub(k, x[0], x[1]); }
static LLVMValueRef map_mul(Kern *k, LLVMValueRef *x) { return fmul(k, x[0], x[1]); }
static LLVMValueRef map_div(Kern *k, LLVMValueRef *x) { return fdiv(k, x[0], x[1]); }
static LLVMValueRef map_id(Kern *k, LLVMValueRef *x) { (void)k; return x[0]; }
static LLVMValueRef map_unary(Kern *k, LLVMValueRef *x) {
    return unary_fwd(k, k->v->attr.fn, k->v->attr.f[0], x[0]);
}
static LLVMValueRef map_unary_grad(Kern *k, LLVMValueRef *x) {
    return unary_bwd(k, k->v->attr.fn, k->v->attr.f[0], x[0], x[1], x[2]);
}
static LLVMValueRef map_scale(Kern *k, LLVMValueRef *x) { return fmul(k, x[0], x[1]); }
static LLVMValueRef map_max(Kern *k, LLVMValueRef *x) { return fmaxv(k, x[0], x[1]); }
static LLVMValueRef map_min(Kern *k, LLVMValueRef *x) { return sel(k, fgt(k, x[0], x[1]), x[1], x[0]); }
static LLVMValueRef map_ge(Kern *k, LLVMValueRef *x) {
    return sel(k, LLVMBuildFCmp(k->b, LLVMRealOGE, x[0], x[1], ""), fc(k, 1), fc(k, 0));
}

/* ---- reductions ----------------------------------------------------------- */

/* The add may be reassociated: a sum over a contiguous run (a bias
 * gradient sums batch x pixels per channel) then vectorizes into 8 partial
 * sums instead of one serial chain. The order still depends only on the
 * shape, so the answer is the same every run and at any thread count. */
static void acc_body(Kern *k, void *user, LLVMValueRef *off) {
    (void)user;
    LLVMValueRef p = at(k, k->out, off[0]);
    LLVMValueRef cur = LLVMBuildLoad2(k->b, k->c->f32, p, "");
    LLVMValueRef sum = fadd(k, cur, ld(k, &k->in[0], off[1]));
    if (LLVMIsAInstruction(sum)) LLVMSetFastMathFlags(sum, LLVMFastMathAllowReassoc);
    LLVMBuildStore(k->b, sum, p);
}

static uint32_t axes_mask(const IrValue *v, int rank) {
    uint32_t m = (uint32_t)v->attr.i[0];
    return m ? m : (uint32_t)((1u << rank) - 1);
}

/* `s` with the axes in `mask` set to 1. */
static IrShape keepdims(IrShape s, uint32_t mask) {
    for (int i = 0; i < s.rank; i++)
        if (mask & (1u << i)) s.dims[i] = 1;
    return s;
}

/* Product of the axes of `s` in `mask`, as float. */
static LLVMValueRef count_f(Kern *k, IrShape s, uint32_t mask) {
    LLVMValueRef n = kc(k, 1);
    for (int i = 0; i < s.rank; i++)
        if (mask & (1u << i)) n = imul(k, n, dimv(k, s, i));
    return LLVMBuildSIToFP(k->b, n, k->c->f32, "");
}

static void fill(Kern *k, LLVMValueRef n, LLVMValueRef val) {
    Loop l;
    LLVMValueRef i = loop_begin(k, &l, n);
    st(k, k->out, i, val);
    loop_end(k, &l);
}

static void scale_out(Kern *k, LLVMValueRef n, LLVMValueRef factor) {
    Loop l;
    LLVMValueRef i = loop_begin(k, &l, n);
    LLVMValueRef p = at(k, k->out, i);
    LLVMBuildStore(k->b, fmul(k, LLVMBuildLoad2(k->b, k->c->f32, p, ""), factor), p);
    loop_end(k, &l);
}

/* SUM, MEAN, SUM_TO: out (viewed with kept axes as 1) += in over in's shape. */
static void emit_reduce(Kern *k) {
    const IrValue *v = k->v;
    IrShape in = v->in[0]->shape, outk;
    uint32_t mask = 0;
    if (v->op == IR_OP_SUM_TO) {
        outk = v->attr.shape;
    } else {
        mask = axes_mask(v, in.rank);
        outk = keepdims(in, mask);
    }
    LLVMValueRef n_out = k->plan ? plan_count(k, 0, false) : nelems(k, v->shape);
    fill(k, n_out, fc(k, 0));
    IrShape shapes[2] = {outk, in};
    nd_loop(k, in, 2, shapes, acc_body, NULL);
    if (v->op != IR_OP_MEAN) return;
    LLVMValueRef count = k->plan ? LLVMBuildSIToFP(k->b, plan_count(k, 0, true), k->c->f32, "")
                                 : count_f(k, in, mask);
    scale_out(k, n_out, fdiv(k, fc(k, 1), count));
}

/* ---- row-wise ops: softmax family and losses ------------------------------ */

/* Loops over the rows of a [.., C] tensor; returns the row's base index. */
static LLVMValueRef row_begin(Kern *k, Loop *l, IrShape s, LLVMValueRef *cols) {
    *cols = dimv(k, s, s.rank - 1);
    LLVMValueRef rows = kc(k, 1);
    for (int i = 0; i < s.rank - 1; i++) rows = imul(k, rows, dimv(k, s, i));
    return imul(k, loop_begin(k, l, rows), *cols);
}

/* max over in[base .. base+cols) */
static LLVMValueRef row_max(Kern *k, const Opnd *o, LLVMValueRef base, LLVMValueRef cols) {
    LLVMValueRef m = var_new(k, k->c->f32, fc(k, -INFINITY));
    Loop l;
    LLVMValueRef j = loop_begin(k, &l, cols);
    var_set(k, m, fmaxv(k, var_get(k, m, k->c->f32), ld(k, o, iadd(k, base, j))));
    loop_end(k, &l);
    return var_get(k, m, k->c->f32);
}

/* sum over j of f(in[base+j]) where f = exp(x - shift) (shift != NULL) or
 * x * w[base+j] (w != NULL) or x. */
static LLVMValueRef row_sum(Kern *k, const Opnd *o, const Opnd *w, LLVMValueRef shift,
                            LLVMValueRef base, LLVMValueRef cols) {
    LLVMValueRef s = var_new(k, k->c->f32, fc(k, 0));
    Loop l;
    LLVMValueRef j = loop_begin(k, &l, cols);
    LLVMValueRef x = ld(k, o, iadd(k, base, j));
    if (shift) x = fexp(k, fsub(k, x, shift));
    if (w) x = fmul(k, x, ld(k, w, iadd(k, base, j)));
    var_set(k, s, fadd(k, var_get(k, s, k->c->f32), x));
    loop_end(k, &l);
    return var_get(k, s, k->c->f32);
}

static void emit_softmax(Kern *k) {
    const IrValue *v = k->v;
    Loop r, l;
    LLVMValueRef cols;
    LLVMValueRef base = row_begin(k, &r, v->shape, &cols);
    const Opnd *x = &k->in[0], *dy = &k->in[1];
    LLVMValueRef red = NULL, m = NULL, lse = NULL;
    switch (v->op) {
    case IR_OP_SOFTMAX:
    case IR_OP_LOG_SOFTMAX:
        m = row_max(k, x, base, cols);
        red = row_sum(k, x, NULL, m, base, cols);
        if (v->op == IR_OP_LOG_SOFTMAX) lse = fadd(k, m, flog(k, red));
        else red = fdiv(k, fc(k, 1), red);
        break;
    case IR_OP_SOFTMAX_GRAD: red = row_sum(k, dy, x, NULL, base, cols); break; /* sum dy*y */
    case IR_OP_LOG_SOFTMAX_GRAD: red = row_sum(k, dy, NULL, NULL, base, cols); break;
    default: assert(0);
    }
    LLVMValueRef j = iadd(k, base, loop_begin(k, &l, cols));
    LLVMValueRef xv = ld(k, x, j), r_val;
    switch (v->op) {
    case IR_OP_SOFTMAX: r_val = fmul(k, fexp(k, fsub(k, xv, m)), red); break;
    case IR_OP_LOG_SOFTMAX: r_val = fsub(k, xv, lse); break;
    case IR_OP_SOFTMAX_GRAD: r_val = fmul(k, xv, fsub(k, ld(k, dy, j), red)); break;
    default: r_val = fsub(k, ld(k, dy, j), fmul(k, fexp(k, xv), red)); break;
    }
    st(k, k->out, j, r_val);
    loop_end(k, &l);
    loop_end(k, &r);
}

/* The class index of row n, clamped to [0, C). */
static LLVMValueRef label_at(Kern *k, LLVMValueRef n, LLVMValueRef cols) {
    LLVMValueRef li = LLVMBuildFPToSI(k->b, ld(k, &k->in[1], n), k->c->i64, "");
    LLVMValueRef lo = LLVMBuildICmp(k->b, LLVMIntSLT, li, kc(k, 0), "");
    li = sel(k, lo, kc(k, 0), li);
    LLVMValueRef hi = LLVMBuildICmp(k->b, LLVMIntSGE, li, cols, "");
    return sel(k, hi, LLVMBuildSub(k->b, cols, kc(k, 1), ""), li);
}

static void emit_cross_entropy(Kern *k, bool grad) {
    const IrValue *v = k->v;
    IrShape s = v->in[0]->shape;
    LLVMValueRef rows = dimv(k, s, 0), cols = dimv(k, s, 1);
    LLVMValueRef rows_f = LLVMBuildSIToFP(k->b, rows, k->c->f32, "");
    LLVMValueRef total = grad ? NULL : var_new(k, k->c->f64, LLVMConstReal(k->c->f64, 0));
    LLVMValueRef scale = grad ? fdiv(k, ld(k, &k->in[2], kc(k, 0)), rows_f) : NULL;
    Loop r;
    LLVMValueRef n = loop_begin(k, &r, rows);
    LLVMValueRef base = imul(k, n, cols);
    LLVMValueRef m = row_max(k, &k->in[0], base, cols);
    LLVMValueRef sum = row_sum(k, &k->in[0], NULL, m, base, cols);
    LLVMValueRef label = label_at(k, n, cols);
    if (!grad) {
        LLVMValueRef lse = fadd(k, m, flog(k, sum));
        LLVMValueRef xl = ld(k, &k->in[0], iadd(k, base, label));
        LLVMValueRef loss = LLVMBuildFPExt(k->b, fsub(k, lse, xl), k->c->f64, "");
        var_set(k, total, fadd(k, var_get(k, total, k->c->f64), loss));
    } else {
        Loop l;
        LLVMValueRef j = loop_begin(k, &l, cols);
        LLVMValueRef p = fdiv(k, fexp(k, fsub(k, ld(k, &k->in[0], iadd(k, base, j)), m)), sum);
        LLVMValueRef hit = LLVMBuildICmp(k->b, LLVMIntEQ, j, label, "");
        p = fsub(k, p, sel(k, hit, fc(k, 1), fc(k, 0)));
        st(k, k->out, iadd(k, base, j), fmul(k, p, scale));
        loop_end(k, &l);
    }
    loop_end(k, &r);
    if (!grad) {
        LLVMValueRef mean = LLVMBuildFDiv(k->b, var_get(k, total, k->c->f64),
                                          LLVMBuildSIToFP(k->b, rows, k->c->f64, ""), "");
        st(k, k->out, kc(k, 0), LLVMBuildFPTrunc(k->b, mean, k->c->f32, ""));
    }
}

/* Per-element loss terms for MSE and BCE with logits. */
static LLVMValueRef loss_term(Kern *k, IrOpKind op, LLVMValueRef x, LLVMValueRef t) {
    if (op == IR_OP_MSE) {
        LLVMValueRef d = fsub(k, x, t);
        return fmul(k, d, d);
    }
    /* max(x,0) - x*t + log1p(exp(-|x|)) */
    LLVMValueRef pos = sel(k, fgt(k, x, fc(k, 0)), x, fc(k, 0));
    LLVMValueRef soft = call1(k, "log1pf", fexp(k, fneg(k, call1(k, "llvm.fabs.f32", x))));
    return fadd(k, fsub(k, pos, fmul(k, x, t)), soft);
}

static void emit_pointwise_loss(Kern *k, bool grad) {
    const IrValue *v = k->v;
    IrOpKind op = v->op == IR_OP_MSE || v->op == IR_OP_MSE_GRAD ? IR_OP_MSE : IR_OP_BCE_LOGITS;
    LLVMValueRef n = nelems(k, v->in[0]->shape);
    LLVMValueRef n_f = LLVMBuildSIToFP(k->b, n, k->c->f32, "");
    LLVMValueRef total = grad ? NULL : var_new(k, k->c->f64, LLVMConstReal(k->c->f64, 0));
    LLVMValueRef scale = NULL;
    if (grad) {
        scale = fdiv(k, ld(k, &k->in[2], kc(k, 0)), n_f);
        if (op == IR_OP_MSE) scale = fmul(k, fc(k, 2), scale);
    }
    Loop l;
    LLVMValueRef i = loop_begin(k, &l, n);
    LLVMValueRef x = ld(k, &k->in[0], i), t = ld(k, &k->in[1], i);
    if (!grad) {
        LLVMValueRef term = LLVMBuildFPExt(k->b, loss_term(k, op, x, t), k->c->f64, "");
        var_set(k, total, fadd(k, var_get(k, total, k->c->f64), term));
    } else {
        LLVMValueRef d = op == IR_OP_MSE ? fsub(k, x, t) : fsub(k, sigmoid(k, x), t);
        st(k, k->out, i, fmul(k, d, scale));
    }
    loop_end(k, &l);
    if (!grad) {
        LLVMValueRef mean = LLVMBuildFDiv(k->b, var_get(k, total, k->c->f64),
                                          LLVMBuildSIToFP(k->b, n, k->c->f64, ""), "");
        st(k, k->out, kc(k, 0), LLVMBuildFPTrunc(k->b, mean, k->c->f32, ""));
    }
}

/* ---- matmul ------------------------------------------------------------- */

void cg_sgemm(CgCtx *c, const IrValue *a, const IrValue *b, bool ta, bool tb, const IrValue *out,
              bool accumulate) {
    LLVMTypeRef i32 = c->i32, f32 = c->f32, p = c->ptr;
    LLVMTypeRef ps[14] = {i32, i32, i32, i32, i32, i32, f32, p, i32, p, i32, f32, p, i32};
    LLVMTypeRef fty = LLVMFunctionType(c->void_t, ps, 14, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(c->mod, "aairt_sgemm");
    if (!fn) fn = LLVMAddFunction(c->mod, "aairt_sgemm", fty);
#define DIM(val, i) ((val)->shape.dims[i] == IR_BATCH ? LLVMBuildTrunc(c->b, c->batch, i32, "") \
                                                      : LLVMConstInt(i32, (unsigned long long)(val)->shape.dims[i], 0))
    LLVMValueRef m = ta ? DIM(a, 1) : DIM(a, 0);
    LLVMValueRef kk = ta ? DIM(a, 0) : DIM(a, 1);
    LLVMValueRef n = tb ? DIM(b, 0) : DIM(b, 1);
    LLVMValueRef args[14] = {
        LLVMConstInt(i32, 101, 0), /* CblasRowMajor */
        LLVMConstInt(i32, ta ? 112 : 111, 0),
        LLVMConstInt(i32, tb ? 112 : 111, 0),
        m, n, kk,
        LLVMConstReal(f32, 1.0),
        cg_ptr(c, a), DIM(a, 1),
        cg_ptr(c, b), DIM(b, 1),
        LLVMConstReal(f32, accumulate ? 1.0 : 0.0),
        cg_ptr(c, out), n,
    };
#undef DIM
    LLVMBuildCall2(c->b, fty, fn, args, 14, "");
}

/* ---- kernels ------------------------------------------------------------ */

/* An element-wise op whose inputs in memory all have the output's shape
 * (immediates are scalars) is one loop over its elements in memory order.
 * Its kernel takes the element count where others take the batch, and is
 * keyed without shapes: relu over [B,8,28,28] and over [B,120] share one,
 * which spares LLVM a kernel per shape. */
/* The element-wise ops emit_map_inputs computes, BROADCAST aside. */
static bool is_elementwise(IrOpKind op) {
    switch (op) {
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV:
    case IR_OP_UNARY:
    case IR_OP_UNARY_GRAD:
    case IR_OP_COPY:
    case IR_OP_MAXIMUM:
    case IR_OP_MINIMUM:
    case IR_OP_GE_MASK: return true;
    default: return false;
    }
}

static bool is_flat(const CgCtx *c, const IrValue *v) {
    if (!is_elementwise(v->op)) return false;
    for (int j = 0; j < v->n_in; j++)
        if (cg_in_memory(c, v->in[j]) && !ir_shape_eq(v->in[j]->shape, v->shape)) return false;
    return true;
}

/* The element count of a flat kernel's call, in the entry. */
static LLVMValueRef flat_count(CgCtx *c, const IrValue *v) {
    LLVMValueRef row = LLVMConstInt(c->i64, (unsigned long long)ir_shape_row_elems(v->shape), 0);
    return ir_shape_has_batch(v->shape) ? LLVMBuildNSWMul(c->b, c->batch, row, "count") : row;
}

/* The loop nest of an element-wise op with broadcasting or a reduction
 * (what emit_map_inputs and emit_reduce iterate), as a plan: such a
 * kernel takes the plan's extents as arguments and is keyed by the plan's
 * pattern alone, so a bias add or a bias gradient is one kernel for every
 * layer width, and batch normalization's per-channel ops one per pattern
 * (they were a kernel per shape, a third of LLVM's time on
 * examples/fashion_resnet.aai). Returns false for other ops. */
static bool plan_of(const IrValue *v, NdPlan *plan) {
    IrShape shapes[ND_MAX_OPS];
    if (is_elementwise(v->op) || v->op == IR_OP_BROADCAST) {
        shapes[0] = v->shape;
        for (int j = 0; j < v->n_in; j++) shapes[j + 1] = v->in[j]->shape;
        nd_plan(v->shape, v->n_in + 1, shapes, plan);
        return true;
    }
    switch (v->op) {
    case IR_OP_SUM:
    case IR_OP_MEAN:
    case IR_OP_SUM_TO: {
        IrShape in = v->in[0]->shape;
        shapes[0] = v->op == IR_OP_SUM_TO ? v->attr.shape : keepdims(in, axes_mask(v, in.rank));
        shapes[1] = in;
        nd_plan(in, 2, shapes, plan);
        return true;
    }
    default: return false;
    }
}

static void plan_key(CgKey *key, const NdPlan *p) {
    cg_key_add(key, " plan");
    for (int d = 0; d < p->n_dims; d++) {
        cg_key_add(key, " %c", p->batch[d] ? 'B' : '.');
        for (int o = 0; o < p->n_ops; o++) cg_key_add(key, "%d", p->bc[o][d]);
    }
}

/* Calls v's kernel; returns true, with *k ready to build the body, when
 * that kernel is new (no earlier value had the same key). */
static bool kern_begin(CgCtx *c, Kern *k, const IrValue *v, NdPlan *plan) {
    memset(k, 0, sizeof *k);
    k->c = c;
    k->v = v;
    LLVMTypeRef ps[IR_MAX_INPUTS + 2 + IR_MAX_RANK];
    LLVMValueRef args[IR_MAX_INPUTS + 2 + IR_MAX_RANK];
    int n = 0;
    ps[n] = c->ptr;
    args[n++] = cg_ptr(c, v);
    for (int j = 0; j < v->n_in; j++)
        if (cg_in_memory(c, v->in[j])) {
            ps[n] = c->ptr;
            args[n++] = cg_ptr(c, v->in[j]);
        }
    int n_ptrs = n;
    bool flat = is_flat(c, v), planned = !flat && plan_of(v, plan);
    ps[n] = c->i64;
    args[n++] = flat ? flat_count(c, v) : c->batch;
    for (int d = 0; planned && d < plan->n_dims; d++) {
        ps[n] = c->i64;
        args[n++] = LLVMConstInt(c->i64, (unsigned long long)plan->ext[d], 0);
    }
    CgKey key;
    cg_key_value(&key, c, v, flat ? "flat" : planned ? "planned" : "op", !flat && !planned);
    if (planned) plan_key(&key, plan);
    const char *op = v->op == IR_OP_UNARY || v->op == IR_OP_UNARY_GRAD ? ir_unary_name(v->attr.fn)
                                                                       : ir_op_name(v->op);
    int64_t rows[IR_MAX_INPUTS + 1];
    bool split = cg_rows_of(c, v, rows);
    for (int j = 0; flat && j < n_ptrs; j++) rows[j] = 1; /* a "row" is one element */
    CgKernelDef def;
    if (!cg_kernel_call(c, &key, op, ps, args, n, n_ptrs, split ? rows : NULL, &def)) return false;
    k->fn = def.fn;
    k->b = def.b;
    k->entry = def.entry;
    k->flat = flat;
    int p = 0;
    k->out = LLVMGetParam(k->fn, (unsigned)p++);
    for (int j = 0; j < v->n_in; j++) {
        const IrValue *in = v->in[j];
        k->in[j].shape = in->shape;
        if (cg_in_memory(c, in)) k->in[j].ptr = LLVMGetParam(k->fn, (unsigned)p++);
        else k->in[j].imm = LLVMConstReal(c->f32, in->attr.f[0]);
    }
    k->batch = LLVMGetParam(k->fn, (unsigned)p);
    k->plan = planned ? plan : NULL;
    for (int d = 0; planned && d < plan->n_dims; d++) k->ext[d] = LLVMGetParam(k->fn, (unsigned)(p + 1 + d));
    return true;
}

static void kern_end(Kern *k) {
    CgKernelDef def = {k->fn, k->entry, k->b};
    cg_kernel_done(&def);
}

void cg_emit_value(CgCtx *c, const IrValue *v) {
    switch (v->op) {
    case IR_OP_INPUT:
    case IR_OP_PARAM:
    case IR_OP_CONST: return;
    case IR_OP_RESHAPE:
        if (v->store.kind == IR_STORE_VIEW) return;
        break;
    case IR_OP_MATMUL:
        if (v->in[0]->shape.rank > 2 || v->in[1]->shape.rank > 2) cg_emit_layer(c, v); /* batched */
        else if (!cg_emit_gemv(c, v))
            cg_sgemm(c, v->in[0], v->in[1], v->attr.i[0] != 0, v->attr.i[1] != 0, v, false);
        return;
    case IR_OP_MATMUL_ACC:
        cg_copy_unless_shared(c, v, v->in[0]);
        cg_sgemm(c, v->in[1], v->in[2], v->attr.i[0] != 0, v->attr.i[1] != 0, v, true);
        return;
    case IR_OP_LINEAR: cg_emit_linear(c, v); return; /* codegen_linear.c */
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV:
    case IR_OP_UNARY:
    case IR_OP_UNARY_GRAD:
    case IR_OP_SOFTMAX:
    case IR_OP_LOG_SOFTMAX:
    case IR_OP_SOFTMAX_GRAD:
    case IR_OP_LOG_SOFTMAX_GRAD:
    case IR_OP_SUM:
    case IR_OP_MEAN:
    case IR_OP_SUM_TO:
    case IR_OP_BROADCAST:
    case IR_OP_COPY:
    case IR_OP_CROSS_ENTROPY:
    case IR_OP_CROSS_ENTROPY_GRAD:
    case IR_OP_MSE:
    case IR_OP_MSE_GRAD:
    case IR_OP_BCE_LOGITS:
    case IR_OP_BCE_LOGITS_GRAD:
    case IR_OP_MEAN_GRAD:
    case IR_OP_MAXIMUM:
    case IR_OP_MINIMUM:
    case IR_OP_GE_MASK: break;
    default: cg_emit_layer(c, v); return; /* codegen_layers.c */
    }
    Kern k;
    NdPlan plan;
    if (!kern_begin(c, &k, v, &plan)) return; /* an earlier value's kernel does it */
    switch (v->op) {
    case IR_OP_ADD: emit_map_inputs(&k, map_add); break;
    case IR_OP_SUB: emit_map_inputs(&k, map_sub); break;
    case IR_OP_MUL: emit_map_inputs(&k, map_mul); break;
    case IR_OP_DIV: emit_map_inputs(&k, map_div); break;
    case IR_OP_UNARY: emit_map_inputs(&k, map_unary); break;
    case IR_OP_UNARY_GRAD: emit_map_inputs(&k, map_unary_grad); break;
    case IR_OP_SOFTMAX:
    case IR_OP_LOG_SOFTMAX:
    case IR_OP_SOFTMAX_GRAD:
    case IR_OP_LOG_SOFTMAX_GRAD: emit_softmax(&k); break;
    case IR_OP_SUM:
    case IR_OP_MEAN:
    case IR_OP_SUM_TO: emit_reduce(&k); break;
    case IR_OP_BROADCAST:
    case IR_OP_COPY: emit_map_inputs(&k, map_id); break;
    case IR_OP_RESHAPE: { /* a reshaped constant: fill */
        IrShape s = ir_shape(0, NULL);
        emit_map(&k, 1, &s, map_id);
        break;
    }
    case IR_OP_MEAN_GRAD: {
        IrShape t = v->attr.shape;
        uint32_t mask = axes_mask(v, t.rank);
        k.in[1].imm = fdiv(&k, fc(&k, 1), count_f(&k, t, mask));
        IrShape s[2] = {keepdims(t, mask), ir_shape(0, NULL)};
        emit_map(&k, 2, s, map_scale);
        break;
    }
    case IR_OP_CROSS_ENTROPY: emit_cross_entropy(&k, false); break;
    case IR_OP_CROSS_ENTROPY_GRAD: emit_cross_entropy(&k, true); break;
    case IR_OP_MSE:
    case IR_OP_BCE_LOGITS: emit_pointwise_loss(&k, false); break;
    case IR_OP_MSE_GRAD:
    case IR_OP_BCE_LOGITS_GRAD: emit_pointwise_loss(&k, true); break;
    case IR_OP_MAXIMUM: emit_map_inputs(&k, map_max); break;
    case IR_OP_MINIMUM: emit_map_inputs(&k, map_min); break;
    case IR_OP_GE_MASK: emit_map_inputs(&k, map_ge); break;
    default: assert(0); break;
    case IR_OP_INPUT:
    case IR_OP_PARAM:
    case IR_OP_CONST:
    case IR_OP_MATMUL:
    case IR_OP_MATMUL_ACC:
    case IR_OP_COUNT: assert(0); break;
    }
    kern_end(&k);
}
