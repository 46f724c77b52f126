/* driver.c - aaic: the command line, and the stages run in order.
 *
 *   read file -> parse (lang/) -> sema -> lower -> passes -> manifest
 *             -> codegen (LLVM) -> object -> link (with libaairt)
 *
 * Exit codes: 0 ok, 1 user error (diagnostics printed), 2 usage error,
 * 3 internal error. Only this file prints usage or decides exit codes. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aai_config.h"
#include "arena.h"
#include "ast.h"
#include "codegen_llvm.h"
#include "deploy.h"
#include "diag.h"
#include "imports.h"
#include "fmt.h"
#include "link.h"
#include "lower.h"
#include "manifest.h"
#include "outfile.h"
#include "parse.h"
#include "pipeline.h"
#include "sema.h"
#include "source.h"

enum { EXIT_OK = 0, EXIT_USER = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

typedef enum EmitKind { EMIT_EXE, EMIT_OBJ, EMIT_AST, EMIT_IR, EMIT_LLVM, EMIT_ASM, EMIT_MANIFEST } EmitKind;

typedef struct Options {
    const char *input;
    const char *output;
    EmitKind emit;
    bool check_only;
    bool time_passes;
    const char *dump_after;
    const char *target;
    const char *cpu;
    int opt_level;
    DiagFormat diag_format;
    DeployOptions deploy; /* embedding, report, budgets, depfile */
    const char *include_dirs[64]; /* -I DIR: where `use` looks first */
    int n_include_dirs;
} Options;

static const char usage_text[] =
    "usage: aaic [options] FILE.aai\n"
    "       aaic fmt [--check | -w] FILE.aai...   (format; see aaic fmt -h)\n"
    "\n"
    "Compiles a .aai model file into a standalone executable that trains,\n"
    "evaluates and predicts (./model train|eval|predict|info).\n"
    "\n"
    "options:\n"
    "  -o FILE                 output file (default: the model name; with\n"
    "                          --emit=ast|ir|llvm|asm|manifest: stdout)\n"
    "  -c                      emit an object file instead of an executable\n"
    "  -I DIR                  search DIR for `use` modules (before the\n"
    "                          installed stdlib)\n"
    "  --check                 parse and type-check only; no output\n"
    "  --emit=KIND             exe | obj | ast | ir | llvm | asm | manifest\n"
    "  --dump-after=PASS       print the IR after PASS to stderr ('all' for\n"
    "                          every pass)\n"
    "  --time-passes           print the time each stage took to stderr\n"
    "  --target[=]TRIPLE       cross-compile (e.g. aarch64-linux-gnu)\n"
    "  --cpu[=]NAME            target CPU (generic, x86-64-v3, znver4, ...;\n"
    "                          default: the host's)\n"
    "  --header FILE           with -c or --shared: write the model's C API\n"
    "  --weights W.safetensors bake trained weights into the executable (its\n"
    "                          predict and eval default to them) or, with -c,\n"
    "                          the object (checked against the parameter table)\n"
    "  --prefix NAME           C API prefix (default: the model name)\n"
    "  --train-api             add PREFIX_train_step to the C API\n"
    "  --shared                build a shared library (lib<prefix>.so) with the\n"
    "                          C API\n"
    "  --report                print parameters, FLOPs and memory per layer\n"
    "  --max-ram BYTES         fail when the model needs more RAM\n"
    "  --max-code BYTES        fail when the object is larger\n"
    "  -MD, -MF FILE           write a make-style dependency file (default\n"
    "                          OUTPUT.d) listing every file read\n"
    "  -O0 -O1 -O2 -O3         LLVM optimization level (default -O3)\n"
    "  --diagnostics-format=human|json\n"
    "  -h, --help              this text\n"
    "  --version               print the version\n"
    "\n"
    "exit codes: 0 success, 1 error in the input (diagnostics printed),\n"
    "            2 bad command line, 3 internal error\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "aaic: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run 'aaic --help' for usage)\n");
    return EXIT_USAGE;
}

