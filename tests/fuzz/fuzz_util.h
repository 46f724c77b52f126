/* fuzz_util.h - shared by the runtime harnesses: the readers take paths, so
 * each input is served from an anonymous in-memory file (memfd) reached as
 * /proc/self/fd/N; nothing touches the disk. */
#ifndef AAI_FUZZ_UTIL_H
#define AAI_FUZZ_UTIL_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct FuzzFile {
    int fd;
    char path[64];
} FuzzFile;

/* Returns 0 with f->path naming a file holding data[0..size), else -1. */
static inline int fuzz_file_open(FuzzFile *f, const uint8_t *data, size_t size) {
    f->fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (f->fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(f->fd, data + off, size - off);
        if (n <= 0) {
            close(f->fd);
            return -1;
        }
        off += (size_t)n;
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    return 0;
}

static inline void fuzz_file_close(FuzzFile *f) { close(f->fd); }

#endif
