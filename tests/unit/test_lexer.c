/* test_lexer.c - the scanner: token kinds, values, positions, the
 * statement-separator rule for line breaks, and lexical errors. */
#include <criterion/criterion.h>

#include "lang_test_support.h"
#include "parse_ctx.h"

typedef struct Scan {
    Arena arena;
    Diag *diag;
    DiagCapture cap;
    LexToken *tokens;
    size_t n;
} Scan;

static Scan *scan(const char *text) {
    Scan *s = calloc(1, sizeof *s);
    s->diag = capture_new(&s->cap);
    s->tokens = parse_tokens(&s->arena, s->diag, "lex.aai", text, &s->n);
    return s;
}

static void scan_free(Scan *s) {
    diag_free(s->diag);
    arena_free(&s->arena);
    free(s);
}

/* The token names joined by spaces ("NAME = NUMBER EOF"). */
static char *scan_names(const Scan *s) {
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, s->tokens[i].name);
    }
    return buf;
}

static void expect_names(const char *text, const char *names) {
    Scan *s = scan(text);
    cr_expect_str_eq(scan_names(s), names, "scanning %s", text);
    cr_expect_eq(s->cap.n_errors, 0, "unexpected lexical errors for %s",
                 text);
    scan_free(s);
}

static void expect_loc(const LexToken *t, uint32_t line, uint32_t col,
                       uint32_t len) {
    cr_expect_eq(t->loc.line, line, "%s: line %u, want %u", t->name,
                 t->loc.line, line);
    cr_expect_eq(t->loc.col, col, "%s: col %u, want %u", t->name, t->loc.col,
                 col);
    cr_expect_eq(t->loc.len, len, "%s: len %u, want %u", t->name, t->loc.len,
                 len);
}

Test(lexer, keywords_names_and_punctuation) {
    expect_names("dataset model train on return true false",
                 "dataset model train on return true false EOF");
    expect_names("modelx _a b2 datasets", "NAME NAME NAME NAME EOF");
    expect_names("( ) [ ] { } , = -> |> + - * / : . ;",
                 "( ) [ ] { } , = -> |> + - * / : . ; EOF");
    expect_names("a|>b->c", "NAME |> NAME -> NAME EOF");
    expect_names("", "EOF");
    expect_names("# only a comment", "EOF");
}

Test(lexer, positions_cover_each_token) {
    Scan *s = scan("model m(x: f32) {\n  hidden = relu(x)\n}\n");
    cr_assert_str_eq(scan_names(s),
                     "model NAME ( NAME : NAME ) { NAME = NAME ( NAME ) } EOF");
    expect_loc(&s->tokens[0], 1, 1, 5);  /* model */
    expect_loc(&s->tokens[1], 1, 7, 1);  /* m */
    expect_loc(&s->tokens[5], 1, 12, 3); /* f32 */
    expect_loc(&s->tokens[8], 2, 3, 6);  /* hidden */
    expect_loc(&s->tokens[9], 2, 10, 1); /* = */
    expect_loc(&s->tokens[10], 2, 12, 4); /* relu */
    expect_loc(&s->tokens[14], 3, 1, 1); /* } */
    cr_expect_eq(s->tokens[0].loc.file, 1);
    cr_expect_str_eq(s->tokens[10].str, "relu");
    scan_free(s);
}

Test(lexer, numbers) {
    Scan *s = scan("1 0.01 1e-3 .5 2E+2 100 0");
    cr_assert_eq(s->n, 8);
    double want[] = {1, 0.01, 1e-3, 0.5, 200, 100, 0};
    bool is_int[] = {true, false, false, false, false, true, true};
    for (int i = 0; i < 7; i++) {
        cr_expect_str_eq(s->tokens[i].name, "NUMBER");
        cr_expect_eq(s->tokens[i].num.value, want[i], "number %d", i);
        cr_expect_eq(s->tokens[i].num.is_int, is_int[i], "number %d", i);
    }
    expect_loc(&s->tokens[2], 1, 8, 4);
    cr_expect_eq(s->cap.n_errors, 0);
    scan_free(s);
}

Test(lexer, strings_and_escapes) {
    Scan *s = scan("\"data/iris.csv\" \"a\\\"b\\\\c\\nd\\te\" \"\" \"\xce\xbb\"");
    cr_assert_eq(s->n, 5);
    cr_expect_str_eq(s->tokens[0].str, "data/iris.csv");
    cr_expect_str_eq(s->tokens[1].str, "a\"b\\c\nd\te");
    cr_expect_str_eq(s->tokens[2].str, "");
    cr_expect_str_eq(s->tokens[3].str, "\xce\xbb");
    expect_loc(&s->tokens[0], 1, 1, 15);
    cr_expect_eq(s->cap.n_errors, 0);
    scan_free(s);
}

Test(lexer, comments_are_skipped) {
    expect_names("a # comment ( [ \"\n# whole line\nb", "NAME NAME EOF");
    expect_names("a #\xff\xfe non-UTF-8 in a comment is fine", "NAME EOF");
}

