/* outfile.c - output files written whole or not at all (outfile.h). */
#include "outfile.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

void outfile_temp(char *tmp, size_t cap, const char *path) {
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
}

bool outfile_can_create(const char *tmp) {
    FILE *f = fopen(tmp, "wb");
    if (!f) return false;
    return fclose(f) == 0;
}

bool outfile_publish(const char *tmp, const char *path, bool complete) {
    if (complete && rename(tmp, path) == 0) return true;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return false;
}
