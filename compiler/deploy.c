/* deploy.c - embeddable outputs, report, budgets, depfiles (see deploy.h). */
#include "deploy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depfile.h"
#include "link.h"
#include "outfile.h"
#include "report.h"

/* --header, --prefix and --train-api only make sense for the embedding
 * API; --weights also bakes into a standalone executable. */
static bool wants_api(const DeployOptions *o) {
    return o->header || o->prefix || o->train_api || o->shared;
}

bool deploy_embeds(const DeployOptions *o) {
    return wants_api(o) || (o->weights && o->object);
}

bool deploy_bakes_executable(const DeployOptions *o) {
    return o->weights && !deploy_embeds(o);
}

const char *deploy_check_args(const DeployOptions *o) {
    if (wants_api(o) && !o->object && !o->shared)
        return "--header, --prefix and --train-api build an embeddable object: "
               "add -c (or --shared)";
    if (o->shared && o->object) return "--shared and -c/--emit exclude each other";
    return NULL;
}

static SrcLoc model_loc(const SemaProgram *prog) {
    SrcLoc none = {0, 0, 0, 0};
    return prog->model ? prog->model->name_loc : none;
}

int deploy_prepare(Deploy *d, const DeployOptions *o, const IrModule *m,
                   const SemaProgram *prog, const char *manifest, const CgOptions *cg,
                   Diag *diag) {
    memset(d, 0, sizeof *d);
    d->opt = o;
    char *err = NULL;
    if (!embed_spec_init(&d->spec, m, manifest, o->prefix, o->train_api, &err)) {
        fprintf(stderr, "aaic: error: %s\n", err ? err : "out of memory");
        free(err);
        /* A bad --prefix is the user's. */
        return 1;
    }
    d->have_spec = true;
    if (o->train_api && !d->spec.has_train) {
        diag_error(diag, model_loc(prog), "--train-api needs a train block for model '%s'",
                   m->name);
        return 1;
    }
    if (o->weights && !embed_load_weights(&d->spec, diag, model_loc(prog), m, o->weights))
        return 1;
    if (!o->report && !o->max_ram && !o->max_code) return 0;
    size_t size = 0;
    /* Baked executables: the report counts the model's code, not the data. */
    bool ok = deploy_embeds(o) ? cg_embed_compile(m, cg, &d->spec, CG_OUT_OBJ, NULL, &size, &err)
                               : cg_object_size(m, cg, &size, &err);
    if (!ok) {
        fprintf(stderr, "aaic: error: %s\n", err ? err : "code generation failed");
        free(err);
        return 3;
    }
    ReportTotals t;
    report_totals(m, &d->spec, size, &t);
    if (o->report) report_print(stdout, m, &t);
    return report_check_budgets(diag, model_loc(prog), &t, o->max_ram, o->max_code) ? 0 : 1;
}

/* --shared: libaairt from beside aaic, linked by link_shared_library. */
static bool link_shared(const char *object, const char *output, char *err, size_t cap) {
    char runtime_dir[PATH_MAX];
    if (!link_find_runtime(runtime_dir, sizeof runtime_dir)) {
        snprintf(err, cap, "cannot find libaairt.a next to the aaic executable");
        return false;
    }
    return link_shared_library(object, output, runtime_dir, err, cap);
}

int deploy_emit(Deploy *d, const IrModule *m, const CgOptions *cg, CgOutputKind kind,
                const char *output) {
    const EmbedSpec *s = &d->spec;
    char path[PATH_MAX];
    if (output) snprintf(path, sizeof path, "%s", output);
    else if (d->opt->shared) snprintf(path, sizeof path, "lib%s.so", s->prefix);
    else if (kind == CG_OUT_OBJ) snprintf(path, sizeof path, "%s.o", s->prefix);
    else snprintf(path, sizeof path, "-");
    char *err = NULL;
    int rc = 0;
    if (d->opt->shared) {
        char obj[PATH_MAX + 32];
        snprintf(obj, sizeof obj, "%s.%ld.o", path, (long)getpid());
        char lerr[512];
        if (!cg_embed_compile(m, cg, s, CG_OUT_OBJ, obj, NULL, &err)) rc = 3;
        else if (!link_shared(obj, path, lerr, sizeof lerr)) {
            fprintf(stderr, "aaic: error: %s\n", lerr);
            rc = 3;
        }
        unlink(obj);
    } else if (strcmp(path, "-") == 0) {
        if (!cg_embed_compile(m, cg, s, kind, path, NULL, &err)) rc = 3;
    } else {
        char tmp[PATH_MAX + 32];
        if (!outfile_start(tmp, sizeof tmp, path)) return 1;
        bool made = cg_embed_compile(m, cg, s, kind, tmp, NULL, &err);
        if (!outfile_publish(tmp, path, made)) {
            if (made) outfile_report(path);
            rc = made ? 1 : 3;
        }
    }
    if (rc == 0 && d->opt->header && !embed_write_header(s, d->opt->header, &err)) rc = 1;
    if (err) fprintf(stderr, "aaic: error: %s\n", err);
    free(err);
    return rc;
}

int deploy_depfile(const DeployOptions *o, const char *target, const Diag *diag,
                   const SemaProgram *prog) {
    char def[PATH_MAX + 8];
    const char *path = o->depfile;
    if (!path) {
        snprintf(def, sizeof def, "%s.d", target);
        path = def;
    }
    size_t n = prog->inputs_read.len;
    const char **deps = calloc(n + 1, sizeof *deps);
    if (!deps) return 3;
    for (size_t i = 0; i < n; i++) deps[i] = prog->inputs_read.items[i];
    if (o->weights) deps[n++] = o->weights;
    bool ok = depfile_write(path, target, diag, deps, n);
    free(deps);
    if (!ok) {
        outfile_report(path);
        return 1;
    }
    return 0;
}

void deploy_free(Deploy *d) {
    if (d->have_spec) embed_spec_free(&d->spec);
    memset(d, 0, sizeof *d);
}
