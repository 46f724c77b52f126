/* codegen_embed.h - the object of an embeddable model.
 *
 * The same module cg_module_build makes for executables (entry points and
 * descriptor, so predictions are the standalone binary's bit for bit),
 * with the entry points made internal and the descriptor named
 * `<prefix>_model`, plus: the baked weights (`<prefix>_weights`, read-only
 * data, 64-byte aligned), the AairtEmbed record (`<prefix>_embed`), and one
 * exported wrapper per function of the generated header, each forwarding
 * to the aairt_embed_* function of the same name with `<prefix>_embed`. */
#ifndef AAI_CODEGEN_EMBED_H
#define AAI_CODEGEN_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "codegen_llvm.h"
#include "embed.h"

/* Builds, optimizes and writes the module as `kind` to `path` (for
 * CG_OUT_OBJ `path` may be NULL: size only). o->prefix is ignored
 * (s->prefix names everything). *obj_size (may be NULL; objects only)
 * receives the object's size in bytes. Returns false with *err. */
bool cg_embed_compile(const IrModule *m, const CgOptions *o, const EmbedSpec *s,
                      CgOutputKind kind, const char *path, size_t *obj_size, char **err);

/* For an executable built with --weights: an object holding s->weights
 * (and the fitted transforms) as read-only data plus the AairtBaked record
 * `aai_baked` (runtime/include/aairt.h) that exe_main.c hands to the CLI.
 * `source` names the weights file in `./model info`. Returns false with
 * *err. */
bool cg_baked_object(const EmbedSpec *s, const CgOptions *o, const char *source,
                     const char *path, char **err);

/* The object size of the plain (executable) module, for --report. */
bool cg_object_size(const IrModule *m, const CgOptions *o, size_t *size, char **err);

#endif
