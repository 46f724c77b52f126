/* codegen_parallel.c - the LLVM optimiser and code generator on several
 * threads (see codegen_parallel.h).
 *
 * After cg_module_build, almost all of aaic's time is LLVM working through
 * the kernels one function at a time, and the kernels do not depend on
 * each other: they are noinline, and an entry is a list of calls. So the
 * functions are dealt out to partitions by estimated cost (instructions,
 * loops weighted), the module is written once as bitcode, and each thread
 * reads it into a fresh context, turns the functions of the other
 * partitions into declarations, optimises and emits its part. Each kernel
 * body is optimised by the same passes as in the whole module, and the
 * kernels were never inlined, so the code of each function is what one
 * thread would produce (tests/unit/test_codegen.c checks that the
 * answers are the same bit for bit).
 *
 * Each partition is emitted as two objects (units): its kernels by the
 * optimizing code generator, its entries (`optnone`: a list of calls) by
 * LLVM's -O0 one, fast instruction selection and register allocation.
 * The entries' calls run as fast either way (MLP and CNN batch-1
 * latency measured the same), and the optimizing back end spent most of
 * its time on them in the examples with long entries (sequence:
 * 75 ms of CPU for the three entries, 32 ms at -O0). */
#include "codegen_parallel.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/TargetMachine.h>

#include "link.h"

/* The least cost (function_cost) per partition. A split adds CPU
 * (bitcode copies, target machines, `ld -r` for -c), which pays when
 * another core is free to take the half: on the 2-core VM, with the
 * entries at -O0, every example gained (iris, cost 1,000: 87 -> 69 ms;
 * fashion_cnn 160 -> 108) and, with a neighbour keeping the other core
 * busy, the small ones lost 5-8 ms (iris 90 -> 98). Modules too small to
 * amortise the copies stay on one thread. */
enum { CG_MIN_PART_COST = 400 };

static void set_err(char **err, const char *what, const char *detail) {
    if (!err) return;
    size_t n = strlen(what) + (detail ? strlen(detail) : 0) + 3;
    *err = malloc(n);
    if (*err) snprintf(*err, n, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* Each phi (a loop's induction or running value, as the kernels are
 * built) counts this many instructions: the vectorizer and instruction
 * selection spend far more on a loop than its instruction count says.
 * Chosen from the per-part CPU times of fashion_cnn, fashion_resnet and
 * sequence: with plain counts the parts differed by up to 1.7x, with this
 * weight by 1.05-1.2x. */
enum { CG_PHI_WEIGHT = 25 };

/* An `optnone` function (the entries) is not optimised and goes through
 * the -O0 code generator: per instruction it costs about this fraction of
 * an optimised one (sequence: train_step 17.5 ms of CPU for 5,400 lines
 * of IR). Without the discount the part holding it got too little else. */
enum { CG_OPTNONE_DIVISOR = 8 };

static bool is_optnone(LLVMValueRef fn) {
    unsigned kind = LLVMGetEnumAttributeKindForName("optnone", 7);
    return LLVMGetEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, kind) != NULL;
}

/* The estimated cost of optimising and emitting `fn`, in instructions. */
static size_t function_cost(LLVMValueRef fn) {
    size_t n = 0;
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
        for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
            n += LLVMGetInstructionOpcode(i) == LLVMPHI ? CG_PHI_WEIGHT : 1;
    return is_optnone(fn) ? n / CG_OPTNONE_DIVISOR : n;
}

/* The functions with a body, in module order: the order every copy of the
 * module read back from bitcode has too, so an index names the same
 * function in all of them. */
typedef struct CgFuncs {
    LLVMValueRef *fn;
    size_t *size; /* estimated cost (function_cost) */
    int *part;    /* the partition that keeps the body */
    bool *entry;  /* optnone: emitted in its partition's entry unit */
    size_t n;
} CgFuncs;

/* A partition's objects: its kernels (unit 2p) and its entries (2p + 1).
 * Unit 0 also holds the module's global variables. */
enum { CG_UNIT_KERNELS, CG_UNIT_ENTRIES, CG_UNITS_PER_PART };
static_assert((int)CG_UNITS_PER_PART == (int)CG_OBJECTS_PER_PART, "one object per unit");

static int unit_of(const CgFuncs *f, size_t i) {
    return f->part[i] * CG_UNITS_PER_PART + (f->entry[i] ? CG_UNIT_ENTRIES : CG_UNIT_KERNELS);
}

static void funcs_free(CgFuncs *f) {
    free(f->fn);
    free(f->size);
    free(f->part);
    free(f->entry);
    *f = (CgFuncs){0};
}

static bool funcs_collect(LLVMModuleRef mod, CgFuncs *f) {
    *f = (CgFuncs){0};
    size_t cap = 0;
    for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn))
        if (!LLVMIsDeclaration(fn)) cap++;
    f->fn = calloc(cap + 1, sizeof *f->fn);
    f->size = calloc(cap + 1, sizeof *f->size);
    f->part = calloc(cap + 1, sizeof *f->part);
    f->entry = calloc(cap + 1, sizeof *f->entry);
    if (!f->fn || !f->size || !f->part || !f->entry) {
        funcs_free(f);
        return false;
    }
    for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) {
        if (LLVMIsDeclaration(fn)) continue;
        f->fn[f->n] = fn;
        f->size[f->n] = function_cost(fn);
        f->entry[f->n] = is_optnone(fn);
        f->n++;
    }
    return true;
}

