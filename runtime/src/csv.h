/* csv.h - streaming CSV reader for numeric data sets.
 *
 * RFC 4180 records: a configurable delimiter, quoted fields with ""
 * escapes and embedded delimiters or newlines, LF or CRLF line ends, an
 * optional UTF-8 byte order mark; blank lines are skipped. Lines may be
 * arbitrarily long: buffers grow, nothing is fixed-size. Cells are parsed
 * with strtof and must be finite numbers in full (surrounding blanks
 * allowed). Errors name `file:row:column` (row = the 1-based line where the
 * record starts, the header being row 1; column = the 1-based field) and
 * what was expected.
 *
 * Use: open, aairt_csv_begin (reads the header, or peeks the first record
 * to learn the field count), resolve columns, aairt_csv_read_rows. */
#ifndef AAIRT_CSV_H
#define AAIRT_CSV_H

#include <stdint.h>
#include <stdio.h>

#include "rt_error.h"

typedef struct AairtCsvReader AairtCsvReader;

/* Opens `path` for reading. Returns NULL with err set on failure. */
AairtCsvReader *aairt_csv_open(const char *path, char delimiter, AairtError *err);
/* Reads from an open stream (e.g. stdin), which stays the caller's: it is
 * not closed. `name` is used in messages ("<stdin>"). */
AairtCsvReader *aairt_csv_open_file(FILE *fp, const char *name, char delimiter,
                                    AairtError *err);
void aairt_csv_close(AairtCsvReader *r);
/* The name used in messages. */
const char *aairt_csv_name(const AairtCsvReader *r);

/* Reads the next record. Returns 1 with *fields (NUL-terminated strings,
 * valid until the next call) and *n_fields set, 0 at end of input, -1 on a
 * syntax or I/O error. *line is the line where the record starts. */
int aairt_csv_next(AairtCsvReader *r, char ***fields, int64_t *n_fields, int64_t *line,
                   AairtError *err);

/* Reads the first record: with `header` it holds the column names,
 * without it is kept as the first data row. Fails on an empty input. */
int aairt_csv_begin(AairtCsvReader *r, int header, AairtError *err);
/* Fields per record (known after aairt_csv_begin). */
int64_t aairt_csv_n_cols(const AairtCsvReader *r);
/* Header name of column i, or NULL without a header. */
const char *aairt_csv_col_name(const AairtCsvReader *r, int64_t i);
/* Finds a column by header name. Returns 0 with *index set, or -1 with an
 * error listing the available columns (or saying there is no header). A
 * name that appears twice in the header is an error too. */
int aairt_csv_find_column(const AairtCsvReader *r, const char *name, int64_t *index,
                          AairtError *err);
/* Same, returning -1 without an error when the column does not exist. */
int64_t aairt_csv_lookup_column(const AairtCsvReader *r, const char *name);

/* Numeric rows read from a CSV source. */
typedef struct AairtCsvMatrix {
    float *values;  /* n_rows * width, row-major, owned */
    int64_t *lines; /* n_rows: line where each row starts (for messages) */
    int64_t n_rows, width;
} AairtCsvMatrix;

/* Reads every remaining record, keeping the n_sel columns cols[] (0-based,
 * each < aairt_csv_n_cols) in that order. Every record must have exactly
 * aairt_csv_n_cols fields; only selected cells must be numbers. Fails on
 * zero data rows. */
int aairt_csv_read_rows(AairtCsvReader *r, const int64_t *cols, int64_t n_sel,
                        AairtCsvMatrix *out, AairtError *err);
void aairt_csv_matrix_free(AairtCsvMatrix *m);

/* Convenience: all columns of `path` as numbers. */
int aairt_csv_load_all(const char *path, char delimiter, int header, AairtCsvMatrix *out,
                       AairtError *err);

/* Parses a whole cell as a finite float. Returns 0, or -1 with err as
 * "<where>: expected a number, got '<cell>'" (or "a finite number"). */
int aairt_csv_parse_float(const char *cell, float *out, const char *where, AairtError *err);

#endif
