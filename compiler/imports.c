/* imports.c - load the files `use` names and resolve names across them
 * (see imports.h for the search path and the visibility rules).
 *
 * Loading is a depth-first walk from the root file. A stack of the files
 * being loaded detects cycles; a table of canonical paths (realpath) makes
 * each file load once. Imported files are parsed into the same arena and
 * registered with the same Diag, so their errors are positioned too. */
#include "imports.h"

#include "source.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aai_config.h"
#include "parse.h"

enum { IMPORT_MAX_DEPTH = 64 };

/* One loaded file. */
typedef struct ImportFile {
    const AstFile *ast;
    const char *real;   /* canonical path (dedupe, cycles) */
    const char *dir;    /* directory of the path as written */
    const char *module; /* "std.nn" when loaded as a module, else NULL */
    const char *stem;   /* "blocks" for blocks.aai */
    PtrVec uses;        /* ImportUse *: what this file imports */
} ImportFile;

typedef struct ImportUse {
    const struct ImportFile *target;
    const char *qualifier; /* "std.nn" or "blocks" */
    const char *short_q;   /* "nn" for modules, NULL for files */
    bool unqualified;      /* file imports: plain names too */
} ImportUse;

struct ImportSet {
    Arena *arena;
    Diag *diag;
    const ImportOptions *opts;
    PtrVec files;      /* ImportFile * */
    PtrVec search;     /* const char * directories */
    const ImportFile *stack[IMPORT_MAX_DEPTH];
    SrcLoc stack_use[IMPORT_MAX_DEPTH]; /* the use that loaded stack[i+1] */
    int depth;
};

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *stem_of(Arena *a, const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return arena_strndup(a, base, dot ? (size_t)(dot - base) : strlen(base));
}

/* The search path: -I directories, the installed stdlib next to the
 * executable, the source tree's stdlib. */
static void search_init(ImportSet *s) {
    for (int i = 0; i < s->opts->n_include_dirs; i++)
        ptrvec_push(s->arena, &s->search, (void *)s->opts->include_dirs[i]);
    if (s->opts->no_default_stdlib)
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            const char *installed =
                arena_printf(s->arena, "%s/../share/aai/stdlib", exe);
            if (is_dir(installed))
                ptrvec_push(s->arena, &s->search, (void *)installed);
        }
    }
#ifdef AAI_STDLIB_SOURCE_DIR
    if (is_dir(AAI_STDLIB_SOURCE_DIR))
        ptrvec_push(s->arena, &s->search, (void *)AAI_STDLIB_SOURCE_DIR);
#endif
}

static ImportFile *file_find(ImportSet *s, const char *real) {
    for (size_t i = 0; i < s->files.len; i++) {
        ImportFile *f = s->files.items[i];
        if (strcmp(f->real, real) == 0)
            return f;
    }
    return NULL;
}

static void load_uses(ImportSet *s, ImportFile *f);

/* Reports the cycle closed by loading `target` from the use at `loc`. */
static void report_cycle(ImportSet *s, int start, SrcLoc loc) {
    SrcLoc at = start + 1 < s->depth ? s->stack_use[start] : loc;
    char chain[1024] = "";
    size_t used = 0;
    for (int i = start; i < s->depth; i++) {
        int w = snprintf(chain + used, sizeof chain - used, "%s -> ",
                         s->stack[i]->ast->path);
        if (w > 0 && (size_t)w < sizeof chain - used)
            used += (size_t)w;
    }
    snprintf(chain + used, sizeof chain - used, "%s", s->stack[start]->ast->path);
    diag_error(s->diag, at, "import cycle: %s", chain);
    for (int i = start + 1; i < s->depth; i++)
        diag_note(s->diag, i + 1 < s->depth ? s->stack_use[i] : loc,
                  "'%s' imports '%s' here", s->stack[i]->ast->path,
                  i + 1 < s->depth ? s->stack[i + 1]->ast->path
                                   : s->stack[start]->ast->path);
}

/* Loads (once) the file at `path`, found for the use at `loc`; NULL when
 * it could not be read or closes a cycle (reported). */
