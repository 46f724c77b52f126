/* manifest.h - the model manifest JSON (docs/manifest.md).
 *
 * Built after memory planning, from the IR module (signature, parameters,
 * arena sizes, FLOPs) and the checked program (dataset and train blocks).
 * Codegen embeds the text in the object's `aai_model` descriptor. */
#ifndef AAI_MANIFEST_H
#define AAI_MANIFEST_H

#include <stdint.h>

#include "ir.h"
#include "sema.h"

/* Returns a malloc'd, deterministic JSON text (caller frees). */
char *manifest_build(const IrModule *m, const SemaProgram *prog);

/* Multiply-adds counted as 2 FLOPs, per sample of an entry (predict, or
 * the train step: forward, loss and backward, the optimizer not). */
int64_t manifest_flops_per_sample(const IrFunc *f);

/* Largest arena need over the module's entries. */
void manifest_arena_size(const IrModule *m, int64_t *static_floats,
                         int64_t *row_floats);

#endif
