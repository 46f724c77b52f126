/* codegen_internal.h - state shared by codegen_llvm.c (module, entries,
 * descriptor) and codegen_ops.c (one kernel per IR op). Not a public
 * header: only the two codegen files include it. */
#ifndef AAI_CODEGEN_INTERNAL_H
#define AAI_CODEGEN_INTERNAL_H

#include "codegen_llvm.h"

typedef struct CgCtx {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;      /* positioned in the entry function */
    LLVMTypeRef f32, f64, i1, i32, i64, ptr, void_t;
    const IrModule *m;
    const IrFunc *f;       /* the function being emitted */
    const char *prefix;
    LLVMValueRef batch;    /* i64, loaded from args */
    LLVMValueRef *ptrs;    /* by value id: where the value lives (NULL: immediate) */
    LLVMValueRef opt, params, grads;
} CgCtx;

/* Emits value v of c->f: a call to a generated kernel (or to cblas_sgemm)
 * at the entry builder's position. c->ptrs holds the storage of v and its
 * inputs. */
void cg_emit_value(CgCtx *c, const IrValue *v);

/* For a matrix product v whose rows are the batch: emits a branch to a
 * generated matrix-vector kernel when the call's batch is 1, and `gemm`
 * (the cblas_sgemm call) otherwise (codegen_gemv.c). Returns false, having
 * emitted nothing, when v is not such a product. */
bool cg_emit_gemv(CgCtx *c, const IrValue *v, void (*gemm)(CgCtx *c, const IrValue *v));
/* codegen_layers.c: the kernels of the layer ops and of batched MATMUL
 * (ir_ops.def), called by cg_emit_value. */
void cg_emit_layer(CgCtx *c, const IrValue *v);

/* Declares the internal kernel `name(ps[0..n))` — the first n_ptrs
 * parameters are pointers marked noalias, the rest scalars — calls it from
 * the entry being built with `args`, and opens its entry block:
 * *builder (the caller disposes it) is positioned there. */
LLVMValueRef cg_kernel_new(CgCtx *c, const char *name, LLVMTypeRef *ps,
                           LLVMValueRef *args, int n, int n_ptrs,
                           LLVMBuilderRef *builder, LLVMBasicBlockRef *entry);

/* A counted loop `for (i = 0; i < n; i++)` built in the current function;
 * shared by the op kernels (codegen_ops.c) and the layer kernels
 * (codegen_layers.c). */
typedef struct CgLoop {
    LLVMBasicBlockRef pre, head, exit;
    LLVMValueRef i;
} CgLoop;

/* Opens the loop; returns i with the builder inside the body. */
LLVMValueRef cg_loop_begin(LLVMBuilderRef b, LLVMValueRef fn, LLVMTypeRef i64,
                           CgLoop *l, LLVMValueRef n);
/* Closes the body (i += 1) and leaves the builder after the loop. */
void cg_loop_end(LLVMBuilderRef b, LLVMTypeRef i64, CgLoop *l);

#endif
