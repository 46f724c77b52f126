/* codegen_parallel.h - optimise and emit one LLVM module on several
 * threads, as partitions of its functions (codegen_parallel.c).
 *
 * An LLVMContext is not thread-safe, so each partition is a copy of the
 * module, read back from bitcode into a context of its own, that keeps the
 * bodies of its share of the functions and declares the rest. The objects
 * it produces, linked together, define exactly what the module defines. */
#ifndef AAI_CODEGEN_PARALLEL_H
#define AAI_CODEGEN_PARALLEL_H

#include <stdbool.h>

#include <llvm-c/Core.h>

#include "codegen_llvm.h"

/* How many partitions to emit `mod` as: o->threads when positive, else
 * AAI_CODEGEN_THREADS when set to a positive number, else 2 (a constant,
 * so the bytes do not depend on the machine), at most CG_MAX_THREADS, and
 * fewer when the module is too small for a split to pay (its copies cost
 * more than the work they share). */
int cg_parallel_parts(LLVMModuleRef mod, const CgOptions *o);

/* Optimises (cg_optimize) and emits `mod` as `n_parts` *
 * CG_OBJECTS_PER_PART object files written to `paths[0..)`, each
 * partition on its own thread with its own contexts and target machines:
 * paths[2p] gets partition p's kernels, optimised, and paths[2p + 1] its
 * entries (optnone), from LLVM's -O0 code generator. Functions are dealt
 * out by size so the parts take about as long; the module's global
 * variables stay in the first object. Local functions and globals used
 * across objects become hidden external symbols (their names are already
 * unique per prefix). `mod` is changed by that and stays owned by the
 * caller. Deterministic: the objects depend on the module and n_parts
 * only. Returns false and *err (malloc'd) when a part fails. */
bool cg_parallel_emit(LLVMModuleRef mod, const CgOptions *o, int n_parts,
                      const char *const *paths, char **err);

/* cg_parallel_emit into `path`.part<i>.o (i < n_parts * 2), then those
 * combined into the one object `path` (link_relocatable: the host's
 * `ld -r`, so host targets only) and removed. Returns false and *err (malloc'd). */
bool cg_parallel_compile(LLVMModuleRef mod, const CgOptions *o, int n_parts, const char *path,
                         char **err);

#endif
