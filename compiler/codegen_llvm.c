/* codegen_llvm.c - the LLVM module: entry points, descriptor, output.
 *
 * For each IrFunc, one external function `void <prefix>_<entry>(ptr args)`
 * loads the AairtStepArgs fields, computes where every live value lives
 * (from the memory plan), and emits the values in schedule order
 * (codegen_ops.c: a call to an internal kernel function per op, with
 * noalias pointers). Kernels are keyed by what their code depends on and
 * shared by every call with the same key, in all entries, and kept out of
 * line: the optimizer and the code generator then work on each distinct
 * kernel once, and an entry stays a short list of calls, whose cost is
 * nothing next to the kernels' loops. A train entry ends by calling
 * aairt_optimizer_step. The module also defines the AairtModel descriptor.
 * Output is deterministic: fixed module identifier, no paths or times. */
#include "codegen_llvm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "aairt.h"
#include "codegen_internal.h"
#include "codegen_parallel.h"

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* CgOptions.opt_level to 0..3. */
static int level_of(int opt_level) {
    return opt_level == 0 ? 3 : opt_level < 0 ? 0 : opt_level > 3 ? 3 : opt_level;
}

static void set_err(char **err, const char *what, const char *detail) {
    if (!err) return;
    size_t n = strlen(what) + (detail ? strlen(detail) : 0) + 3;
    *err = malloc(n);
    if (*err) snprintf(*err, n, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

LLVMTargetMachineRef cg_target_machine_new(const CgOptions *o, char **err) {
    cg_init_targets();
    char *host = NULL, *cpu = NULL, *feat = NULL;
    const char *triple = o && o->triple ? o->triple : NULL;
    if (!triple) {
        host = LLVMGetDefaultTargetTriple();
        triple = host;
    }
    bool is_host = !(o && o->triple);
    if (o && o->cpu) cpu = dup_str(o->cpu);
    else if (is_host) {
        char *h = LLVMGetHostCPUName();
        cpu = dup_str(h);
        LLVMDisposeMessage(h);
    } else cpu = dup_str("generic");
    if (o && o->features) feat = dup_str(o->features);
    else if (is_host && !(o && o->cpu)) {
        char *h = LLVMGetHostCPUFeatures();
        feat = dup_str(h);
        LLVMDisposeMessage(h);
    } else feat = dup_str("");
    LLVMTargetRef target = NULL;
    char *msg = NULL;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        set_err(err, "unknown target triple", msg);
        LLVMDisposeMessage(msg);
    } else {
        int lvl = level_of(o ? o->opt_level : 0);
        LLVMCodeGenOptLevel cl = lvl <= 0 ? LLVMCodeGenLevelNone
                               : lvl == 1 ? LLVMCodeGenLevelLess
                               : lvl == 2 ? LLVMCodeGenLevelDefault
                                          : LLVMCodeGenLevelAggressive;
        tm = LLVMCreateTargetMachine(target, triple, cpu, feat, cl, LLVMRelocPIC,
                                     LLVMCodeModelDefault);
        if (!tm) set_err(err, "cannot create a target machine for", triple);
    }
    if (host) LLVMDisposeMessage(host);
    free(cpu);
    free(feat);
    return tm;
}

/* ---- entry functions --------------------------------------------------- */

enum { ARG_PARAMS, ARG_GRADS, ARG_ARENA, ARG_X, ARG_Y, ARG_OUT, ARG_LOSS, ARG_OPT, ARG_BATCH, ARG_COUNT };

static LLVMTypeRef args_type(CgCtx *c) {
    LLVMTypeRef t = LLVMGetTypeByName2(c->ctx, "AairtStepArgs");
    if (t) return t;
    LLVMTypeRef fields[ARG_COUNT];
    for (int i = 0; i < ARG_BATCH; i++) fields[i] = c->ptr;
    fields[ARG_BATCH] = c->i64;
    t = LLVMStructCreateNamed(c->ctx, "AairtStepArgs");
    LLVMStructSetBody(t, fields, ARG_COUNT, 0);
    return t;
}

static LLVMValueRef load_arg(CgCtx *c, LLVMValueRef args, int field, const char *name) {
    LLVMTypeRef at = args_type(c);
    LLVMValueRef p = LLVMBuildStructGEP2(c->b, at, args, (unsigned)field, "");
    LLVMValueRef v = LLVMBuildLoad2(c->b, field == ARG_BATCH ? c->i64 : c->ptr, p, name);
    return v;
}

static LLVMValueRef gep_f32(CgCtx *c, LLVMValueRef base, LLVMValueRef idx) {
    return LLVMBuildInBoundsGEP2(c->b, c->f32, base, &idx, 1, "");
}

static LLVMValueRef i64c(CgCtx *c, int64_t v) {
    return LLVMConstInt(c->i64, (unsigned long long)v, 1);
}

void cg_add_fn_attr(CgCtx *c, LLVMValueRef fn, const char *name) {
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(c->ctx, kind, 0));
}

