/* source.c - read .aai files (see source.h). */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows `*buf` to hold at least `need` bytes; false past the limit. */
static bool grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return true;
    size_t cap2 = *cap * 2;
    if (cap2 > (size_t)SOURCE_MAX_BYTES + 1)
        cap2 = (size_t)SOURCE_MAX_BYTES + 1;
    if (need > cap2)
        return false;
    char *p = realloc(*buf, cap2);
    if (!p)
        return false;
    *buf = p;
    *cap = cap2;
    return true;
}

char *source_read(const char *path, char *err, size_t err_cap) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, err_cap, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    bool too_big = false;
    while (buf) {
        if (!grow(&buf, &cap, len + 2)) {
            too_big = true;
            break;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    bool failed = !buf || too_big || ferror(f);
    if (too_big)
        snprintf(err, err_cap, "'%s' is larger than %d MiB", path,
                 SOURCE_MAX_BYTES >> 20);
    else if (failed)
        snprintf(err, err_cap, "cannot read '%s': %s", path, strerror(errno));
    if (f != stdin)
        fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

const char *source_dir_of(Arena *a, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    if (slash == path)
        return "/";
    return arena_strndup(a, path, (size_t)(slash - path));
}
