/* csv.c - CSV records to float matrices.
 *
 * A byte-at-a-time state machine over a 64 KiB stdio-style buffer. Field
 * text accumulates in one growable buffer (fields separated by NULs), so a
 * record of any length costs amortised O(length). See csv.h for the
 * accepted dialect and the error format. */
#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    CSV_CHUNK = 65536,
    CSV_MAX_FIELDS = 1 << 24,           /* per record */
};
#define CSV_MAX_RECORD_BYTES ((size_t)1 << 31)

struct AairtCsvReader {
    FILE *fp;
    int own_fp;
    char *name;
    char delim;
    unsigned char buf[CSV_CHUNK];
    size_t pos, len;
    int eof, started;
    int64_t line;                /* current physical line, 1-based */
    char *text;                  /* field bytes, NUL after each field */
    size_t text_len, text_cap;
    size_t *starts;              /* offset of each field in text */
    char **ptrs;                 /* rebuilt per record */
    size_t n_fields, fields_cap;
    /* after aairt_csv_begin */
    int begun, has_pending;      /* pending: first record kept as data */
    int64_t pending_line;
    int64_t n_cols;
    char **names;                /* n_cols names, or NULL */
};

static AairtCsvReader *reader_new(FILE *fp, int own, const char *name, char delim,
                                  AairtError *err)
{
    AairtCsvReader *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) {
        free(r);
        aairt_error_set(err, "%s: out of memory", name);
        return NULL;
    }
    r->fp = fp;
    r->own_fp = own;
    r->delim = delim;
    r->line = 1;
    return r;
}