static int env_threads(void) {
    const char *s = getenv("AAI_CODEGEN_THREADS");
    if (!s || !*s) return 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return *end == '\0' && v > 0 ? (int)(v < CG_MAX_THREADS ? v : CG_MAX_THREADS) : 0;
}

/* The default does not follow the machine's CPU count: the partition
 * count shapes the object's bytes, and a build must give the same bytes
 * on every machine (a one-core machine time-shares the two threads). */
enum { CG_DEFAULT_PARTS = 2 };

static int wanted_threads(const CgOptions *o) {
    if (o && o->threads > 0) return o->threads < CG_MAX_THREADS ? o->threads : CG_MAX_THREADS;
    int n = env_threads();
    return n > 0 ? n : CG_DEFAULT_PARTS;
}

int cg_parallel_parts(LLVMModuleRef mod, const CgOptions *o) {
    int n = wanted_threads(o);
    if (n <= 1) return 1;
    size_t total = 0, n_fns = 0;
    for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) {
        if (LLVMIsDeclaration(fn)) continue;
        total += function_cost(fn);
        n_fns++;
    }
    size_t by_size = total / CG_MIN_PART_COST;
    if ((size_t)n > by_size) n = (int)by_size;
    if ((size_t)n > n_fns) n = (int)n_fns;
    return n < 1 ? 1 : n;
}

/* ---- partitioning ------------------------------------------------------- */

/* A function to deal out: its size and its index in CgFuncs. */
typedef struct CgDeal {
    size_t size, index;
} CgDeal;

/* Largest first, then module order, so equal sizes deal out the same way
 * every run. */
static int by_size_desc(const void *pa, const void *pb) {
    const CgDeal *a = pa, *b = pb;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

/* Greedy: each function, largest first, to the lightest partition. */
static bool funcs_deal(CgFuncs *f, int n_parts) {
    CgDeal *order = malloc((f->n + 1) * sizeof *order);
    size_t load[CG_MAX_THREADS] = {0};
    if (!order) return false;
    for (size_t i = 0; i < f->n; i++) order[i] = (CgDeal){f->size[i], i};
    qsort(order, f->n, sizeof *order, by_size_desc);
    for (size_t k = 0; k < f->n; k++) {
        int best = 0;
        for (int p = 1; p < n_parts; p++)
            if (load[p] < load[best]) best = p;
        f->part[order[k].index] = best;
        load[best] += order[k].size + 1;
    }
    free(order);
    return true;
}

/* The unit that defines global `g`: its function's, or 0 for variables
 * (the descriptor and its strings are small). */
static int owner_of(const CgFuncs *f, LLVMValueRef g) {
    for (size_t i = 0; i < f->n; i++)
        if (f->fn[i] == g) return unit_of(f, i);
    return 0;
}

/* Whether a use of `g` from outside unit `unit` exists. Uses through
 * constants (the descriptor's initializer) count as outside: rare, and
 * promoting too much is only a visible symbol more. */
static bool used_outside(const CgFuncs *f, LLVMValueRef g, int unit) {
    for (LLVMUseRef u = LLVMGetFirstUse(g); u; u = LLVMGetNextUse(u)) {
        LLVMValueRef user = LLVMGetUser(u);
        if (!LLVMIsAInstruction(user)) return true;
        LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInstructionParent(user));
        if (owner_of(f, fn) != unit) return true;
    }
    return false;
}

