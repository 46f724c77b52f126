/* rows_alloc.h - memory for a data set's rows, which training reads in a
 * shuffled order (rows_alloc.c). */
#ifndef AAIRT_ROWS_ALLOC_H
#define AAIRT_ROWS_ALLOC_H

#include <stddef.h>

/* malloc(bytes), asking the kernel to back it with huge pages where it
 * can; freed with free(). NULL without memory. */
void *aairt_rows_alloc(size_t bytes);

#endif
