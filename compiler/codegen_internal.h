/* codegen_internal.h - state shared by codegen_llvm.c (module, entries,
 * descriptor, shared kernels) and the kernel builders codegen_ops.c,
 * codegen_layers.c and codegen_linear.c. Not a public header: only the
 * codegen files include it. */
#ifndef AAI_CODEGEN_INTERNAL_H
#define AAI_CODEGEN_INTERNAL_H

#include <stdint.h>

#include "codegen_llvm.h"

/* A generated kernel, shared by every call site whose key matches. */
typedef struct CgKernel {
    uint64_t hash;
    char *key;
    LLVMValueRef fn;
} CgKernel;

/* Where a value lives: base + offset floats, the offset times the batch
 * for per-row storage; base NULL for an immediate. */
typedef struct CgAddr {
    LLVMValueRef base;
    int64_t offset;
    bool per_row;
} CgAddr;

typedef struct CgCtx {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;      /* positioned in the entry function */
    LLVMTypeRef f32, f64, i1, i32, i64, ptr, void_t;
    const IrModule *m;
    const IrFunc *f;       /* the function being emitted */
    const char *prefix;
    LLVMValueRef batch;    /* i64, loaded from args */
    CgAddr *addrs;         /* by value id: where the value lives (cg_ptr) */
    LLVMValueRef opt, params, grads;
    CgKernel *kernels;     /* every kernel built so far, in build order */
    size_t n_kernels, cap_kernels;
    unsigned vecmath_isas; /* codegen_vecmath.c: the libmvec variants allowed */
} CgCtx;

/* Whether value v of c->f lives in memory (it is not an immediate). */
bool cg_in_memory(const CgCtx *c, const IrValue *v);
/* Its address, computed at the entry builder's position: every use gets
 * its own, so no address stays live across the entry's kernel calls (the
 * optimizer merges them again where it runs). */
LLVMValueRef cg_ptr(CgCtx *c, const IrValue *v);

/* Emits value v of c->f: a call to a generated kernel (or to cblas_sgemm)
 * at the entry builder's position. */
void cg_emit_value(CgCtx *c, const IrValue *v);

/* out = op(a) @ op(b), op a transpose where ta / tb: a cblas_sgemm call
 * (aairt_sgemm) at the entry builder's position (codegen_ops.c). */
/* out = op(a) op(b) through aairt_sgemm, or out += it (beta = 1) when
 * `accumulate`. */
void cg_sgemm(CgCtx *c, const IrValue *a, const IrValue *b, bool ta, bool tb, const IrValue *out,
              bool accumulate);
/* x copied into v's buffer, in the entry, unless the memory plan gave them
 * one: for ops that update their first input in place
 * (ir_op_updates_first_input), before their kernel. */
void cg_copy_unless_shared(CgCtx *c, const IrValue *v, const IrValue *x);
/* For a MATMUL v = a @ w^T whose rows are the batch: emits a branch to a
 * generated matrix-vector kernel when the call's batch is 1, and cg_sgemm
 * otherwise (codegen_linear.c). Returns false, having emitted nothing,
 * when v is not such a product. */
bool cg_emit_gemv(CgCtx *c, const IrValue *v);
/* A LINEAR value: the same two paths, each adding the bias and applying
 * the folded activation as the op asks (codegen_linear.c). */
void cg_emit_linear(CgCtx *c, const IrValue *v);
/* fn(x), the expression of the UNARY kernel (flags included, so the same
 * bits), built at b's position: for kernels that apply an activation as
 * they store (codegen_ops.c). */
LLVMValueRef cg_unary_value(CgCtx *c, LLVMBuilderRef b, IrUnaryFn fn, double alpha,
                            LLVMValueRef x);
/* codegen_layers.c: the kernels of the layer ops and of batched MATMUL
 * (ir_ops.def), called by cg_emit_value. */
void cg_emit_layer(CgCtx *c, const IrValue *v);

/* codegen_vecmath.c: which libmvec variants generated code may call,
 * from the target machine (none when tm is NULL or not x86-64 glibc). */
