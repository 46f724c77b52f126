/* fileio.h - whole-file reads with size checks and crash-safe writes.
 *
 * Writes never leave a half-written file under the final name: data goes to
 * a temporary file in the same directory, is fsync'ed, renamed over the
 * target, and the directory is fsync'ed so the rename itself is durable. */
#ifndef AAIRT_FILEIO_H
#define AAIRT_FILEIO_H

#include <stddef.h>

#include "rt_error.h"

/* Reads all of `path` into a malloc'd buffer (*out, caller frees; one extra
 * NUL byte is appended but not counted in *out_size). Fails when the file
 * holds more than `max_size` bytes, so no size read from the outside world
 * picks the allocation. Pipes and other non-regular files are read until
 * EOF under the same limit. Returns 0, or -1 with err naming the file. */
int aairt_read_file(const char *path, size_t max_size, unsigned char **out,
                    size_t *out_size, AairtError *err);

/* Atomically replaces `path` with the concatenation of n buffers
 * (parts[i], sizes[i]). Returns 0, or -1 with err naming the file; on
 * failure the old file (if any) is untouched and no temporary is left. */
int aairt_write_file_atomic_parts(const char *path, const void *const *parts,
                                  const size_t *sizes, size_t n,
                                  AairtError *err);

/* Same, one buffer. */
int aairt_write_file_atomic(const char *path, const void *data, size_t size,
                            AairtError *err);

#endif
