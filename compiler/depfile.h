/* depfile.h - make-style dependency files (aaic -MD -MF FILE).
 *
 * One rule, `target: dep dep ...`, listing every file the compilation
 * read: each .aai source (the input and whatever it imports: every file
 * registered with the Diag), each data file the model reads, and the baked
 * weights. Spaces are escaped with '\' and '$' doubled, as GCC does, so
 * make, ninja and CMake's DEPFILE read it. */
#ifndef AAI_DEPFILE_H
#define AAI_DEPFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* Writes the rule for `target` to `path`: the Diag's source files, then
 * deps[0..n). Duplicates are listed once. Returns false (errno set) when
 * the file cannot be written. */
bool depfile_write(const char *path, const char *target, const Diag *d,
                   const char *const *deps, size_t n);

#endif
