/* diag.h - diagnostics: positioned errors, warnings and notes.
 *
 * Every stage reports user errors through a Diag; nothing below the driver
 * prints or exits on its own. Messages accumulate (a stage keeps going to
 * report several errors) and the driver stops at a stage boundary when
 * diag_error_count() is non-zero. Output goes to a sink callback, so tests can
 * capture it; the default sink prints GCC-style text with the source line
 * and a caret, or one JSON object per line. */
#ifndef AAI_DIAG_H
#define AAI_DIAG_H

#include <stdint.h>
#include <stdio.h>

/* A span of source text. file indexes Diag's file table (0 = no file). */
typedef struct SrcLoc {
    uint32_t file; /* id from diag_add_file, 0 when unknown */
    uint32_t line; /* 1-based */
    uint32_t col;  /* 1-based, in bytes */
    uint32_t len;  /* bytes underlined, at least 1 when shown */
} SrcLoc;

typedef enum DiagLevel { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;
typedef enum DiagFormat { DIAG_FORMAT_HUMAN, DIAG_FORMAT_JSON } DiagFormat;

typedef struct Diag Diag;

/* Receives each finished message; `text` is already formatted. */
typedef void (*DiagSinkFn)(void *user, DiagLevel level, const char *path,
                           SrcLoc loc, const char *message,
                           const char *source_line);

/* Creates a sink printing to `out` in `format`. Free with diag_free. */
Diag *diag_new(FILE *out, DiagFormat format);
void diag_free(Diag *d);
/* Replaces the printer (tests capture messages this way). */
void diag_set_sink(Diag *d, DiagSinkFn fn, void *user);
/* Registers a source text (kept by pointer, not copied) and returns its
 * file id for SrcLoc.file. */
uint32_t diag_add_file(Diag *d, const char *path, const char *text);
const char *diag_file_path(const Diag *d, uint32_t file);
const char *diag_file_text(const Diag *d, uint32_t file);

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note attaches to the previous error (e.g. "declared here"). */
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int diag_error_count(const Diag *d);

/* Formats one message in the human form into `out` (used by the default
 * sink; exposed for tests). */
void diag_print_human(FILE *out, DiagLevel level, const char *path, SrcLoc loc,
                      const char *message, const char *source_line);

#endif