static bool parse_emit(const char *s, EmitKind *out) {
    static const struct {
        const char *name;
        EmitKind kind;
    } kinds[] = {{"exe", EMIT_EXE},   {"obj", EMIT_OBJ},   {"ast", EMIT_AST},
                 {"ir", EMIT_IR},     {"llvm", EMIT_LLVM}, {"asm", EMIT_ASM},
                 {"manifest", EMIT_MANIFEST}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        if (strcmp(s, kinds[i].name) == 0) {
            *out = kinds[i].kind;
            return true;
        }
    }
    return false;
}

/* Options that take their value as the next argument. */
static bool is_valued_option(const char *a) {
    static const char *const names[] = {"--target", "--cpu",     "--header",
                                        "--weights", "--prefix", "--max-ram",
                                        "--max-code", "-MF"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(a, names[i]) == 0)
            return true;
    return false;
}

static bool parse_bytes(const char *v, int64_t *out) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || n <= 0)
        return false;
    if (*end == 'K' || *end == 'k')
        n <<= 10, end++;
    else if (*end == 'M')
        n <<= 20, end++;
    else if (*end == 'G')
        n <<= 30, end++;
    *out = n;
    return *end == '\0';
}

static bool set_valued_option(Options *o, const char *a, const char *v) {
    DeployOptions *d = &o->deploy;
    if (strcmp(a, "--target") == 0)
        o->target = v;
    else if (strcmp(a, "--cpu") == 0)
        o->cpu = v;
    else if (strcmp(a, "--header") == 0)
        d->header = v;
    else if (strcmp(a, "--weights") == 0)
        d->weights = v;
    else if (strcmp(a, "--prefix") == 0)
        d->prefix = v;
    else if (strcmp(a, "-MF") == 0)
        d->depfile = v, d->md = true;
    else
        return parse_bytes(v, strcmp(a, "--max-ram") == 0 ? &d->max_ram : &d->max_code);
    return true;
}

/* Returns -1 when parsing succeeded, else the exit code to use. */
static int parse_args(int argc, char **argv, Options *o) {
    *o = (Options){.emit = EMIT_EXE, .opt_level = 3,
                   .diag_format = DIAG_FORMAT_HUMAN};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("aaic %s (LLVM 19)\n", AAI_VERSION);
            return EXIT_OK;
        } else if (strcmp(a, "-o") == 0) {
            if (++i == argc)
                return usage_error("%s needs a file name", "-o");
            o->output = argv[i];
        } else if (strncmp(a, "-I", 2) == 0) {
            const char *dir = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!dir)
                return usage_error("%s needs a directory", "-I");
            if (o->n_include_dirs == 64)
                return usage_error("too many -I options (at most 64)%s", "");
            o->include_dirs[o->n_include_dirs++] = dir;
        } else if (strcmp(a, "-c") == 0) {
            o->emit = EMIT_OBJ;
        } else if (strcmp(a, "--check") == 0) {
            o->check_only = true;
        } else if (strcmp(a, "--time-passes") == 0) {
            o->time_passes = true;
        } else if (strncmp(a, "--emit=", 7) == 0) {
            if (!parse_emit(a + 7, &o->emit))
                return usage_error("unknown --emit kind '%s'", a + 7);
        } else if (strncmp(a, "--dump-after=", 13) == 0) {
            o->dump_after = a + 13;
            if (strcmp(o->dump_after, "all") != 0 &&
                !pipeline_has_pass(o->dump_after))
                return usage_error("unknown pass '%s' in --dump-after",
                                   o->dump_after);
        } else if (strncmp(a, "--target=", 9) == 0) {
            o->target = a + 9;
        } else if (strncmp(a, "--cpu=", 6) == 0) {
            o->cpu = a + 6;
        } else if (is_valued_option(a)) {
            if (++i == argc)
                return usage_error("%s needs a value", a);
            if (!set_valued_option(o, a, argv[i]))
                return usage_error("bad value '%s'", argv[i]);
        } else if (strcmp(a, "--train-api") == 0) {
            o->deploy.train_api = true;
        } else if (strcmp(a, "--shared") == 0) {
            o->deploy.shared = true;
        } else if (strcmp(a, "--report") == 0) {
            o->deploy.report = true;
        } else if (strcmp(a, "-MD") == 0) {
            o->deploy.md = true;
        } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' &&
                   !a[3]) {
            o->opt_level = a[2] - '0';
        } else if (strcmp(a, "--diagnostics-format=json") == 0) {
            o->diag_format = DIAG_FORMAT_JSON;
        } else if (strcmp(a, "--diagnostics-format=human") == 0) {
            o->diag_format = DIAG_FORMAT_HUMAN;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (o->input) {
            return usage_error("only one input file may be given ('%s')", a);
        } else {
            o->input = a;
        }
    }
    if (!o->input)
        return usage_error("%s", "no input file");
    o->deploy.object = o->emit == EMIT_OBJ || o->emit == EMIT_ASM || o->emit == EMIT_LLVM;
    const char *bad = deploy_check_args(&o->deploy);
    if (bad)
        return usage_error("%s", bad);
    return -1;
}

