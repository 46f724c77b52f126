/* imports.h - `use` declarations: find, parse and link the files a model
 * file imports, and resolve the names of defs and consts across them.
 *
 * `use std.nn` names a module: the file std/nn.aai under the search path
 * (-I directories in order, then the installed stdlib
 * <bindir>/../share/aai/stdlib, then the source tree's stdlib/ baked in at
 * build time). `use "path/file.aai"` names a file relative to the importing
 * file's directory (then the search path). Imports are loaded once each,
 * transitively; a cycle is reported at the `use` that starts it.
 *
 * Visibility: a file sees its own defs and consts by plain name; after
 * `use std.nn` it also sees that module's as `std.nn.NAME` and `nn.NAME`;
 * after `use "lib/blocks.aai"` as `NAME` and `blocks.NAME`. Imports are
 * not re-exported. */
#ifndef AAI_IMPORTS_H
#define AAI_IMPORTS_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"

typedef struct ImportOptions {
    const char *const *include_dirs; /* -I, searched first, in order */
    int n_include_dirs;
    bool no_default_stdlib; /* tests: only -I directories */
} ImportOptions;

typedef struct ImportSet ImportSet;

/* Loads every file `root` imports (transitively). `root` was parsed from
 * `root_path`. Errors (missing files, syntax errors in imports, cycles)
 * go to `d`. Never returns NULL; everything lives in `a`. */
ImportSet *imports_load(Arena *a, Diag *d, const AstFile *root,
                        const char *root_path, const ImportOptions *o);

/* The def (AST_ITEM_DEF) or const (AST_ITEM_CONST) item `name` (plain or
 * dotted: "mlp", "nn.mlp", "std.nn.mlp") as seen from file `from_file` (a
 * Diag file id), or NULL. `s` may be NULL (no imports: the root only is
 * searched through `root`). */
const AstItem *imports_lookup(const ImportSet *s, uint32_t from_file,
                              const char *name, AstItemKind kind);

/* Fills `out` with up to `max` names of `kind` visible from `from_file`
 * (for "did you mean"); returns the count. */
int imports_visible_names(const ImportSet *s, uint32_t from_file,
                          AstItemKind kind, const char **out, int max);

/* The dotted name of a callee: "relu" or "std.nn.mlp" (arena text), or
 * NULL when `e` is not a name or a chain of member accesses on a name. */
const char *imports_dotted_name(Arena *a, const AstExpr *e);

#endif
