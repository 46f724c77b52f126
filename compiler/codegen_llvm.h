/* codegen_llvm.h - IR to LLVM: entry functions, the model descriptor, and
 * object / assembly / textual IR output, through the LLVM C API only.
 *
 * Each IrFunc becomes `void <prefix>_<entry>(const AairtStepArgs *)`
 * (aairt.h); the module also defines `<prefix>_model`, the AairtModel
 * descriptor. The IR must be memory-planned (pass_memplan). */
#ifndef AAI_CODEGEN_LLVM_H
#define AAI_CODEGEN_LLVM_H

#include <stdbool.h>
#include <stdio.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "ir.h"

typedef enum CgOutputKind { CG_OUT_OBJ, CG_OUT_ASM, CG_OUT_LLVM_IR } CgOutputKind;

typedef struct CgOptions {
    const char *prefix;        /* symbol prefix; NULL: "aai" */
    const char *manifest_json; /* AairtModel.manifest_json; NULL: "{}" */
    const char *triple;        /* NULL: the host */
    const char *cpu;           /* NULL: the host CPU for the host triple,
                                  "generic" otherwise */
    const char *features;      /* NULL: host features for the host triple */
    int opt_level;             /* 1..3: default<O{n}>; 0 (unset): 3;
                                  negative: no optimization */
    int threads;               /* object code on this many threads
                                  (codegen_parallel.h); 0: AAI_CODEGEN_THREADS
                                  or the online CPUs; 1: one thread */
    FILE *timing;              /* non-NULL: cg_compile prints the ms of each
                                  LLVM stage there (--time-passes) */
} CgOptions;

/* Registers the LLVM targets aaic can emit code for (idempotent;
 * codegen_targets.c): every target of the shared libLLVM, or with LLVM
 * linked statically, those of AAI_LLVM_STATIC_TARGETS. */
void cg_init_targets(void);

/* A target machine for o's triple/cpu/features (PIC). NULL and *err
 * (malloc'd) on failure. Dispose with LLVMDisposeTargetMachine. */
LLVMTargetMachineRef cg_target_machine_new(const CgOptions *o, char **err);

/* Builds and verifies the LLVM module for `m` in `ctx`, with tm's triple
 * and data layout. Returns NULL and *err (malloc'd) when verification
 * fails (an internal error). The caller disposes the module. */
LLVMModuleRef cg_module_build(LLVMContextRef ctx, const IrModule *m, const CgOptions *o,
                              LLVMTargetMachineRef tm, char **err);

/* Runs the default<O{n}> pipeline, n from opt_level as in CgOptions.
 * Returns false and *err on error. */
bool cg_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level, char **err);

/* Writes `mod` as `kind` to `path` ("-": stdout). Returns false and *err. */
bool cg_emit(LLVMModuleRef mod, LLVMTargetMachineRef tm, CgOutputKind kind, const char *path,
             char **err);

enum { CG_MAX_THREADS = 8 };   /* code generation threads, at most */
enum { CG_OBJECTS_PER_PART = 2 }; /* a parallel part's kernels and entries */
enum { CG_MAX_OBJECTS = CG_MAX_THREADS * CG_OBJECTS_PER_PART };
enum { CG_PATH_MAX = 4096 };   /* PATH_MAX on Linux */

/* The object files of one compile (cg_compile_objects). */
typedef struct CgObjects {
    int n;                                   /* how many */
    char path[CG_MAX_OBJECTS][CG_PATH_MAX];  /* each file's name */
} CgObjects;

/* The whole back end in one call: target machine, build, verify, optimize,
 * emit. Owns and frees every LLVM object it creates. A host object written
 * to a file is optimized and emitted in parts on several threads when the
 * module is big enough (o->threads), then combined into one object. */
bool cg_compile(const IrModule *m, const CgOptions *o, CgOutputKind kind, const char *path,
                char **err);

/* cg_compile to an object for a link that takes several objects
 * (link_executable): a parallel compile leaves its parts, `path`.part<i>.o,
 * instead of combining them with `ld -r` (~5 ms saved); one thread writes
 * `path` itself. *objects names what was written; the link needs all of
 * it, and cg_objects_remove deletes it. Nothing is left on failure. */
bool cg_compile_objects(const IrModule *m, const CgOptions *o, const char *path,
                        CgObjects *objects, char **err);

/* Deletes the files of `objects` and empties it. */
void cg_objects_remove(CgObjects *objects);

#endif
