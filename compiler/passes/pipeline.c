/* pipeline.c - the pass list, top to bottom.
 *
 * The order is the optimizer's whole story: check shapes, differentiate
 * the train function, fold constants, fold activations into the ops that
 * feed them, drop dead values, plan memory. After
 * each pass the IR may be dumped (--dump-after) and, in debug builds, is
 * verified; a pass that reports errors stops the pipeline. */
#include "pipeline.h"

#include <string.h>

#include "passes.h"

typedef struct PassEntry {
    const char *name;
    void (*run)(IrModule *m);
    bool planned; /* storage is assigned after this pass */
} PassEntry;

static const PassEntry pass_list[] = {
    {"shape", pass_shape_check, false},
    {"autodiff", pass_autodiff, false},
    {"fold", pass_fold, false},
    {"fuse", pass_fuse, false},
    {"dce", pass_dce, false},
    {"memplan", pass_memplan, true},
};

PipelineOptions pipeline_options_default(void) {
    PipelineOptions o = {0};
#ifndef NDEBUG
    o.verify = true;
#endif
    o.autodiff = true;
    o.fuse = true;
    return o;
}

bool pipeline_has_pass(const char *name) {
    if (strcmp(name, "all") == 0) return true;
    for (size_t i = 0; i < sizeof pass_list / sizeof pass_list[0]; i++)
        if (strcmp(pass_list[i].name, name) == 0) return true;
    return false;
}

bool pipeline_run(IrModule *m, const PipelineOptions *o) {
    PipelineOptions def = pipeline_options_default();
    if (!o) o = &def;
    FILE *dump = o->dump ? o->dump : stdout;
    for (size_t i = 0; i < sizeof pass_list / sizeof pass_list[0]; i++) {
        const PassEntry *p = &pass_list[i];
        if ((p->run == pass_autodiff && !o->autodiff) || (p->run == pass_fuse && !o->fuse))
            continue;
        p->run(m);
        if (diag_error_count(m->diag) > 0) return false;
        if (o->dump_after &&
            (strcmp(o->dump_after, p->name) == 0 || strcmp(o->dump_after, "all") == 0)) {
            fprintf(dump, "; after %s\n", p->name);
            ir_print_module(dump, m);
        }
        if (o->verify)
            for (int k = 0; k < IR_ENTRY_COUNT; k++)
                if (m->funcs[k] && !ir_verify_func(m->funcs[k], p->planned, stderr)) {
                    fprintf(stderr, "internal error: IR invalid after pass %s\n", p->name);
                    return false;
                }
    }
    return true;
}