/* ---- shared kernels ------------------------------------------------------ */

void cg_key_add(CgKey *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(k->s + k->n, sizeof k->s - k->n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof k->s - k->n) {
        k->truncated = true; /* such a kernel is built but never shared */
        k->n = strlen(k->s);
        return;
    }
    k->n += (size_t)w;
}

static void key_shape(CgKey *k, IrShape s) {
    cg_key_add(k, "[");
    for (int i = 0; i < s.rank; i++)
        cg_key_add(k, i ? ",%lld" : "%lld", (long long)s.dims[i]);
    cg_key_add(k, "]");
}

/* Floats as exact hex (%a), so distinct attributes never print alike. */
void cg_key_value(CgKey *k, const CgCtx *c, const IrValue *v, const char *builder, bool shapes) {
    k->n = 0;
    k->s[0] = '\0';
    k->truncated = false;
    cg_key_add(k, "%s %s fn%d dt%d out", builder, ir_op_name(v->op), (int)v->attr.fn, (int)v->dtype);
    if (shapes) key_shape(k, v->shape);
    for (int j = 0; j < v->n_in; j++) {
        const IrValue *in = v->in[j];
        if (cg_in_memory(c, in)) cg_key_add(k, " in");
        else cg_key_add(k, " imm%a", in->attr.f[0]);
        if (shapes) key_shape(k, in->shape);
    }
    const IrAttrs *a = &v->attr;
    cg_key_add(k, " i%lld,%lld,%lld,%lld f%a,%a,%a,%a", (long long)a->i[0], (long long)a->i[1],
               (long long)a->i[2], (long long)a->i[3], a->f[0], a->f[1], a->f[2], a->f[3]);
    if (shapes) {
        cg_key_add(k, " shape");
        key_shape(k, a->shape);
    }
    /* the parameter itself lives in memory (an argument); only its size shapes code */
    if (a->param) cg_key_add(k, " param%lld", (long long)a->param->size);
}

/* FNV-1a: a stable hash, so kernel names do not depend on the run. */
static uint64_t key_hash(const CgKey *k) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < k->n; i++) h = (h ^ (unsigned char)k->s[i]) * 0x100000001b3ULL;
    return h;
}

static LLVMValueRef kernel_find(const CgCtx *c, const CgKey *key, uint64_t h) {
    for (size_t i = 0; i < c->n_kernels; i++)
        if (c->kernels[i].hash == h && strcmp(c->kernels[i].key, key->s) == 0) return c->kernels[i].fn;
    return NULL;
}

static void kernel_remember(CgCtx *c, const CgKey *key, uint64_t h, LLVMValueRef fn) {
    if (c->n_kernels == c->cap_kernels) {
        size_t cap = c->cap_kernels ? 2 * c->cap_kernels : 64;
        CgKernel *grown = realloc(c->kernels, cap * sizeof *grown);
        if (!grown) return; /* out of memory: the kernel is just not shared */
        c->kernels = grown;
        c->cap_kernels = cap;
    }
    char *copy = dup_str(key->s);
    if (!copy) return;
    c->kernels[c->n_kernels++] = (CgKernel){h, copy, fn};
}

static void kernels_free(CgCtx *c) {
    for (size_t i = 0; i < c->n_kernels; i++) free(c->kernels[i].key);
    free(c->kernels);
    c->kernels = NULL;
    c->n_kernels = c->cap_kernels = 0;
}

