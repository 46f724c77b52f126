/* sema.h - check a parsed file and resolve its blocks.
 *
 * Sema finds the one `train` block (or, without one, the one `model`),
 * the model and dataset it names, and checks every dataset and train field:
 * known keys, argument names and types, values in range. It turns the
 * dataset and train blocks into the manifest's "dataset" and "train" JSON
 * (docs/manifest.md) and records what lowering must check against the
 * model's output (loss kind, label width, class count). The model body
 * itself is checked while lowering (lower.c), where shapes are known. */
#ifndef AAI_SEMA_H
#define AAI_SEMA_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"

typedef enum SemaLoss { SEMA_LOSS_NONE, SEMA_LOSS_CROSS_ENTROPY, SEMA_LOSS_MSE, SEMA_LOSS_BCE } SemaLoss;

typedef struct SemaProgram {
    const AstFile *file;
    const AstItem *model;   /* the model to compile */
    const AstItem *dataset; /* NULL without a train block */
    const AstItem *train;   /* NULL when the file only declares a model */
    SemaLoss loss;
    SrcLoc loss_loc;
    int n_classes;          /* label |> classes(n); 0 otherwise */
    SrcLoc label_loc;
    cJSON *dataset_json;    /* owned: cJSON_Delete in sema_program_free */
    cJSON *train_json;      /* owned */
    PtrVec inputs_read;     /* const char* paths of data files the model reads */
    const struct ImportSet *imports; /* imports.h: defs and consts across
                                        `use`d files; set by the driver,
                                        NULL when nothing is imported */
} SemaProgram;

/* Checks `file`. `source_dir` is the directory of the .aai file as given on
 * the command line; relative data paths are joined to it. Returns false
 * when errors were reported. */
bool sema_check(Arena *a, Diag *d, const AstFile *file, const char *source_dir,
                SemaProgram *out);
void sema_program_free(SemaProgram *p);

/* Small helpers shared with lower.c. */
const AstArg *sema_find_kwarg(const AstExpr *call, const char *name);
const char *sema_call_name(const AstExpr *call);
/* Reports "did you mean" when `name` is close to one of `candidates`. */
const char *sema_closest(const char *name, const char *const *candidates, int n);


/* Argument binding: positional arguments fill `spec` in order, keywords by
 * name. Reports unknown keywords (with a suggestion), duplicates, too many
 * arguments and missing required ones at their positions. out[i] is the
 * expression bound to spec[i], or NULL. */
typedef struct SemaArgSpec {
    const char *name;
    bool required;
} SemaArgSpec;

bool sema_bind_args(Diag *d, const AstExpr *call, const SemaArgSpec *spec,
                    int n_spec, const AstExpr **out);
/* Compile-time values: literals and arithmetic on them. Report "expected
 * a number/integer/string/boolean" at the expression and return false;
 * a NULL expression (a missing argument, already reported) returns false
 * silently. */
bool sema_eval_number(Diag *d, const AstExpr *e, double *out);
bool sema_eval_int(Diag *d, const AstExpr *e, long long min, long long max,
                   long long *out);
bool sema_eval_string(Diag *d, const AstExpr *e, const char **out);
bool sema_eval_bool(Diag *d, const AstExpr *e, bool *out);

#endif