typedef struct Timer {
    bool on;
    struct timespec start;
} Timer;

static void timer_start(Timer *t) { clock_gettime(CLOCK_MONOTONIC, &t->start); }

static void timer_lap(Timer *t, const char *stage) {
    if (!t->on)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - t->start.tv_sec) * 1e3 +
                (double)(now.tv_nsec - t->start.tv_nsec) / 1e6;
    fprintf(stderr, "aaic: %-10s %8.2f ms\n", stage, ms);
    t->start = now;
}

/* outfile_publish with aaic's exit code: EXIT_INTERNAL when the output
 * was not produced (its error already said why), EXIT_USER with a
 * diagnostic when it cannot be put in place. */
static int publish(const char *tmp, const char *path, bool complete) {
    if (outfile_publish(tmp, path, complete))
        return EXIT_OK;
    if (!complete)
        return EXIT_INTERNAL;
    outfile_report(path);
    return EXIT_USER;
}

static bool to_stdout(const Options *o) { return !o->output || strcmp(o->output, "-") == 0; }

/* Text output (--emit=ir|manifest): `write` prints it to a stream. */
typedef void (*TextWriter)(FILE *out, const void *what);

static int emit_text(const Options *o, TextWriter write, const void *what) {
    if (to_stdout(o)) {
        write(stdout, what);
        return EXIT_OK;
    }
    char tmp[PATH_MAX + 32];
    if (!outfile_start(tmp, sizeof tmp, o->output))
        return EXIT_USER;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        outfile_report(o->output);
        outfile_publish(tmp, o->output, false);
        return EXIT_USER;
    }
    write(out, what);
    bool ok = !ferror(out);
    ok = fclose(out) == 0 && ok;
    if (!ok) {
        outfile_report(o->output);
        outfile_publish(tmp, o->output, false);
        return EXIT_USER;
    }
    return publish(tmp, o->output, true);
}

static void write_ir(FILE *out, const void *m) { ir_print_module(out, m); }
static void write_manifest(FILE *out, const void *manifest) {
    fprintf(out, "%s\n", (const char *)manifest);
}

/* Object into a temporary file, then the link with libaairt. */
/* The weights object of a baked executable (cg_baked_object) at
 * `obj`, named in `./model info` by the file's base name (no directories:
 * the output must not depend on where the build ran). */
static bool emit_baked_object(const Options *o, const EmbedSpec *baked, const CgOptions *cg,
                              const char *obj, char **err) {
    const char *slash = strrchr(o->deploy.weights, '/');
    return cg_baked_object(baked, cg, slash ? slash + 1 : o->deploy.weights, obj, err);
}

