/* lang_test_support.h - helpers shared by the front-end unit tests:
 * capturing diagnostics and dumping a parsed file to a string. */
#ifndef AAI_LANG_TEST_SUPPORT_H
#define AAI_LANG_TEST_SUPPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "parse.h"

enum { CAPTURE_MAX = 512 };

typedef struct CapturedDiag {
    DiagLevel level;
    SrcLoc loc;
    char message[512];
} CapturedDiag;

/* Every diagnostic of one run, in order (the first CAPTURE_MAX). */
typedef struct DiagCapture {
    CapturedDiag items[CAPTURE_MAX];
    int n;
    int n_errors;
} DiagCapture;

static inline void capture_sink(void *user, DiagLevel level, const char *path,
                                SrcLoc loc, const char *message,
                                const char *source_line) {
    (void)path;
    (void)source_line;
    DiagCapture *c = user;
    if (level == DIAG_ERROR)
        c->n_errors++;
    if (c->n >= CAPTURE_MAX)
        return;
    CapturedDiag *d = &c->items[c->n++];
    d->level = level;
    d->loc = loc;
    snprintf(d->message, sizeof d->message, "%s", message);
}

/* A Diag whose messages land in `c` (zeroed here). */
static inline Diag *capture_new(DiagCapture *c) {
    memset(c, 0, sizeof *c);
    Diag *d = diag_new(stderr, DIAG_FORMAT_HUMAN);
    diag_set_sink(d, capture_sink, c);
    return d;
}

/* True when an error on `line` contains `fragment`. */
static inline bool capture_has(const DiagCapture *c, uint32_t line,
                               const char *fragment) {
    for (int i = 0; i < c->n; i++)
        if (c->items[i].level == DIAG_ERROR && c->items[i].loc.line == line &&
            strstr(c->items[i].message, fragment))
            return true;
    return false;
}

/* Prints every captured diagnostic (to explain a failing test). */
static inline void capture_dump(const DiagCapture *c, FILE *out) {
    for (int i = 0; i < c->n; i++)
        fprintf(out, "  %u:%u+%u: %s\n", c->items[i].loc.line,
                c->items[i].loc.col, c->items[i].loc.len,
                c->items[i].message);
}

/* Parses `text` and returns ast_print's dump (malloc'd; the caller frees
 * it); diagnostics go to `cap`. */
static inline char *parse_dump(const char *text, DiagCapture *cap) {
    Arena a = {0};
    Diag *d = capture_new(cap);
    AstFile *file = parse_source(&a, d, "test.aai", text);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ast_print(out, file);
    fclose(out);
    diag_free(d);
    arena_free(&a);
    return buf;
}

#endif
