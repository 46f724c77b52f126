/* outfile.c - output files written whole or not at all (outfile.h). */
#include "outfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void outfile_temp(char *tmp, size_t cap, const char *path) {
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
}

bool outfile_start(char *tmp, size_t cap, const char *path) {
    outfile_temp(tmp, cap, path);
    FILE *f = fopen(tmp, "wb");
    if (f && fclose(f) == 0) return true;
    outfile_report(path);
    return false;
}

void outfile_report(const char *path) {
    fprintf(stderr, "aaic: error: cannot write '%s': %s\n", path, strerror(errno));
}

bool outfile_publish(const char *tmp, const char *path, bool complete) {
    if (complete && rename(tmp, path) == 0) return true;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return false;
}
