/* aai.c - the `aai` tool: run a model file without building it, and
 * format model files.
 *
 *   aai run [-I DIR] [-O0..3] MODEL.aai [--] train|eval|predict|info ARGS...
 *   aai fmt [--check | -w] FILE.aai...
 *
 * `run` compiles in memory: the same stages as aaic (parse, imports, sema,
 * lower, passes, manifest) and the same LLVM pipeline and host target
 * machine (jit.c calls cg_target_machine_new and cg_optimize, like
 * ahead-of-time codegen), then ORC LLJIT instead of an object file and a
 * link. The runtime's main (aairt_main, from libaairt linked whole into
 * this executable, whose symbols are exported for the JIT) then runs the
 * subcommand against the JIT-compiled descriptor `aai_model`, so results
 * are bit for bit those of the built executable.
 *
 * Exit codes: those of the subcommand; 1 for errors in the model file,
 * 2 for a bad command line, 3 for internal errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aai_config.h"
#include "aairt.h"
#include "arena.h"
#include "diag.h"
#include "fmt.h"
#include "imports.h"
#include "jit.h"
#include "lower.h"
#include "manifest.h"
#include "parse.h"
#include "pipeline.h"
#include "sema.h"
#include "source.h"

enum { EXIT_USER = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

static const char usage_text[] =
    "usage: aai run [-I DIR] [-O0..-O3] MODEL.aai [--] COMMAND [ARGS...]\n"
    "       aai fmt [--check | -w] FILE.aai...\n"
    "\n"
    "run: compile MODEL.aai in memory (LLVM ORC JIT) and run COMMAND\n"
    "     (train, eval, predict, info) exactly as the executable built by\n"
    "     'aaic MODEL.aai' would, with the same options and results.\n"
    "fmt: format model files (see 'aai fmt --help').\n";

typedef struct RunOptions {
    const char *input;
    const char *include_dirs[64];
    int n_include_dirs;
    int opt_level;
    int cmd_argc; /* COMMAND and its arguments */
    char **cmd_argv;
} RunOptions;

static int parse_run_args(int argc, char **argv, RunOptions *o) {
    *o = (RunOptions){.opt_level = 3};
    int i = 1;
    for (; i < argc && !o->input; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strncmp(a, "-I", 2) == 0) {
            const char *dir = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!dir || o->n_include_dirs == 64) {
                fprintf(stderr, "aai: error: -I needs a directory\n");
                return EXIT_USAGE;
            }
            o->include_dirs[o->n_include_dirs++] = dir;
        } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' &&
                   !a[3]) {
            o->opt_level = a[2] - '0';
        } else if (a[0] == '-') {
            fprintf(stderr, "aai: error: unknown option '%s'\n", a);
            return EXIT_USAGE;
        } else {
            o->input = a;
        }
    }
    if (!o->input) {
        fprintf(stderr, "aai: error: no model file\n(run 'aai --help')\n");
        return EXIT_USAGE;
    }
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    o->cmd_argc = argc - i;
    o->cmd_argv = argv + i;
    return -1;
}

/* The front and middle of aaic: text to a planned IrModule and its
 * manifest. Returns an exit code, or -1 on success. */
static int compile_model(const RunOptions *o, Arena *arena, Diag *diag,
                         const char *text, IrModule **out_m,
                         char **out_manifest) {
    AstFile *file = parse_source(arena, diag, o->input, text);
    if (diag_error_count(diag))
        return EXIT_USER;
    ImportOptions io = {o->include_dirs, o->n_include_dirs, false};
    const ImportSet *imports = imports_load(arena, diag, file, o->input, &io);
    if (diag_error_count(diag))
        return EXIT_USER;
    SemaProgram prog;
    bool ok = sema_check(arena, diag, file, source_dir_of(arena, o->input), &prog);
    prog.imports = imports;
    IrModule *m = ok ? lower_program(arena, diag, &prog) : NULL;
    if (!m || diag_error_count(diag)) {
        sema_program_free(&prog);
        return EXIT_USER;
    }
    PipelineOptions popts = pipeline_options_default();
    if (!pipeline_run(m, &popts)) {
        sema_program_free(&prog);
        return diag_error_count(diag) ? EXIT_USER : EXIT_INTERNAL;
    }
    *out_manifest = manifest_build(m, &prog);
    sema_program_free(&prog);
    *out_m = m;
    return -1;
}

static int run_main(int argc, char **argv) {
    RunOptions o;
    int rc = parse_run_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char err[512];
    char *text = source_read(o.input, err, sizeof err);
    if (!text) {
        fprintf(stderr, "aai: error: %s\n", err);
        return EXIT_USER;
    }
    Arena arena = {0};
    Diag *diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    IrModule *m = NULL;
    char *manifest = NULL;
    rc = compile_model(&o, &arena, diag, text, &m, &manifest);
    Jit *jit = NULL;
    if (rc < 0) {
        /* exactly aaic's codegen options (driver.c emit_code) */
        CgOptions cg = {0};
        cg.prefix = "aai";
        cg.manifest_json = manifest;
        cg.opt_level = o.opt_level == 0 ? -1 : o.opt_level;
        JitSymbol syms[] = {
            {"aairt_optimizer_step", (void *)aairt_optimizer_step}};
        char *jit_err = NULL;
        jit = jit_new(m, &cg, syms, 1, &jit_err);
        if (!jit) {
            fprintf(stderr, "aai: error: %s\n",
                    jit_err ? jit_err : "JIT failed");
            free(jit_err);
            rc = EXIT_INTERNAL;
        }
    }
    if (rc < 0) {
        /* argv for the runtime: the model's name, then COMMAND ARGS... */
        char **cmd = calloc((size_t)o.cmd_argc + 2, sizeof *cmd);
        cmd[0] = (char *)m->name;
        for (int i = 0; i < o.cmd_argc; i++)
            cmd[i + 1] = o.cmd_argv[i];
        rc = aairt_main(jit_model(jit), o.cmd_argc + 1, cmd);
        free(cmd);
    }
    jit_free(jit);
    free(manifest);
    diag_free(diag);
    arena_free(&arena);
    free(text);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return run_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "fmt") == 0)
        return fmt_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("aai %s (LLVM 19)\n", AAI_VERSION);
        return 0;
    }
    fputs(usage_text, argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
                                    strcmp(argv[1], "--help") == 0)
                          ? stdout
                          : stderr);
    return argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
                         strcmp(argv[1], "--help") == 0)
               ? 0
               : EXIT_USAGE;
}
