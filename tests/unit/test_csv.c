/* test_csv.c - the CSV reader: dialect, column selection and every error
 * message's location and wording. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/aai_csv_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* Writes text to tmpdir/name; returns the path (static buffer). */
static const char *put(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    fwrite(text, 1, strlen(text), fp);
    fclose(fp);
    return path;
}

/* Loads all columns, expecting failure; returns the message. */
static const char *load_fail(const char *path, int header)
{
    static AairtError err;
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_load_all(path, ',', header, &m, &err), -1);
    cr_assert_null(m.values);
    return err.msg;
}

TestSuite(csv, .init = setup, .fini = teardown);

Test(csv, reads_header_quotes_crlf_and_trailing_blank_line)
{
    const char *p = put("a.csv", "a,\"b,x\",c\r\n"
                                 "1,2.5,-3e2\r\n"
                                 "\"4\",\" 5 \",6\r\n"
                                 "\r\n");
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(p, ',', &err);
    cr_assert_not_null(r, "%s", err.msg);
    cr_assert_eq(aairt_csv_begin(r, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(aairt_csv_n_cols(r), 3);
    cr_assert_str_eq(aairt_csv_col_name(r, 1), "b,x");
    int64_t ix;
    cr_assert_eq(aairt_csv_find_column(r, "c", &ix, &err), 0);
    cr_assert_eq(ix, 2);
    int64_t cols[] = {2, 0};
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_read_rows(r, cols, 2, &m, &err), 0, "%s", err.msg);
    cr_assert_eq(m.n_rows, 2);
    cr_assert_eq(m.width, 2);
    cr_assert_float_eq(m.values[0], -300.0f, 0);
    cr_assert_float_eq(m.values[1], 1.0f, 0);
    cr_assert_float_eq(m.values[2], 6.0f, 0);
    cr_assert_float_eq(m.values[3], 4.0f, 0);
    cr_assert_eq(m.lines[0], 2);
    cr_assert_eq(m.lines[1], 3);
    aairt_csv_matrix_free(&m);
    aairt_csv_close(r);
}

Test(csv, quoted_field_with_escaped_quotes_and_newline)
{
    const char *p = put("q.csv", "name,v\n"
                                 "\"say \"\"hi\"\",\nthen go\",1\n"
                                 "plain,2\n");
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(p, ',', &err);
    cr_assert_not_null(r);
    char **f;
    int64_t n, line;
    cr_assert_eq(aairt_csv_next(r, &f, &n, &line, &err), 1);
    cr_assert_eq(aairt_csv_next(r, &f, &n, &line, &err), 1);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(f[0], "say \"hi\",\nthen go");
    cr_assert_str_eq(f[1], "1");
    cr_assert_eq(line, 2);
    cr_assert_eq(aairt_csv_next(r, &f, &n, &line, &err), 1);
    cr_assert_eq(line, 4, "the quoted newline counts as a line");
    cr_assert_str_eq(f[0], "plain");
    cr_assert_eq(aairt_csv_next(r, &f, &n, &line, &err), 0);
    aairt_csv_close(r);
}

Test(csv, unselected_text_columns_are_not_parsed)
{
    const char *p = put("t.csv", "id,x\nabc,1\n\"d,e\",2\n");
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(p, ',', &err);
    cr_assert_eq(aairt_csv_begin(r, 1, &err), 0);
    int64_t cols[] = {1};
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_read_rows(r, cols, 1, &m, &err), 0, "%s", err.msg);
    cr_assert_eq(m.n_rows, 2);
    cr_assert_float_eq(m.values[1], 2.0f, 0);
    aairt_csv_matrix_free(&m);
    aairt_csv_close(r);
}

