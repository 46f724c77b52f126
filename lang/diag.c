/* diag.c - positioned diagnostics (see diag.h). */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct DiagFile {
    const char *path;
    const char *text;
} DiagFile;

struct Diag {
    FILE *out;
    DiagFormat format;
    DiagSinkFn sink;
    void *sink_user;
    DiagFile *files; /* index 0 is the "no file" entry */
    uint32_t n_files, cap_files;
    int n_errors;
};

static const char *const level_names[] = {"error", "warning", "note"};

static void print_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void diag_print_human(FILE *out, DiagLevel level, const char *path, SrcLoc loc,
                      const char *message, const char *source_line) {
    if (path && loc.line)
        fprintf(out, "%s:%u:%u: ", path, loc.line, loc.col);
    else if (path)
        fprintf(out, "%s: ", path);
    fprintf(out, "%s: %s\n", level_names[level], message);
    if (!source_line)
        return;
    fprintf(out, "%5u | %s\n      | ", loc.line, source_line);
    /* the quoted line may be cut short (long lines): only read inside it */
    size_t shown = strlen(source_line);
    for (uint32_t i = 1; i < loc.col; i++)
        fputc(i - 1 < shown && source_line[i - 1] == '\t' ? '\t' : ' ', out);
    fputc('^', out);
    for (uint32_t i = 1; i < loc.len; i++)
        fputc('~', out);
    fputc('\n', out);
}

static void default_sink(void *user, DiagLevel level, const char *path,
                         SrcLoc loc, const char *message,
                         const char *source_line) {
    Diag *d = user;
    if (d->format == DIAG_FORMAT_HUMAN) {
        diag_print_human(d->out, level, path, loc, message, source_line);
        return;
    }
    fputs("{\"level\":", d->out);
    print_json_string(d->out, level_names[level]);
    fputs(",\"file\":", d->out);
    print_json_string(d->out, path ? path : "");
    fprintf(d->out, ",\"line\":%u,\"column\":%u,\"length\":%u,\"message\":",
            loc.line, loc.col, loc.len);
    print_json_string(d->out, message);
    fputs("}\n", d->out);
}

Diag *diag_new(FILE *out, DiagFormat format) {
    Diag *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->out = out;
    d->format = format;
    d->sink = default_sink;
    d->sink_user = d;
    diag_add_file(d, NULL, NULL);
    return d;
}

void diag_free(Diag *d) {
    if (!d)
        return;
    free(d->files);
    free(d);
}

void diag_set_sink(Diag *d, DiagSinkFn fn, void *user) {
    d->sink = fn;
    d->sink_user = user;
}

uint32_t diag_add_file(Diag *d, const char *path, const char *text) {
    if (d->n_files == d->cap_files) {
        d->cap_files = d->cap_files ? d->cap_files * 2 : 8;
        d->files = realloc(d->files, d->cap_files * sizeof *d->files);
        if (!d->files)
            abort();
    }
    d->files[d->n_files] = (DiagFile){path, text};
    return d->n_files++;
}

const char *diag_file_path(const Diag *d, uint32_t file) {
    return file < d->n_files ? d->files[file].path : NULL;
}

const char *diag_file_text(const Diag *d, uint32_t file) {
    return file < d->n_files ? d->files[file].text : NULL;
}

/* Copies line `line` (1-based) of `text` into buf without its newline. */
static const char *extract_line(const char *text, uint32_t line, char *buf,
                                size_t cap) {
    if (!text || line == 0)
        return NULL;
    const char *p = text;
    for (uint32_t l = 1; l < line; l++) {
        p = strchr(p, '\n');
        if (!p)
            return NULL;
        p++;
    }
    size_t n = strcspn(p, "\r\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static void diag_emit(Diag *d, DiagLevel level, SrcLoc loc, const char *fmt,
                      va_list ap) {
    char message[1024];
    vsnprintf(message, sizeof message, fmt, ap);
    char line_buf[1024];
    const char *path = diag_file_path(d, loc.file);
    const char *line =
        extract_line(diag_file_text(d, loc.file), loc.line, line_buf,
                     sizeof line_buf);
    if (loc.len == 0)
        loc.len = 1;
    if (level == DIAG_ERROR)
        d->n_errors++;
    d->sink(d->sink_user, level, path, loc, message, line);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, DIAG_ERROR, loc, fmt, ap);
    va_end(ap);
}

void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, DIAG_WARNING, loc, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, DIAG_NOTE, loc, fmt, ap);
    va_end(ap);
}

int diag_error_count(const Diag *d) { return d->n_errors; }
