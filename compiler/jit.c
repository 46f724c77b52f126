/* jit.c - in-memory compilation with ORC LLJIT.
 *
 * The module is built in an ORC thread-safe context, optimized with the
 * same pipeline as ahead-of-time output (host CPU), added to the main
 * JITDylib, and its entry points and descriptor looked up by name. External
 * calls (aairt_sgemm, libm, aairt_optimizer_step) resolve to explicitly
 * given symbols first, then to whatever the host process exports. The
 * kernels may call glibc's vector math (codegen_vecmath.c), which a
 * process that never calls it has not loaded: it is loaded into the
 * global scope for the life of the JIT. */
#include "jit.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

struct Jit {
    LLVMOrcLLJITRef lljit;
    void *libmvec; /* dlopen handle, NULL where there is none */
    AairtEntry entries[IR_ENTRY_COUNT];
    const AairtModel *model;
};

static bool take_error(LLVMErrorRef e, const char *what, char **err) {
    if (!e) return false;
    char *msg = LLVMGetErrorMessage(e);
    if (err) {
        size_t n = strlen(what) + strlen(msg) + 3;
        *err = malloc(n);
        if (*err) snprintf(*err, n, "%s: %s", what, msg);
    }
    LLVMDisposeErrorMessage(msg);
    return true;
}

static bool define_symbols(Jit *j, const JitSymbol *extra, int n_extra, char **err) {
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    if (take_error(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
                       &gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit), NULL, NULL),
                   "JIT: process symbols", err))
        return false;
    LLVMOrcJITDylibAddGenerator(jd, gen);
    if (n_extra <= 0) return true;
    LLVMOrcCSymbolMapPair *pairs = calloc((size_t)n_extra, sizeof *pairs);
    for (int i = 0; i < n_extra; i++) {
        pairs[i].Name = LLVMOrcLLJITMangleAndIntern(j->lljit, extra[i].name);
        pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)extra[i].addr;
        pairs[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported |
                                          LLVMJITSymbolGenericFlagsCallable;
    }
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, (size_t)n_extra);
    free(pairs);
    LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, mu);
    if (e) LLVMOrcDisposeMaterializationUnit(mu);
    return !take_error(e, "JIT: defining symbols", err);
}

Jit *jit_new(const IrModule *m, const CgOptions *o, const JitSymbol *extra, int n_extra,
             char **err) {
    CgOptions opts = o ? *o : (CgOptions){0};
    opts.triple = NULL; /* always the host */
    LLVMTargetMachineRef tm = cg_target_machine_new(&opts, err);
    if (!tm) return NULL;
    Jit *j = calloc(1, sizeof *j);
    if (!j) {
        LLVMDisposeTargetMachine(tm);
        if (err) *err = NULL;
        return NULL;
    }
    j->libmvec = dlopen("libmvec.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (take_error(LLVMOrcCreateLLJIT(&j->lljit, NULL), "JIT: creating LLJIT", err) ||
        !define_symbols(j, extra, n_extra, err)) {
        LLVMDisposeTargetMachine(tm);
        jit_free(j);
        return NULL;
    }
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = cg_module_build(ctx, m, &opts, tm, err);
    bool ok = mod != NULL;
    if (ok) {
        LLVMSetDataLayout(mod, LLVMOrcLLJITGetDataLayoutStr(j->lljit));
        LLVMSetTarget(mod, LLVMOrcLLJITGetTripleString(j->lljit));
        ok = cg_optimize(mod, tm, opts.opt_level, err);
    }
    if (ok) {
        LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
        mod = NULL; /* owned by tsm now */
        LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), tsm);
        if (e) LLVMOrcDisposeThreadSafeModule(tsm);
        ok = !take_error(e, "JIT: adding the module", err);
    }
    if (mod) LLVMDisposeModule(mod);
    LLVMOrcDisposeThreadSafeContext(tsc);
    LLVMDisposeTargetMachine(tm);
    const char *prefix = opts.prefix ? opts.prefix : "aai";
    char name[256];
    for (int k = 0; ok && k < IR_ENTRY_COUNT; k++) {
        if (!m->funcs[k]) continue;
        LLVMOrcExecutorAddress addr = 0;
        snprintf(name, sizeof name, "%s_%s", prefix, ir_entry_name((IrEntryKind)k));
        ok = !take_error(LLVMOrcLLJITLookup(j->lljit, &addr, name), "JIT: lookup", err);
        j->entries[k] = (AairtEntry)(uintptr_t)addr;
    }
    if (ok) {
        LLVMOrcExecutorAddress addr = 0;
        snprintf(name, sizeof name, "%s_model", prefix);
        ok = !take_error(LLVMOrcLLJITLookup(j->lljit, &addr, name), "JIT: lookup", err);
        j->model = (const AairtModel *)(uintptr_t)addr;
    }
    if (!ok) {
        jit_free(j);
        return NULL;
    }
    return j;
}

AairtEntry jit_entry(const Jit *j, IrEntryKind kind) {
    return (unsigned)kind < IR_ENTRY_COUNT ? j->entries[kind] : NULL;
}

const AairtModel *jit_model(const Jit *j) { return j->model; }

void jit_free(Jit *j) {
    if (!j) return;
    if (j->lljit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->lljit);
        if (e) LLVMConsumeError(e);
    }
    if (j->libmvec) dlclose(j->libmvec);
    free(j);
}
