/* codegen_layers.c - kernels of the layer ops (ir_ops.def, from IM2COL on)
 * and of batched MATMUL.
 *
 * Same scheme as codegen_ops.c: each value becomes a call to an internal
 * function `<prefix>.<op>.<hash>` taking (out, inputs..., batch[, step])
 * with noalias pointers, shared by values with the same key. Batched
 * MATMUL loops over the broadcast leading dimensions and calls
 * aairt_sgemm once per matrix; convolution is IM2COL (a column
 * matrix in the planned arena) + batched MATMUL, its backward COL2IM.
 * IM2COL, COL2IM, POOL2D(_GRAD) and the matrix transposes between a
 * convolution's layouts are calls into libaairt (im2col.c, pool2d.c,
 * transpose.c): the same loops for every model, compiled once, where
 * generated window loops cost LLVM more than any other kernel. DROPOUT hashes
 * (seed, optimizer step, element index) with the splitmix64 finalizer:
 * the same mask in the forward and backward pass, a new one each step,
 * bit-identical across runs and thread counts. */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "aairt.h"
#include "codegen_internal.h"

typedef struct LK {
    CgCtx *c;
    LLVMBuilderRef b;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;
    LLVMValueRef out, in[IR_MAX_INPUTS], batch, step;
    LLVMValueRef offset; /* SLICE, SLICE_GRAD, SLICE_ADD: the slice's start, in elements */
    unsigned geo_at;     /* the first geometry argument's index (Geometry) */
    const IrValue *v;
} LK;

typedef CgLoop LLoop;

static LLVMValueRef ic(LK *k, int64_t v) { return LLVMConstInt(k->c->i64, (unsigned long long)v, 1); }
static LLVMValueRef fconst(LK *k, double v) { return LLVMConstReal(k->c->f32, v); }
static LLVMValueRef imul(LK *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(k->b, a, b, ""); }
static LLVMValueRef iadd(LK *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(k->b, a, b, ""); }
static LLVMValueRef isub(LK *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWSub(k->b, a, b, ""); }
static LLVMValueRef fadd(LK *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(k->b, a, b, ""); }
static LLVMValueRef fmul(LK *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(k->b, a, b, ""); }
static LLVMValueRef sel(LK *k, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(k->b, c, a, b, ""); }
static LLVMValueRef slt(LK *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildICmp(k->b, LLVMIntSLT, a, b, ""); }
static LLVMValueRef sge(LK *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildICmp(k->b, LLVMIntSGE, a, b, ""); }

static LLVMValueRef gep(LK *k, LLVMValueRef p, LLVMValueRef i) {
    return LLVMBuildInBoundsGEP2(k->b, k->c->f32, p, &i, 1, "");
}
static LLVMValueRef load(LK *k, LLVMValueRef p, LLVMValueRef i) {
    return LLVMBuildLoad2(k->b, k->c->f32, gep(k, p, i), "");
}
static void store(LK *k, LLVMValueRef p, LLVMValueRef i, LLVMValueRef v) {
    LLVMBuildStore(k->b, v, gep(k, p, i));
}
static void accum(LK *k, LLVMValueRef p, LLVMValueRef i, LLVMValueRef v) {
    LLVMValueRef q = gep(k, p, i);
    LLVMBuildStore(k->b, fadd(k, LLVMBuildLoad2(k->b, k->c->f32, q, ""), v), q);
}

static LLVMValueRef dim(LK *k, IrShape s, int i) {
    return s.dims[i] == IR_BATCH ? k->batch : ic(k, s.dims[i]);
}
/* Product of dims [from, to) of s. */
static LLVMValueRef prod(LK *k, IrShape s, int from, int to) {
    LLVMValueRef n = ic(k, 1);
    for (int i = from; i < to; i++) n = imul(k, n, dim(k, s, i));
    return n;
}
static LLVMValueRef numel(LK *k, IrShape s) { return prod(k, s, 0, s.rank); }
/* min(max(i, 0), n - 1) */
static LLVMValueRef clamp(LK *k, LLVMValueRef i, LLVMValueRef n) {
    LLVMValueRef lo = sel(k, slt(k, i, ic(k, 0)), ic(k, 0), i);
    LLVMValueRef hi = isub(k, n, ic(k, 1));
    return sel(k, sge(k, lo, n), hi, lo);
}

static LLVMValueRef loop_begin(LK *k, LLoop *l, LLVMValueRef n) {
    return cg_loop_begin(k->b, k->fn, k->c->i64, l, n);
}

static void loop_end(LK *k, LLoop *l) { cg_loop_end(k->b, k->c->i64, l); }


static void fill(LK *k, LLVMValueRef n, LLVMValueRef val) {
    LLoop l;
    LLVMValueRef i = loop_begin(k, &l, n);
    store(k, k->out, i, val);
    loop_end(k, &l);
}

/* The optimizer's step count (0 without an optimizer), in the entry. */
static LLVMValueRef entry_step(CgCtx *c) {
    static_assert(offsetof(AairtOptimizer, step) % 8 == 0, "step is an aligned int64");
    LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
    LLVMValueRef fn = LLVMGetBasicBlockParent(here);
    LLVMBasicBlockRef has = LLVMAppendBasicBlockInContext(c->ctx, fn, "has_opt");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, fn, "step");
    LLVMBuildCondBr(c->b, LLVMBuildIsNull(c->b, c->opt, ""), join, has);
    LLVMPositionBuilderAtEnd(c->b, has);
    LLVMValueRef off = LLVMConstInt(c->i64, offsetof(AairtOptimizer, step), 0);
    LLVMValueRef p = LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx), c->opt, &off, 1, "");
    LLVMValueRef s = LLVMBuildLoad2(c->b, c->i64, p, "opt.step");
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, join);
    LLVMValueRef phi = LLVMBuildPhi(c->b, c->i64, "");
    LLVMValueRef vals[2] = {LLVMConstInt(c->i64, 0, 0), s};
    LLVMBasicBlockRef bbs[2] = {here, has};
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
}