Test(lexer, newline_separates_statements_only_in_blocks) {
    /* top level: line breaks are blanks */
    expect_names("dataset\nd\n{", "dataset NAME { EOF");
    /* in a block: after an operand, blank and comment lines merge */
    expect_names("{ a = 1\n\n  # note\n\n b = 2\n}",
                 "{ NAME = NUMBER NEWLINE NAME = NUMBER } EOF");
    /* inside brackets: not separators */
    expect_names("{ a = f(1,\n 2)\n b = [1,\n 2]\n}",
                 "{ NAME = NAME ( NUMBER , NUMBER ) NEWLINE NAME = [ NUMBER , "
                 "NUMBER ] } EOF");
    /* a leading operator continues the previous line */
    expect_names("{ a = x\n  |> f\n  + 1\n}",
                 "{ NAME = NAME |> NAME + NUMBER } EOF");
    /* a trailing operator continues too */
    expect_names("{ a = x |>\n f\n}", "{ NAME = NAME |> NAME } EOF");
    /* a value must start on the line of its '=' */
    expect_names("{ a =\n 1\n}", "{ NAME = NEWLINE NUMBER } EOF");
}

Test(lexer, stray_bytes_are_positioned_errors) {
    Scan *s = scan("a \xff b\n{ @ }");
    cr_expect_str_eq(scan_names(s), "NAME NAME { } EOF");
    cr_assert_eq(s->cap.n_errors, 2);
    cr_expect_str_eq(s->cap.items[0].message, "unexpected character '\\xff'");
    cr_expect_eq(s->cap.items[0].loc.line, 1);
    cr_expect_eq(s->cap.items[0].loc.col, 3);
    cr_expect_str_eq(s->cap.items[1].message, "unexpected character '@'");
    cr_expect_eq(s->cap.items[1].loc.line, 2);
    cr_expect_eq(s->cap.items[1].loc.col, 3);
    scan_free(s);
}

Test(lexer, utf8_character_outside_strings) {
    Scan *s = scan("\xce\xbb = 1");
    cr_assert_eq(s->cap.n_errors, 1);
    cr_expect(strstr(s->cap.items[0].message, "unexpected character '\xce\xbb'"));
    cr_expect_eq(s->cap.items[0].loc.len, 2);
    scan_free(s);
}

Test(lexer, embedded_nul_ends_the_text) {
    const char text[] = "a b\0c d";
    Scan *s = scan(text);
    cr_expect_str_eq(scan_names(s), "NAME NAME EOF");
    scan_free(s);
}

Test(lexer, unterminated_string) {
    Scan *s = scan("x = \"abc\ny = 1");
    cr_assert_eq(s->cap.n_errors, 1);
    cr_expect(strstr(s->cap.items[0].message, "unterminated string"));
    cr_expect_eq(s->cap.items[0].loc.line, 1);
    cr_expect_eq(s->cap.items[0].loc.col, 5);
    cr_expect_eq(s->cap.items[0].loc.len, 4);
    cr_expect_str_eq(s->tokens[2].str, "abc");
    scan_free(s);
    s = scan("\"abc\\");
    cr_expect_eq(s->cap.n_errors, 1);
    scan_free(s);
}

Test(lexer, bad_escape) {
    Scan *s = scan("\"a\\qb\"");
    cr_assert_eq(s->cap.n_errors, 1);
    cr_expect(strstr(s->cap.items[0].message, "unknown escape sequence '\\q'"));
    cr_expect_eq(s->cap.items[0].loc.col, 3);
    cr_expect_eq(s->cap.items[0].loc.len, 2);
    scan_free(s);
}

Test(lexer, invalid_utf8_in_string) {
    Scan *s = scan("\"a\xffz\"");
    cr_assert_eq(s->cap.n_errors, 1);
    cr_expect(strstr(s->cap.items[0].message, "invalid UTF-8 byte '\\xff'"));
    cr_expect_eq(s->cap.items[0].loc.col, 3);
    scan_free(s);
}

Test(lexer, number_errors) {
    Scan *s = scan("99999999999999999999999 1e999 1e 16units 1.2.3 9007199254740992");
    cr_expect_str_eq(scan_names(s),
                     "NUMBER NUMBER NUMBER NUMBER NUMBER NUMBER EOF");
    cr_assert_eq(s->cap.n_errors, 5);
    cr_expect(strstr(s->cap.items[0].message, "is too large"));
    cr_expect(strstr(s->cap.items[1].message, "out of range"));
    cr_expect(strstr(s->cap.items[2].message, "malformed number '1e'"));
    cr_expect(strstr(s->cap.items[3].message, "malformed number '16units'"));
    cr_expect(strstr(s->cap.items[4].message, "malformed number '1.2.3'"));
    cr_expect_eq(s->tokens[5].num.value, 9007199254740992.0);
    scan_free(s);
}

Test(lexer, nesting_limit_stops_scanning) {
    char text[600];
    memset(text, '(', 300);
    text[300] = '\0';
    Scan *s = scan(text);
    cr_expect_eq(s->cap.n_errors, 1);
    cr_expect(strstr(s->cap.items[0].message, "nested too deeply"));
    cr_expect_eq(s->cap.items[0].loc.col, 257);
    cr_expect_str_eq(s->tokens[s->n - 1].name, "EOF");
    scan_free(s);
}