static LLVMValueRef kernel_declare(CgCtx *c, const char *name, LLVMTypeRef fty, int n_ptrs) {
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, fty);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_add_fn_attr(c, fn, "nounwind");
    cg_add_fn_attr(c, fn, "noinline");
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (int i = 0; i < n_ptrs; i++)
        LLVMAddAttributeAtIndex(fn, (unsigned)i + 1, LLVMCreateEnumAttribute(c->ctx, noalias, 0));
    return fn;
}

void cg_unoptimized(CgCtx *c, LLVMValueRef fn) {
    cg_add_fn_attr(c, fn, "noinline"); /* optnone requires it */
    cg_add_fn_attr(c, fn, "optnone");
}

bool cg_kernel_call(CgCtx *c, const CgKey *key, const char *op, LLVMTypeRef *ps,
                    LLVMValueRef *args, int n, int n_ptrs, const int64_t *rows,
                    CgKernelDef *def) {
    LLVMTypeRef fty = LLVMFunctionType(c->void_t, ps, (unsigned)n, 0);
    uint64_t h = key_hash(key);
    LLVMValueRef fn = key->truncated ? NULL : kernel_find(c, key, h);
    bool fresh = fn == NULL;
    if (fresh) {
        char name[256];
        snprintf(name, sizeof name, "%s.%s.%016llx", c->prefix, op, (unsigned long long)h);
        fn = kernel_declare(c, name, fty, n_ptrs);
        if (!key->truncated) kernel_remember(c, key, h, fn);
        def->fn = fn;
        def->b = LLVMCreateBuilderInContext(c->ctx);
        def->entry = LLVMAppendBasicBlockInContext(c->ctx, fn, "entry");
        LLVMPositionBuilderAtEnd(def->b, def->entry);
    }
    if (rows) cg_call_rows(c, fty, fn, args, n, n_ptrs, rows);
    else LLVMBuildCall2(c->b, fty, fn, args, (unsigned)n, "");
    return fresh;
}

LLVMValueRef cg_entry_alloca(CgCtx *c, LLVMBasicBlockRef entry, LLVMTypeRef t, const char *name) {
    LLVMBuilderRef tb = LLVMCreateBuilderInContext(c->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first) LLVMPositionBuilderBefore(tb, first);
    else LLVMPositionBuilderAtEnd(tb, entry);
    LLVMValueRef a = LLVMBuildAlloca(tb, t, name);
    LLVMDisposeBuilder(tb);
    return a;
}

void cg_kernel_done(CgKernelDef *def) {
    LLVMBuildRetVoid(def->b);
    LLVMDisposeBuilder(def->b);
    def->b = NULL;
}

/* ---- entries -------------------------------------------------------------- */

