/* codegen_gemv.c - generated matrix-vector kernels for batch-1 calls.
 *
 * A matrix product whose rows are the batch runs as cblas_sgemm. When a
 * call's batch is 1 that is a matrix-vector product, and OpenBLAS's sgemm
 * with M = 1 runs at a fifth of its gemv speed (bench/README.md), while a
 * call into the library costs more than the whole product for small
 * layers. So the entry point branches on batch == 1 to a generated kernel
 * here: plain counted loops the LLVM vectorizer turns into FMA code for the
 * host. `x @ W^T` (W [N, K], the dense layout) is one dot product per
 * output, a reduction marked reassociable so it vectorizes (the sum's order
 * differs from sgemm's within float rounding). Only that layout is
 * handled: `x @ W` (W [K, N], the input gradients of training) stays on
 * sgemm, where batch 1 is rare. A big W is cut into blocks of rows that
 * the runtime's threads share (gemv_emit). */
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

/* Rows of W per block: each keeps its own accumulator, so a block is `rows`
 * independent FMA chains that share the loads of x (one chain alone waits
 * on the FMA latency). */
enum { GEMV_ROWS = 4 };

/* out[first + r] = dot(a[0..k), w[first + r, 0..k)) for r < count * rows,
 * in `count` (>= 1) blocks of `rows` rows. */
static void dot_rows(CgCtx *c, LLVMBuilderRef b, LLVMValueRef fn, LLVMValueRef out,
                     LLVMValueRef a, LLVMValueRef w, int64_t first, LLVMValueRef count, int rows,
                     int64_t k) {
    GLoop lb, lk;
    LLVMValueRef blk = gloop_begin(c, b, fn, &lb);
    LLVMValueRef r0 = LLVMBuildNSWAdd(b, ic(c, first), LLVMBuildNSWMul(b, blk, ic(c, rows), ""), "");
    LLVMBasicBlockRef before = LLVMGetInsertBlock(b);
    LLVMValueRef j = gloop_begin(c, b, fn, &lk);
    LLVMValueRef acc[GEMV_ROWS], sum[GEMV_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = LLVMBuildPhi(b, c->f32, "acc");
    LLVMValueRef x = LLVMBuildLoad2(b, c->f32, ptr_at(c, b, a, j), "");
    for (int r = 0; r < rows; r++) {
        LLVMValueRef row = LLVMBuildNSWAdd(b, r0, ic(c, r), "");
        LLVMValueRef idx = LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, row, ic(c, k), ""), j, "");
        LLVMValueRef wv = LLVMBuildLoad2(b, c->f32, ptr_at(c, b, w, idx), "");
        sum[r] = fast(LLVMBuildFAdd(b, acc[r], fast(LLVMBuildFMul(b, x, wv, "")), ""));
    }
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    gloop_end(c, b, &lk, ic(c, k));
    for (int r = 0; r < rows; r++) {
        LLVMValueRef vals[2] = {LLVMConstReal(c->f32, 0), sum[r]};
        LLVMBasicBlockRef bbs[2] = {before, latch};
        LLVMAddIncoming(acc[r], vals, bbs, 2);
        LLVMBuildStore(b, sum[r], ptr_at(c, b, out, LLVMBuildNSWAdd(b, r0, ic(c, r), "")));
    }
    gloop_end(c, b, &lb, count);
}

/* Calls kernel(out, a, w): out[N] = a[K] @ w^T, w [N,K], built on first use
 * (every product of the same N and K shares it). */
static void gemv_call(CgCtx *c, LLVMValueRef *args, int64_t n, int64_t k) {
    CgKey key = {.n = 0};
    cg_key_add(&key, "gemv n%lld k%lld", (long long)n, (long long)k);
    LLVMTypeRef ps[3] = {c->ptr, c->ptr, c->ptr};
    CgKernelDef def;
    if (!cg_kernel_call(c, &key, "gemv", ps, args, 3, 3, NULL, &def)) return;
    LLVMValueRef fn = def.fn, out = LLVMGetParam(fn, 0), a = LLVMGetParam(fn, 1), w = LLVMGetParam(fn, 2);
    int64_t blocks = n / GEMV_ROWS;
    if (blocks > 0) dot_rows(c, def.b, fn, out, a, w, 0, ic(c, blocks), GEMV_ROWS, k);
    if (n % GEMV_ROWS)
        dot_rows(c, def.b, fn, out, a, w, blocks * GEMV_ROWS, ic(c, n % GEMV_ROWS), 1, k);
    cg_kernel_done(&def);
}

