/* codegen_vecmath.c - libm calls the loop vectorizer may turn into glibc's
 * vector math library (libmvec).
 *
 * The element-wise kernels call tanhf, expf, erff, ... once per element.
 * LLVM's vectorizer cannot widen a call to an opaque function, so such a
 * loop stayed scalar: a tanh MLP (examples/fashion_mlp.aai with tanh for
 * relu) spent a third of its training epoch in scalar tanhf. glibc ships
 * vector versions of these functions (libmvec, part of libc6, the x86-64
 * vector function ABI: _ZGVdN8v_tanhf takes and returns 8 floats in a ymm
 * register). The C API has no way to name a vector library for the whole
 * module (clang's -fveclib), so each call is annotated the way OpenMP's
 * `declare simd` does it: the call-site attribute
 * "vector-function-abi-variant" lists the vector variants, which are
 * declared in the module, and the vectorizer calls one when it widens the
 * loop. Which variants are listed follows the target's features: 4 lanes
 * (SSE, the x86-64 baseline), 8 with AVX2, 16 with AVX-512F, so code for
 * a CPU never calls a variant that CPU lacks. The host's features are
 * known (the default, or `--cpu` naming the host's CPU); `--cpu x86-64-v3`
 * / `-v4` imply AVX2 / AVX-512; any other `--cpu` name gets the 4-lane
 * variants unless `--features` says more.
 *
 * Only for x86-64 Linux with glibc (the triple says so); elsewhere calls
 * stay scalar. The variants are accurate to a few ULP (glibc's tables),
 * like the scalar functions, but not bit-equal to them: a model's numbers
 * move in the last bits, the same on every run and, for element-wise
 * kernels cut over the threads, at every thread count (runtime/src/pool.c
 * cuts on 16-float blocks, so each element meets the same code). Programs
 * that link generated code get libmvec through aairt's link interface
 * (runtime/CMakeLists.txt, aai.pc, AAI_LINK_LIBS), as needed only; glibc's
 * libm.so is itself a linker script that adds it as needed, so -lm alone
 * also links, but the dependency is named where it is made. */
#include <stdio.h>
#include <string.h>

#include <llvm-c/TargetMachine.h>

#include "codegen_internal.h"

/* The functions with libmvec variants that generated kernels call, and
 * how many float arguments each takes. */
static const struct {
    const char *name;
    unsigned n_args;
} kVectorizable[] = {
    {"expf", 1}, {"logf", 1}, {"tanhf", 1}, {"erff", 1}, {"expm1f", 1}, {"log1pf", 1}, {"powf", 2},
};

/* The vector ISAs of the x86-64 vector function ABI, widest first. */
static const struct {
    char isa;        /* the ABI's letter */
    int lanes;       /* floats per call */
    const char *feature; /* the target feature it needs, NULL: baseline */
} kIsas[] = {{'e', 16, "avx512f"}, {'d', 8, "avx2"}, {'b', 4, NULL}};

/* Whether the comma-separated feature string enables `name` (+name). */
static bool has_feature(const char *features, const char *name) {
    size_t n = strlen(name);
    for (const char *p = features; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n + 1 && p[0] == '+' && !strncmp(p + 1, name, n)) return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Whether CPU name `cpu` is an x86-64 psABI level that has `feature`. A
 * target machine made for a named CPU (--cpu) carries no feature string,
 * and the C API cannot list a named CPU's features, so other names (e.g.
 * znver4, unless it is the host's own, whose features are known) get the
 * baseline variants only: never one the CPU lacks. */
static bool cpu_level_has(const char *cpu, const char *feature) {
    if (!strcmp(feature, "avx2")) return !strcmp(cpu, "x86-64-v3") || !strcmp(cpu, "x86-64-v4");
    if (!strcmp(feature, "avx512f")) return !strcmp(cpu, "x86-64-v4");
    return false;
}

void cg_vecmath_init(CgCtx *c, LLVMTargetMachineRef tm) {
    c->vecmath_isas = 0;
    if (!tm) return;
    char *triple = LLVMGetTargetMachineTriple(tm);
    bool glibc_x86_64 = !strncmp(triple, "x86_64", 6) && strstr(triple, "linux-gnu");
    LLVMDisposeMessage(triple);
    if (!glibc_x86_64) return;
    char *features = LLVMGetTargetMachineFeatureString(tm);
    char *cpu = LLVMGetTargetMachineCPU(tm);
    char *host = LLVMGetHostCPUName();
    if (!*features && !strcmp(cpu, host)) { /* --cpu naming this very CPU */
        LLVMDisposeMessage(features);
        features = LLVMGetHostCPUFeatures();
    }
    LLVMDisposeMessage(host);
    for (size_t i = 0; i < sizeof kIsas / sizeof *kIsas; i++)
        if (!kIsas[i].feature || has_feature(features, kIsas[i].feature) ||
            cpu_level_has(cpu, kIsas[i].feature))
            c->vecmath_isas |= 1u << i;
    LLVMDisposeMessage(features);
    LLVMDisposeMessage(cpu);
}

static int vectorizable_args(const char *name) {
    for (size_t i = 0; i < sizeof kVectorizable / sizeof *kVectorizable; i++)
        if (!strcmp(kVectorizable[i].name, name)) return (int)kVectorizable[i].n_args;
    return -1;
}

const char *cg_vecmath_scalar_name(const CgCtx *c, const char *name) {
    if (!c->vecmath_isas) return name;
    if (!strcmp(name, "llvm.exp.f32")) return "expf";
    if (!strcmp(name, "llvm.log.f32")) return "logf";
    if (!strcmp(name, "llvm.pow.f32")) return "powf";
    return name;
}

/* Declares variant `vname` (lanes floats in and out, n_args of them). */
static void declare_variant(CgCtx *c, const char *vname, int lanes, unsigned n_args) {
    if (LLVMGetNamedFunction(c->mod, vname)) return;
    LLVMTypeRef v = LLVMVectorType(c->f32, (unsigned)lanes), ps[2] = {v, v};
    LLVMValueRef fn = LLVMAddFunction(c->mod, vname, LLVMFunctionType(v, ps, n_args, 0));
    cg_add_fn_attr(c, fn, "nounwind");
}

void cg_vecmath_annotate(CgCtx *c, LLVMValueRef call, const char *name) {
    int n_args = vectorizable_args(name);
    if (!c->vecmath_isas || n_args < 0) return;
    char list[512] = "", params[3] = "v";
    if (n_args == 2) strcpy(params, "vv");
    size_t used = 0;
    for (size_t i = 0; i < sizeof kIsas / sizeof *kIsas; i++) {
        if (!(c->vecmath_isas & (1u << i))) continue;
        char vname[64];
        snprintf(vname, sizeof vname, "_ZGV%cN%d%s_%s", kIsas[i].isa, kIsas[i].lanes, params, name);
        declare_variant(c, vname, kIsas[i].lanes, (unsigned)n_args);
        used += (size_t)snprintf(list + used, sizeof list - used, "%s_ZGV_LLVM_N%d%s_%s(%s)",
                                 used ? "," : "", kIsas[i].lanes, params, name, vname);
    }
    const char *key = "vector-function-abi-variant";
    LLVMAddCallSiteAttribute(call, LLVMAttributeFunctionIndex,
                             LLVMCreateStringAttribute(c->ctx, key, (unsigned)strlen(key), list,
                                                       (unsigned)strlen(list)));
}
