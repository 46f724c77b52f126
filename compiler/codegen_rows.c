/* codegen_rows.c - kernels split over the batch on the runtime's threads.
 *
 * A kernel whose every row of output depends only on the same row of its
 * inputs (element-wise ops, softmax over the last axis, im2col/col2im,
 * direct convolution, pooling, transposes that keep the batch axis first) computes rows
 * [lo, hi) when called with its pointers advanced by lo rows and a batch
 * of hi - lo. For such a call the entry stores the arguments and calls
 * aairt_run_rows with a generated part function, which advances the
 * pointers to its rows and calls the kernel; the runtime decides at run
 * time whether the batch is worth cutting (one call otherwise).
 * Every element is computed by the same code either way, so answers do not
 * change with the thread count (the runtime cuts on 16-float blocks, so a
 * vectorized loop's body and its scalar remainder, whose libm calls differ
 * in the last bits, meet the same elements in any cut). Reductions over the batch (bias gradients,
 * losses, batch statistics) are never split. */
#include "codegen_internal.h"

#include <stdio.h>

/* Whether v's op computes each output row from the same input rows. */
static bool op_is_row_local(const IrValue *v) {
    switch (v->op) {
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV:
    case IR_OP_UNARY:
    case IR_OP_UNARY_GRAD:
    case IR_OP_IM2COL:
    case IR_OP_COL2IM:
    case IR_OP_CONV2D:
    case IR_OP_POOL2D:
    case IR_OP_POOL2D_GRAD: return true;
    case IR_OP_SOFTMAX:
    case IR_OP_LOG_SOFTMAX:
    case IR_OP_SOFTMAX_GRAD: return v->shape.rank >= 2; /* the last axis is not the batch */
    case IR_OP_TRANSPOSE: return v->attr.shape.rank >= 1 && v->attr.shape.dims[0] == 0;
    default: return false;
    }
}

bool cg_rows_of(const CgCtx *c, const IrValue *v, int64_t *rows) {
    if (!op_is_row_local(v)) return false;
    /* IR_BATCH is only ever dims[0]: a batch-major shape's row is the
     * product of the other dims */
    if (!ir_shape_has_batch(v->shape)) return false;
    int n = 0;
    rows[n++] = ir_shape_row_elems(v->shape);
    /* element-wise inputs broadcast right-aligned: one of the output's rank
     * with the batch first is row-major like the output; anything else
     * (lower rank, a leading 1) is shared by every row */
    bool elementwise = v->op == IR_OP_ADD || v->op == IR_OP_SUB || v->op == IR_OP_MUL ||
                       v->op == IR_OP_DIV || v->op == IR_OP_UNARY || v->op == IR_OP_UNARY_GRAD ||
                       v->op == IR_OP_SOFTMAX_GRAD;
    for (int j = 0; j < v->n_in; j++) {
        const IrValue *in = v->in[j];
        if (!cg_in_memory(c, in)) continue; /* an immediate */
        IrShape s = in->shape;
        bool batch = ir_shape_has_batch(s);
        /* a convolution's weight and bias are shared by every row */
        bool per_row = elementwise          ? s.rank == v->shape.rank && batch
                       : v->op == IR_OP_CONV2D ? batch
                                             : true;
        if (per_row != batch) return false; /* a batch axis not aligned with the output's */
        rows[n++] = per_row ? ir_shape_row_elems(s) : 0;
    }
    return true;
}

/* The letters naming a kernel signature's parameter types (p pointer,
 * l i64, i i32, f float), for its part function's name. */
static void signature_name(LLVMTypeRef kty, char *buf, size_t cap) {
    unsigned n = LLVMCountParamTypes(kty);
    LLVMTypeRef ps[CG_MAX_KERNEL_ARGS];
    LLVMGetParamTypes(kty, ps);
    size_t at = 0;
    for (unsigned i = 0; i < n && at + 1 < cap; i++) {
        LLVMTypeKind t = LLVMGetTypeKind(ps[i]);
        buf[at++] = t == LLVMPointerTypeKind  ? 'p'
                    : t == LLVMFloatTypeKind  ? 'f'
                    : LLVMGetIntTypeWidth(ps[i]) == 64 ? 'l'
                                                        : 'i';
    }
    buf[at] = '\0';
}

/* void <prefix>.rows.<signature>(ptr ctx, i64 lo, i64 hi): ctx holds the
 * kernel, the call's arguments, then the floats per row of each pointer;
 * calls the kernel on rows [lo, hi). One per kernel signature: the kernel
 * and the rows travel in ctx, so every kernel taking the same argument
 * types shares it (fashion_resnet: 16 part functions became 4, each a
 * function LLVM no longer optimises and emits; the indirect call costs
 * nothing next to a part's rows). */
