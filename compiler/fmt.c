/* fmt.c - the formatter's command line (see fmt.h; the layout itself is
 * lang/format.c).
 *
 *   fmt FILE...          print the formatted files to stdout
 *   fmt -w FILE...       rewrite the files that change, atomically
 *                        (temporary file in the same directory, fsync,
 *                        rename), keeping their permissions
 *   fmt --check FILE...  list the files that would change; exit 1 if any
 *
 * A file with syntax errors is reported and left alone (exit 1). */
#include "fmt.h"

#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "diag.h"
#include "format.h"
#include "parse.h"

static const char fmt_usage[] =
    "usage: fmt [--check | -w] [FILE.aai...]\n"
    "\n"
    "Formats .aai files in the canonical layout (4-space indentation, '='\n"
    "aligned in dataset and train blocks, comments kept). Without files,\n"
    "formats stdin to stdout.\n"
    "  --check   list the files that are not formatted; exit 1 if any\n"
    "  -w        rewrite the files in place\n";

/* Writes `text` to `path` atomically. */
static bool write_atomic(const char *path, const char *text) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    snprintf(tmp, n, "%s.fmt%ld~", path, (long)getpid());
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    bool ok = fd >= 0;
    size_t len = strlen(text), done = 0;
    while (ok && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        done += ok ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        fprintf(stderr, "fmt: error: cannot write '%s': %s\n", path,
                strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

typedef enum FmtMode { FMT_PRINT, FMT_CHECK, FMT_WRITE } FmtMode;

/* Formats one file; returns 0, or 1 on errors / a --check difference. */
static int fmt_one(const char *path, FmtMode mode) {
    char err[512];
    char *text = source_read(path ? path : "-", err, sizeof err);
    if (!text) {
        fprintf(stderr, "fmt: error: %s\n", err);
        return 1;
    }
    Arena arena = {0};
    Diag *diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    AstFile *file = parse_source(&arena, diag, path ? path : "<stdin>", text);
    int rc = 0;
    if (diag_error_count(diag)) {
        rc = 1;
    } else {
        char *out = ast_format(file, text);
        bool same = strcmp(out, text) == 0;
        if (mode == FMT_PRINT)
            fputs(out, stdout);
        else if (mode == FMT_CHECK && !same) {
            printf("%s\n", path ? path : "<stdin>");
            rc = 1;
        } else if (mode == FMT_WRITE && !same && path)
            rc = write_atomic(path, out) ? 0 : 1;
        else if (mode == FMT_WRITE && !path)
            fputs(out, stdout);
        free(out);
    }
    diag_free(diag);
    arena_free(&arena);
    free(text);
    return rc;
}

int fmt_main(int argc, char **argv) {
    FmtMode mode = FMT_PRINT;
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0)
            mode = FMT_CHECK;
        else if (strcmp(argv[i], "-w") == 0)
            mode = FMT_WRITE;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(fmt_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--") == 0) {
            first = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "fmt: error: unknown option '%s'\n%s", argv[i],
                    fmt_usage);
            return 2;
        } else {
            first = first < i ? first : i;
        }
    }
    int rc = 0;
    bool any = false;
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] && i < argc)
            continue; /* options may follow files */
        any = true;
        rc |= fmt_one(strcmp(argv[i], "-") == 0 ? NULL : argv[i], mode);
    }
    if (!any)
        rc = fmt_one(NULL, mode);
    return rc;
}
