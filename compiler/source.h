/* source.h - reading .aai source files, shared by aaic, aai and imports.
 *
 * One reader with one size limit, so every tool treats a file the same
 * way: "-" is standard input, the text is NUL-terminated, and a file over
 * SOURCE_MAX_BYTES is refused rather than read. */
#ifndef AAI_SOURCE_H
#define AAI_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

enum { SOURCE_MAX_BYTES = 64 << 20 };

/* Reads `path` ("-": stdin) into malloc'd memory (caller frees). On
 * failure returns NULL and writes a one-line reason naming the file into
 * err. */
char *source_read(const char *path, char *err, size_t err_cap);

/* The directory part of `path` ("." when it has none), in the arena. */
const char *source_dir_of(Arena *a, const char *path);

#endif