static bool is_local(LLVMValueRef g) {
    LLVMLinkage l = LLVMGetLinkage(g);
    return l == LLVMInternalLinkage || l == LLVMPrivateLinkage;
}

/* A local symbol another partition refers to becomes external and hidden,
 * under a name unique to this module's prefix. */
static void promote(LLVMValueRef g, const char *prefix, size_t *n_unnamed) {
    size_t len = 0;
    LLVMGetValueName2(g, &len);
    if (len == 0) {
        char name[128];
        snprintf(name, sizeof name, "%s.local.%zu", prefix, (*n_unnamed)++);
        LLVMSetValueName2(g, name, strlen(name));
    }
    LLVMSetLinkage(g, LLVMExternalLinkage);
    LLVMSetVisibility(g, LLVMHiddenVisibility);
}

static void promote_shared_locals(LLVMModuleRef mod, const CgFuncs *f, const char *prefix) {
    size_t n_unnamed = 0;
    for (size_t i = 0; i < f->n; i++)
        if (is_local(f->fn[i]) && used_outside(f, f->fn[i], unit_of(f, i)))
            promote(f->fn[i], prefix, &n_unnamed);
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g))
        if (is_local(g) && used_outside(f, g, 0)) promote(g, prefix, &n_unnamed);
}

/* ---- one partition ------------------------------------------------------ */

/* Declares `fn` in its place: a new declaration with its name, type,
 * attributes and visibility takes over its uses, and the body goes. */
static LLVMValueRef function_to_declaration(LLVMModuleRef mod, LLVMValueRef fn) {
    size_t len = 0;
    const char *name = LLVMGetValueName2(fn, &len);
    char *saved = malloc(len + 1);
    if (!saved) return NULL;
    memcpy(saved, name, len);
    saved[len] = '\0';
    LLVMSetValueName2(fn, "", 0);
    LLVMValueRef decl = LLVMAddFunction(mod, saved, LLVMGlobalGetValueType(fn));
    free(saved);
    LLVMSetFunctionCallConv(decl, LLVMGetFunctionCallConv(fn));
    LLVMSetVisibility(decl, LLVMGetVisibility(fn));
    unsigned n_params = LLVMCountParams(fn);
    for (unsigned idx = 0; idx <= n_params + 1; idx++) {
        LLVMAttributeIndex at =
            idx == n_params + 1 ? (LLVMAttributeIndex)LLVMAttributeFunctionIndex : idx;
        unsigned n = LLVMGetAttributeCountAtIndex(fn, at);
        if (n == 0) continue;
        LLVMAttributeRef *attrs = malloc(n * sizeof *attrs);
        if (!attrs) continue; /* attributes are hints; a declaration works without */
        LLVMGetAttributesAtIndex(fn, at, attrs);
        for (unsigned k = 0; k < n; k++) LLVMAddAttributeAtIndex(decl, at, attrs[k]);
        free(attrs);
    }
    LLVMReplaceAllUsesWith(fn, decl);
    LLVMDeleteFunction(fn);
    return decl;
}

/* Keeps the bodies of unit `unit` in `mod` (a copy of the module whose
 * functions `f` describes), declares every other function and, out of
 * unit 0, every global variable. Unused local leftovers go. */