static LLVMValueRef build_entry(CgCtx *c, const IrFunc *f) {
    char name[256];
    snprintf(name, sizeof name, "%s_%s", c->prefix, f->name);
    LLVMTypeRef fty = LLVMFunctionType(c->void_t, &c->ptr, 1, 0);
    LLVMValueRef fn = LLVMAddFunction(c->mod, name, fty);
    cg_add_fn_attr(c, fn, "nounwind");
    /* Entries are tens to hundreds of kernel calls (an unrolled LSTM's
     * training step: 325) with every buffer's address live across them:
     * optimizing and register-allocating them was the costliest part of a
     * model's compile (the training step alone 100-150 ms), for code whose
     * own work is passing pointers. They are emitted as written (fast
     * instruction selection, no optimization); batch-1 latency, where an
     * entry's overhead would show, measured the same either way (MLP
     * 18.3-18.9 us, CNN 58.2-58.5 us, bench/infer_harness.c). */
    cg_unoptimized(c, fn);
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(c->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(c->b, bb);
    LLVMValueRef args = LLVMGetParam(fn, 0);
    LLVMSetValueName2(args, "args", 4);
    c->f = f;
    c->params = load_arg(c, args, ARG_PARAMS, "params");
    c->grads = load_arg(c, args, ARG_GRADS, "grads");
    LLVMValueRef arena = load_arg(c, args, ARG_ARENA, "arena");
    LLVMValueRef slots[IR_SLOT_COUNT] = {
        [IR_SLOT_X] = load_arg(c, args, ARG_X, "x"),
        [IR_SLOT_Y] = load_arg(c, args, ARG_Y, "y"),
        [IR_SLOT_OUT] = load_arg(c, args, ARG_OUT, "out"),
        [IR_SLOT_LOSS] = load_arg(c, args, ARG_LOSS, "loss"),
    };
    c->opt = load_arg(c, args, ARG_OPT, "opt");
    c->batch = load_arg(c, args, ARG_BATCH, "batch");
    LLVMValueRef rows = gep_f32(c, arena, i64c(c, f->arena_static_floats));

    c->addrs = calloc((size_t)f->next_id + 1, sizeof *c->addrs);
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        if (v->dead) continue;
        const IrStorage *s = &v->store;
        CgAddr a = {0};
        switch (s->kind) {
        case IR_STORE_PARAM: a = (CgAddr){c->params, s->offset, false}; break;
        case IR_STORE_GRAD: a = (CgAddr){c->grads, s->offset, false}; break;
        case IR_STORE_SLOT: a = (CgAddr){slots[s->slot], s->offset, false}; break;
        case IR_STORE_ARENA:
            if (ir_shape_has_batch(v->shape)) a = (CgAddr){rows, s->row_offset, true};
            else a = (CgAddr){arena, s->offset, false};
            break;
        case IR_STORE_VIEW: a = c->addrs[ir_value_root(s->view_of)->id]; break;
        case IR_STORE_IMMEDIATE:
        case IR_STORE_UNPLANNED: break;
        }
        c->addrs[v->id] = a;
    }
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        if (!v->dead) cg_emit_value(c, v);
    }
    if (f->optimizer_step) {
        LLVMTypeRef ps[4] = {c->ptr, c->ptr, c->ptr, c->i64};
        LLVMTypeRef oty = LLVMFunctionType(c->void_t, ps, 4, 0);
        LLVMValueRef ofn = LLVMGetNamedFunction(c->mod, "aairt_optimizer_step");
        if (!ofn) ofn = LLVMAddFunction(c->mod, "aairt_optimizer_step", oty);
        /* buffers (after n_trainable_floats) are not the optimizer's */
        LLVMValueRef a[4] = {c->opt, c->params, c->grads, i64c(c, c->m->n_trainable_floats)};
        LLVMBuildCall2(c->b, oty, ofn, a, 4, "");
    }
    LLVMBuildRetVoid(c->b);
    free(c->addrs);
    c->addrs = NULL;
    return fn;
}

bool cg_in_memory(const CgCtx *c, const IrValue *v) { return c->addrs[v->id].base != NULL; }

LLVMValueRef cg_ptr(CgCtx *c, const IrValue *v) {
    const CgAddr *a = &c->addrs[v->id];
    LLVMValueRef off = i64c(c, a->offset);
    return gep_f32(c, a->base, a->per_row ? LLVMBuildMul(c->b, off, c->batch, "") : off);
}

void cg_copy_unless_shared(CgCtx *c, const IrValue *v, const IrValue *x) {
    const CgAddr *a = &c->addrs[v->id], *b = &c->addrs[x->id];
    if (a->base == b->base && a->offset == b->offset && a->per_row == b->per_row) return;
    int64_t row = ir_shape_row_elems(v->shape) * (int64_t)sizeof(float);
    LLVMValueRef bytes = i64c(c, row);
    if (ir_shape_has_batch(v->shape)) bytes = LLVMBuildMul(c->b, bytes, c->batch, "");
    LLVMBuildMemCpy(c->b, cg_ptr(c, v), 4, cg_ptr(c, x), 4, bytes);
}

/* ---- the descriptor ---------------------------------------------------- */

