/* fileio.c - whole-file reads and atomic writes (POSIX).
 *
 * The atomic write follows the usual recipe: a new file next to the target (a
 * rename across file systems is not atomic), write everything, fsync, rename
 * over the target, fsync the directory. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int aairt_read_file(const char *path, size_t max_size, unsigned char **out,
                    size_t *out_size, AairtError *err)
{
    *out = NULL;
    *out_size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return aairt_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return aairt_error_set(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return aairt_error_set(err, "%s: is a directory, expected a file", path);
    }
    size_t cap = 0;
    if (S_ISREG(sb.st_mode)) {
        if (sb.st_size < 0 || (unsigned long long)sb.st_size > max_size) {
            close(fd);
            return aairt_error_set(err, "%s: file is %lld bytes, more than the limit of %zu",
                                   path, (long long)sb.st_size, max_size);
        }
        cap = (size_t)sb.st_size;
    }
    if (cap == 0)
        cap = 65536 < max_size ? 65536 : max_size;
    unsigned char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return aairt_error_set(err, "%s: out of memory reading %zu bytes", path, cap);
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            /* Full: probe one byte so a file that is exactly as large as
             * expected (the usual case) needs no reallocation. */
            unsigned char probe;
            ssize_t pr = read(fd, &probe, 1);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr < 0) {
                int e = errno;
                free(buf);
                close(fd);
                return aairt_error_set(err, "%s: read failed at byte %zu: %s", path, len,
                                       strerror(e));
            }
            if (pr == 0)
                break;
            if (cap >= max_size) {
                free(buf);
                close(fd);
                return aairt_error_set(err, "%s: more than the limit of %zu bytes", path,
                                       max_size);
            }
            size_t ncap = cap > max_size / 2 ? max_size : cap * 2;
            unsigned char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                close(fd);
                return aairt_error_set(err, "%s: out of memory reading %zu bytes", path, ncap);
            }
            buf = nb;
            cap = ncap;
            buf[len++] = probe;
            continue;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return aairt_error_set(err, "%s: read failed at byte %zu: %s", path, len,
                                   strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    *out = buf;
    *out_size = len;
    return 0;
}

/* Writes all of buf to fd, retrying short writes and EINTR. */
static int write_all(int fd, const unsigned char *buf, size_t size)
{
    while (size > 0) {
        ssize_t w = write(fd, buf, size);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        size -= (size_t)w;
    }
    return 0;
}

/* The directory part of path ("." when there is none); malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

int aairt_write_file_atomic_parts(const char *path, const void *const *parts,
                                  const size_t *sizes, size_t n, AairtError *err)
{
    /* open(O_EXCL, 0666) rather than mkstemp: mkstemp's 0600 would
     * survive the rename, while open applies the caller's umask. */
    size_t plen = strlen(path);
    size_t tlen = plen + 64;
    char *tmp = malloc(tlen);
    char *dir = dir_of(path);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return aairt_error_set(err, "%s: out of memory", path);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long salt = (unsigned long long)ts.tv_nsec ^ (unsigned long long)(uintptr_t)&ts;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, tlen, "%s.tmp.%ld.%llx", path, (long)getpid(), salt + (unsigned)attempt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        free(dir);
        return aairt_error_set(err, "%s: cannot create a temporary file next to it: %s", path,
                               strerror(e));
    }
    const char *what = NULL;
    int e = 0;
    for (size_t i = 0; i < n && !what; i++) {
        if (sizes[i] > 0 && write_all(fd, parts[i], sizes[i]) != 0) {
            what = "write";
            e = errno;
        }
    }
    if (!what && fsync(fd) != 0) {
        what = "fsync";
        e = errno;
    }
    if (close(fd) != 0 && !what) {
        what = "close";
        e = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "rename";
        e = errno;
    }
    if (what) {
        unlink(tmp);
        free(tmp);
        free(dir);
        return aairt_error_set(err, "%s: %s failed: %s", path, what, strerror(e));
    }
    /* Make the rename durable. Some file systems refuse fsync on a
     * directory (EINVAL); the data is already safe, so that is not fatal. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) {
            e = errno;
            close(dfd);
            free(tmp);
            free(dir);
            return aairt_error_set(err, "%s: fsync of directory failed: %s", path, strerror(e));
        }
        close(dfd);
    }
    free(tmp);
    free(dir);
    return 0;
}

int aairt_write_file_atomic(const char *path, const void *data, size_t size, AairtError *err)
{
    const void *parts[1] = {data};
    size_t sizes[1] = {size};
    return aairt_write_file_atomic_parts(path, parts, sizes, 1, err);
}
