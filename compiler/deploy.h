/* deploy.h - aaic's deployment outputs: embeddable objects and shared
 * libraries with a generated C header (--header, --weights, --prefix,
 * --train-api, --shared), the resource report and budgets (--report,
 * --max-ram, --max-code) and dependency files (-MD, -MF).
 *
 * The driver parses the options into DeployOptions and calls, in order:
 * deploy_check_args (usage), deploy_prepare after the manifest is built
 * (reads and checks the weights, prints the report, checks the budgets),
 * deploy_emit instead of its own codegen when deploy_embeds says so, and
 * deploy_depfile once the outputs exist. Results are driver exit codes. */
#ifndef AAI_DEPLOY_H
#define AAI_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>

#include "codegen_embed.h"
#include "diag.h"
#include "embed.h"
#include "ir.h"
#include "sema.h"

typedef struct DeployOptions {
    const char *header;    /* --header FILE */
    const char *weights;   /* --weights FILE.safetensors */
    const char *prefix;    /* --prefix NAME */
    bool train_api;        /* --train-api */
    bool shared;           /* --shared */
    bool report;           /* --report */
    int64_t max_ram;       /* --max-ram BYTES (0: none) */
    int64_t max_code;      /* --max-code BYTES (0: none) */
    bool md;               /* -MD: write a depfile */
    const char *depfile;   /* -MF FILE (default: output + ".d") */
    bool object;           /* -c or --emit=obj|asm|llvm (set by the driver) */
} DeployOptions;

typedef struct Deploy {
    const DeployOptions *opt;
    EmbedSpec spec;
    bool have_spec;
} Deploy;

/* Whether the options ask for the embedding API (an object or .so with a
 * header) rather than the standalone executable. */
bool deploy_embeds(const DeployOptions *o);

/* Whether the standalone executable gets the --weights baked in
 * (cg_baked_object): --weights without -c, --shared or the header options. */
bool deploy_bakes_executable(const DeployOptions *o);

/* Usage checks once the command line is parsed (o->object set). Returns
 * NULL or a message (static). */
const char *deploy_check_args(const DeployOptions *o);

/* Weights, report, budgets. Returns 0, 1 (user error, diagnostics
 * printed) or 3 (internal error, printed). */
int deploy_prepare(Deploy *d, const DeployOptions *o, const IrModule *m,
                   const SemaProgram *prog, const char *manifest, const CgOptions *cg,
                   Diag *diag);

/* Writes the embeddable output: `kind` to `output` (NULL: <prefix>.o, or
 * lib<prefix>.so with --shared; "-" for asm/llvm: stdout), then the
 * header. Returns 0 or 3. */
int deploy_emit(Deploy *d, const IrModule *m, const CgOptions *cg, CgOutputKind kind,
                const char *output);

/* The depfile for `target`. Returns 0 or 1. */
int deploy_depfile(const DeployOptions *o, const char *target, const Diag *diag,
                   const SemaProgram *prog);

void deploy_free(Deploy *d);

#endif
