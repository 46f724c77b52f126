/* rt_error.c - the one formatter behind every runtime error message.
 *
 * Messages are truncated to fit AairtError.msg; a truncated message ends in
 * "..." so a reader can tell. */
#include "rt_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int aairt_error_set(AairtError *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(err->msg, sizeof err->msg, "(error message could not be formatted)");
    } else if ((size_t)n >= sizeof err->msg) {
        memcpy(err->msg + sizeof err->msg - 4, "...", 4);
    }
    return -1;
}