static int64_t rest_of(IrShape s, int axis) {
    int64_t r = 1;
    for (int i = axis + 1; i < s.rank; i++) r *= s.dims[i];
    return r;
}

static bool is_slice(const IrValue *v) {
    return v->op == IR_OP_SLICE || v->op == IR_OP_SLICE_GRAD || v->op == IR_OP_SLICE_ADD;
}

/* Whether v's kernel takes input j. SLICE_ADD's kernel updates its output
 * in place; its first input is already there (cg_emit_layer copies it when
 * the memory plan gave the two different buffers), and a pointer to it
 * would alias the output the kernel declares noalias. */
static bool kernel_reads(const IrValue *v, int j) { return !(v->op == IR_OP_SLICE_ADD && j == 0); }

/* The key of v's kernel. A slice's kernel takes its start as an argument
 * and is keyed as the same slice at 0: the slices of an unrolled sequence
 * (one per time step and gate, 24 in examples/sequence.aai) share one. */
static void layer_key(CgKey *key, const CgCtx *c, const IrValue *v, bool with_step) {
    if (!is_slice(v)) {
        cg_key_value(key, c, v, with_step ? "layer+step" : "layer", true);
        return;
    }
    IrValue at0 = *v;
    at0.attr.i[1] = 0;
    at0.attr.i[2] = v->attr.i[2] - v->attr.i[1];
    cg_key_value(key, c, &at0, "layer+offset", true);
}

static int64_t slice_offset(const IrValue *v) {
    IrShape full = v->op == IR_OP_SLICE ? v->in[0]->shape : v->shape;
    return v->attr.i[1] * rest_of(full, (int)v->attr.i[0]);
}

/* A kernel that takes its sizes as arguments (its geometry) instead of
 * having them as constants, keyed by what shapes its code alone: every
 * convolution's IM2COL then shares one kernel, as do the pooling windows,
 * the layout transposes and the batched products of one transpose pattern
 * (fashion_resnet: 36 such kernels became 9, each a function LLVM no
 * longer optimises and emits). The work is in libaairt or OpenBLAS, so
 * constants bought no speed. */
enum { LK_MAX_GEO = 8 + 4 * IR_MAX_RANK };
static_assert(IR_MAX_INPUTS + 3 + LK_MAX_GEO <= CG_MAX_KERNEL_ARGS, "a layer kernel's arguments fit");

typedef struct Geometry {
    int64_t v[LK_MAX_GEO];
    int n;
    CgKey key;
} Geometry;

static bool geometry_of(const IrValue *v, Geometry *g);

/* The i-th geometry argument, in the kernel. */
static LLVMValueRef geo(LK *k, int i) { return LLVMGetParam(k->fn, k->geo_at + (unsigned)i); }

/* Calls v's kernel; returns true, with *k ready to build the body, when
 * that kernel is new (no earlier value had the same key). */
static bool lk_begin(CgCtx *c, LK *k, const IrValue *v, bool with_step) {
    memset(k, 0, sizeof *k);
    k->c = c;
    k->v = v;
    LLVMTypeRef ps[IR_MAX_INPUTS + 3 + LK_MAX_GEO];
    LLVMValueRef args[IR_MAX_INPUTS + 3 + LK_MAX_GEO];
    int n = 0;
    ps[n] = c->ptr;
    args[n++] = cg_ptr(c, v);
    for (int j = 0; j < v->n_in; j++) {
        assert(cg_in_memory(c, v->in[j]) && "layer ops read inputs from memory");
        if (!kernel_reads(v, j)) continue;
        ps[n] = c->ptr;
        args[n++] = cg_ptr(c, v->in[j]);
    }
    int n_ptrs = n;
    ps[n] = c->i64;
    args[n++] = c->batch;
    if (with_step) {
        ps[n] = c->i64;
        args[n++] = entry_step(c);
    }
    if (is_slice(v)) {
        ps[n] = c->i64;
        args[n++] = LLVMConstInt(c->i64, (unsigned long long)slice_offset(v), 0);
    }
    Geometry g;
    bool by_geometry = geometry_of(v, &g);
    int geo_at = n;
    for (int i = 0; by_geometry && i < g.n; i++) {
        ps[n] = c->i64;
        args[n++] = LLVMConstInt(c->i64, (unsigned long long)g.v[i], 1);
    }
    CgKey key;
    if (by_geometry) key = g.key;
    else layer_key(&key, c, v, with_step);
    int64_t rows[IR_MAX_INPUTS + 1];
    bool split = cg_rows_of(c, v, rows);
    CgKernelDef def;
    if (!cg_kernel_call(c, &key, ir_op_name(v->op), ps, args, n, n_ptrs, split ? rows : NULL,
                        &def))
        return false;
    k->fn = def.fn;
    k->b = def.b;
    k->entry = def.entry;
    k->out = LLVMGetParam(k->fn, 0);
    for (int j = 0, at = 1; j < v->n_in; j++)
        if (kernel_reads(v, j)) k->in[j] = LLVMGetParam(k->fn, (unsigned)at++);
    k->batch = LLVMGetParam(k->fn, (unsigned)n_ptrs);
    if (with_step) k->step = LLVMGetParam(k->fn, (unsigned)n_ptrs + 1);
    if (is_slice(v)) k->offset = LLVMGetParam(k->fn, (unsigned)geo_at - 1);
    k->geo_at = (unsigned)geo_at;
    return true;
}

static void lk_end(LK *k) {
    CgKernelDef def = {k->fn, k->entry, k->b};
    cg_kernel_done(&def);
}

/* ---- n-d loops with per-operand strides ----------------------------------- */

enum { LK_MAX_OPS = IR_MAX_INPUTS + 1 };

typedef void (*NdFn)(LK *k, LLVMValueRef *off, void *user);

typedef struct Nd {
    IrShape space;
    int n_ops;
    LLVMValueRef stride[LK_MAX_OPS][IR_MAX_RANK];
    LLVMValueRef ext[IR_MAX_RANK]; /* extents given as values; NULL: space's */
} Nd;