static ImportFile *load_file(ImportSet *s, const char *path,
                             const char *module, SrcLoc loc) {
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        diag_error(s->diag, loc, "cannot open '%s': %s", path,
                   strerror(errno));
        return NULL;
    }
    for (int i = 0; i < s->depth; i++) {
        if (strcmp(s->stack[i]->real, real) == 0) {
            report_cycle(s, i, loc);
            return NULL;
        }
    }
    ImportFile *f = file_find(s, real);
    if (f)
        return f;
    if (s->depth >= IMPORT_MAX_DEPTH) {
        diag_error(s->diag, loc, "imports nested more than %d deep",
                   IMPORT_MAX_DEPTH);
        return NULL;
    }
    char err[512];
    char *heap_text = source_read(path, err, sizeof err);
    if (!heap_text) {
        diag_error(s->diag, loc, "%s", err);
        return NULL;
    }
    /* Diagnostics quote the text until the compilation ends. */
    char *text = arena_strdup(s->arena, heap_text);
    free(heap_text);
    f = ARENA_NEW(s->arena, ImportFile);
    f->ast = parse_source(s->arena, s->diag, arena_strdup(s->arena, path), text);
    f->real = arena_strdup(s->arena, real);
    f->dir = source_dir_of(s->arena, path);
    f->module = module;
    f->stem = stem_of(s->arena, path);
    ptrvec_push(s->arena, &s->files, f);
    for (size_t i = 0; i < f->ast->n_items; i++) {
        const AstItem *it = &f->ast->items[i];
        if (it->kind == AST_ITEM_MODEL || it->kind == AST_ITEM_DATASET ||
            it->kind == AST_ITEM_TRAIN)
            diag_error(s->diag, it->loc,
                       "an imported file holds only 'def', 'const' and "
                       "'use' items");
    }
    s->stack[s->depth++] = f;
    load_uses(s, f);
    s->depth--;
    return f;
}

/* Finds `rel` in the search path; NULL when absent (tried: listed). */
static const char *search_find(ImportSet *s, const char *rel, char *tried,
                               size_t cap) {
    size_t used = 0;
    tried[0] = '\0';
    for (size_t i = 0; i < s->search.len; i++) {
        const char *probe =
            arena_printf(s->arena, "%s/%s", (const char *)s->search.items[i], rel);
        if (is_file(probe))
            return probe;
        int w = snprintf(tried + used, cap - used, "%s%s", used ? ", " : "",
                         (const char *)s->search.items[i]);
        if (w > 0 && (size_t)w < cap - used)
            used += (size_t)w;
    }
    return NULL;
}

static void load_use(ImportSet *s, ImportFile *from, const AstItem *use) {
    char tried[1024];
    const char *path = NULL;
    ImportUse *u = ARENA_NEW(s->arena, ImportUse);
    if (use->use_is_file) {
        const char *rel = use->name;
        if (rel[0] == '/')
            path = is_file(rel) ? rel : NULL;
        else {
            const char *local =
                strcmp(from->dir, ".") == 0
                    ? rel
                    : arena_printf(s->arena, "%s/%s", from->dir, rel);
            path = is_file(local) ? local : search_find(s, rel, tried, sizeof tried);
        }
        if (!path) {
            diag_error(s->diag, use->name_loc, "cannot find \"%s\" (looked in "
                       "%s%s%s)", rel, from->dir, s->search.len ? ", " : "",
                       s->search.len ? tried : "");
            return;
        }
        u->qualifier = stem_of(s->arena, path);
        u->unqualified = true;
    } else {
        char *rel = arena_printf(s->arena, "%s.aai", use->name);
        for (char *p = rel; *p && p < rel + strlen(use->name); p++)
            if (*p == '.')
                *p = '/';
        path = search_find(s, rel, tried, sizeof tried);
        if (!path) {
            if (s->search.len)
                diag_error(s->diag, use->name_loc,
                           "cannot find module '%s' (no %s in %s)", use->name,
                           rel, tried);
            else
                diag_error(s->diag, use->name_loc,
                           "cannot find module '%s' (the search path is "
                           "empty; add -I DIR)", use->name);
            return;
        }
        u->qualifier = use->name;
        const char *dot = strrchr(use->name, '.');
        u->short_q = dot ? dot + 1 : NULL;
    }
    s->stack_use[s->depth - 1] = use->name_loc;
    u->target = load_file(s, path, use->use_is_file ? NULL : use->name,
                          use->name_loc);
    if (u->target)
        ptrvec_push(s->arena, &from->uses, u);
}