static LLVMValueRef part_function(CgCtx *c, LLVMTypeRef kty, LLVMTypeRef ctx_ty, int n,
                                  int n_ptrs) {
    char sig[CG_MAX_KERNEL_ARGS + 1], name[400];
    signature_name(kty, sig, sizeof sig);
    snprintf(name, sizeof name, "%s.rows.%s", c->prefix, sig);
    LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
    if (fn) return fn;
    LLVMTypeRef ps[3] = {c->ptr, c->i64, c->i64};
    fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->void_t, ps, 3, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_unoptimized(c, fn); /* loads, offsets and one call */
    LLVMBuilderRef b = LLVMCreateBuilderInContext(c->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
    LLVMValueRef ctx = LLVMGetParam(fn, 0), lo = LLVMGetParam(fn, 1), hi = LLVMGetParam(fn, 2);
    LLVMValueRef kernel = LLVMBuildLoad2(b, c->ptr, LLVMBuildStructGEP2(b, ctx_ty, ctx, 0, ""), "");
    LLVMValueRef args[CG_MAX_KERNEL_ARGS];
    for (int i = 0; i < n; i++) {
        LLVMTypeRef t = LLVMStructGetTypeAtIndex(ctx_ty, (unsigned)(1 + i));
        args[i] = LLVMBuildLoad2(b, t, LLVMBuildStructGEP2(b, ctx_ty, ctx, (unsigned)(1 + i), ""), "");
        if (i < n_ptrs) {
            LLVMValueRef row = LLVMBuildLoad2(
                b, c->i64, LLVMBuildStructGEP2(b, ctx_ty, ctx, (unsigned)(1 + n + i), ""), "");
            LLVMValueRef off = LLVMBuildNSWMul(b, lo, row, "");
            args[i] = LLVMBuildInBoundsGEP2(b, c->f32, args[i], &off, 1, "");
        }
    }
    args[n_ptrs] = LLVMBuildNSWSub(b, hi, lo, "");
    LLVMBuildCall2(b, kty, kernel, args, (unsigned)n, "");
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
    return fn;
}

/* The floats per row aairt_run_rows weighs a call by and cuts on: the
 * widest of its pointers' rows. A pooling's output row is a quarter of its
 * input row, so judged by its output LeNet's second max pooling (25.6k
 * outputs at batch 64, 102k floats read) never reached the cut's 16k
 * floats a part and ran on one thread. For generated kernels the widest
 * row is the output's (inputs broadcast to it), so their cuts still fall
 * on 16-float blocks of the output; the libaairt kernels the other ops
 * call compute each row the same wherever the cut falls. */
static int64_t widest_row(const int64_t *rows, int n_ptrs) {
    int64_t widest = rows[0];
    for (int i = 1; i < n_ptrs; i++)
        if (rows[i] > widest) widest = rows[i];
    return widest;
}

void cg_call_rows(CgCtx *c, LLVMTypeRef kty, LLVMValueRef kernel, LLVMValueRef *args, int n,
                  int n_ptrs, const int64_t *rows) {
    LLVMBuilderRef b = c->b;
    LLVMTypeRef ft[1 + 2 * CG_MAX_KERNEL_ARGS];
    ft[0] = c->ptr;
    for (int i = 0; i < n; i++) ft[1 + i] = LLVMTypeOf(args[i]);
    for (int i = 0; i < n_ptrs; i++) ft[1 + n + i] = c->i64;
    LLVMTypeRef ctx_ty = LLVMStructTypeInContext(c->ctx, ft, (unsigned)(1 + n + n_ptrs), 0);
    /* the context lives in the entry block's frame: allocas there are
     * static, however many split calls the entry makes */
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMValueRef ctx = cg_entry_alloca(c, LLVMGetEntryBasicBlock(fn), ctx_ty, "rows.ctx");
    LLVMBuildStore(b, kernel, LLVMBuildStructGEP2(b, ctx_ty, ctx, 0, ""));
    for (int i = 0; i < n; i++)
        LLVMBuildStore(b, args[i], LLVMBuildStructGEP2(b, ctx_ty, ctx, (unsigned)(1 + i), ""));
    for (int i = 0; i < n_ptrs; i++)
        LLVMBuildStore(b, LLVMConstInt(c->i64, (unsigned long long)rows[i], 0),
                       LLVMBuildStructGEP2(b, ctx_ty, ctx, (unsigned)(1 + n + i), ""));
    LLVMTypeRef run_ps[4] = {c->ptr, c->ptr, c->i64, c->i64};
    LLVMTypeRef run_ty = LLVMFunctionType(c->void_t, run_ps, 4, 0);
    LLVMValueRef run = LLVMGetNamedFunction(c->mod, "aairt_run_rows");
    if (!run) run = LLVMAddFunction(c->mod, "aairt_run_rows", run_ty);
    LLVMValueRef run_args[4] = {part_function(c, kty, ctx_ty, n, n_ptrs), ctx, args[n_ptrs],
                                LLVMConstInt(c->i64, (unsigned long long)widest_row(rows, n_ptrs), 0)};
    LLVMBuildCall2(b, run_ty, run, run_args, 4, "");
}
