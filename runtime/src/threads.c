/* threads.c - the process's compute thread count (see threads.h). */
#include "threads.h"

#include <stdlib.h>
#include <string.h>

#include "aairt.h"

static int parse_count(const char *v, int *out) {
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < 1 || x > 1024) return -1;
    *out = (int)x;
    return 0;
}

int aairt_threads_take_option(int argc, char **argv, AairtError *err) {
    int n = 0, w = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--threads")) {
            if (i + 1 >= argc) return aairt_error_set(err, "--threads needs a value");
            v = argv[++i];
        } else if (!strncmp(a, "--threads=", 10)) {
            v = a + 10;
        } else {
            argv[w++] = argv[i];
            continue;
        }
        if (parse_count(v, &n))
            return aairt_error_set(err, "--threads expects a positive integer, got '%s'", v);
    }
    if (w < argc) argv[w] = NULL;
    if (!n) {
        const char *env = getenv("AAI_THREADS");
        if (env && *env && parse_count(env, &n))
            return aairt_error_set(err, "AAI_THREADS expects a positive integer, got '%s'", env);
    }
    aairt_set_threads(n);
    return w;
}
