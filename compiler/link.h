/* link.h - turn a model object into an executable with the system linker.
 *
 * aaic finds libaairt relative to its own executable (build tree:
 * <bindir>/lib; installed: <bindir>/../lib/aai), so it works from the build
 * directory and after `cmake --install`. The link runs `cc` through
 * posix_spawn with an argv array (no shell), writes to a temporary file
 * beside the output and renames it into place. */
#ifndef AAI_LINK_H
#define AAI_LINK_H

#include <stdbool.h>
#include <stddef.h>

/* Directory holding libaairt.a and libaairt_main.a; false if not found. */
bool link_find_runtime(char *dir, size_t cap);
/* Directory of the running aaic executable. */
bool link_self_dir(char *dir, size_t cap);

enum { LINK_MAX_OBJECTS = 24 }; /* per link_executable / link_relocatable */

/* Links `objects` (at most LINK_MAX_OBJECTS: the model's, e.g. the parts
 * of cg_compile_objects, then e.g. its baked weights)
 * with the runtime into `output`. On failure returns false and writes a
 * one-line reason into err. */
bool link_executable(const char *const *objects, int n_objects, const char *output,
                     const char *runtime_dir, char *err, size_t err_cap);

/* Links `object` with libaairt into the shared library `output` (the
 * embedding API of --shared), the same way. */
bool link_shared_library(const char *object, const char *output, const char *runtime_dir,
                         char *err, size_t err_cap);

/* Combines `n` host object files into the one relocatable object `output`
 * with `ld -r` (AAI_RELOCATABLE_LD overrides the program), as parallel
 * code generation (codegen_parallel.c) must for users of a single object.
 * On failure returns false and writes a one-line reason into err. */
bool link_relocatable(const char *const *objects, int n, const char *output,
                      char *err, size_t err_cap);

/* Runs argv[0] with argv (PATH lookup), waits; returns the exit status, or
 * -1 when it could not start. */
int link_spawn(char *const argv[]);

#endif