/* Strides of a contiguous tensor of shape `s` read over `space` (same
 * rank; size-1 axes of s broadcast: stride 0). */
static void nd_operand(LK *k, Nd *nd, int o, IrShape s) {
    LLVMValueRef acc = ic(k, 1);
    for (int i = s.rank; i-- > 0;) {
        bool bc = s.dims[i] == 1 && nd->space.dims[i] != 1;
        nd->stride[o][i] = bc ? ic(k, 0) : acc;
        acc = imul(k, acc, dim(k, s, i));
    }
}

static void nd_rec(LK *k, const Nd *nd, int d, LLVMValueRef *base, NdFn fn, void *user) {
    if (d == nd->space.rank) {
        fn(k, base, user);
        return;
    }
    LLoop l;
    LLVMValueRef i = loop_begin(k, &l, nd->ext[d] ? nd->ext[d] : dim(k, nd->space, d));
    LLVMValueRef off[LK_MAX_OPS];
    for (int o = 0; o < nd->n_ops; o++) off[o] = iadd(k, base[o], imul(k, i, nd->stride[o][d]));
    nd_rec(k, nd, d + 1, off, fn, user);
    loop_end(k, &l);
}

static void nd_run(LK *k, const Nd *nd, NdFn fn, void *user) {
    LLVMValueRef base[LK_MAX_OPS];
    for (int o = 0; o < nd->n_ops; o++) base[o] = ic(k, 0);
    nd_rec(k, nd, 0, base, fn, user);
}

/* ---- batched matmul --------------------------------------------------------- */

/* How a batched MATMUL runs: as one product when the batch folds into the
 * rows (a's rows are contiguous across the batch and b is shared) or, for
 * a batch-summed A^T B, into the inner dimension; otherwise one product
 * per index of the broadcast leading dimensions. */
typedef enum { BMM_STACKED, BMM_SUMMED_INNER, BMM_LOOP } BmmPath;

typedef struct BmmPlan {
    bool ta, tb, summed;
    BmmPath path;
    int nb;                          /* leading (loop) dimensions */
    int64_t dims[6];                 /* m, n, k, lda, ldb, ldc */
    int64_t space[IR_MAX_RANK];      /* the loop extents; space[0] may be IR_BATCH */
    int64_t stride[3][IR_MAX_RANK];  /* out, a, b: floats per loop index, 0 broadcast */
} BmmPlan;

enum { BMM_M, BMM_N, BMM_K, BMM_LDA, BMM_LDB, BMM_LDC, BMM_SPACE }; /* geometry order */

/* True when the leading dims of `s` are all 1 or absent: one matrix
 * shared by every product. */
static bool shared_matrix(IrShape s) {
    for (int i = 0; i < s.rank - 2; i++)
        if (s.dims[i] != 1) return false;
    return true;
}

static void bmm_plan(const IrValue *v, BmmPlan *p) {
    IrShape a = v->in[0]->shape, b = v->in[1]->shape;
    memset(p, 0, sizeof *p);
    p->ta = v->attr.i[0] != 0;
    p->tb = v->attr.i[1] != 0;
    p->summed = v->attr.i[2] != 0;
    p->dims[BMM_M] = p->ta ? a.dims[a.rank - 1] : a.dims[a.rank - 2];
    p->dims[BMM_N] = p->tb ? b.dims[b.rank - 2] : b.dims[b.rank - 1];
    p->dims[BMM_K] = p->ta ? a.dims[a.rank - 2] : a.dims[a.rank - 1];
    p->dims[BMM_LDA] = a.dims[a.rank - 1];
    p->dims[BMM_LDB] = b.dims[b.rank - 1];
    p->dims[BMM_LDC] = p->dims[BMM_N];
    IrShape big = a.rank >= b.rank ? a : b;
    p->nb = big.rank - 2;
    for (int i = 0; i < p->nb; i++) {
        int ia = a.rank - 2 - p->nb + i, ib = b.rank - 2 - p->nb + i;
        int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
        p->space[i] = da == 1 ? db : da;
    }
    if (!p->summed && !p->ta && a.rank - 2 == p->nb && shared_matrix(b)) p->path = BMM_STACKED;
    else if (p->summed && p->ta && !p->tb) p->path = BMM_SUMMED_INNER;
    else p->path = BMM_LOOP;
    const IrShape *ops[3] = {&v->shape, &a, &b};
    for (int o = 0; o < 3; o++) {
        IrShape s = *ops[o];
        int64_t acc = s.dims[s.rank - 1] * s.dims[s.rank - 2];
        for (int i = p->nb; i-- > 0;) {
            int si = s.rank - 2 - p->nb + i;
            bool has = si >= 0 && !(s.dims[si] == 1 && p->space[i] != 1);
            p->stride[o][i] = has ? acc : 0;
            if (si >= 0 && s.dims[si] != IR_BATCH) acc *= s.dims[si];
        }
    }
}

/* The plan's sizes as a kernel's geometry; its key holds the rest. */
static void bmm_geometry(const BmmPlan *p, Geometry *g) {
    for (int i = 0; i < BMM_SPACE; i++) g->v[g->n++] = p->dims[i];
    for (int i = 0; i < p->nb; i++) g->v[g->n++] = p->space[i];
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < p->nb; i++) g->v[g->n++] = p->stride[o][i];
    cg_key_add(&g->key, " t%d%d sum%d path%d nb%d %s", p->ta, p->tb, p->summed, (int)p->path,
               p->nb, p->nb > 0 && p->space[0] == IR_BATCH ? "B" : ".");
}

typedef struct Bmm {
    LLVMTypeRef fty;
    LLVMValueRef fn;
    LLVMValueRef m, n, kk, lda, ldb, ldc; /* i32 */
    bool ta, tb;
    double beta;
} Bmm;