Test(csv, other_delimiters_and_no_header)
{
    AairtError err;
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_load_all(put("s.csv", "1;2\n3;4"), ';', 0, &m, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(m.n_rows, 2);
    cr_assert_float_eq(m.values[3], 4.0f, 0);
    aairt_csv_matrix_free(&m);
    cr_assert_eq(aairt_csv_load_all(put("t.tsv", "a\tb\n1\t2\n"), '\t', 1, &m, &err), 0);
    cr_assert_eq(m.n_rows, 1);
    cr_assert_float_eq(m.values[1], 2.0f, 0);
    aairt_csv_matrix_free(&m);
}

Test(csv, byte_order_mark_and_blank_lines_are_skipped)
{
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(put("bom.csv", "\xEF\xBB\xBFx,y\n\n1,2\n\n\n3,4\n\n"),
                                       ',', &err);
    cr_assert_eq(aairt_csv_begin(r, 1, &err), 0);
    cr_assert_str_eq(aairt_csv_col_name(r, 0), "x");
    int64_t cols[] = {0, 1};
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_read_rows(r, cols, 2, &m, &err), 0);
    cr_assert_eq(m.n_rows, 2);
    cr_assert_eq(m.lines[1], 6);
    aairt_csv_matrix_free(&m);
    aairt_csv_close(r);
}

Test(csv, huge_record_is_read_without_fixed_buffers)
{
    /* 200,000 columns on one line (about 1.2 MB). */
    enum { N = 200000 };
    char path[256];
    snprintf(path, sizeof path, "%s/wide.csv", tmpdir);
    FILE *fp = fopen(path, "wb");
    for (int i = 0; i < N; i++)
        fprintf(fp, "%sc%d", i ? "," : "", i);
    fputc('\n', fp);
    for (int i = 0; i < N; i++)
        fprintf(fp, "%s%d", i ? "," : "", i % 1000);
    fputc('\n', fp);
    fclose(fp);
    AairtError err;
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_load_all(path, ',', 1, &m, &err), 0, "%s", err.msg);
    cr_assert_eq(m.width, N);
    cr_assert_float_eq(m.values[N - 1], (float)((N - 1) % 1000), 0);
    aairt_csv_matrix_free(&m);
}

Test(csv, reads_from_a_stream)
{
    char text[] = "a,b\n1,2\n";
    FILE *fp = fmemopen(text, strlen(text), "r");
    AairtError err;
    AairtCsvReader *r = aairt_csv_open_file(fp, "<stdin>", ',', &err);
    cr_assert_eq(aairt_csv_begin(r, 1, &err), 0);
    int64_t cols[] = {1};
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_read_rows(r, cols, 1, &m, &err), 0);
    cr_assert_float_eq(m.values[0], 2.0f, 0);
    aairt_csv_matrix_free(&m);
    aairt_csv_close(r);
    fclose(fp); /* still ours */
}

Test(csv, error_not_a_number_names_file_row_column)
{
    const char *p = put("x.csv", "a,b,c\n1,2,3\n4,5,abc\n");
    const char *msg = load_fail(p, 1);
    cr_assert(strstr(msg, "x.csv:3:3: expected a number, got 'abc'"), "%s", msg);
    cr_assert(strstr(msg, "column 'c'"), "%s", msg);
}

Test(csv, error_empty_cell)
{
    const char *msg = load_fail(put("e.csv", "a,b\n1,\n"), 1);
    cr_assert(strstr(msg, "e.csv:2:2: expected a number, got ''"), "%s", msg);
}

Test(csv, error_nan_and_inf_cells)
{
    const char *msg = load_fail(put("n.csv", "a,b\n1,nan\n"), 1);
    cr_assert(strstr(msg, "n.csv:2:2: expected a finite number, got 'nan'"), "%s", msg);
    msg = load_fail(put("i.csv", "a,b\n-inf,1\n"), 1);
    cr_assert(strstr(msg, "i.csv:2:1: expected a finite number, got '-inf'"), "%s", msg);
    msg = load_fail(put("o.csv", "a\n1e39\n"), 1);
    cr_assert(strstr(msg, "o.csv:2:1: expected a number in float range"), "%s", msg);
}

Test(csv, error_trailing_garbage_after_number)
{
    const char *msg = load_fail(put("g.csv", "a\n1.5x\n"), 1);
    cr_assert(strstr(msg, "g.csv:2:1: expected a number, got '1.5x'"), "%s", msg);
}

