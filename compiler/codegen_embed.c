/* codegen_embed.c - embeddable model objects (see codegen_embed.h).
 *
 * Weights are stored as one byte array in the host's byte order; targets
 * with the other byte order are refused. Like codegen_llvm.c, output is
 * deterministic: no paths, no times. */
#include "codegen_embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Target.h>

#include "aairt_embed.h"

static void fail(char **err, const char *fmt, const char *arg) {
    size_t n = strlen(fmt) + (arg ? strlen(arg) : 0) + 1;
    *err = malloc(n);
    if (*err) snprintf(*err, n, fmt, arg ? arg : "");
}

typedef struct EmbedCg {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMTypeRef i32, i64, f32, ptr, void_t;
    const EmbedSpec *s;
    LLVMValueRef embed; /* the AairtEmbed record */
} EmbedCg;

static LLVMValueRef add_const_global(EmbedCg *g, LLVMValueRef init, const char *name,
                                     LLVMLinkage linkage, unsigned align) {
    LLVMValueRef v = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(v, init);
    LLVMSetGlobalConstant(v, 1);
    LLVMSetLinkage(v, linkage);
    if (align) LLVMSetAlignment(v, align);
    return v;
}

/* <prefix>_weights and <prefix>_transforms_json (when baked), then the
 * AairtEmbed record. */
static void build_record(EmbedCg *g, LLVMValueRef model) {
    const EmbedSpec *s = g->s;
    char name[256];
    LLVMValueRef null = LLVMConstPointerNull(g->ptr);
    LLVMValueRef weights = null, tj = null;
    if (s->weights) {
        LLVMValueRef data = LLVMConstStringInContext2(
            g->ctx, (const char *)s->weights, (size_t)s->n_param_floats * sizeof(float), 1);
        snprintf(name, sizeof name, "%s_weights", s->prefix);
        weights = add_const_global(g, data, name, LLVMExternalLinkage, AAIRT_EMBED_ALIGN);
    }
    if (s->transforms_json) {
        LLVMValueRef str = LLVMConstStringInContext2(g->ctx, s->transforms_json,
                                                     strlen(s->transforms_json), 0);
        snprintf(name, sizeof name, "%s_transforms_json", s->prefix);
        tj = add_const_global(g, str, name, LLVMPrivateLinkage, 1);
    }
    uint32_t flags = (s->train_api ? AAIRT_EMBED_TRAIN_API : 0) |
                     (s->regression ? AAIRT_EMBED_REGRESSION : 0);
    LLVMTypeRef fields[9] = {g->i32, g->i32, g->ptr, g->ptr, g->ptr,
                             g->i64, g->i64, g->i64, g->i64};
    LLVMTypeRef et = LLVMStructCreateNamed(g->ctx, "AairtEmbed");
    LLVMStructSetBody(et, fields, 9, 0);
    LLVMValueRef vals[9] = {
        LLVMConstInt(g->i32, AAIRT_EMBED_VERSION, 0),
        LLVMConstInt(g->i32, flags, 0),
        model,
        weights,
        tj,
        LLVMConstInt(g->i64, (unsigned long long)s->x_width, 0),
        LLVMConstInt(g->i64, (unsigned long long)s->out_width, 0),
        LLVMConstInt(g->i64, (unsigned long long)s->label_width, 0),
        LLVMConstInt(g->i64, (unsigned long long)s->stats_floats, 0),
    };
    snprintf(name, sizeof name, "%s_embed", s->prefix);
    g->embed = add_const_global(g, LLVMConstNamedStruct(et, vals, 9), name, LLVMExternalLinkage, 8);
}

