/* codegen_linear.c - dense layers: LINEAR, and batch-1 matrix products.
 *
 * A matrix product whose rows are the batch runs as cblas_sgemm. When a
 * call's batch is 1 that is a matrix-vector product, and OpenBLAS's sgemm
 * with M = 1 runs at a fifth of its gemv speed (measured on the benchmark
 * machine), while a call into the library costs more than the whole
 * product for small layers. So the entry point branches on batch == 1 to
 * a generated kernel here: plain counted loops the LLVM vectorizer turns
 * into FMA code for the host. `x @ W^T` (W [N, K], the dense layout) is one dot product per
 * output, a reduction marked reassociable so it vectorizes (the sum's order
 * differs from sgemm's within float rounding). Only that layout is
 * handled: `x @ W` (W [K, N], the input gradients of training) stays on
 * sgemm, where batch 1 is rare. A big W is cut into blocks of rows that
 * the runtime's threads share (gemv_emit).
 *
 * LINEAR (a dense layer's product, bias add and activation, passes/fuse.c)
 * adds the bias and applies the activation (relu, sigmoid or tanh) in the
 * same kernel: at batch 1 as each dot product is stored, at other batches
 * in one pass over sgemm's output while it is still in cache
 * (linear_epilogue). Both compute dot + bias, then the activation through
 * the UNARY kernel's own expression (cg_unary_value), so the answers are
 * those of the unfused ops (to a few ULP for sigmoid and tanh, see
 * passes/fuse.c). At batch 1 those two run in one pass over the row after
 * the dot products (cg_emit_linear). */
#include "codegen_internal.h"

static LLVMValueRef ic(CgCtx *c, int64_t v) { return LLVMConstInt(c->i64, (unsigned long long)v, 1); }

static LLVMValueRef fast(LLVMValueRef v) {
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowContract | LLVMFastMathAllowReassoc);
    return v;
}

typedef struct GLoop {
    LLVMBasicBlockRef pre, head, exit;
    LLVMValueRef i;
} GLoop;

/* do { body } while (++i < n), for n >= 1 (gloop_end closes
 * it): returns i, builder in the body. */
static LLVMValueRef gloop_begin(CgCtx *c, LLVMBuilderRef b, LLVMValueRef fn, GLoop *l) {
    l->pre = LLVMGetInsertBlock(b);
    l->head = LLVMAppendBasicBlockInContext(c->ctx, fn, "gemv.loop");
    l->exit = LLVMAppendBasicBlockInContext(c->ctx, fn, "gemv.done");
    LLVMBuildBr(b, l->head);
    LLVMPositionBuilderAtEnd(b, l->head);
    l->i = LLVMBuildPhi(b, c->i64, "i");
    return l->i;
}

static void gloop_end(CgCtx *c, LLVMBuilderRef b, GLoop *l, LLVMValueRef n) {
    LLVMValueRef next = LLVMBuildNSWAdd(b, l->i, ic(c, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, next, n, ""), l->head, l->exit);
    LLVMValueRef vals[2] = {ic(c, 0), next};
    LLVMBasicBlockRef bbs[2] = {l->pre, latch};
    LLVMAddIncoming(l->i, vals, bbs, 2);
    LLVMPositionBuilderAtEnd(b, l->exit);
}

static LLVMValueRef ptr_at(CgCtx *c, LLVMBuilderRef b, LLVMValueRef p, LLVMValueRef i) {
    return LLVMBuildInBoundsGEP2(b, c->f32, p, &i, 1, "");
}

/* What is applied to each output as it is stored: a bias add (the kernel
 * then takes the bias array after its other pointers) and an activation. */
typedef struct Epilogue {
    bool bias, act;
    IrUnaryFn fn; /* the activation, when act */
} Epilogue;

/* A kernel call's parameter types and arguments, pushed in order. */
typedef struct Args {
    LLVMTypeRef ps[6];
    LLVMValueRef v[6];
    int n;
} Args;

static void arg_push(Args *a, LLVMTypeRef t, LLVMValueRef v) {
    a->ps[a->n] = t;
    a->v[a->n++] = v;
}

/* y (+ bias[i]) then the activation: the ADD and UNARY kernels'
 * expressions, the add without fast-math flags, so the bits are theirs. */
static LLVMValueRef epilogue_apply(CgCtx *c, LLVMBuilderRef b, Epilogue e, LLVMValueRef y,
                                   LLVMValueRef bias, LLVMValueRef i) {
    if (e.bias) y = LLVMBuildFAdd(b, y, LLVMBuildLoad2(b, c->f32, ptr_at(c, b, bias, i), ""), "");
    return e.act ? cg_unary_value(c, b, e.fn, 0, y) : y;
}

