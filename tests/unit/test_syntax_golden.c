/* test_syntax_golden.c - syntax-error golden files.
 *
 * Each tests/golden/syntax/NAME.aai holds bad input and states the errors
 * it must produce as comments:
 *   `# error: FRAGMENT`       an error on this line whose message contains
 *                             FRAGMENT;
 *   `# error@+N: FRAGMENT`    the same for the line N below (N above with
 *                             `@-N`), for errors on lines that cannot hold
 *                             a comment (inside an unterminated string, at
 *                             the end of the file).
 * One line may carry several (`# error: A # error: B`).
 * The runner parses every file and requires each expectation to match a
 * distinct error and every error to be expected. Set AAI_GOLDEN_PRINT=1 to
 * print the actual errors of each file (to write a new golden file). */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>

#include <dirent.h>
#include <unistd.h>

#include "lang_test_support.h"

enum { MAX_EXPECT = 64 };

typedef struct Expect {
    uint32_t line;
    char fragment[256];
    bool matched;
} Expect;

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Parses one `# error[@+N]: FRAGMENT` at `mark` (ending at `end` or at the
 * next `# error`) found on `line`; false when malformed. */
static bool parse_expectation(const char *mark, const char *end,
                              uint32_t line, Expect *out) {
    const char *q = mark + 7;
    long offset = 0;
    if (*q == '@')
        offset = strtol(q + 1, (char **)&q, 10);
    if (*q != ':')
        return false;
    q++;
    while (*q == ' ')
        q++;
    const char *next = memmem(q, (size_t)(end - q), "# error", 7);
    size_t flen = (size_t)((next ? next : end) - q);
    while (flen && (q[flen - 1] == ' ' || q[flen - 1] == '\r'))
        flen--;
    out->line = (uint32_t)((long)line + offset);
    snprintf(out->fragment, sizeof out->fragment, "%.*s", (int)flen, q);
    out->matched = false;
    return true;
}

/* Collects the `# error` comments of `text` (several may share a line);
 * returns how many. */
static int parse_expectations(const char *text, Expect *out) {
    int n = 0;
    uint32_t line = 1;
    for (const char *p = text; *p; line++) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        const char *mark = memmem(p, (size_t)(end - p), "# error", 7);
        while (mark && n < MAX_EXPECT) {
            if (parse_expectation(mark, end, line, &out[n]))
                n++;
            mark = memmem(mark + 7, (size_t)(end - mark - 7), "# error", 7);
        }
        p = eol ? eol + 1 : end;
    }
    return n;
}

/* Checks one golden file; returns the number of mismatches, logged when
 * `log` (Criterion fails a run that logs errors). */
static int check_golden(const char *path, bool log) {
    char *text = read_file(path);
    cr_assert_not_null(text, "cannot read %s", path);
    Expect *expect = calloc(MAX_EXPECT, sizeof *expect);
    int n_expect = parse_expectations(text, expect);
    Arena a = {0};
    DiagCapture *cap = malloc(sizeof *cap);
    Diag *d = capture_new(cap);
    parse_source(&a, d, path, text);
    if (getenv("AAI_GOLDEN_PRINT")) {
        printf("%s:\n", path);
        capture_dump(cap, stdout);
    }
    int failures = 0;
    if (n_expect == 0) {
        if (log)
            cr_log_error("%s: no '# error:' expectation", path);
        failures++;
    }
    for (int i = 0; i < cap->n; i++) {
        const CapturedDiag *got = &cap->items[i];
        if (got->level != DIAG_ERROR)
            continue;
        bool ok = false;
        for (int j = 0; j < n_expect && !ok; j++) {
            if (!expect[j].matched && expect[j].line == got->loc.line &&
                strstr(got->message, expect[j].fragment))
                ok = expect[j].matched = true;
        }
        if (!ok && log)
            cr_log_error("%s:%u:%u: unexpected error: %s", path,
                         got->loc.line, got->loc.col, got->message);
        failures += !ok;
    }
    for (int j = 0; j < n_expect; j++) {
        if (!expect[j].matched && log)
            cr_log_error("%s:%u: expected error not reported: %s", path,
                         expect[j].line, expect[j].fragment);
        failures += !expect[j].matched;
    }
    diag_free(d);
    arena_free(&a);
    free(cap);
    free(expect);
    free(text);
    return failures;
}

Test(syntax_golden, every_file_matches) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden/syntax", AAI_SOURCE_DIR);
    DIR *dp = opendir(dir);
    cr_assert_not_null(dp, "cannot open %s", dir);
    int files = 0, failures = 0;
    struct dirent *ent;
    while ((ent = readdir(dp)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (len < 5 || strcmp(ent->d_name + len - 4, ".aai") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        failures += check_golden(path, true);
        files++;
    }
    closedir(dp);
    cr_expect_geq(files, 12, "only %d golden files in %s", files, dir);
    cr_expect_eq(failures, 0, "%d golden mismatches (see log)", failures);
}

/* The runner itself must fail on a wrong expectation. */
Test(syntax_golden, runner_detects_mismatches) {
    Expect e[MAX_EXPECT];
    int n = parse_expectations("a\nx y # error: expected '='\n"
                               "# error@+1: missing\n"
                               "z # error@-2: first # error: second\n",
                               e);
    cr_assert_eq(n, 4);
    cr_expect_eq(e[0].line, 2);
    cr_expect_str_eq(e[0].fragment, "expected '='");
    cr_expect_eq(e[1].line, 4);
    cr_expect_eq(e[2].line, 2);
    cr_expect_str_eq(e[2].fragment, "first");
    cr_expect_eq(e[3].line, 4);
    cr_expect_str_eq(e[3].fragment, "second");

    char path[] = "/tmp/aai_syntax_golden_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *bad = "dataset d {\n  loss cross_entropy # error: no such message\n}\n";
    cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    cr_expect_eq(check_golden(path, false), 2); /* one unexpected, one missing */
    unlink(path);
}