static bool keep_unit(LLVMModuleRef mod, const CgFuncs *f, int unit) {
    LLVMValueRef *decls = calloc(f->n + 1, sizeof *decls);
    if (!decls) return false;
    size_t i = 0, n_decls = 0;
    LLVMValueRef next = NULL;
    for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = next) {
        next = LLVMGetNextFunction(fn);
        if (LLVMIsDeclaration(fn)) continue;
        if (i >= f->n) break; /* declarations we added: past the originals */
        bool was_local = is_local(fn);
        if (unit_of(f, i++) != unit) {
            LLVMValueRef d = function_to_declaration(mod, fn);
            if (!d) {
                free(decls);
                return false;
            }
            if (was_local) decls[n_decls++] = d;
        }
    }
    for (size_t k = 0; k < n_decls; k++) {
        /* a local used only by other partitions' bodies: gone with them */
        if (!LLVMGetFirstUse(decls[k])) LLVMDeleteFunction(decls[k]);
    }
    free(decls);
    if (unit == 0) return true;
    /* initializers first: a global may be used only by another's */
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g))
        LLVMSetInitializer(g, NULL);
    LLVMValueRef gnext = NULL;
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = gnext) {
        gnext = LLVMGetNextGlobal(g);
        if (!is_local(g)) continue;
        if (LLVMGetFirstUse(g)) LLVMSetLinkage(g, LLVMExternalLinkage);
        else LLVMDeleteGlobal(g);
    }
    return true;
}

typedef struct CgPart {
    const CgOptions *o;
    const CgFuncs *funcs;
    LLVMMemoryBufferRef bitcode;             /* the whole module, shared read-only */
    LLVMTargetMachineRef tm[CG_UNITS_PER_PART]; /* this part's own, per unit */
    int index;
    const char *const *paths; /* per unit */
    bool ok;
    char *err; /* malloc'd, on failure (NULL when even that failed) */
} CgPart;

/* Reads the module back lazily and materializes the bodies of unit
 * `unit` only: the others are never parsed (sequence: each unit read the
 * whole module in 7-16 ms, the entries' long bodies most of it). A legacy
 * function pass manager with no passes is the C API's way to materialize
 * a function. Returns NULL (with *err) when the bitcode cannot be read. */
static LLVMModuleRef read_unit(LLVMContextRef ctx, LLVMMemoryBufferRef bitcode, const CgFuncs *f,
                               int unit, char **err) {
    /* the module owns the buffer it reads: give it a view of the shared one */
    LLVMMemoryBufferRef view = LLVMCreateMemoryBufferWithMemoryRange(
        LLVMGetBufferStart(bitcode), LLVMGetBufferSize(bitcode), "aai", 0);
    LLVMModuleRef mod = NULL;
    if (!view || LLVMGetBitcodeModuleInContext2(ctx, view, &mod)) {
        if (view) LLVMDisposeMemoryBuffer(view);
        set_err(err, "internal error: cannot read back the module's bitcode", NULL);
        return NULL;
    }
    LLVMPassManagerRef fpm = LLVMCreateFunctionPassManagerForModule(mod);
    size_t i = 0;
    for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn && i < f->n; fn = LLVMGetNextFunction(fn)) {
        if (LLVMIsDeclaration(fn)) continue;
        if (unit_of(f, i++) == unit) LLVMRunFunctionPassManager(fpm, fn);
    }
    LLVMDisposePassManager(fpm);
    return mod;
}

/* Reads the module back, keeps unit `u`'s bodies, optimises (kernels) and
 * emits them. */
static bool unit_run(CgPart *p, int u) {
    int unit = p->index * CG_UNITS_PER_PART + u;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = read_unit(ctx, p->bitcode, p->funcs, unit, &p->err);
    bool ok = false;
    if (!mod)
        ;
    else if (!keep_unit(mod, p->funcs, unit))
        set_err(&p->err, "out of memory", NULL);
    else
        ok = (u == CG_UNIT_ENTRIES ||
              cg_optimize(mod, p->tm[u], p->o ? p->o->opt_level : 0, &p->err)) &&
             cg_emit(mod, p->tm[u], CG_OUT_OBJ, p->paths[u], &p->err);
    if (mod) LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    return ok;
}

static void part_run(CgPart *p) {
    p->ok = unit_run(p, CG_UNIT_KERNELS) && unit_run(p, CG_UNIT_ENTRIES);
}

static void *part_thread(void *arg) {
    part_run(arg);
    return NULL;
}

/* Target machines are made on the calling thread: target registration is
 * not meant to race. The entries' is -O0's. */