static void build_descriptor(CgCtx *c, LLVMValueRef entries[IR_ENTRY_COUNT], const char *json) {
    LLVMTypeRef fields[8] = {c->i32, c->ptr, c->i64, c->i64, c->i64, c->ptr, c->ptr, c->ptr};
    LLVMTypeRef mt = LLVMStructCreateNamed(c->ctx, "AairtModel");
    LLVMStructSetBody(mt, fields, 8, 0);
    size_t jn = strlen(json);
    LLVMValueRef str = LLVMConstStringInContext2(c->ctx, json, jn, 0);
    char gname[256];
    snprintf(gname, sizeof gname, "%s_manifest_json", c->prefix);
    LLVMValueRef sg = LLVMAddGlobal(c->mod, LLVMTypeOf(str), gname);
    LLVMSetInitializer(sg, str);
    LLVMSetGlobalConstant(sg, 1);
    LLVMSetLinkage(sg, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(sg, LLVMGlobalUnnamedAddr);
    int64_t stat = 0, row = 0;
    for (int k = 0; k < IR_ENTRY_COUNT; k++) {
        const IrFunc *f = c->m->funcs[k];
        if (!f) continue;
        if (f->arena_static_floats > stat) stat = f->arena_static_floats;
        if (f->arena_row_floats > row) row = f->arena_row_floats;
    }
    LLVMValueRef null = LLVMConstPointerNull(c->ptr);
    LLVMValueRef vals[8] = {
        LLVMConstInt(c->i32, AAIRT_ABI_VERSION, 0),
        sg,
        i64c(c, c->m->n_param_floats),
        i64c(c, stat),
        i64c(c, row),
        entries[IR_ENTRY_PREDICT] ? entries[IR_ENTRY_PREDICT] : null,
        entries[IR_ENTRY_TRAIN] ? entries[IR_ENTRY_TRAIN] : null,
        entries[IR_ENTRY_EVAL] ? entries[IR_ENTRY_EVAL] : null,
    };
    snprintf(gname, sizeof gname, "%s_model", c->prefix);
    LLVMValueRef g = LLVMAddGlobal(c->mod, mt, gname);
    LLVMSetInitializer(g, LLVMConstNamedStruct(mt, vals, 8));
    LLVMSetGlobalConstant(g, 1);
}

LLVMModuleRef cg_module_build(LLVMContextRef ctx, const IrModule *m, const CgOptions *o,
                              LLVMTargetMachineRef tm, char **err) {
    CgCtx c = {0};
    c.ctx = ctx;
    c.m = m;
    c.prefix = o && o->prefix ? o->prefix : "aai";
    c.mod = LLVMModuleCreateWithNameInContext("aai", ctx);
    LLVMSetSourceFileName(c.mod, "aai", 3);
    if (tm) {
        char *triple = LLVMGetTargetMachineTriple(tm);
        LLVMSetTarget(c.mod, triple);
        LLVMDisposeMessage(triple);
        LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
        LLVMSetModuleDataLayout(c.mod, td);
        LLVMDisposeTargetData(td);
    }
    cg_vecmath_init(&c, tm);
    c.b = LLVMCreateBuilderInContext(ctx);
    c.f32 = LLVMFloatTypeInContext(ctx);
    c.f64 = LLVMDoubleTypeInContext(ctx);
    c.i1 = LLVMInt1TypeInContext(ctx);
    c.i32 = LLVMInt32TypeInContext(ctx);
    c.i64 = LLVMInt64TypeInContext(ctx);
    c.ptr = LLVMPointerTypeInContext(ctx, 0);
    c.void_t = LLVMVoidTypeInContext(ctx);
    LLVMValueRef entries[IR_ENTRY_COUNT] = {0};
    for (int k = 0; k < IR_ENTRY_COUNT; k++)
        if (m->funcs[k]) entries[k] = build_entry(&c, m->funcs[k]);
    build_descriptor(&c, entries, o && o->manifest_json ? o->manifest_json : "{}");
    kernels_free(&c);
    LLVMDisposeBuilder(c.b);
    char *msg = NULL;
    if (LLVMVerifyModule(c.mod, LLVMReturnStatusAction, &msg)) {
        set_err(err, "internal error: generated LLVM module is invalid", msg);
        LLVMDisposeMessage(msg);
        LLVMDisposeModule(c.mod);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    return c.mod;
}

/* The pipeline for -O2 and -O3: what the generated code needs, in the
 * order LLVM's default<O3> runs it, and nothing else. Every function is a
 * kernel of counted loops or an entry that calls kernels; there is nothing
 * to inline, no C++ idioms, no exceptions, no cold paths, so the inliner,
 * the second simplification round, loop unswitching, jump threading and
 * the module passes of default<O3> only cost time (they were 40 % of
 * LLVM's optimisation time on the examples, and the code and its speed
 * came out the same: same bits, same epoch times, same batch-1 latency,
 * bench/run). Loops are rotated and canonicalized for the vectorizer,
 * then the loop vectorizer runs without interleaving. Three instcombine
 * rounds of five, the SLP vectorizer, GVN, DSE and a second early-cse went
 * too: the kernels' vector code stayed the same (per-function vector
 * instruction counts equal on fashion_resnet, within one on the others),
 * as did the trained weights bit for bit and the epoch times, and LLVM's
 * optimisation time fell by a third (fashion_resnet 109 -> 68 ms CPU). */
static const char kernel_pipeline[] =
    "function("
    /* promote, simplify */
    "sroa<modify-cfg>,early-cse<>,instcombine<max-iterations=1;no-verify-fixpoint>,"
    /* hoist invariants (and running sums into registers), rotate loops
     * into do-while form */
    "loop-mssa(licm<allowspeculation>,loop-rotate<header-duplication>,licm<allowspeculation>),"
    "simplifycfg<keep-loops>,"
    /* vectorize, clean up (no indvars before it: the vectorizer finds the
     * kernels' counted loops without it, with the same vector code on every
     * example and the same trained bits, and it was 5 % of aaic's
     * instructions on fashion_resnet, valgrind --tool=lackey) */
    "loop-vectorize<interleave-forced-only;no-vectorize-forced-only>,"
    "instcombine<max-iterations=1;no-verify-fixpoint>,simplifycfg<no-keep-loops>)";

bool cg_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level, char **err) {
    opt_level = level_of(opt_level);
    const char *pipeline = opt_level >= 2   ? kernel_pipeline
                           : opt_level == 1 ? "default<O1>"
                                            : "default<O0>";
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, opt_level >= 2);
    LLVMPassBuilderOptionsSetSLPVectorization(po, opt_level >= 2);
    /* The kernels are memory-bound loops: vectorized, they run as fast
     * without interleaving or unrolling (measured on the examples' training
     * and inference), while those multiplied the code and the time spent
     * optimizing and emitting it several times over. */
    LLVMPassBuilderOptionsSetLoopInterleaving(po, false);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, false);
    LLVMErrorRef e = LLVMRunPasses(mod, pipeline, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) {
        char *msg = LLVMGetErrorMessage(e);
        set_err(err, "LLVM optimization failed", msg);
        LLVMDisposeErrorMessage(msg);
        return false;
    }
    return true;
}

