/* outfile.h - output files written whole or not at all.
 *
 * An output is written under a temporary name beside its target (same
 * folder, so the rename is atomic) and renamed into place only when it is
 * complete: a failed or interrupted aaic never leaves a partial file under
 * the name asked for, and never a stray temporary on failure. */
#ifndef AAI_OUTFILE_H
#define AAI_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>

/* The temporary name for `path`: "<path>.tmp.<pid>". */
void outfile_temp(char *tmp, size_t cap, const char *path);

/* outfile_temp, then creates that temporary empty, so that a folder that
 * is missing or not writable is reported (outfile_report) before any work.
 * False when it cannot be created. */
bool outfile_start(char *tmp, size_t cap, const char *path);

/* "aaic: error: cannot write 'PATH': <errno's reason>" on stderr. */
void outfile_report(const char *path);

/* With `complete`, renames `tmp` to `path`; otherwise (or when the rename
 * fails) removes `tmp`. True when `path` now holds the output; on a failed
 * rename errno says why. */
bool outfile_publish(const char *tmp, const char *path, bool complete);

#endif