static void bmm_call(LK *k, LLVMValueRef *off, void *user) {
    Bmm *g = user;
    LLVMTypeRef i32 = k->c->i32;
#define I32(x) LLVMConstInt(i32, (unsigned long long)(x), 0)
    LLVMValueRef args[14] = {
        I32(101), I32(g->ta ? 112 : 111), I32(g->tb ? 112 : 111),
        g->m, g->n, g->kk, fconst(k, 1.0),
        gep(k, k->in[0], off[1]), g->lda,
        gep(k, k->in[1], off[2]), g->ldb, fconst(k, g->beta),
        gep(k, k->out, off[0]), g->ldc,
    };
#undef I32
    LLVMBuildCall2(k->b, g->fty, g->fn, args, 14, "");
}

/* Batched MATMUL: aairt_sgemm once (BMM_STACKED, BMM_SUMMED_INNER) or per
 * index of the leading dimensions, sizes from the geometry arguments. */
static void emit_bmm(LK *k) {
    BmmPlan p;
    bmm_plan(k->v, &p);
    CgCtx *c = k->c;
    Bmm g = {0};
    g.ta = p.ta;
    g.tb = p.tb;
    LLVMTypeRef i32 = c->i32, f32 = c->f32, ptr = c->ptr;
    LLVMTypeRef ps[14] = {i32, i32, i32, i32, i32, i32, f32, ptr, i32, ptr, i32, f32, ptr, i32};
    g.fty = LLVMFunctionType(c->void_t, ps, 14, 0);
    g.fn = LLVMGetNamedFunction(c->mod, "aairt_sgemm");
    if (!g.fn) g.fn = LLVMAddFunction(c->mod, "aairt_sgemm", g.fty);
    Nd nd = {0};
    nd.space.rank = p.nb;
    LLVMValueRef count = ic(k, 1);
    for (int i = 0; i < p.nb; i++) {
        nd.ext[i] = p.space[i] == IR_BATCH ? k->batch : geo(k, BMM_SPACE + i);
        count = imul(k, count, nd.ext[i]);
    }
#define T32(x) LLVMBuildTrunc(k->b, (x), i32, "")
    g.m = T32(geo(k, BMM_M));
    g.n = T32(geo(k, BMM_N));
    g.kk = T32(geo(k, BMM_K));
    g.lda = T32(geo(k, BMM_LDA));
    g.ldb = T32(geo(k, BMM_LDB));
    g.ldc = T32(geo(k, BMM_LDC));
    LLVMValueRef zero[3] = {ic(k, 0), ic(k, 0), ic(k, 0)};
    if (p.path == BMM_STACKED) {
        g.m = T32(imul(k, count, geo(k, BMM_M))); /* rows of every a_i, stacked */
        bmm_call(k, zero, &g);
        return;
    }
    if (p.path == BMM_SUMMED_INNER) { /* sum_i a_i^T b_i = [a_0; a_1; ...]^T [b_0; b_1; ...] */
        g.kk = T32(imul(k, count, geo(k, BMM_K)));
        bmm_call(k, zero, &g);
        return;
    }
#undef T32
    if (p.summed) { /* a memset: the kernel is not optimised (only_calls_runtime) */
        LLVMValueRef bytes = imul(k, imul(k, geo(k, BMM_M), geo(k, BMM_N)), ic(k, sizeof(float)));
        LLVMBuildMemSet(k->b, k->out, LLVMConstInt(LLVMInt8TypeInContext(c->ctx), 0, 0), bytes, 4);
        g.beta = 1.0;
    }
    nd.n_ops = 3;
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < p.nb; i++) nd.stride[o][i] = geo(k, BMM_SPACE + p.nb * (1 + o) + i);
    nd_run(k, &nd, bmm_call, &g);
}

/* ---- convolution geometry ----------------------------------------------------- */

typedef struct Geom {
    int64_t kern, stride, pad, dil;
    int64_t chans, h, w, oh, ow;
} Geom;

static Geom geom_of(const IrValue *v, IrShape x, bool pool) {
    Geom g;
    g.kern = v->attr.i[0];
    g.stride = v->attr.i[1];
    g.pad = v->attr.i[2];
    g.dil = pool ? 1 : v->attr.i[3];
    g.chans = x.dims[1];
    g.h = x.dims[2];
    g.w = x.dims[3];
    int64_t span = g.dil * (g.kern - 1) + 1;
    g.oh = (g.h + 2 * g.pad - span) / g.stride + 1;
    g.ow = (g.w + 2 * g.pad - span) / g.stride + 1;
    return g;
}

/* A window's fields in AairtWindow's order, as a kernel's geometry. */
enum { WINDOW_FIELDS = 9 };
static_assert(sizeof(AairtWindow) == WINDOW_FIELDS * sizeof(int64_t), "AairtWindow is 9 int64");

static void window_geometry(Geom w, Geometry *g) {
    int64_t fields[WINDOW_FIELDS] = {w.chans, w.h, w.w, w.oh, w.ow, w.kern, w.stride, w.pad, w.dil};
    for (int i = 0; i < WINDOW_FIELDS; i++) g->v[g->n++] = fields[i];
}

/* The window (geometry arguments 0..8) as an AairtWindow in the kernel's
 * stack frame, for the runtime functions below. */
static LLVMValueRef window_arg(LK *k) {
    LLVMTypeRef t = LLVMArrayType2(k->c->i64, WINDOW_FIELDS);
    LLVMValueRef window = cg_entry_alloca(k->c, k->entry, t, "window");
    for (int i = 0; i < WINDOW_FIELDS; i++) {
        LLVMValueRef idx[2] = {ic(k, 0), ic(k, i)};
        LLVMBuildStore(k->b, geo(k, i), LLVMBuildInBoundsGEP2(k->b, t, window, idx, 2, ""));
    }
    return window;
}

/* A call to the void libaairt function `name` with `args`, declared from
 * their types. */