static void epilogue_key(CgKey *key, Epilogue e) {
    cg_key_add(key, "%s%s%s", e.bias ? " bias" : "", e.act ? " " : "",
               e.act ? ir_unary_name(e.fn) : "");
}

/* Rows of W per block: each keeps its own accumulator, so a block is `rows`
 * independent FMA chains that share the loads of x (one chain alone waits
 * on the FMA latency). */
enum { GEMV_ROWS = 4 };

/* The arrays of a batch-1 product: out[N] = a[K] @ w^T (+ bias[N]). */
typedef struct GemvPtrs {
    LLVMValueRef out, a, w, bias;
} GemvPtrs;

/* out[first + r] = dot(a[0..k), w[first + r, 0..k)) for r < count * rows,
 * in `count` (>= 1) blocks of `rows` rows, each through the epilogue. */
static void dot_rows(CgCtx *c, LLVMBuilderRef b, LLVMValueRef fn, GemvPtrs p, Epilogue e,
                     int64_t first, LLVMValueRef count, int rows, int64_t k) {
    GLoop lb, lk;
    LLVMValueRef blk = gloop_begin(c, b, fn, &lb);
    LLVMValueRef r0 = LLVMBuildNSWAdd(b, ic(c, first), LLVMBuildNSWMul(b, blk, ic(c, rows), ""), "");
    LLVMBasicBlockRef before = LLVMGetInsertBlock(b);
    LLVMValueRef j = gloop_begin(c, b, fn, &lk);
    LLVMValueRef acc[GEMV_ROWS], sum[GEMV_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = LLVMBuildPhi(b, c->f32, "acc");
    LLVMValueRef x = LLVMBuildLoad2(b, c->f32, ptr_at(c, b, p.a, j), "");
    for (int r = 0; r < rows; r++) {
        LLVMValueRef row = LLVMBuildNSWAdd(b, r0, ic(c, r), "");
        LLVMValueRef idx = LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, row, ic(c, k), ""), j, "");
        LLVMValueRef wv = LLVMBuildLoad2(b, c->f32, ptr_at(c, b, p.w, idx), "");
        sum[r] = fast(LLVMBuildFAdd(b, acc[r], fast(LLVMBuildFMul(b, x, wv, "")), ""));
    }
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    gloop_end(c, b, &lk, ic(c, k));
    for (int r = 0; r < rows; r++) {
        LLVMValueRef vals[2] = {LLVMConstReal(c->f32, 0), sum[r]};
        LLVMBasicBlockRef bbs[2] = {before, latch};
        LLVMAddIncoming(acc[r], vals, bbs, 2);
        LLVMValueRef row = LLVMBuildNSWAdd(b, r0, ic(c, r), "");
        LLVMBuildStore(b, epilogue_apply(c, b, e, sum[r], p.bias, row), ptr_at(c, b, p.out, row));
    }
    gloop_end(c, b, &lb, count);
}

/* A batch-1 kernel's pointer arguments, in the order both kinds take
 * them: the weights first (the row-split call weighs a block by its
 * weight floats), then out, a and the bias if any. */
static void gemv_args(CgCtx *c, Args *a, GemvPtrs p, Epilogue e) {
    arg_push(a, c->ptr, p.w);
    arg_push(a, c->ptr, p.out);
    arg_push(a, c->ptr, p.a);
    if (e.bias) arg_push(a, c->ptr, p.bias);
}

/* The same arrays as the kernel `fn` (built with gemv_args) sees them. */
static GemvPtrs gemv_params(LLVMValueRef fn, Epilogue e) {
    return (GemvPtrs){LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), LLVMGetParam(fn, 0),
                      e.bias ? LLVMGetParam(fn, 3) : NULL};
}

/* Calls kernel(w, out, a [, bias]): out[N] = a[K] @ w^T through the
 * epilogue, built on first use (every product of the same N, K and
 * epilogue shares it). */