static int emit_executable(const Options *o, const IrModule *m, const EmbedSpec *baked,
                           const CgOptions *cg, Timer *timer, char **err) {
    char runtime_dir[PATH_MAX];
    if (!link_find_runtime(runtime_dir, sizeof runtime_dir)) {
        fprintf(stderr, "aaic: error: cannot find libaairt.a next to the "
                        "aaic executable (looked in <bindir>/lib and "
                        "<bindir>/../lib/aai)\n");
        return EXIT_INTERNAL;
    }
    const char *out = o->output ? o->output : m->name;
    char obj[PATH_MAX], weights_obj[PATH_MAX], probe[PATH_MAX + 32];
    if (!outfile_start(probe, sizeof probe, out)) /* a missing or read-only folder */
        return EXIT_USER;
    unlink(probe); /* the link writes its own temporary */
    snprintf(obj, sizeof obj, "%s.%ld.o", out, (long)getpid());
    snprintf(weights_obj, sizeof weights_obj, "%s.%ld.weights.o", out, (long)getpid());
    int rc = EXIT_OK;
    /* The parts of a parallel compile go to the link as they are. */
    CgObjects parts = {0};
    if (!cg_compile_objects(m, cg, obj, &parts, err) ||
        (baked && !emit_baked_object(o, baked, cg, weights_obj, err))) {
        rc = EXIT_INTERNAL;
    } else {
        timer_lap(timer, "codegen");
        char link_err[512];
        const char *objects[CG_MAX_OBJECTS + 1];
        int n = 0;
        for (int i = 0; i < parts.n; i++) objects[n++] = parts.path[i];
        if (baked) objects[n++] = weights_obj;
        if (!link_executable(objects, n, out, runtime_dir, link_err, sizeof link_err)) {
            fprintf(stderr, "aaic: error: %s\n", link_err);
            rc = EXIT_INTERNAL;
        }
        timer_lap(timer, "link");
    }
    cg_objects_remove(&parts);
    if (baked) unlink(weights_obj);
    return rc;
}

static CgOptions cg_options(const Options *o, const char *manifest) {
    CgOptions cg = {0};
    cg.prefix = "aai";
    cg.manifest_json = manifest;
    cg.triple = o->target;
    cg.cpu = o->cpu;
    cg.opt_level = o->opt_level == 0 ? -1 : o->opt_level;
    cg.timing = o->time_passes ? stderr : NULL;
    return cg;
}

/* The file a depfile's rule is for. */
static const char *output_path(const Options *o, const IrModule *m, Arena *a) {
    if (o->output)
        return o->output;
    if (o->deploy.shared)
        return arena_printf(a, "lib%s.so", o->deploy.prefix ? o->deploy.prefix : m->name);
    if (o->emit == EMIT_OBJ)
        return arena_printf(a, "%s.o", deploy_embeds(&o->deploy) && o->deploy.prefix
                                           ? o->deploy.prefix : m->name);
    return m->name;
}

static int emit_code(const Options *o, const IrModule *m, const char *manifest,
                     const EmbedSpec *baked, Timer *timer);

/* The embeddable object or shared library (deploy.c), after the report. */
static int emit_deploy(const Options *o, const IrModule *m, const SemaProgram *prog,
                       const char *manifest, Diag *diag, Timer *timer) {
    CgOptions cg = cg_options(o, manifest);
    Deploy dep;
    int rc = deploy_prepare(&dep, &o->deploy, m, prog, manifest, &cg, diag);
    if (rc == EXIT_OK && deploy_embeds(&o->deploy)) {
        CgOutputKind kind = o->emit == EMIT_LLVM  ? CG_OUT_LLVM_IR
                            : o->emit == EMIT_ASM ? CG_OUT_ASM
                                                  : CG_OUT_OBJ;
        rc = deploy_emit(&dep, m, &cg, kind, o->output);
        timer_lap(timer, "codegen");
    } else if (rc == EXIT_OK) {
        const EmbedSpec *baked = deploy_bakes_executable(&o->deploy) ? &dep.spec : NULL;
        rc = emit_code(o, m, manifest, baked, timer);
    }
    deploy_free(&dep);
    return rc;
}

/* Codegen and, for executables, the link. `baked`: the weights to bake
 * into the executable, or NULL. */