static void call_runtime(LK *k, const char *name, LLVMValueRef *args, unsigned n) {
    LLVMTypeRef ps[10];
    for (unsigned i = 0; i < n; i++) ps[i] = LLVMTypeOf(args[i]);
    LLVMTypeRef fty = LLVMFunctionType(k->c->void_t, ps, n, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(k->c->mod, name);
    if (!fn) fn = LLVMAddFunction(k->c->mod, name, fty);
    LLVMBuildCall2(k->b, fty, fn, args, n, "");
}

/* IM2COL and COL2IM: aairt_im2col / aairt_col2im (runtime/src/im2col.c).
 * As library code they run as fast as the fully unrolled kernels they
 * replaced and cost LLVM nothing per convolution. */
static void emit_im2col(LK *k, bool col2im) {
    const IrValue *v = k->v;
    IrShape xs = col2im ? v->shape : v->in[0]->shape;
    LLVMValueRef args[4] = {k->in[0], k->out, dim(k, xs, 0), window_arg(k)};
    call_runtime(k, col2im ? "aairt_col2im" : "aairt_im2col", args, 4);
}

/* CONV2D: aairt_conv2d (runtime/src/conv2d.c), geometry: the window, then
 * the output channels. Without a bias the runtime gets NULL; the folded
 * relu and pooling tile are constants of the kernel (its key has them). */
static void emit_conv2d(LK *k) {
    const IrValue *v = k->v;
    LLVMValueRef bias = v->n_in == 3 ? k->in[2] : LLVMConstNull(k->c->ptr);
    LLVMValueRef relu = LLVMConstInt(k->c->i32, v->attr.i[4] != 0, 0);
    LLVMValueRef pool = ic(k, v->attr.i[5] > 1 ? v->attr.i[5] : 0);
    LLVMValueRef args[9] = {k->in[0], k->in[1], bias, relu, pool, k->out,
                            dim(k, v->in[0]->shape, 0), window_arg(k), geo(k, WINDOW_FIELDS)};
    call_runtime(k, "aairt_conv2d", args, 9);
}

/* CONV2D_GRAD_W: aairt_conv2d_grad_w (runtime/src/conv2d_grad.c), the
 * same geometry as CONV2D. */
static void emit_conv2d_grad_w(LK *k) {
    const IrValue *v = k->v;
    LLVMValueRef args[6] = {k->in[0], k->in[1], k->out, dim(k, v->in[0]->shape, 0),
                            window_arg(k), geo(k, WINDOW_FIELDS)};
    call_runtime(k, "aairt_conv2d_grad_w", args, 6);
}

/* POOL2D and POOL2D_GRAD: aairt_pool2d / aairt_pool2d_grad (runtime/src/
 * pool2d.c), for the same reason. */
static void emit_pool(LK *k, bool grad) {
    const IrValue *v = k->v;
    IrShape xs = v->in[0]->shape;
    LLVMValueRef window = window_arg(k);
    LLVMValueRef avg = LLVMConstInt(k->c->i32, v->attr.i[3] != 0, 0), batch = dim(k, xs, 0);
    if (grad) {
        LLVMValueRef relu = LLVMConstInt(k->c->i32, v->attr.i[4] != 0, 0);
        LLVMValueRef args[7] = {k->in[0], k->in[1], k->out, batch, window, avg, relu};
        call_runtime(k, "aairt_pool2d_grad", args, 7);
    } else {
        LLVMValueRef args[5] = {k->in[0], k->out, batch, window, avg};
        call_runtime(k, "aairt_pool2d", args, 5);
    }
}

/* BN_STATS, BN_NORM, BN_GRAD and BN_GRAD_X: aairt_batch_norm* (runtime/src/
 * batchnorm.c), geometry: the channels, then the elements per channel of
 * a sample; eps is a constant of the kernel (its key has it). */
static void emit_batch_norm(LK *k) {
    const IrValue *v = k->v;
    IrShape xs = (v->op == IR_OP_BN_GRAD_X ? v->in[1] : v->in[0])->shape;
    LLVMValueRef batch = dim(k, xs, 0), ch = geo(k, 0), inner = geo(k, 1);
    if (v->op == IR_OP_BN_STATS) {
        LLVMValueRef args[5] = {k->in[0], k->out, batch, ch, inner};
        call_runtime(k, "aairt_batch_norm_stats", args, 5);
        return;
    }
    LLVMValueRef eps = fconst(k, v->attr.f[0]);
    if (v->op == IR_OP_BN_NORM) { /* the folded relu: a constant of the kernel */
        LLVMValueRef relu = LLVMConstInt(k->c->i32, v->attr.i[1] != 0, 0);
        LLVMValueRef args[10] = {k->in[0], k->in[1], k->in[2], k->in[3], eps,
                                 relu,     k->out,   batch,    ch,       inner};
        call_runtime(k, "aairt_batch_norm", args, 10);
        return;
    }
    LLVMValueRef args[9] = {k->in[0], k->in[1], k->in[2], k->in[3], eps, k->out, batch, ch, inner};
    call_runtime(k, v->op == IR_OP_BN_GRAD ? "aairt_batch_norm_grad" : "aairt_batch_norm_grad_x",
                 args, 9);
}

/* ---- data movement -------------------------------------------------------------- */

static void copy_body(LK *k, LLVMValueRef *off, void *user) {
    (void)user;
    store(k, k->out, off[0], load(k, k->in[0], off[1]));
}

/* Whether perm keeps axis 0 and moves axes [1, split] after the rest, in
 * order: then every x[b] is a matrix [prod dims 1..split, prod of the
 * rest] and y[b] its transpose. Returns split, or 0. */
static int matrix_split(IrShape perm) {
    int r = perm.rank;
    if (r < 3 || perm.dims[0] != 0) return 0;
    int split = (int)perm.dims[r - 1]; /* the last axis of the first block */
    for (int i = 1; i < r; i++) {
        int64_t want = i <= r - 1 - split ? split + i : i - (r - 1 - split);
        if (split < 1 || split >= r - 1 || perm.dims[i] != want) return 0;
    }
    return split;
}

/* TRANSPOSE: a batch of matrix transposes (a convolution's layout
 * changes) calls aairt_transpose; other permutations are strided copies. */
static void emit_transpose(LK *k) {
    const IrValue *v = k->v;
    IrShape x = v->in[0]->shape, perm = v->attr.shape;
    if (matrix_split(perm)) { /* rows and columns: the geometry */
        LLVMValueRef args[5] = {k->in[0], k->out, dim(k, x, 0), geo(k, 0), geo(k, 1)};
        call_runtime(k, "aairt_transpose", args, 5);
        return;
    }
    Nd nd = {0};
    nd.space = v->shape;
    nd.n_ops = 2;
    nd_operand(k, &nd, 0, v->shape);
    LLVMValueRef xs[IR_MAX_RANK], acc = ic(k, 1);
    for (int i = x.rank; i-- > 0;) {
        xs[i] = acc;
        acc = imul(k, acc, dim(k, x, i));
    }
    for (int i = 0; i < x.rank; i++) nd.stride[1][i] = xs[perm.dims[i]];
    nd_run(k, &nd, copy_body, NULL);
}

/* Copies rows: for o < outer, j < len: dst[o*dst_row + dst_off + j] =
 * src[o*src_row + src_off + j]. */
static void copy_rows(LK *k, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef outer, int64_t len,
                      int64_t dst_row, LLVMValueRef dst_off, int64_t src_row,
                      LLVMValueRef src_off) {
    LLoop lo, lj;
    LLVMValueRef o = loop_begin(k, &lo, outer);
    LLVMValueRef db = iadd(k, imul(k, o, ic(k, dst_row)), dst_off);
    LLVMValueRef sb = iadd(k, imul(k, o, ic(k, src_row)), src_off);
    LLVMValueRef j = loop_begin(k, &lj, ic(k, len));
    store(k, dst, iadd(k, db, j), load(k, src, iadd(k, sb, j)));
    loop_end(k, &lj);
    loop_end(k, &lo);
}

static void emit_concat(LK *k) {
    const IrValue *v = k->v;
    int axis = (int)v->attr.i[0];
    IrShape y = v->shape;
    int64_t rest = rest_of(y, axis), off = 0;
    LLVMValueRef outer = prod(k, y, 0, axis);
    for (int j = 0; j < v->n_in; j++) {
        int64_t len = v->in[j]->shape.dims[axis] * rest;
        copy_rows(k, k->out, k->in[j], outer, len, y.dims[axis] * rest, ic(k, off), len, ic(k, 0));
        off += len;
    }
}

static void emit_slice(LK *k, bool grad) {
    const IrValue *v = k->v;
    int axis = (int)v->attr.i[0];
    IrShape full = grad ? v->shape : v->in[0]->shape;
    int64_t rest = rest_of(full, axis);
    int64_t len = (v->attr.i[2] - v->attr.i[1]) * rest;
    int64_t row = full.dims[axis] * rest;
    LLVMValueRef outer = prod(k, full, 0, axis);
    if (grad) {
        fill(k, numel(k, full), fconst(k, 0));
        copy_rows(k, k->out, k->in[0], outer, len, row, k->offset, len, ic(k, 0));
    } else {
        copy_rows(k, k->out, k->in[0], outer, len, len, ic(k, 0), row, k->offset);
    }
}

/* SLICE_ADD: out[slice] += d, rows of the slice along the axis. */
static void emit_slice_add(LK *k) {
    const IrValue *v = k->v;
    int axis = (int)v->attr.i[0];
    int64_t rest = rest_of(v->shape, axis);
    int64_t len = (v->attr.i[2] - v->attr.i[1]) * rest, row = v->shape.dims[axis] * rest;
    LLoop lo, lj;
    LLVMValueRef o = loop_begin(k, &lo, prod(k, v->shape, 0, axis));
    LLVMValueRef at = iadd(k, imul(k, o, ic(k, row)), k->offset), from = imul(k, o, ic(k, len));
    LLVMValueRef j = loop_begin(k, &lj, ic(k, len));
    LLVMValueRef i = iadd(k, at, j);
    store(k, k->out, i, LLVMBuildFAdd(k->b, load(k, k->out, i), load(k, k->in[1], iadd(k, from, j)), ""));
    loop_end(k, &lj);
    loop_end(k, &lo);
}

/* ---- dropout, running statistics, embedding, max ------------------------------- */

static LLVMValueRef mix64(LK *k, LLVMValueRef z) {
    LLVMTypeRef i64 = k->c->i64;
#define C64(x) LLVMConstInt(i64, (unsigned long long)(x), 0)
    z = LLVMBuildXor(k->b, z, LLVMBuildLShr(k->b, z, C64(30), ""), "");
    z = LLVMBuildMul(k->b, z, C64(0xbf58476d1ce4e5b9ULL), "");
    z = LLVMBuildXor(k->b, z, LLVMBuildLShr(k->b, z, C64(27), ""), "");
    z = LLVMBuildMul(k->b, z, C64(0x94d049bb133111ebULL), "");
    z = LLVMBuildXor(k->b, z, LLVMBuildLShr(k->b, z, C64(31), ""), "");
#undef C64
    return z;
}

static void emit_dropout(LK *k) {
    const IrValue *v = k->v;
    double p = v->attr.f[0];
    LLVMTypeRef i64 = k->c->i64;
    LLVMValueRef key = mix64(k, LLVMBuildXor(k->b, LLVMConstInt(i64, (unsigned long long)v->attr.i[0], 0),
                                             LLVMBuildMul(k->b, k->step, LLVMConstInt(i64, 0x9E3779B97F4A7C15ULL, 0), ""), ""));
    LLVMValueRef thresh = LLVMConstInt(i64, (unsigned long long)(p * 16777216.0), 0);
    LLVMValueRef scale = fconst(k, 1.0 / (1.0 - p));
    LLoop l;
    LLVMValueRef i = loop_begin(k, &l, numel(k, v->shape));
    LLVMValueRef h = mix64(k, LLVMBuildAdd(k->b, key, LLVMBuildMul(k->b, i, LLVMConstInt(i64, 0xD1B54A32D192ED03ULL, 0), ""), ""));
    LLVMValueRef u = LLVMBuildLShr(k->b, h, LLVMConstInt(i64, 40, 0), ""); /* 24 bits */
    LLVMValueRef keep = LLVMBuildICmp(k->b, LLVMIntUGE, u, thresh, "");
    store(k, k->out, i, sel(k, keep, fmul(k, load(k, k->in[0], i), scale), fconst(k, 0)));
    loop_end(k, &l);
}

static void emit_running_update(LK *k) {
    const IrValue *v = k->v;
    double m = v->attr.f[0];
    LLVMValueRef corr = fconst(k, 1);
    if (v->attr.i[0]) { /* n / (n - 1), n = batch * per-sample count (geometry 1) */
        LLVMValueRef n = LLVMBuildSIToFP(k->b, imul(k, k->batch, geo(k, 1)), k->c->f32, "");
        LLVMValueRef big = LLVMBuildFCmp(k->b, LLVMRealOGT, n, fconst(k, 1), "");
        corr = sel(k, big, LLVMBuildFDiv(k->b, n, LLVMBuildFSub(k->b, n, fconst(k, 1), ""), ""), fconst(k, 1));
    }
    LLVMValueRef ms = fmul(k, fconst(k, m), corr);
    LLoop l;
    LLVMValueRef i = loop_begin(k, &l, geo(k, 0)); /* the statistic's size */
    LLVMValueRef old = load(k, k->out, i);
    store(k, k->out, i, fadd(k, fmul(k, old, fconst(k, 1 - m)), fmul(k, load(k, k->in[0], i), ms)));
    loop_end(k, &l);
}

/* The row of id tensor element r, clamped into [0, rows). */
static LLVMValueRef id_at(LK *k, LLVMValueRef r, int64_t rows) {
    LLVMValueRef f = load(k, k->in[0], r);
    return clamp(k, LLVMBuildFPToSI(k->b, f, k->c->i64, ""), ic(k, rows));
}

static void emit_embedding(LK *k, bool grad) {
    const IrValue *v = k->v;
    IrShape t = grad ? v->attr.shape : v->in[1]->shape;
    int64_t rows = t.dims[0], width = t.dims[1];
    if (grad) fill(k, ic(k, rows * width), fconst(k, 0));
    LLoop lr, lj;
    LLVMValueRef r = loop_begin(k, &lr, numel(k, v->in[0]->shape));
    LLVMValueRef tb = imul(k, id_at(k, r, rows), ic(k, width));
    LLVMValueRef eb = imul(k, r, ic(k, width));
    LLVMValueRef j = loop_begin(k, &lj, ic(k, width));
    if (grad) accum(k, k->out, iadd(k, tb, j), load(k, k->in[1], iadd(k, eb, j)));
    else store(k, k->out, iadd(k, eb, j), load(k, k->in[1], iadd(k, tb, j)));
    loop_end(k, &lj);
    loop_end(k, &lr);
}

static void max_body(LK *k, LLVMValueRef *off, void *user) {
    (void)user;
    LLVMValueRef q = gep(k, k->out, off[0]);
    LLVMValueRef cur = LLVMBuildLoad2(k->b, k->c->f32, q, "");
    LLVMValueRef x = load(k, k->in[0], off[1]);
    LLVMBuildStore(k->b, sel(k, LLVMBuildFCmp(k->b, LLVMRealOGT, x, cur, ""), x, cur), q);
}

static void max_grad_body(LK *k, LLVMValueRef *off, void *user) {
    (void)user;
    LLVMValueRef x = load(k, k->in[0], off[1]), y = load(k, k->in[1], off[2]);
    LLVMValueRef hit = LLVMBuildFCmp(k->b, LLVMRealOEQ, x, y, "");
    store(k, k->out, off[0], sel(k, hit, load(k, k->in[2], off[3]), fconst(k, 0)));
}

static void emit_reduce_max(LK *k, bool grad) {
    const IrValue *v = k->v;
    IrShape x = v->in[0]->shape;
    Nd nd = {0};
    nd.space = x;
    if (!grad) {
        IrShape kept = x;
        uint32_t mask = v->attr.i[0] ? (uint32_t)v->attr.i[0] : (uint32_t)((1u << x.rank) - 1);
        for (int i = 0; i < x.rank; i++)
            if (mask & (1u << i)) kept.dims[i] = 1;
        fill(k, numel(k, v->shape), fconst(k, -INFINITY));
        nd.n_ops = 2;
        nd_operand(k, &nd, 0, kept);
        nd_operand(k, &nd, 1, x);
        nd_run(k, &nd, max_body, NULL);
        return;
    }
    nd.n_ops = 4;
    nd_operand(k, &nd, 0, x);
    nd_operand(k, &nd, 1, x);
    nd_operand(k, &nd, 2, v->in[1]->shape);
    nd_operand(k, &nd, 3, v->in[2]->shape);
    nd_run(k, &nd, max_grad_body, NULL);
}

/* The geometry of v's kernel and its key, for the ops whose kernels take
 * one (IM2COL, COL2IM, CONV2D(_GRAD_W), POOL2D(_GRAD), matrix TRANSPOSE, batched MATMUL,
 * RUNNING_UPDATE, the batch-norm ops);
 * false for the others. The key is the op and what shapes the code: the
 * leading dimension (IR_BATCH or its size), average pooling, the product's
 * transposes and path. */
static bool geometry_of(const IrValue *v, Geometry *g) {
    g->n = 0;
    CgKey *key = &g->key;
    key->n = 0;
    key->s[0] = '\0';
    key->truncated = false;
    cg_key_add(key, "geometry %s dt%d", ir_op_name(v->op), (int)v->dtype);
    switch (v->op) {
    case IR_OP_IM2COL:
    case IR_OP_COL2IM: {
        IrShape xs = v->op == IR_OP_COL2IM ? v->shape : v->in[0]->shape;
        window_geometry(geom_of(v, xs, false), g);
        cg_key_add(key, " n%lld", (long long)xs.dims[0]);
        return true;
    }
    case IR_OP_CONV2D: {
        IrShape xs = v->in[0]->shape;
        window_geometry(geom_of(v, xs, false), g);
        g->v[g->n++] = v->in[1]->shape.dims[0];
        cg_key_add(key, " n%lld bias%d relu%d pool%lld", (long long)xs.dims[0], v->n_in == 3,
                   v->attr.i[4] != 0, (long long)v->attr.i[5]);
        return true;
    }
    case IR_OP_CONV2D_GRAD_W: {
        IrShape xs = v->in[0]->shape;
        window_geometry(geom_of(v, xs, false), g);
        g->v[g->n++] = v->shape.dims[0];
        cg_key_add(key, " n%lld", (long long)xs.dims[0]);
        return true;
    }
    case IR_OP_POOL2D:
    case IR_OP_POOL2D_GRAD: {
        IrShape xs = v->in[0]->shape;
        window_geometry(geom_of(v, xs, true), g);
        cg_key_add(key, " n%lld avg%d relu%d", (long long)xs.dims[0], v->attr.i[3] != 0,
                   v->op == IR_OP_POOL2D_GRAD && v->attr.i[4] != 0);
        return true;
    }
    case IR_OP_TRANSPOSE: {
        IrShape x = v->in[0]->shape;
        int split = matrix_split(v->attr.shape);
        if (!split) return false;
        int64_t rows = 1, cols = 1;
        for (int i = 1; i < x.rank; i++) *(i <= split ? &rows : &cols) *= x.dims[i];
        g->v[g->n++] = rows;
        g->v[g->n++] = cols;
        cg_key_add(key, " n%lld", (long long)x.dims[0]);
        return true;
    }
    case IR_OP_BN_STATS:
    case IR_OP_BN_NORM:
    case IR_OP_BN_GRAD:
    case IR_OP_BN_GRAD_X: {
        IrShape xs = (v->op == IR_OP_BN_GRAD_X ? v->in[1] : v->in[0])->shape;
        g->v[g->n++] = xs.dims[1];
        g->v[g->n++] = rest_of(xs, 1);
        cg_key_add(key, " n%lld eps%a relu%d", (long long)xs.dims[0],
                   v->op == IR_OP_BN_STATS ? 0.0 : v->attr.f[0],
                   v->op == IR_OP_BN_NORM && v->attr.i[1] != 0);
        return true;
    }
    case IR_OP_RUNNING_UPDATE:
        g->v[g->n++] = v->attr.param->size;
        g->v[g->n++] = v->attr.i[1];
        cg_key_add(key, " unbiased%d momentum%a", v->attr.i[0] != 0, v->attr.f[0]);
        return true;
    case IR_OP_MATMUL: {
        BmmPlan p;
        bmm_plan(v, &p);
        bmm_geometry(&p, g);
        return true;
    }
    default: return false;
    }
}

/* The ops whose kernels only hand their geometry to libaairt (with at most
 * a loop over the batch around the call): optimising them bought nothing
 * and cost ~2-4 ms of compile time each (`llc -O3` on fashion_resnet's
 * kernels one by one). */
static bool only_calls_runtime(const IrValue *v) {
    switch (v->op) {
    case IR_OP_MATMUL:
    case IR_OP_IM2COL:
    case IR_OP_COL2IM:
    case IR_OP_CONV2D:
    case IR_OP_CONV2D_GRAD_W:
    case IR_OP_POOL2D:
    case IR_OP_POOL2D_GRAD:
    case IR_OP_BN_STATS:
    case IR_OP_BN_NORM:
    case IR_OP_BN_GRAD:
    case IR_OP_BN_GRAD_X: return true;
    case IR_OP_TRANSPOSE: return matrix_split(v->attr.shape) != 0; /* else a generated copy */
    default: return false;
    }
}

void cg_emit_layer(CgCtx *c, const IrValue *v) {
    LK k;
    if (v->op == IR_OP_SLICE_ADD) cg_copy_unless_shared(c, v, v->in[0]);
    if (!lk_begin(c, &k, v, v->op == IR_OP_DROPOUT)) return; /* an earlier value's kernel does it */
    switch (v->op) {
    case IR_OP_MATMUL: emit_bmm(&k); break;
    case IR_OP_IM2COL: emit_im2col(&k, false); break;
    case IR_OP_CONV2D: emit_conv2d(&k); break;
    case IR_OP_CONV2D_GRAD_W: emit_conv2d_grad_w(&k); break;
    case IR_OP_COL2IM: emit_im2col(&k, true); break;
    case IR_OP_POOL2D: emit_pool(&k, false); break;
    case IR_OP_POOL2D_GRAD: emit_pool(&k, true); break;
    case IR_OP_TRANSPOSE: emit_transpose(&k); break;
    case IR_OP_CONCAT: emit_concat(&k); break;
    case IR_OP_SLICE: emit_slice(&k, false); break;
    case IR_OP_SLICE_GRAD: emit_slice(&k, true); break;
    case IR_OP_SLICE_ADD: emit_slice_add(&k); break;
    case IR_OP_DROPOUT: emit_dropout(&k); break;
    case IR_OP_RUNNING_UPDATE: emit_running_update(&k); break;
    case IR_OP_EMBEDDING: emit_embedding(&k, false); break;
    case IR_OP_EMBEDDING_GRAD: emit_embedding(&k, true); break;
    case IR_OP_REDUCE_MAX: emit_reduce_max(&k, false); break;
    case IR_OP_REDUCE_MAX_GRAD: emit_reduce_max(&k, true); break;
    case IR_OP_BN_STATS:
    case IR_OP_BN_NORM:
    case IR_OP_BN_GRAD:
    case IR_OP_BN_GRAD_X: emit_batch_norm(&k); break;
    default: assert(0 && "not a layer op"); break;
    }
    if (only_calls_runtime(v)) cg_unoptimized(c, k.fn);
    lk_end(&k);
}
