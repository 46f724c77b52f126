/* scratch.h - per-thread working memory for libaairt's helpers.
 *
 * The convolution windows (im2col.c), direct convolution and its weight
 * gradient (conv2d.c, conv2d_grad.c) and the small-GEMM kernels
 * (gemm_small.c) need a block of working memory per call whose size
 * depends on the shapes: a padded image, a packed operand, partial sums.
 * Each thread keeps one block per use, grown to the largest size asked
 * for and reused, so a training step or prediction allocates nothing once
 * the first calls have sized the blocks (the generated entry points are
 * then allocation-free, as aairt.h says). A thread's blocks are freed when
 * it exits, the main thread's at process exit. */
#ifndef AAIRT_SCRATCH_H
#define AAIRT_SCRATCH_H

#include <stddef.h>

/* One block per use: two that can be live at once on a thread must not
 * share one. */
typedef enum AairtScratchUse {
    AAIRT_SCRATCH_WINDOW, /* im2col / col2im: the padded image and its run table */
    AAIRT_SCRATCH_GEMM,   /* gemm_small: the packed operand or the partial sums */
    AAIRT_SCRATCH_CONV,   /* conv2d: the flat image and output, or one column matrix */
    AAIRT_SCRATCH_POOLED, /* conv2d with a folded max pooling: one sample before it */
    AAIRT_SCRATCH_USES
} AairtScratchUse;

/* At least `bytes` of this thread's block for `use`, 64-byte aligned,
 * its contents unspecified; valid until the next call for the same use on
 * this thread. NULL when the memory cannot be had (callers fall back). */
void *aairt_scratch(AairtScratchUse use, size_t bytes);

#endif