static int emit_code(const Options *o, const IrModule *m, const char *manifest,
                     const EmbedSpec *baked, Timer *timer) {
    CgOptions cg = cg_options(o, manifest);
    char *err = NULL;
    int rc = EXIT_OK;
    if (o->emit == EMIT_LLVM || o->emit == EMIT_ASM || o->emit == EMIT_OBJ) {
        CgOutputKind kind = o->emit == EMIT_LLVM  ? CG_OUT_LLVM_IR
                            : o->emit == EMIT_ASM ? CG_OUT_ASM
                                                  : CG_OUT_OBJ;
        char path[PATH_MAX], tmp[PATH_MAX + 32];
        if (o->output) snprintf(path, sizeof path, "%s", o->output);
        else if (kind == CG_OUT_OBJ) snprintf(path, sizeof path, "%s.o", m->name);
        else snprintf(path, sizeof path, "-");
        if (strcmp(path, "-") == 0) {
            rc = cg_compile(m, &cg, kind, path, &err) ? EXIT_OK : EXIT_INTERNAL;
        } else {
            if (!outfile_start(tmp, sizeof tmp, path))
                return EXIT_USER;
            rc = publish(tmp, path, cg_compile(m, &cg, kind, tmp, &err));
        }
    } else {
        rc = emit_executable(o, m, baked, &cg, timer, &err);
    }
    timer_lap(timer, "codegen");
    if (err)
        fprintf(stderr, "aaic: error: %s\n", err);
    free(err);
    return rc;
}

static int compile(const Options *o, Arena *arena, Diag *diag,
                   const char *text) {
    Timer timer = {o->time_passes, {0}};
    timer_start(&timer);
    AstFile *file = parse_source(arena, diag, o->input, text);
    timer_lap(&timer, "parse");
    if (diag_error_count(diag))
        return EXIT_USER;
    if (o->emit == EMIT_AST) {
        ast_print(stdout, file);
        return EXIT_OK;
    }
    ImportOptions iopts = {o->include_dirs, o->n_include_dirs, false};
    const ImportSet *imports =
        imports_load(arena, diag, file, o->input, &iopts);
    if (diag_error_count(diag))
        return EXIT_USER;
    SemaProgram prog;
    bool ok = sema_check(arena, diag, file, source_dir_of(arena, o->input), &prog);
    prog.imports = imports;
    timer_lap(&timer, "sema");
    IrModule *m = ok ? lower_program(arena, diag, &prog) : NULL;
    timer_lap(&timer, "lower");
    if (!m || diag_error_count(diag)) {
        sema_program_free(&prog);
        return EXIT_USER;
    }
    PipelineOptions popts = pipeline_options_default();
    popts.dump_after = o->dump_after;
    popts.dump = stderr;
    ok = pipeline_run(m, &popts);
    timer_lap(&timer, "passes");
    int rc = EXIT_OK;
    if (!ok) {
        rc = diag_error_count(diag) ? EXIT_USER : EXIT_INTERNAL;
    } else if (o->check_only) {
        rc = EXIT_OK;
    } else if (o->emit == EMIT_IR) {
        rc = emit_text(o, write_ir, m);
    } else {
        char *manifest = manifest_build(m, &prog);
        if (o->emit == EMIT_MANIFEST)
            rc = emit_text(o, write_manifest, manifest);
        else
            rc = emit_deploy(o, m, &prog, manifest, diag, &timer);
        free(manifest);
        if (rc == EXIT_OK && o->deploy.md)
            rc = deploy_depfile(&o->deploy, output_path(o, m, arena), diag, &prog);
    }
    sema_program_free(&prog);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "fmt") == 0)
        return fmt_main(argc - 1, argv + 1); /* aaic fmt: fmt.c */
    Options o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char err[512];
    char *text = source_read(o.input, err, sizeof err);
    if (!text) {
        fprintf(stderr, "aaic: error: %s\n", err);
        return EXIT_USER;
    }
    Arena arena = {0};
    Diag *diag = diag_new(stderr, o.diag_format);
    rc = compile(&o, &arena, diag, text);
    diag_free(diag);
    arena_free(&arena);
    free(text);
    return rc;
}