AairtCsvReader *aairt_csv_open(const char *path, char delimiter, AairtError *err)
{
    if (delimiter == '"' || delimiter == '\n' || delimiter == '\r' || delimiter == 0) {
        aairt_error_set(err, "%s: invalid CSV delimiter (code %d)", path, delimiter);
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        aairt_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    AairtCsvReader *r = reader_new(fp, 1, path, delimiter, err);
    if (!r)
        fclose(fp);
    return r;
}

AairtCsvReader *aairt_csv_open_file(FILE *fp, const char *name, char delimiter,
                                    AairtError *err)
{
    if (delimiter == '"' || delimiter == '\n' || delimiter == '\r' || delimiter == 0) {
        aairt_error_set(err, "%s: invalid CSV delimiter (code %d)", name, delimiter);
        return NULL;
    }
    return reader_new(fp, 0, name, delimiter, err);
}

void aairt_csv_close(AairtCsvReader *r)
{
    if (!r)
        return;
    if (r->own_fp && r->fp)
        fclose(r->fp);
    if (r->names) {
        for (int64_t i = 0; i < r->n_cols; i++)
            free(r->names[i]);
        free(r->names);
    }
    free(r->text);
    free(r->starts);
    free(r->ptrs);
    free(r->name);
    free(r);
}

const char *aairt_csv_name(const AairtCsvReader *r) { return r->name; }

/* Next byte, or -1 at EOF; -2 on a read error. */
static int rd_getc(AairtCsvReader *r)
{
    if (r->pos == r->len) {
        if (r->eof)
            return -1;
        r->len = fread(r->buf, 1, sizeof r->buf, r->fp);
        r->pos = 0;
        if (r->len == 0) {
            r->eof = 1;
            return ferror(r->fp) ? -2 : -1;
        }
        if (!r->started) {
            r->started = 1;
            if (r->len >= 3 && r->buf[0] == 0xEF && r->buf[1] == 0xBB && r->buf[2] == 0xBF)
                r->pos = 3; /* UTF-8 byte order mark */
            if (r->pos == r->len)
                return rd_getc(r);
        }
    }
    return r->buf[r->pos++];
}

static int rd_peek(AairtCsvReader *r)
{
    int c = rd_getc(r);
    if (c >= 0)
        r->pos--;
    return c;
}

static int text_push(AairtCsvReader *r, char c, AairtError *err)
{
    if (r->text_len == r->text_cap) {
        if (r->text_cap >= CSV_MAX_RECORD_BYTES)
            return aairt_error_set(err, "%s:%lld: record longer than %zu bytes", r->name,
                                   (long long)r->line, CSV_MAX_RECORD_BYTES);
        size_t ncap = r->text_cap ? r->text_cap * 2 : 256;
        char *nt = realloc(r->text, ncap);
        if (!nt)
            return aairt_error_set(err, "%s:%lld: out of memory", r->name, (long long)r->line);
        r->text = nt;
        r->text_cap = ncap;
    }
    r->text[r->text_len++] = c;
    return 0;
}

static int field_start(AairtCsvReader *r, AairtError *err)
{
    if (r->n_fields == r->fields_cap) {
        if (r->fields_cap >= CSV_MAX_FIELDS)
            return aairt_error_set(err, "%s:%lld: more than %d fields in one record", r->name,
                                   (long long)r->line, CSV_MAX_FIELDS);
        size_t ncap = r->fields_cap ? r->fields_cap * 2 : 16;
        size_t *ns = realloc(r->starts, ncap * sizeof *ns);
        if (!ns)
            return aairt_error_set(err, "%s:%lld: out of memory", r->name, (long long)r->line);
        r->starts = ns;
        char **np = realloc(r->ptrs, ncap * sizeof *np);
        if (!np)
            return aairt_error_set(err, "%s:%lld: out of memory", r->name, (long long)r->line);
        r->ptrs = np;
        r->fields_cap = ncap;
    }
    r->starts[r->n_fields++] = r->text_len;
    return 0;
}

/* Cells are C strings, so a NUL byte would silently cut one short. */
static int nul_error(AairtCsvReader *r, int64_t col, AairtError *err)
{
    return aairt_error_set(err, "%s:%lld:%lld: NUL byte in a cell (not a text file?)", r->name,
                           (long long)r->line, (long long)col);
}

static int read_error(AairtCsvReader *r, AairtError *err)
{
    return aairt_error_set(err, "%s:%lld: read error: %s", r->name, (long long)r->line,
                           strerror(errno));
}

int aairt_csv_next(AairtCsvReader *r, char ***fields, int64_t *n_fields, int64_t *line,
                   AairtError *err)
{
    int c;
    /* Skip blank lines (LF or CRLF). */
    for (;;) {
        c = rd_peek(r);
        if (c == -2)
            return read_error(r, err);
        if (c == -1)
            return 0;
        if (c == '\n') {
            rd_getc(r);
            r->line++;
        } else if (c == '\r') {
            rd_getc(r);
            if (rd_peek(r) == '\n')
                rd_getc(r);
            r->line++;
        } else {
            break;
        }
    }
    r->text_len = 0;
    r->n_fields = 0;
    int64_t rec_line = r->line;
    int64_t col = 1; /* 1-based field number, for messages */
    for (;;) {
        /* At the start of a field. */
        if (field_start(r, err))
            return -1;
        c = rd_getc(r);
        if (c == '"') {
            int64_t qline = r->line;
            for (;;) {
                c = rd_getc(r);
                if (c == -2)
                    return read_error(r, err);
                if (c == -1)
                    return aairt_error_set(err,
                                           "%s:%lld:%lld: unterminated quoted field (the quote "
                                           "opened on line %lld is never closed)",
                                           r->name, (long long)rec_line, (long long)col,
                                           (long long)qline);
                if (c == '"') {
                    if (rd_peek(r) == '"') {
                        rd_getc(r);
                        if (text_push(r, '"', err))
                            return -1;
                        continue;
                    }
                    break;
                }
                if (c == '\n')
                    r->line++;
                if (c == 0)
                    return nul_error(r, col, err);
                if (text_push(r, (char)c, err))
                    return -1;
            }
            c = rd_getc(r);
            if (c == -2)
                return read_error(r, err);
            if (c >= 0 && c != r->delim && c != '\n' && c != '\r')
                return aairt_error_set(err,
                                       "%s:%lld:%lld: expected a delimiter or end of line after "
                                       "the closing quote, got '%c'",
                                       r->name, (long long)r->line, (long long)col, c);
        } else {
            while (c >= 0 && c != r->delim && c != '\n' && c != '\r') {
                if (c == 0)
                    return nul_error(r, col, err);
                if (text_push(r, (char)c, err))
                    return -1;
                c = rd_getc(r);
            }
            if (c == -2)
                return read_error(r, err);
        }
        if (text_push(r, 0, err))
            return -1;
        if (c == r->delim) {
            col++;
            continue;
        }
        if (c == '\r' && rd_peek(r) == '\n')
            rd_getc(r);
        if (c == '\n' || c == '\r')
            r->line++;
        break; /* end of line or end of input */
    }
    for (size_t i = 0; i < r->n_fields; i++)
        r->ptrs[i] = r->text + r->starts[i];
    *fields = r->ptrs;
    *n_fields = (int64_t)r->n_fields;
    *line = rec_line;
    return 1;
}

int aairt_csv_begin(AairtCsvReader *r, int header, AairtError *err)
{
    char **fields;
    int64_t n, line;
    int rc = aairt_csv_next(r, &fields, &n, &line, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return aairt_error_set(err, "%s: empty file (expected %s)", r->name,
                               header ? "a header row" : "data rows");
    r->n_cols = n;
    r->begun = 1;
    r->pending_line = line;
    if (!header) {
        r->has_pending = 1;
        return 0;
    }
    r->names = calloc((size_t)n, sizeof *r->names);
    if (!r->names)
        return aairt_error_set(err, "%s: out of memory", r->name);
    for (int64_t i = 0; i < n; i++) {
        /* Trim blanks around header names: "a, b" means columns a and b. */
        const char *s = fields[i];
        while (*s == ' ' || *s == '\t')
            s++;
        size_t len = strlen(s);
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        r->names[i] = strndup(s, len);
        if (!r->names[i])
            return aairt_error_set(err, "%s: out of memory", r->name);
    }
    return 0;
}

int64_t aairt_csv_n_cols(const AairtCsvReader *r) { return r->n_cols; }

const char *aairt_csv_col_name(const AairtCsvReader *r, int64_t i)
{
    return r->names && i >= 0 && i < r->n_cols ? r->names[i] : NULL;
}

int64_t aairt_csv_lookup_column(const AairtCsvReader *r, const char *name)
{
    if (!r->names)
        return -1;
    for (int64_t i = 0; i < r->n_cols; i++)
        if (strcmp(r->names[i], name) == 0)
            return i;
    return -1;
}

int aairt_csv_find_column(const AairtCsvReader *r, const char *name, int64_t *index,
                          AairtError *err)
{
    if (!r->names)
        return aairt_error_set(err,
                               "%s: column '%s' is selected by name but the source has no "
                               "header row (use 0-based indices)",
                               r->name, name);
    int64_t found = aairt_csv_lookup_column(r, name);
    if (found >= 0) {
        for (int64_t j = found + 1; j < r->n_cols; j++)
            if (strcmp(r->names[j], name) == 0)
                return aairt_error_set(err,
                                       "%s:1: column name '%s' is ambiguous: it names columns "
                                       "%lld and %lld",
                                       r->name, name, (long long)found + 1, (long long)j + 1);
        *index = found;
        return 0;
    }
    char list[700];
    size_t used = 0;
    list[0] = 0;
    for (int64_t i = 0; i < r->n_cols; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", r->names[i]);
        if (w < 0 || (size_t)w >= sizeof list - used) {
            snprintf(list + (used < sizeof list - 6 ? used : sizeof list - 6),
                     6, "%s", ", ...");
            break;
        }
        used += (size_t)w;
    }
    return aairt_error_set(err, "%s:1: no column named '%s'; available columns: %s", r->name,
                           name, list);
}

int aairt_csv_parse_float(const char *cell, float *out, const char *where, AairtError *err)
{
    const char *s = cell;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    /* Show at most 40 bytes of a bad cell. */
    int shown = strlen(cell) > 40 ? 40 : (int)strlen(cell);
    const char *more = strlen(cell) > 40 ? "..." : "";
    if (len == 0)
        return aairt_error_set(err, "%s: expected a number, got '%.*s'%s (an empty cell)",
                               where, shown, cell, more);
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (end != s + len)
        return aairt_error_set(err, "%s: expected a number, got '%.*s'%s", where, shown, cell,
                               more);
    if (isnan(v) || (isinf(v) && errno != ERANGE))
        return aairt_error_set(err, "%s: expected a finite number, got '%.*s'%s", where,
                               shown, cell, more);
    if (isinf(v))
        return aairt_error_set(err,
                               "%s: expected a number in float range (about 3.4e38), got "
                               "'%.*s'%s",
                               where, shown, cell, more);
    *out = v; /* ERANGE underflow: v is the nearest denormal or zero */
    return 0;
}

void aairt_csv_matrix_free(AairtCsvMatrix *m)
{
    if (!m)
        return;
    free(m->values);
    free(m->lines);
    memset(m, 0, sizeof *m);
}

/* Converts one record's selected cells into row. */
static int convert_record(AairtCsvReader *r, char **fields, int64_t n, int64_t line,
                          const int64_t *cols, int64_t n_sel, float *row, AairtError *err)
{
    if (n != r->n_cols)
        return aairt_error_set(err, "%s:%lld: row %lld has %lld field%s, expected %lld%s",
                               r->name, (long long)line, (long long)line, (long long)n,
                               n == 1 ? "" : "s", (long long)r->n_cols,
                               r->names ? " (as in the header)" : " (as in the first row)");
    for (int64_t j = 0; j < n_sel; j++) {
        int64_t c = cols[j];
        /* Cheap path first; the message is formatted only on failure. */
        float v;
        char *end;
        const char *s = fields[c];
        errno = 0;
        v = strtof(s, &end);
        if (end != s && *end == 0 && isfinite(v) && !isspace((unsigned char)*s)) {
            row[j] = v;
            continue;
        }
        char where[600];
        snprintf(where, sizeof where, "%s:%lld:%lld", r->name, (long long)line,
                 (long long)c + 1);
        if (aairt_csv_parse_float(s, &row[j], where, err)) {
            if (err && r->names) {
                size_t used = strlen(err->msg);
                snprintf(err->msg + used, sizeof err->msg - used, " (column '%s')",
                         r->names[c]);
            }
            return -1;
        }
    }
    return 0;
}

int aairt_csv_read_rows(AairtCsvReader *r, const int64_t *cols, int64_t n_sel,
                        AairtCsvMatrix *out, AairtError *err)
{
    memset(out, 0, sizeof *out);
    if (!r->begun)
        return aairt_error_set(err, "%s: aairt_csv_begin was not called", r->name);
    for (int64_t j = 0; j < n_sel; j++)
        if (cols[j] < 0 || cols[j] >= r->n_cols)
            return aairt_error_set(err, "%s: column index %lld out of range (the file has %lld "
                                        "columns, indices 0..%lld)",
                                   r->name, (long long)cols[j], (long long)r->n_cols,
                                   (long long)r->n_cols - 1);
    size_t width = (size_t)n_sel;
    size_t cap = 0, n = 0;
    float *values = NULL;
    int64_t *lines = NULL;
    for (;;) {
        char **fields;
        int64_t nf, line;
        int rc;
        if (r->has_pending) {
            /* The first record, kept by aairt_csv_begin, is still in place. */
            r->has_pending = 0;
            fields = r->ptrs;
            nf = (int64_t)r->n_fields;
            line = r->pending_line;
            rc = 1;
        } else {
            rc = aairt_csv_next(r, &fields, &nf, &line, err);
        }
        if (rc < 0)
            goto fail;
        if (rc == 0)
            break;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            if (width > 0 && ncap > SIZE_MAX / sizeof(float) / width) {
                aairt_error_set(err, "%s: too many rows", r->name);
                goto fail;
            }
            float *nv = realloc(values, ncap * width * sizeof *nv + 1);
            if (!nv) {
                aairt_error_set(err, "%s: out of memory after %zu rows", r->name, n);
                goto fail;
            }
            values = nv;
            int64_t *nl = realloc(lines, ncap * sizeof *nl);
            if (!nl) {
                aairt_error_set(err, "%s: out of memory after %zu rows", r->name, n);
                goto fail;
            }
            lines = nl;
            cap = ncap;
        }
        if (convert_record(r, fields, nf, line, cols, n_sel, values + n * width, err))
            goto fail;
        lines[n++] = line;
    }
    if (n == 0) {
        aairt_error_set(err, "%s: no data rows%s", r->name,
                        r->names ? " after the header" : "");
        goto fail;
    }
    out->values = values;
    out->lines = lines;
    out->n_rows = (int64_t)n;
    out->width = n_sel;
    return 0;
fail:
    free(values);
    free(lines);
    return -1;
}

int aairt_csv_load_all(const char *path, char delimiter, int header, AairtCsvMatrix *out,
                       AairtError *err)
{
    memset(out, 0, sizeof *out);
    AairtCsvReader *r = aairt_csv_open(path, delimiter, err);
    if (!r)
        return -1;
    int rc = aairt_csv_begin(r, header, err);
    int64_t *cols = NULL;
    if (rc == 0) {
        int64_t n = aairt_csv_n_cols(r);
        cols = malloc((size_t)n * sizeof *cols + 1);
        if (!cols) {
            rc = aairt_error_set(err, "%s: out of memory", path);
        } else {
            for (int64_t i = 0; i < n; i++)
                cols[i] = i;
            rc = aairt_csv_read_rows(r, cols, n, out, err);
        }
    }
    free(cols);
    aairt_csv_close(r);
    return rc;
}