static void load_uses(ImportSet *s, ImportFile *f) {
    for (size_t i = 0; i < f->ast->n_items; i++)
        if (f->ast->items[i].kind == AST_ITEM_USE)
            load_use(s, f, &f->ast->items[i]);
}

ImportSet *imports_load(Arena *a, Diag *d, const AstFile *root,
                        const char *root_path, const ImportOptions *o) {
    static const ImportOptions none = {0};
    ImportSet *s = ARENA_NEW(a, ImportSet);
    s->arena = a;
    s->diag = d;
    s->opts = o ? o : &none;
    search_init(s);
    ImportFile *f = ARENA_NEW(a, ImportFile);
    f->ast = root;
    char real[PATH_MAX];
    f->real = arena_strdup(a, realpath(root_path, real) ? real : root_path);
    f->dir = source_dir_of(a, root_path);
    f->stem = stem_of(a, root_path);
    ptrvec_push(a, &s->files, f);
    s->stack[s->depth++] = f;
    load_uses(s, f);
    s->depth--;
    return s;
}

/* ---- name resolution ---------------------------------------------------- */

static const ImportFile *file_by_id(const ImportSet *s, uint32_t id) {
    for (size_t i = 0; s && i < s->files.len; i++) {
        const ImportFile *f = s->files.items[i];
        if (f->ast->file_id == id)
            return f;
    }
    return NULL;
}

static const AstItem *own_item(const AstFile *f, const char *name,
                               AstItemKind kind) {
    for (size_t i = f->n_items; i-- > 0;)
        if (f->items[i].kind == kind && f->items[i].name &&
            strcmp(f->items[i].name, name) == 0)
            return &f->items[i];
    return NULL;
}

/* `name` minus the leading "q." when it starts so, else NULL. */
static const char *strip_qualifier(const char *name, const char *q) {
    size_t n = q ? strlen(q) : 0;
    if (!q || strncmp(name, q, n) != 0 || name[n] != '.')
        return NULL;
    return name + n + 1;
}

const AstItem *imports_lookup(const ImportSet *s, uint32_t from_file,
                              const char *name, AstItemKind kind) {
    const ImportFile *f = file_by_id(s, from_file);
    if (!f)
        return NULL;
    const AstItem *it = own_item(f->ast, name, kind);
    if (it)
        return it;
    for (size_t i = 0; i < f->uses.len; i++) {
        const ImportUse *u = f->uses.items[i];
        const char *rest = strip_qualifier(name, u->qualifier);
        if (!rest)
            rest = strip_qualifier(name, u->short_q);
        if (!rest && u->unqualified && !strchr(name, '.'))
            rest = name;
        if (rest && (it = own_item(u->target->ast, rest, kind)))
            return it;
    }
    return NULL;
}

int imports_visible_names(const ImportSet *s, uint32_t from_file,
                          AstItemKind kind, const char **out, int max) {
    const ImportFile *f = file_by_id(s, from_file);
    int n = 0;
    if (!f)
        return 0;
    for (size_t i = 0; i < f->ast->n_items && n < max; i++)
        if (f->ast->items[i].kind == kind)
            out[n++] = f->ast->items[i].name;
    for (size_t u = 0; u < f->uses.len; u++) {
        const ImportUse *use = f->uses.items[u];
        const AstFile *t = use->target->ast;
        for (size_t i = 0; i < t->n_items && n < max; i++)
            if (t->items[i].kind == kind)
                out[n++] = use->unqualified
                               ? t->items[i].name
                               : arena_printf(s->arena, "%s.%s",
                                              use->short_q ? use->short_q
                                                           : use->qualifier,
                                              t->items[i].name);
    }
    return n;
}

const char *imports_dotted_name(Arena *a, const AstExpr *e) {
    if (e->kind == AST_EXPR_NAME)
        return e->as.name;
    if (e->kind != AST_EXPR_FIELD)
        return NULL;
    const char *head = imports_dotted_name(a, e->as.field.object);
    return head ? arena_printf(a, "%s.%s", head, e->as.field.member) : NULL;
}
