/* jit.h - compile a planned IrModule in memory (ORC LLJIT) and hand back
 * its entry points. Used by the tests and by `aai run`. */
#ifndef AAI_JIT_H
#define AAI_JIT_H

#include "aairt.h"
#include "codegen_llvm.h"
#include "ir.h"

/* A symbol the generated code may call, defined explicitly (for functions
 * a static library would not export from the host process, such as
 * aairt_optimizer_step or cblas_sgemm). */
typedef struct JitSymbol {
    const char *name;
    void *addr;
} JitSymbol;

typedef struct Jit Jit;

/* Builds, optimizes (o->opt_level, host CPU) and JIT-compiles `m`.
 * Undefined symbols resolve to `extra` first, then to the host process.
 * Returns NULL and *err (malloc'd) on failure. Free with jit_free. */
Jit *jit_new(const IrModule *m, const CgOptions *o, const JitSymbol *extra, int n_extra,
             char **err);
/* The compiled entry point for `kind`, or NULL when the module has none. */
AairtEntry jit_entry(const Jit *j, IrEntryKind kind);
/* The compiled AairtModel descriptor. */
const AairtModel *jit_model(const Jit *j);
void jit_free(Jit *j);

#endif
