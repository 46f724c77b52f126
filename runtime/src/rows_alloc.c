/* rows_alloc.c - memory for a data set's rows (rows_alloc.h).
 *
 * A training step copies its batch from rows scattered over the whole
 * data set: Fashion-MNIST's 60,000 rows are 188 MB, so with 4 KiB pages
 * nearly every row costs a TLB miss (a page walk) on top of its cache
 * misses. Asking for transparent huge pages (2 MiB) on the block before
 * its first touch cuts that: the gather fell from 4.6 % of a 1-thread
 * epoch of examples/fashion_mlp.aai, and the epoch by ~3 % at 1 and at 2
 * threads (interleaved pairs, README "Performance"). Debian's default THP
 * mode is "madvise", which serves only blocks that ask. The advice is a
 * hint: where the kernel has no THP or no huge page free, the block is an
 * ordinary one and only the speed differs, so its failure is ignored. */
#include "rows_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

enum { HUGE_PAGE = 2u << 20 };

void *aairt_rows_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
#ifdef MADV_HUGEPAGE
    if (p) { /* the whole huge pages inside the block: malloc aligns to less */
        uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
        uintptr_t hi = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
        if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
#endif
    return p;
}