bool cg_emit(LLVMModuleRef mod, LLVMTargetMachineRef tm, CgOutputKind kind, const char *path,
             char **err) {
    char *msg = NULL;
    bool to_stdout = strcmp(path, "-") == 0;
    if (kind == CG_OUT_LLVM_IR) {
        if (to_stdout) {
            char *s = LLVMPrintModuleToString(mod);
            fputs(s, stdout);
            LLVMDisposeMessage(s);
            return true;
        }
        if (LLVMPrintModuleToFile(mod, path, &msg)) {
            set_err(err, path, msg);
            LLVMDisposeMessage(msg);
            return false;
        }
        return true;
    }
    LLVMCodeGenFileType ft = kind == CG_OUT_ASM ? LLVMAssemblyFile : LLVMObjectFile;
    if (to_stdout) {
        LLVMMemoryBufferRef buf = NULL;
        if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, ft, &msg, &buf)) {
            set_err(err, "code generation failed", msg);
            LLVMDisposeMessage(msg);
            return false;
        }
        fwrite(LLVMGetBufferStart(buf), 1, LLVMGetBufferSize(buf), stdout);
        LLVMDisposeMemoryBuffer(buf);
        return true;
    }
    char *p = dup_str(path);
    LLVMBool bad = LLVMTargetMachineEmitToFile(tm, mod, p, ft, &msg);
    free(p);
    if (bad) {
        set_err(err, path, msg);
        LLVMDisposeMessage(msg);
        return false;
    }
    return true;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --time-passes: "aaic:   llvm-<stage>  N ms" since *t0, then restarts. */
static void lap(FILE *f, double *t0, const char *stage) {
    if (!f) return;
    double t = now_ms();
    fprintf(f, "aaic:   llvm-%-8s %7.2f ms\n", stage, t - *t0);
    *t0 = t;
}

/* Parallel code generation combines its objects with the host's `ld -r`
 * (or hands them to the link as they are): host objects in files only. */
static bool can_split(const CgOptions *o, CgOutputKind kind, const char *path) {
    return kind == CG_OUT_OBJ && !(o && o->triple) && strcmp(path, "-") != 0;
}