static bool parts_prepare(CgPart *parts, int n_parts, const CgOptions *o, const CgFuncs *f,
                          LLVMMemoryBufferRef bitcode, const char *const *paths, char **err) {
    CgOptions o0 = o ? *o : (CgOptions){0};
    o0.opt_level = -1;
    for (int i = 0; i < n_parts; i++) {
        parts[i] = (CgPart){.o = o, .funcs = f, .bitcode = bitcode, .index = i,
                            .paths = paths + i * CG_UNITS_PER_PART};
        parts[i].tm[CG_UNIT_KERNELS] = cg_target_machine_new(o, err);
        if (!parts[i].tm[CG_UNIT_KERNELS]) return false;
        parts[i].tm[CG_UNIT_ENTRIES] = cg_target_machine_new(&o0, err);
        if (!parts[i].tm[CG_UNIT_ENTRIES]) return false;
    }
    return true;
}

/* Part 0 runs on the calling thread, the others on their own; a part whose
 * thread cannot start runs here after part 0. Returns the first part's
 * error, if any, in *err. */
static bool parts_run(CgPart *parts, int n_parts, char **err) {
    pthread_t tid[CG_MAX_THREADS];
    bool started[CG_MAX_THREADS] = {false};
    for (int i = 1; i < n_parts; i++)
        started[i] = pthread_create(&tid[i], NULL, part_thread, &parts[i]) == 0;
    part_run(&parts[0]);
    for (int i = 1; i < n_parts; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else part_run(&parts[i]);
    }
    bool ok = true;
    for (int i = 0; i < n_parts; i++) {
        if (parts[i].err && ok && err) *err = parts[i].err;
        else free(parts[i].err);
        parts[i].err = NULL;
        ok = ok && parts[i].ok;
    }
    return ok;
}

bool cg_parallel_emit(LLVMModuleRef mod, const CgOptions *o, int n_parts,
                      const char *const *paths, char **err) {
    if (n_parts < 1 || n_parts > CG_MAX_THREADS) {
        set_err(err, "internal error: bad partition count", NULL);
        return false;
    }
    CgFuncs f;
    if (!funcs_collect(mod, &f) || !funcs_deal(&f, n_parts)) {
        set_err(err, "out of memory", NULL);
        return false;
    }
    promote_shared_locals(mod, &f, o && o->prefix ? o->prefix : "aai");
    LLVMMemoryBufferRef bitcode = LLVMWriteBitcodeToMemoryBuffer(mod);
    CgPart parts[CG_MAX_THREADS];
    memset(parts, 0, sizeof parts);
    bool ok = bitcode && parts_prepare(parts, n_parts, o, &f, bitcode, paths, err);
    if (!bitcode) set_err(err, "internal error: cannot write the module as bitcode", NULL);
    ok = ok && parts_run(parts, n_parts, err);
    for (int i = 0; i < n_parts; i++)
        for (int u = 0; u < CG_UNITS_PER_PART; u++)
            if (parts[i].tm[u]) LLVMDisposeTargetMachine(parts[i].tm[u]);
    if (bitcode) LLVMDisposeMemoryBuffer(bitcode);
    funcs_free(&f);
    return ok;
}

bool cg_parallel_compile(LLVMModuleRef mod, const CgOptions *o, int n_parts, const char *path,
                         char **err) {
    char names[CG_MAX_OBJECTS][PATH_MAX];
    const char *paths[CG_MAX_OBJECTS];
    if (n_parts < 1 || n_parts > CG_MAX_THREADS) n_parts = 1;
    int n_objects = n_parts * CG_UNITS_PER_PART;
    for (int i = 0; i < n_objects; i++) {
        int w = snprintf(names[i], sizeof names[i], "%s.part%d.o", path, i);
        if (w < 0 || (size_t)w >= sizeof names[i]) {
            set_err(err, "output path too long", path);
            return false;
        }
        paths[i] = names[i];
    }
    bool ok = cg_parallel_emit(mod, o, n_parts, paths, err);
    if (ok) {
        char why[PATH_MAX + 128];
        ok = link_relocatable(paths, n_objects, path, why, sizeof why);
        if (!ok) set_err(err, why, NULL);
    }
    for (int i = 0; i < n_objects; i++) unlink(paths[i]);
    return ok;
}