static void gemv_call(CgCtx *c, GemvPtrs p, Epilogue e, int64_t n, int64_t k) {
    CgKey key = {.n = 0};
    cg_key_add(&key, "gemv n%lld k%lld", (long long)n, (long long)k);
    epilogue_key(&key, e);
    Args a = {.n = 0};
    gemv_args(c, &a, p, e);
    CgKernelDef def;
    if (!cg_kernel_call(c, &key, "gemv", a.ps, a.v, a.n, a.n, NULL, &def)) return;
    LLVMValueRef fn = def.fn;
    GemvPtrs q = gemv_params(fn, e);
    int64_t blocks = n / GEMV_ROWS;
    if (blocks > 0) dot_rows(c, def.b, fn, q, e, 0, ic(c, blocks), GEMV_ROWS, k);
    if (n % GEMV_ROWS) dot_rows(c, def.b, fn, q, e, blocks * GEMV_ROWS, ic(c, n % GEMV_ROWS), 1, k);
    cg_kernel_done(&def);
}

/* Weight floats from which a batch-1 product is cut into blocks of rows
 * for the runtime's threads: each core then streams its share of W and,
 * across calls, keeps it in its own L2 (the 784x256 layer of the Fashion
 * MLP is 784 KiB, more than one core's 512 KiB here, half of it fits).
 * aairt_run_rows cuts only when every part gets 16k floats of W. */
enum { GEMV_SPLIT_FLOATS = 1 << 15 };

/* kernel(w, out, a [, bias], count): `count` blocks of GEMV_ROWS outputs,
 * called through cg_call_rows with the weights first, so the runtime
 * weighs a block by its GEMV_ROWS * k weight floats; every output is
 * computed by the same code whatever the thread count. */
static void gemv_blocks_call(CgCtx *c, GemvPtrs p, Epilogue e, int64_t blocks, int64_t k) {
    CgKey key = {.n = 0};
    cg_key_add(&key, "gemv_blocks k%lld", (long long)k);
    epilogue_key(&key, e);
    Args a = {.n = 0};
    gemv_args(c, &a, p, e);
    int n_ptrs = a.n;
    arg_push(&a, c->i64, ic(c, blocks));
    /* floats a block advances each pointer by: the bias like the output */
    const int64_t rows[4] = {GEMV_ROWS * k, GEMV_ROWS, 0, GEMV_ROWS};
    CgKernelDef def;
    if (!cg_kernel_call(c, &key, "gemv", a.ps, a.v, a.n, n_ptrs, rows, &def)) return;
    LLVMValueRef fn = def.fn;
    GemvPtrs q = gemv_params(fn, e);
    dot_rows(c, def.b, fn, q, e, 0, LLVMGetParam(fn, (unsigned)n_ptrs), GEMV_ROWS, k);
    cg_kernel_done(&def);
}

/* out[N] = a[K] @ w^T through the epilogue: split over the threads when W
 * is big enough, the last N % GEMV_ROWS rows then in a plain kernel of
 * their own. */
static void gemv_emit(CgCtx *c, GemvPtrs p, Epilogue e, int64_t n, int64_t k) {
    int64_t blocks = n / GEMV_ROWS;
    if (blocks < 2 || n * k < GEMV_SPLIT_FLOATS) {
        gemv_call(c, p, e, n, k);
        return;
    }
    gemv_blocks_call(c, p, e, blocks, k);
    if (n % GEMV_ROWS == 0) return;
    LLVMValueRef first = ic(c, blocks * GEMV_ROWS), first_w = ic(c, blocks * GEMV_ROWS * k);
    GemvPtrs tail = {ptr_at(c, c->b, p.out, first), p.a, ptr_at(c, c->b, p.w, first_w),
                     e.bias ? ptr_at(c, c->b, p.bias, first) : NULL};
    gemv_call(c, tail, e, n % GEMV_ROWS, k);
}

/* Opens `if (batch == 1) { ... } else { ... }` in the entry: returns the
 * join block, the builder in the batch-1 branch; *many is the other. */
static LLVMBasicBlockRef branch_batch1(CgCtx *c, LLVMBasicBlockRef *many) {
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(c->ctx, fn, "batch1");
    *many = LLVMAppendBasicBlockInContext(c->ctx, fn, "batchN");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, fn, "matmul.done");
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, c->batch, ic(c, 1), ""), one, *many);
    LLVMPositionBuilderAtEnd(c->b, one);
    return join;
}

/* Whether the product of a [B, K] (B the batch) and w [N, K] transposed,
 * into v, can take the batch-1 kernels. */
static bool gemv_fits(const CgCtx *c, const IrValue *v, const IrValue *a, const IrValue *w) {
    if (v->shape.rank != 2 || a->shape.rank != 2 || w->shape.rank != 2) return false;
    if (a->shape.dims[0] != IR_BATCH || ir_shape_has_batch(w->shape)) return false;
    if (!cg_in_memory(c, v) || !cg_in_memory(c, a) || !cg_in_memory(c, w)) return false;
    return a->shape.dims[1] >= 1 && w->shape.dims[0] >= 1;
}