/* The objects of a parallel compile, `path`.part<i>.o, left for the link
 * when `keep` is non-NULL, combined into `path` otherwise. */
static bool compile_parts(LLVMModuleRef mod, const CgOptions *o, int n_parts, const char *path,
                          CgObjects *keep, char **err) {
    if (!keep) return cg_parallel_compile(mod, o, n_parts, path, err);
    const char *paths[CG_MAX_OBJECTS];
    int n_objects = n_parts * CG_OBJECTS_PER_PART;
    for (int i = 0; i < n_objects; i++) {
        int w = snprintf(keep->path[i], sizeof keep->path[i], "%s.part%d.o", path, i);
        if (w < 0 || (size_t)w >= sizeof keep->path[i]) {
            set_err(err, "output path too long", path);
            return false;
        }
        paths[i] = keep->path[i];
    }
    keep->n = n_objects;
    bool ok = cg_parallel_emit(mod, o, n_parts, paths, err);
    if (!ok) cg_objects_remove(keep);
    return ok;
}

/* cg_compile and cg_compile_objects: `keep` as in compile_parts. */
static bool compile(const IrModule *m, const CgOptions *o, CgOutputKind kind, const char *path,
                    CgObjects *keep, char **err) {
    FILE *tf = o ? o->timing : NULL;
    double t0 = now_ms();
    LLVMTargetMachineRef tm = cg_target_machine_new(o, err);
    if (!tm) return false;
    lap(tf, &t0, "target");
    LLVMContextRef ctx = LLVMContextCreate();
    bool ok = false;
    LLVMModuleRef mod = cg_module_build(ctx, m, o, tm, err);
    lap(tf, &t0, "build");
    int n_parts = mod && can_split(o, kind, path) ? cg_parallel_parts(mod, o) : 1;
    if (mod && n_parts > 1) {
        ok = compile_parts(mod, o, n_parts, path, keep, err);
        lap(tf, &t0, "opt+emit");
    } else if (mod) {
        ok = cg_optimize(mod, tm, o ? o->opt_level : 0, err);
        lap(tf, &t0, "opt");
        ok = ok && cg_emit(mod, tm, kind, path, err);
        lap(tf, &t0, "emit");
        if (ok && keep) {
            keep->n = 1;
            snprintf(keep->path[0], sizeof keep->path[0], "%s", path);
        }
    }
    if (mod) LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

bool cg_compile(const IrModule *m, const CgOptions *o, CgOutputKind kind, const char *path,
                char **err) {
    return compile(m, o, kind, path, NULL, err);
}

bool cg_compile_objects(const IrModule *m, const CgOptions *o, const char *path,
                        CgObjects *objects, char **err) {
    objects->n = 0;
    if (strlen(path) + 1 > sizeof objects->path[0]) {
        set_err(err, "output path too long", path);
        return false;
    }
    return compile(m, o, CG_OUT_OBJ, path, objects, err);
}

void cg_objects_remove(CgObjects *objects) {
    for (int i = 0; i < objects->n; i++) unlink(objects->path[i]);
    objects->n = 0;
}

LLVMValueRef cg_loop_begin(LLVMBuilderRef b, LLVMValueRef fn, LLVMTypeRef i64,
                           CgLoop *l, LLVMValueRef n) {
    LLVMContextRef ctx = LLVMGetTypeContext(i64);
    l->pre = LLVMGetInsertBlock(b);
    l->head = LLVMAppendBasicBlockInContext(ctx, fn, "loop");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(ctx, fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(ctx, fn, "done");
    LLVMBuildBr(b, l->head);
    LLVMPositionBuilderAtEnd(b, l->head);
    l->i = LLVMBuildPhi(b, i64, "i");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, l->i, n, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(b, body);
    return l->i;
}

void cg_loop_end(LLVMBuilderRef b, LLVMTypeRef i64, CgLoop *l) {
    LLVMValueRef next = LLVMBuildNSWAdd(b, l->i, LLVMConstInt(i64, 1, 0), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    LLVMBuildBr(b, l->head);
    LLVMValueRef vals[2] = {LLVMConstInt(i64, 0, 0), next};
    LLVMBasicBlockRef bbs[2] = {l->pre, latch};
    LLVMAddIncoming(l->i, vals, bbs, 2);
    LLVMPositionBuilderAtEnd(b, l->exit);
}

