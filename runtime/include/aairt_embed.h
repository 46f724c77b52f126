/* aairt_embed.h - running a compiled model inside another program.
 *
 * `aaic -c model.aai --header model.h [--weights W.safetensors]` emits an
 * object whose small C API (declared in the generated header, prefixed by
 * the model name or --prefix) forwards to the functions below with the
 * model's constant AairtEmbed record. Programs normally use the generated
 * header only; this file is the ABI between those wrappers and libaairt.
 *
 * Memory: the caller owns every block. The weights block holds the
 * parameters (n_param_floats floats); baked weights live in the object's
 * read-only data. The state block holds the context: the fitted feature and
 * label transforms, the last error message and, with the train API, the
 * gradients and the optimizer state. The scratch block holds the arena of
 * the generated code and a copy of the input batch. All three are 64-byte
 * aligned. aairt_embed_predict and aairt_embed_train_step allocate no
 * state: only libaairt's convolution and small-GEMM helpers keep a
 * per-thread working block, sized by the first calls and reused after
 * (freed when the thread exits), and the first large matrix product loads
 * OpenBLAS. init, load and save parse JSON and
 * allocate temporarily, freeing everything before they return.
 *
 * Threads: a context is read-only during predict, so several threads may
 * predict with one context at once, each with its own scratch block.
 * train_step, set_epoch, set_lr, load and save modify or read the whole
 * context: nothing else may use that context meanwhile. */
#ifndef AAIRT_EMBED_H
#define AAIRT_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "aairt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AAIRT_EMBED_VERSION 1
/* Alignment of the weights, state and scratch blocks. */
#define AAIRT_EMBED_ALIGN 64
/* Bytes the context header takes at the start of the state block. */
#define AAIRT_EMBED_CTX_BYTES 2048
/* Most transform steps per side (features, label) a context can hold. */
#define AAIRT_EMBED_MAX_STEPS 16

/* AairtEmbed.flags */
#define AAIRT_EMBED_TRAIN_API 1u  /* state holds gradients and optimizer moments */
#define AAIRT_EMBED_REGRESSION 2u /* outputs are mapped back through the label transforms */

/* What the compiler bakes next to the descriptor (one per model object). */
typedef struct AairtEmbed {
    uint32_t version;            /* AAIRT_EMBED_VERSION */
    uint32_t flags;              /* AAIRT_EMBED_* */
    const AairtModel *model;     /* the descriptor */
    const float *weights;        /* baked parameter block, or NULL */
    const char *transforms_json; /* fitted transforms baked with the
                                    weights ("aai.transforms"), or NULL */
    int64_t x_width;             /* floats per input row */
    int64_t out_width;           /* floats per output row */
    int64_t label_width;         /* floats per label row (train API) */
    int64_t stats_floats;        /* room for fitted transform statistics */
} AairtEmbed;

/* Bytes of the state block (context header, transform statistics, and for
 * the train API gradients and two optimizer moments). */
size_t aairt_embed_state_size(const AairtEmbed *e);
/* Bytes of the scratch block for batches of up to `batch` rows. */
size_t aairt_embed_scratch_size(const AairtEmbed *e, int batch);

/* Initialises a context in `state` (aairt_embed_state_size bytes, 64-byte
 * aligned) and returns it, or NULL when state is NULL or misaligned.
 * `weights`: a writable block of n_param_floats floats (64-byte aligned) or
 * NULL. With baked weights they are copied into `weights`, or used in place
 * (read-only) when weights is NULL. Without baked weights, `weights` is
 * required; fill it with aairt_embed_load. Check aairt_embed_error for
 * problems (a context that failed to initialise refuses every call). */
void *aairt_embed_init(const AairtEmbed *e, void *state, float *weights);
/* Loads parameters and fitted transforms from safetensors bytes, checking
 * every tensor against the parameter table. 0, or -1 (aairt_embed_error). */
int aairt_embed_load(const AairtEmbed *e, void *ctx, const void *bytes, size_t size);
/* Same, from a file. */
int aairt_embed_load_file(const AairtEmbed *e, void *ctx, const char *path);
/* Writes the parameters and transforms as safetensors bytes (the format of
 * `./model train --out`) into buf. *size receives the bytes needed; when
 * cap is smaller, nothing is written and -1 is returned. */
int aairt_embed_save(const AairtEmbed *e, void *ctx, void *buf, size_t cap, size_t *size);
/* Runs the model on `batch` raw feature rows (the fitted feature
 * transforms are applied first; regression outputs are mapped back through
 * the label transforms), exactly like `./model predict`. `scratch` holds
 * aairt_embed_scratch_size(batch) bytes, 64-byte aligned. 0 or -1. */
int aairt_embed_predict(const AairtEmbed *e, void *ctx, void *scratch, const float *in,
                        float *out, int batch);
/* One optimizer step on a batch (train API): features as for predict,
 * labels as floats (class indices for classification), mean loss in *loss
 * (may be NULL). The learning rate is the train block's base rate until
 * set_epoch or set_lr changes it. */
int aairt_embed_train_step(const AairtEmbed *e, void *ctx, void *scratch, const float *x,
                           const float *labels, int batch, float *loss);
/* Sets the learning rate to what the train block's schedule gives 0-based
 * `epoch` of its `epochs` (the rate `./model train` uses in that epoch).
 * Call it at the start of each epoch. 0, or -1 (a negative epoch, or no
 * train API). */
int aairt_embed_set_epoch(const AairtEmbed *e, void *ctx, int epoch);
/* Sets the learning rate of the next steps directly (finite, >= 0), for a
 * schedule of the caller's own. 0 or -1. */
int aairt_embed_set_lr(const AairtEmbed *e, void *ctx, float lr);
/* The learning rate the next train_step uses; -1 for a context that failed
 * to initialise or has no train API. */
float aairt_embed_lr(const AairtEmbed *e, const void *ctx);
/* The context's last error message ("" when none). */
const char *aairt_embed_error(const AairtEmbed *e, const void *ctx);

#ifdef __cplusplus
}
#endif

#endif