Test(csv, error_ragged_row)
{
    const char *msg = load_fail(put("r.csv", "a,b,c,d,e\n1,2,3,4,5\n1,2,3,4,5\n"
                                             "1,2,3,4,5\n1,2,3,4,5\n1,2,3,4,5\n1,2,3,4\n"),
                                1);
    cr_assert(strstr(msg, "r.csv:7: row 7 has 4 fields, expected 5"), "%s", msg);
}

Test(csv, error_empty_file_and_header_only)
{
    const char *msg = load_fail(put("empty.csv", ""), 1);
    cr_assert(strstr(msg, "empty.csv: empty file"), "%s", msg);
    msg = load_fail(put("blank.csv", "\n\r\n"), 0);
    cr_assert(strstr(msg, "blank.csv: empty file"), "%s", msg);
    msg = load_fail(put("h.csv", "a,b\n"), 1);
    cr_assert(strstr(msg, "h.csv: no data rows after the header"), "%s", msg);
}

Test(csv, error_missing_column_lists_available_ones)
{
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(put("m.csv", "sepal,petal,species\n1,2,0\n"), ',', &err);
    cr_assert_eq(aairt_csv_begin(r, 1, &err), 0);
    int64_t ix;
    cr_assert_eq(aairt_csv_find_column(r, "colour", &ix, &err), -1);
    cr_assert(strstr(err.msg, "no column named 'colour'; available columns: 'sepal', 'petal', "
                              "'species'"),
              "%s", err.msg);
    cr_assert_eq(aairt_csv_lookup_column(r, "colour"), -1);
    aairt_csv_close(r);
}

Test(csv, error_duplicate_header_name)
{
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(put("d.csv", "a,b,a\n1,2,3\n"), ',', &err);
    cr_assert_eq(aairt_csv_begin(r, 1, &err), 0);
    int64_t ix;
    cr_assert_eq(aairt_csv_find_column(r, "a", &ix, &err), -1);
    cr_assert(strstr(err.msg, "ambiguous"), "%s", err.msg);
    aairt_csv_close(r);
}

Test(csv, error_name_without_header)
{
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(put("nh.csv", "1,2\n"), ',', &err);
    cr_assert_eq(aairt_csv_begin(r, 0, &err), 0);
    int64_t ix;
    cr_assert_eq(aairt_csv_find_column(r, "a", &ix, &err), -1);
    cr_assert(strstr(err.msg, "no header row"), "%s", err.msg);
    aairt_csv_close(r);
}

Test(csv, error_column_index_out_of_range)
{
    AairtError err;
    AairtCsvReader *r = aairt_csv_open(put("ix.csv", "1,2\n"), ',', &err);
    cr_assert_eq(aairt_csv_begin(r, 0, &err), 0);
    int64_t cols[] = {5};
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_read_rows(r, cols, 1, &m, &err), -1);
    cr_assert(strstr(err.msg, "column index 5 out of range"), "%s", err.msg);
    aairt_csv_close(r);
}

Test(csv, error_unterminated_quote)
{
    const char *msg = load_fail(put("u.csv", "a,b\n1,\"2\n3,4\n"), 1);
    cr_assert(strstr(msg, "u.csv:2:2: unterminated quoted field"), "%s", msg);
}

Test(csv, error_text_after_closing_quote)
{
    const char *msg = load_fail(put("c.csv", "a,b\n1,\"2\"x\n"), 1);
    cr_assert(strstr(msg, "c.csv:2:2: expected a delimiter or end of line after the closing "
                          "quote, got 'x'"),
              "%s", msg);
}

Test(csv, error_missing_file)
{
    AairtError err;
    cr_assert_null(aairt_csv_open("/nonexistent/dir/f.csv", ',', &err));
    cr_assert(strstr(err.msg, "/nonexistent/dir/f.csv: cannot open"), "%s", err.msg);
}

Test(csv, iris_example_loads)
{
    AairtError err;
    AairtCsvMatrix m;
    cr_assert_eq(aairt_csv_load_all("examples/data/iris.csv", ',', 1, &m, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(m.n_rows, 150);
    cr_assert_eq(m.width, 5);
    cr_assert_float_eq(m.values[0], 5.1f, 0);
    cr_assert_float_eq(m.values[149 * 5 + 4], 2.0f, 0);
    aairt_csv_matrix_free(&m);
}