bool cg_emit_gemv(CgCtx *c, const IrValue *v) {
    const IrValue *a = v->in[0], *w = v->in[1];
    if (v->attr.i[0] || !v->attr.i[1] || !gemv_fits(c, v, a, w)) return false;
    LLVMBasicBlockRef many, join = branch_batch1(c, &many);
    GemvPtrs p = {cg_ptr(c, v), cg_ptr(c, a), cg_ptr(c, w), NULL};
    gemv_emit(c, p, (Epilogue){.bias = false}, w->shape.dims[0], a->shape.dims[1]);
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, many);
    cg_sgemm(c, a, w, false, true, v, false);
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, join);
    return true;
}

/* kernel(out, [bias,] batch): out[r, j] through the epilogue for every row
 * r < batch, in place; split over the batch like the element-wise ops. */
static void linear_epilogue(CgCtx *c, const IrValue *v, Epilogue e) {
    int64_t n = v->shape.dims[1];
    CgKey key = {.n = 0};
    cg_key_add(&key, "linear_epilogue n%lld", (long long)n);
    epilogue_key(&key, e);
    Args a = {.n = 0};
    arg_push(&a, c->ptr, cg_ptr(c, v));
    if (e.bias) arg_push(&a, c->ptr, cg_ptr(c, v->in[2]));
    int n_ptrs = a.n;
    bool split = ir_shape_has_batch(v->shape);
    arg_push(&a, c->i64, split ? c->batch : ic(c, v->shape.dims[0]));
    const int64_t rows[2] = {n, 0};
    CgKernelDef def;
    if (!cg_kernel_call(c, &key, "linear", a.ps, a.v, a.n, n_ptrs, split ? rows : NULL, &def))
        return;
    LLVMValueRef fn = def.fn, out = LLVMGetParam(fn, 0), bias = e.bias ? LLVMGetParam(fn, 1) : NULL;
    CgLoop lr, lj;
    LLVMValueRef r = cg_loop_begin(def.b, fn, c->i64, &lr, LLVMGetParam(fn, (unsigned)n_ptrs));
    LLVMValueRef j = cg_loop_begin(def.b, fn, c->i64, &lj, ic(c, n));
    LLVMValueRef row = LLVMBuildNSWMul(def.b, r, ic(c, n), "");
    LLVMValueRef at = ptr_at(c, def.b, out, LLVMBuildNSWAdd(def.b, row, j, ""));
    LLVMValueRef y = LLVMBuildLoad2(def.b, c->f32, at, "");
    LLVMBuildStore(def.b, epilogue_apply(c, def.b, e, y, bias, j), at);
    cg_loop_end(def.b, c->i64, &lj);
    cg_loop_end(def.b, c->i64, &lr);
    cg_kernel_done(&def);
}

void cg_emit_linear(CgCtx *c, const IrValue *v) {
    const IrValue *x = v->in[0], *w = v->in[1];
    Epilogue e = {v->n_in == 3, v->attr.i[0] != 0, v->attr.fn};
    if (!gemv_fits(c, v, x, w) || (e.bias && !cg_in_memory(c, v->in[2]))) {
        cg_sgemm(c, x, w, false, true, v, false);
        if (e.bias || e.act) linear_epilogue(c, v, e);
        return;
    }
    LLVMBasicBlockRef many, join = branch_batch1(c, &many);
    GemvPtrs p = {cg_ptr(c, v), cg_ptr(c, x), cg_ptr(c, w), e.bias ? cg_ptr(c, v->in[2]) : NULL};
    /* relu is a select as each output is stored; a libm activation there
     * would be a call inside the dot products' loop, which spills their
     * accumulators around it (a tanh MLP's batch-1 latency was ~8 us more
     * than the relu one's): it runs over the row afterwards, vectorized. */
    bool after = e.act && e.fn != IR_FN_RELU;
    gemv_emit(c, p, (Epilogue){e.bias, e.act && !after, e.fn}, w->shape.dims[0], x->shape.dims[1]);
    if (after) linear_epilogue(c, v, (Epilogue){.act = true, .fn = e.fn});
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, many);
    cg_sgemm(c, x, w, false, true, v, false);
    if (e.bias || e.act) linear_epilogue(c, v, e);
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, join);
}
