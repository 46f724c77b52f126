/* pipeline.h - the pass list, run in one place. */
#ifndef AAI_PIPELINE_H
#define AAI_PIPELINE_H

#include <stdbool.h>
#include <stdio.h>

#include "ir.h"

typedef struct PipelineOptions {
    const char *dump_after; /* pass name ("autodiff", ...) or "all"; NULL: none */
    FILE *dump;             /* where dumps go; NULL: stdout */
    bool verify;            /* run the IR verifier after every pass */
    bool autodiff;          /* false: skip autodiff (train funcs built by hand) */
    bool fuse;              /* false: skip fuse (tests compare against the unfused ops) */
} PipelineOptions;

/* The default options: verify in debug builds (NDEBUG unset), autodiff and
 * fuse on. */
PipelineOptions pipeline_options_default(void);
/* Runs shape, autodiff, fold, fuse, dce, memplan on `m` in that order,
 * stopping after the first pass that reports errors (through m->diag) or
 * fails verification. Returns true when every pass succeeded. */
bool pipeline_run(IrModule *m, const PipelineOptions *o);
/* True when `name` names a pass (for validating --dump-after). */
bool pipeline_has_pass(const char *name);

#endif
