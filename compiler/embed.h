/* embed.h - what an embeddable model object needs besides the generated
 * code: its C API prefix, sizes and signature (from the manifest), the
 * weights baked in at compile time (read from safetensors and checked
 * against the parameter table), and the generated C header.
 *
 * The object itself is built by codegen_embed.c; the runtime side of the
 * API is runtime/src/embed.c (runtime/include/aairt_embed.h). */
#ifndef AAI_EMBED_H
#define AAI_EMBED_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "ir.h"

#define EMBED_MAX_RANK 8

typedef struct EmbedSpec {
    char prefix[128];         /* C identifier the API is named by */
    const char *model_name;   /* IrModule.name */
    bool train_api;           /* --train-api */
    bool has_train;           /* the model has a train_step entry */
    bool regression;          /* task "regression" */
    char task[32];
    int64_t classes;          /* classification: class count, else 0 */
    int64_t n_param_floats;
    int64_t arena_static_floats, arena_row_floats;
    int in_rank, out_rank;
    int64_t in_shape[EMBED_MAX_RANK], out_shape[EMBED_MAX_RANK]; /* [0] = -1 */
    int64_t x_width, out_width, label_width;
    int64_t stats_floats;     /* room for fitted transform statistics */
    float *weights;           /* owned: baked block, or NULL */
    char *transforms_json;    /* owned: baked "aai.transforms", or NULL */
    char *signature_json;     /* owned: name, input, output, task, label */
} EmbedSpec;

/* Fills `s` from the module and its manifest text. `prefix` NULL: the
 * model name. Returns false with *err (malloc'd) when the prefix is not a
 * C identifier or the manifest is malformed (an internal error). */
bool embed_spec_init(EmbedSpec *s, const IrModule *m, const char *manifest_json,
                     const char *prefix, bool train_api, char **err);
void embed_spec_free(EmbedSpec *s);

/* Reads `path` (safetensors) into s->weights, checking every tensor
 * against m's parameter table: names, dtype F32, shapes, offsets. Errors
 * go to `d` at `at` (the model's name) or at the parameter's layer call.
 * Returns false when any was reported. */
bool embed_load_weights(EmbedSpec *s, Diag *d, SrcLoc at, const IrModule *m, const char *path);

/* Writes the C header for s to `path` (deterministic: no paths, no times).
 * Returns false with *err (malloc'd). */
bool embed_write_header(const EmbedSpec *s, const char *path, char **err);

#endif