/* `<prefix>_<fn>(args...)` returning aairt_embed_<fn>(&<prefix>_embed, args...). */
static void build_wrapper(EmbedCg *g, const char *fn, LLVMTypeRef ret, LLVMTypeRef *params,
                          unsigned n) {
    char name[256], target[128];
    snprintf(name, sizeof name, "%s_%s", g->s->prefix, fn);
    snprintf(target, sizeof target, "aairt_embed_%s", fn);
    LLVMTypeRef all[8];
    all[0] = g->ptr;
    for (unsigned i = 0; i < n; i++) all[i + 1] = params[i];
    LLVMTypeRef tty = LLVMFunctionType(ret, all, n + 1, 0);
    LLVMValueRef tfn = LLVMGetNamedFunction(g->mod, target);
    if (!tfn) tfn = LLVMAddFunction(g->mod, target, tty);
    LLVMValueRef wfn = LLVMAddFunction(g->mod, name, LLVMFunctionType(ret, params, n, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(g->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(g->ctx, wfn, "entry"));
    LLVMValueRef args[8];
    args[0] = g->embed;
    for (unsigned i = 0; i < n; i++) args[i + 1] = LLVMGetParam(wfn, i);
    LLVMValueRef r = LLVMBuildCall2(b, tty, tfn, args, n + 1, "");
    if (ret == g->void_t) LLVMBuildRetVoid(b);
    else LLVMBuildRet(b, r);
    LLVMDisposeBuilder(b);
}

static void build_wrappers(EmbedCg *g) {
    LLVMTypeRef p = g->ptr, i32 = g->i32, sz = g->i64;
    build_wrapper(g, "init", p, (LLVMTypeRef[]){p, p}, 2);
    build_wrapper(g, "error", p, (LLVMTypeRef[]){p}, 1);
    build_wrapper(g, "state_size", sz, NULL, 0);
    build_wrapper(g, "scratch_size", sz, (LLVMTypeRef[]){i32}, 1);
    build_wrapper(g, "predict", i32, (LLVMTypeRef[]){p, p, p, p, i32}, 5);
    build_wrapper(g, "load", i32, (LLVMTypeRef[]){p, p, sz}, 3);
    build_wrapper(g, "load_file", i32, (LLVMTypeRef[]){p, p}, 2);
    build_wrapper(g, "save", i32, (LLVMTypeRef[]){p, p, sz, p}, 4);
    if (g->s->train_api) {
        build_wrapper(g, "train_step", i32, (LLVMTypeRef[]){p, p, p, p, i32, p}, 6);
        build_wrapper(g, "set_epoch", i32, (LLVMTypeRef[]){p, i32}, 2);
        build_wrapper(g, "set_lr", i32, (LLVMTypeRef[]){p, g->f32}, 2);
        build_wrapper(g, "lr", g->f32, (LLVMTypeRef[]){p}, 1);
    }
}

/* The entry points become internal (only the descriptor refers to them);
 * the descriptor takes the public name <prefix>_model. */
static LLVMValueRef rename_entries(EmbedCg *g, const char *step_prefix) {
    char name[256];
    static const char *const entries[] = {"predict", "train_step", "eval_step"};
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        snprintf(name, sizeof name, "%s_%s", step_prefix, entries[i]);
        LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
        if (fn) LLVMSetLinkage(fn, LLVMInternalLinkage);
    }
    snprintf(name, sizeof name, "%s_model", step_prefix);
    LLVMValueRef model = LLVMGetNamedGlobal(g->mod, name);
    snprintf(name, sizeof name, "%s_model", g->s->prefix);
    LLVMSetValueName2(model, name, strlen(name));
    return model;
}

/* Emits the object once (codegen passes change the module, so a second
 * emission could differ); writes it to `path` when not NULL. */
static bool emit_object(LLVMTargetMachineRef tm, LLVMModuleRef mod, const char *path,
                        size_t *size, char **err) {
    LLVMMemoryBufferRef buf = NULL;
    char *msg = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &buf)) {
        fail(err, "code generation failed: %s", msg);
        LLVMDisposeMessage(msg);
        return false;
    }
    size_t n = LLVMGetBufferSize(buf);
    if (size) *size = n;
    bool ok = true;
    if (path) {
        FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
        ok = f && fwrite(LLVMGetBufferStart(buf), 1, n, f) == n;
        if (f && f != stdout) ok &= fclose(f) == 0;
        if (!ok) fail(err, "cannot write '%s'", path);
    }
    LLVMDisposeMemoryBuffer(buf);
    return ok;
}

/* Baked weights are the host's floats as bytes: the target must agree. */
static bool same_byte_order(LLVMTargetMachineRef tm) {
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    unsigned one = 1;
    bool host_little = *(const unsigned char *)&one == 1;
    bool same = host_little == (LLVMByteOrder(td) == LLVMLittleEndian);
    LLVMDisposeTargetData(td);
    return same;
}

