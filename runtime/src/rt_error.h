/* rt_error.h - how runtime modules report failures.
 *
 * Library code never prints or exits: a failing function fills an AairtError
 * (naming the file, row/column or byte offset, and what was expected) and
 * returns -1 (or NULL). The CLI prints err.msg and picks the exit code. */
#ifndef AAIRT_RT_ERROR_H
#define AAIRT_RT_ERROR_H

typedef struct AairtError {
    char msg[1024];
} AairtError;

/* Formats into err->msg (no-op when err is NULL); always returns -1. */
int aairt_error_set(AairtError *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