/* Weight floats from which a batch-1 product is cut into blocks of rows
 * for the runtime's threads: each core then streams its share of W and,
 * across calls, keeps it in its own L2 (the 784x256 layer of the Fashion
 * MLP is 784 KiB, more than one core's 512 KiB here, half of it fits).
 * aairt_run_rows cuts only when every part gets 16k floats of W. */
enum { GEMV_SPLIT_FLOATS = 1 << 15 };

/* kernel(w, out, a, count): `count` blocks of GEMV_ROWS outputs, called
 * through cg_call_rows with the weights first, so the runtime weighs a
 * block by its GEMV_ROWS * k weight floats; every output is computed by
 * the same code whatever the thread count. */
static void gemv_blocks_call(CgCtx *c, LLVMValueRef *args, int64_t blocks, int64_t k) {
    CgKey key = {.n = 0};
    cg_key_add(&key, "gemv_blocks k%lld", (long long)k);
    LLVMTypeRef ps[4] = {c->ptr, c->ptr, c->ptr, c->i64};
    LLVMValueRef call_args[4] = {args[2], args[0], args[1], ic(c, blocks)};
    const int64_t rows[3] = {GEMV_ROWS * k, GEMV_ROWS, 0};
    CgKernelDef def;
    if (!cg_kernel_call(c, &key, "gemv", ps, call_args, 4, 3, rows, &def)) return;
    LLVMValueRef fn = def.fn;
    dot_rows(c, def.b, fn, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), LLVMGetParam(fn, 0), 0,
             LLVMGetParam(fn, 3), GEMV_ROWS, k);
    cg_kernel_done(&def);
}

/* out[N] = a[K] @ w^T: split over the threads when W is big enough, the
 * last N % GEMV_ROWS rows then in a plain kernel of their own. */
static void gemv_emit(CgCtx *c, LLVMValueRef *args, int64_t n, int64_t k) {
    int64_t blocks = n / GEMV_ROWS;
    if (blocks < 2 || n * k < GEMV_SPLIT_FLOATS) {
        gemv_call(c, args, n, k);
        return;
    }
    gemv_blocks_call(c, args, blocks, k);
    if (n % GEMV_ROWS == 0) return;
    LLVMValueRef first = ic(c, blocks * GEMV_ROWS), first_w = ic(c, blocks * GEMV_ROWS * k);
    LLVMValueRef tail[3] = {ptr_at(c, c->b, args[0], first), args[1],
                            ptr_at(c, c->b, args[2], first_w)};
    gemv_call(c, tail, n % GEMV_ROWS, k);
}

bool cg_emit_gemv(CgCtx *c, const IrValue *v, void (*gemm)(CgCtx *c, const IrValue *v)) {
    const IrValue *a = v->in[0], *w = v->in[1];
    bool ta = v->attr.i[0] != 0, tb = v->attr.i[1] != 0;
    if (ta || !tb || v->shape.rank != 2 || a->shape.rank != 2 || w->shape.rank != 2) return false;
    if (a->shape.dims[0] != IR_BATCH || w->shape.dims[0] == IR_BATCH || w->shape.dims[1] == IR_BATCH)
        return false;
    if (!cg_in_memory(c, v) || !cg_in_memory(c, a) || !cg_in_memory(c, w)) return false;
    int64_t k = a->shape.dims[1], n = w->shape.dims[0];
    if (n < 1 || k < 1) return false;
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(c->b));
    LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(c->ctx, fn, "batch1");
    LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(c->ctx, fn, "batchN");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, fn, "matmul.done");
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, c->batch, ic(c, 1), ""), one, many);
    LLVMPositionBuilderAtEnd(c->b, one);
    LLVMValueRef args[3] = {cg_ptr(c, v), cg_ptr(c, a), cg_ptr(c, w)};
    gemv_emit(c, args, n, k);
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, many);
    gemm(c, v);
    LLVMBuildBr(c->b, join);
    LLVMPositionBuilderAtEnd(c->b, join);
    return true;
}