bool cg_embed_compile(const IrModule *m, const CgOptions *o, const EmbedSpec *s,
                      CgOutputKind kind, const char *path, size_t *obj_size, char **err) {
    LLVMTargetMachineRef tm = cg_target_machine_new(o, err);
    if (!tm) return false;
    if (s->weights && !same_byte_order(tm)) {
        fail(err, "cannot bake weights for a target of the other byte order%s", NULL);
        LLVMDisposeTargetMachine(tm);
        return false;
    }
    char step_prefix[160];
    snprintf(step_prefix, sizeof step_prefix, "%s_step", s->prefix);
    CgOptions co = *o;
    co.prefix = step_prefix;
    EmbedCg g = {0};
    g.s = s;
    g.ctx = LLVMContextCreate();
    bool ok = false;
    g.mod = cg_module_build(g.ctx, m, &co, tm, err);
    if (g.mod) {
        g.i32 = LLVMInt32TypeInContext(g.ctx);
        g.i64 = LLVMInt64TypeInContext(g.ctx);
        g.f32 = LLVMFloatTypeInContext(g.ctx);
        g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
        g.void_t = LLVMVoidTypeInContext(g.ctx);
        LLVMValueRef model = rename_entries(&g, step_prefix);
        build_record(&g, model);
        build_wrappers(&g);
        ok = cg_optimize(g.mod, tm, o->opt_level, err);
        if (ok && kind == CG_OUT_OBJ) ok = emit_object(tm, g.mod, path, obj_size, err);
        else if (ok) ok = cg_emit(g.mod, tm, kind, path, err);
        LLVMDisposeModule(g.mod);
    }
    LLVMContextDispose(g.ctx);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

bool cg_object_size(const IrModule *m, const CgOptions *o, size_t *size, char **err) {
    LLVMTargetMachineRef tm = cg_target_machine_new(o, err);
    if (!tm) return false;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = cg_module_build(ctx, m, o, tm, err);
    bool ok = false;
    if (mod) {
        ok = cg_optimize(mod, tm, o->opt_level, err) && emit_object(tm, mod, NULL, size, err);
        LLVMDisposeModule(mod);
    }
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

/* The weights global and the AairtBaked record `aai_baked` that exe_main.c
 * passes to aairt_main_baked: {weights, n_floats, transforms_json, source}. */
static void build_baked(EmbedCg *g, const char *source) {
    const EmbedSpec *s = g->s;
    LLVMValueRef null = LLVMConstPointerNull(g->ptr);
    LLVMValueRef data = LLVMConstStringInContext2(
        g->ctx, (const char *)s->weights, (size_t)s->n_param_floats * sizeof(float), 1);
    LLVMValueRef weights =
        add_const_global(g, data, "aai_baked.weights", LLVMPrivateLinkage, AAIRT_EMBED_ALIGN);
    LLVMValueRef tj = null;
    if (s->transforms_json)
        tj = add_const_global(g, LLVMConstStringInContext2(g->ctx, s->transforms_json,
                                                           strlen(s->transforms_json), 0),
                              "aai_baked.transforms", LLVMPrivateLinkage, 1);
    LLVMValueRef src = add_const_global(
        g, LLVMConstStringInContext2(g->ctx, source, strlen(source), 0), "aai_baked.source",
        LLVMPrivateLinkage, 1);
    LLVMTypeRef fields[4] = {g->ptr, g->i64, g->ptr, g->ptr};
    LLVMTypeRef bt = LLVMStructCreateNamed(g->ctx, "AairtBaked");
    LLVMStructSetBody(bt, fields, 4, 0);
    LLVMValueRef vals[4] = {weights, LLVMConstInt(g->i64, (unsigned long long)s->n_param_floats, 0),
                            tj, src};
    add_const_global(g, LLVMConstNamedStruct(bt, vals, 4), "aai_baked", LLVMExternalLinkage, 8);
}

bool cg_baked_object(const EmbedSpec *s, const CgOptions *o, const char *source,
                     const char *path, char **err) {
    LLVMTargetMachineRef tm = cg_target_machine_new(o, err);
    if (!tm) return false;
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    bool ok = false;
    if (!same_byte_order(tm)) {
        fail(err, "cannot bake weights for a target of the other byte order%s", NULL);
    } else {
        EmbedCg g = {0};
        g.s = s;
        g.ctx = LLVMContextCreate();
        g.mod = LLVMModuleCreateWithNameInContext("aai_baked", g.ctx);
        char *triple = LLVMGetTargetMachineTriple(tm);
        LLVMSetTarget(g.mod, triple);
        LLVMDisposeMessage(triple);
        char *layout = LLVMCopyStringRepOfTargetData(td);
        LLVMSetDataLayout(g.mod, layout);
        LLVMDisposeMessage(layout);
        g.i64 = LLVMInt64TypeInContext(g.ctx);
        g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
        build_baked(&g, source);
        ok = emit_object(tm, g.mod, path, NULL, err);
        LLVMDisposeModule(g.mod);
        LLVMContextDispose(g.ctx);
    }
    LLVMDisposeTargetData(td);
    LLVMDisposeTargetMachine(tm);
    return ok;
}
