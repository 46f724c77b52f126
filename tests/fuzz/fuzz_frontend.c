/* fuzz_frontend.c - libFuzzer harness: .aai text through the whole front
 * and middle end, exactly as aaic's compile() runs it: parse_source ->
 * sema_check -> lower_program -> pipeline_run (IR verifier on) ->
 * manifest_build. Codegen is left out: it sees only verified IR.
 *
 * Besides memory errors the oracle is aaic's own contract: a stage that
 * fails must have reported an error, so "failed without a diagnostic"
 * (aaic's exit 3, internal error) aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "diag.h"
#include "lower.h"
#include "manifest.h"
#include "parse.h"
#include "pipeline.h"
#include "sema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet_sink(void *user, DiagLevel level, const char *path, SrcLoc loc,
                       const char *message, const char *source_line) {
    (void)user, (void)level, (void)path, (void)loc, (void)message, (void)source_line;
}

static void internal_error(const char *stage) {
    fprintf(stderr, "fuzz_frontend: %s failed without reporting an error\n", stage);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 16)) return 0; /* aaic's limit is 64 MiB; keep runs fast */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    Arena arena = {0};
    Diag *diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    diag_set_sink(diag, quiet_sink, NULL);

    AstFile *file = parse_source(&arena, diag, "fuzz.aai", text);
    if (!file && !diag_error_count(diag)) internal_error("parse_source");
    if (file && !diag_error_count(diag)) {
        SemaProgram prog;
        memset(&prog, 0, sizeof prog);
        bool ok = sema_check(&arena, diag, file, ".", &prog);
        if (!ok && !diag_error_count(diag)) internal_error("sema_check");
        IrModule *m = ok ? lower_program(&arena, diag, &prog) : NULL;
        if (ok && !m && !diag_error_count(diag)) internal_error("lower_program");
        if (m && !diag_error_count(diag)) {
            PipelineOptions popts = pipeline_options_default();
            popts.verify = true;
            FILE *null = fopen("/dev/null", "w");
            popts.dump = null;
            if (!pipeline_run(m, &popts)) {
                if (!diag_error_count(diag)) internal_error("pipeline_run");
            } else {
                free(manifest_build(m, &prog));
            }
            if (null) fclose(null);
        }
        sema_program_free(&prog);
    }
    diag_free(diag);
    arena_free(&arena);
    free(text);
    return 0;
}
