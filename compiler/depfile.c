/* depfile.c - make-style dependency files (see depfile.h). */
#include "depfile.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"

static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == ' ' || *s == '#' || *s == '\\') fputc('\\', f);
        if (*s == '$') fputc('$', f);
        fputc(*s, f);
    }
}

static bool seen(const char **list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

bool depfile_write(const char *path, const char *target, const Diag *d,
                   const char *const *deps, size_t n) {
    size_t n_files = 0;
    while (diag_file_path(d, (uint32_t)(n_files + 1))) n_files++;
    const char **all = calloc(n_files + n + 1, sizeof *all);
    if (!all) return false;
    size_t k = 0;
    for (size_t i = 1; i <= n_files; i++) {
        const char *p = diag_file_path(d, (uint32_t)i);
        if (p && *p && strcmp(p, "-") != 0 && p[0] != '<' && !seen(all, k, p)) all[k++] = p;
    }
    for (size_t i = 0; i < n; i++)
        if (deps[i] && !seen(all, k, deps[i])) all[k++] = deps[i];
    char tmp[PATH_MAX + 32];
    outfile_temp(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(all);
        return false;
    }
    put_escaped(f, target);
    fputc(':', f);
    for (size_t i = 0; i < k; i++) {
        fputs(" \\\n  ", f);
        put_escaped(f, all[i]);
    }
    fputc('\n', f);
    free(all);
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    return outfile_publish(tmp, path, ok);
}