void cg_vecmath_init(CgCtx *c, LLVMTargetMachineRef tm);
/* The libm function to call for `name` (an llvm.exp/log/pow.f32
 * intrinsic becomes expf/logf/powf, which have variants), or name. */
const char *cg_vecmath_scalar_name(const CgCtx *c, const char *name);
/* Lists the vector variants of libm function `name` on `call`, so the
 * loop vectorizer can widen it; nothing for other functions. */
void cg_vecmath_annotate(CgCtx *c, LLVMValueRef call, const char *name);

/* Kernel keys: everything a kernel's body and parameter list depend on,
 * as text. Values with equal keys share one kernel, across entries too. */
enum { CG_KEY_MAX = 4096 };
typedef struct CgKey {
    char s[CG_KEY_MAX];
    size_t n;
    bool truncated; /* did not fit: never shared */
} CgKey;

/* Appends printf-style text to the key (cg_key_value starts one). */
void cg_key_add(CgKey *k, const char *fmt, ...);
/* The key of the kernel `builder` ("op", "layer") makes for value v: its
 * op, attributes and shape, and for each input its shape and whether it
 * is read from memory or folded in as an immediate (and its value).
 * shapes = false leaves every shape out (the attribute shape too), for
 * kernels that take their element count or extents as arguments. */
void cg_key_value(CgKey *k, const CgCtx *c, const IrValue *v, const char *builder, bool shapes);

/* A kernel being defined: its function, entry block, and a builder there
 * (cg_kernel_done disposes it). */
typedef struct CgKernelDef {
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;
    LLVMBuilderRef b;
} CgKernelDef;

/* Calls the kernel with `key` from the entry being built, with `args`
 * (ps[0..n) their types; the first n_ptrs are pointers that never alias
 * each other). Returns true when that kernel did not exist yet: then it is
 * declared, internal, noalias and noinline, named `<prefix>.<op>.<hash of
 * key>`, and *def is positioned in its empty entry block for the caller to
 * fill and close with cg_kernel_done. Kernels stay out of line so the
 * optimizer and the code generator see each one once, however many calls
 * (and entries) share it. With `rows` (cg_rows_of), the call may run split
 * over the batch (cg_call_rows); NULL: a plain call. */
enum { CG_MAX_KERNEL_ARGS = 64 }; /* n, at most */
bool cg_kernel_call(CgCtx *c, const CgKey *key, const char *op, LLVMTypeRef *ps,
                    LLVMValueRef *args, int n, int n_ptrs, const int64_t *rows,
                    CgKernelDef *def);
/* Ends the kernel's body with `ret void` and disposes its builder. */
void cg_kernel_done(CgKernelDef *def);
/* Adds the enum attribute `name` (value 0: for `memory`, none) to fn. */
void cg_add_fn_attr(CgCtx *c, LLVMValueRef fn, const char *name);
/* Marks a function whose body only passes arguments on (an entry, a part
 * function, a kernel that only calls libaairt) noinline and optnone: it
 * skips the optimiser and goes to the -O0 code generator
 * (codegen_parallel.c), where it costs a fraction of an optimised
 * function's compile time and runs as fast. */
void cg_unoptimized(CgCtx *c, LLVMValueRef fn);

/* An alloca at the top of the function's entry block `entry`: static
 * stack space however often the code using it runs (promoted to a register
 * where it can be). */
LLVMValueRef cg_entry_alloca(CgCtx *c, LLVMBasicBlockRef entry, LLVMTypeRef t, const char *name);

/* codegen_rows.c. Whether v's kernel may run split over the batch: then
 * rows[i] is the floats per batch row of its i-th pointer argument (out,
 * then the inputs in memory), 0 for one every row shares. */
bool cg_rows_of(const CgCtx *c, const IrValue *v, int64_t *rows);
/* Emits the call kernel(args) (n of them, the batch right after the n_ptrs
 * pointers) so that at run time, with enough rows and threads, it runs in
 * parts on the runtime's threads (aairt_run_rows). */
void cg_call_rows(CgCtx *c, LLVMTypeRef kty, LLVMValueRef kernel, LLVMValueRef *args, int n,
                  int n_ptrs, const int64_t *rows);

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
