/* gemm_small.h - matrix products with one short side, without packing
 * (gemm_small.c), tried by aairt_sgemm (blas.c) before OpenBLAS. */
#ifndef AAIRT_GEMM_SMALL_H
#define AAIRT_GEMM_SMALL_H

#include <stdbool.h>

/* One cblas_sgemm call's arguments (codes as in cblas.h). */
typedef struct Gemm {
    int order, ta, tb, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
} Gemm;

/* Computes g on up to `threads` of the pool's threads and returns true when
 * g has a shape the small kernels take and the CPU has AVX2 and FMA;
 * returns false, leaving C untouched, otherwise (OpenBLAS then does it).
 * Every element of C is summed in the same order whatever the thread
 * count, so the answer does not depend on it. */
bool aairt_gemm_small_run(const Gemm *g, int threads);

#endif
