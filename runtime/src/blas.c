/* blas.c - matrix products: OpenBLAS, loaded on first use, threaded here.
 *
 * Loading. Linking OpenBLAS makes every process pay for its
 * initialisation (CPU detection, buffers, a thread pool): 5-10 ms, more
 * than a small model's whole run. Batch-1 predictions never call sgemm
 * (generated matrix-vector kernels handle them), so generated code calls
 * aairt_sgemm, which dlopen()s the library the first time a product needs
 * it. The binding is process-wide state by nature, as OpenBLAS itself is
 * one per process: written once under pthread_once, read through an
 * atomic pointer.
 *
 * Threads. OpenBLAS's own threading gains little or loses on the GEMMs of
 * small-batch training (a 64-row product barely scales on the benchmark machine), and
 * its spinning workers compete with the caller on a small machine. So
 * OpenBLAS runs single-threaded, and a product big enough to share is cut
 * here into one block of C's rows (or columns) per thread, each an
 * independent sgemm, run on the runtime's pool (pool.c). The cut depends
 * only on the shape and the thread count, so the answer does too.
 *
 * Products with one short side (at most 16 columns, an inner dimension of
 * at most 32, or A^T B with at most 16 rows: small convolutions) go to
 * gemm_small.c's AVX2 kernels instead, which skip OpenBLAS's packing; they
 * never load the library. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aairt.h"
#include "gemm_small.h"
#include "pool.h"

typedef void (*SgemmFn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc);
typedef void (*SetThreadsFn)(int n);

enum {
    ROW_MAJOR = 101,    /* CblasRowMajor */
    NO_TRANS = 111,     /* CblasNoTrans */
    TRANS = 112,        /* CblasTrans */
    SPLIT_ALIGN = 16,   /* blocks of whole micro-kernel tiles */
    MIN_SPLIT_MACS = 1 << 17, /* below this a handoff costs more than it saves */
};

/* Where the library is looked for, in order: OpenBLAS's SONAME, its
 * development link, then the system BLAS (on Debian an alternative that is
 * usually OpenBLAS too). */
static const char *const blas_names[] = {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"};

typedef struct Blas {
    pthread_once_t once;
    _Atomic(SgemmFn) sgemm;
    bool openblas; /* set before sgemm is published: its buffers need warming */
} Blas;

static Blas blas = {.once = PTHREAD_ONCE_INIT};

/* ---- loading ----------------------------------------------------------- */

static void blas_load(void) {
    void *lib = NULL;
    const char *tried = NULL;
    for (size_t i = 0; i < sizeof blas_names / sizeof *blas_names && !lib; i++) {
        tried = blas_names[i];
        lib = dlopen(tried, RTLD_NOW | RTLD_LOCAL);
    }
    void *sgemm = lib ? dlsym(lib, "cblas_sgemm") : NULL;
    if (!sgemm) {
        /* Generated code has no way to take an error back from a matrix
         * product, and computing on without it would give wrong answers. */
        fprintf(stderr, "aai: error: cannot load the BLAS library (%s): %s\n", tried,
                lib ? "it has no cblas_sgemm" : dlerror());
        exit(EXIT_FAILURE);
    }
    /* dlsym gives object pointers; POSIX makes them valid function
     * pointers, and the unions say so without a cast C frowns on. */
    union { void *p; SetThreadsFn f; } set = {dlsym(lib, "openblas_set_num_threads")};
    union { void *p; SgemmFn f; } gemm = {sgemm};
    if (set.f) set.f(1); /* the threads are ours (above) */
    blas.openblas = set.f != NULL;
    atomic_store_explicit(&blas.sgemm, gemm.f, memory_order_release);
}

static SgemmFn blas_sgemm(void) {
    SgemmFn f = atomic_load_explicit(&blas.sgemm, memory_order_acquire);
    if (f) return f;
    pthread_once(&blas.once, blas_load);
    return atomic_load_explicit(&blas.sgemm, memory_order_acquire);
}

/* ---- warming ------------------------------------------------------------ */

/* OpenBLAS packs the operands of a product into a buffer it maps once and
 * touches only as far as the packed panels reach, while its micro-kernel
 * prefetches ahead of the panel it is on. Products too small to have ever
 * written those pages (fewer than ~384 columns, fewer than ~32 rows: every
 * product of the examples) then pay for each prefetch into an unpopulated
 * page. On this project's VM (AMD Zen 1 under KVM, OpenBLAS 0.3.21) that
 * makes single-threaded sgemm run at 12 GFLOP/s instead of 36 (256 x 256
 * x 784: 8.6 ms against 2.9; perf puts the time on the kernel's
 * prefetcht1), for the life of the process; batch-256 inference of
 * examples/fashion_mlp.aai ran at a third of its speed. One product of
 * WARM_M x WARM_N x WARM_K writes them; it costs about 5 ms, once per
 * thread that calls OpenBLAS (each concurrent caller has its own buffer;
 * warming only the first left the 2-thread runs at the slow speed), and
 * changes no result: every product still runs the same kernels with the
 * same blocking. A per-thread flag, like the binding above, is
 * process-wide state by nature. */
enum { WARM_M = 64, WARM_N = 1024, WARM_K = 1024 };

static _Thread_local bool thread_warm;

static void warm_thread(SgemmFn f) {
    thread_warm = true;
    float *a = calloc((size_t)WARM_M * WARM_K, sizeof *a);
    float *b = calloc((size_t)WARM_K * WARM_N, sizeof *b);
    float *c = calloc((size_t)WARM_M * WARM_N, sizeof *c);
    if (a && b && c) /* without the memory it is only slower */
        f(ROW_MAJOR, NO_TRANS, NO_TRANS, WARM_M, WARM_N, WARM_K, 1.0f, a, WARM_K, b, WARM_N, 0.0f,
          c, WARM_N);
    free(a);
    free(b);
    free(c);
}

/* C = 0 over g's block of C: runs of n floats (m column-major) ldc apart. */
static void zero_c(const Gemm *g) {
    bool row_major = g->order == ROW_MAJOR;
    int runs = row_major ? g->m : g->n, len = row_major ? g->n : g->m;
    for (int r = 0; r < runs; r++)
        memset(g->c + (size_t)r * (size_t)g->ldc, 0, (size_t)len * sizeof(float));
}

/* With beta = 0 the product is run as C = 0, then C += alpha A B (beta =
 * 1): what OpenBLAS does itself, so the same bits, but its own zeroing
 * pass (sgemm_beta) is slow here, and pathologically so when two threads
 * each clear a block of one C: the MLP's 256 x 784 weight gradient took
 * 640 us on 1 thread and 546 on 2 with beta = 0, against 590 and ~330
 * zeroed here (a memset per row of the block); OpenBLAS's pass was 11 %
 * of a 2-thread MLP training epoch (bench/profile). */
static void gemm_run(SgemmFn f, const Gemm *g) {
    if (!thread_warm && blas.openblas) warm_thread(f);
    float beta = g->beta;
    if (beta == 0.0f) {
        zero_c(g);
        beta = 1.0f;
    }
    f(g->order, g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->a, g->lda, g->b, g->ldb, beta, g->c,
      g->ldc);
}

/* ---- splitting ------------------------------------------------------------- */

/* Cuts g into at most `ways` blocks of C's rows (or columns, see below)
 * of whole SPLIT_ALIGN tiles; returns the number of blocks. Only
 * row-major products are cut (generated code issues no other). */
static int gemm_split(const Gemm *g, int ways, Gemm *part) {
    part[0] = *g;
    /* Blocks of rows keep each part's C contiguous, blocks of columns make
     * each part pack only its half of op(B): rows, unless op(B) packed
     * twice costs more than C holds (k (n - m) / 2 against m n). Measured
     * at 2 threads, rows against columns: the MLP's 256 x 784 x 64 weight
     * gradient 301 us against 404, 128 x 256 x 64 52 against 66, the
     * CNN's 120 x 400 x 64 79 against 105; its 64 x 256 x 784 forward
     * product 331 against 312 (columns kept). A side too short to cut
     * leaves the other. */
    bool rows = (double)g->k * (double)(g->n - g->m) < 2.0 * (double)g->m * (double)g->n;
    if ((rows ? g->m : g->n) < 2 * SPLIT_ALIGN) rows = !rows;
    int len = rows ? g->m : g->n;
    if (g->order != ROW_MAJOR || ways < 2 || len < 2 * SPLIT_ALIGN ||
        (double)g->m * g->n * g->k < MIN_SPLIT_MACS)
        return 1;
    int tiles = (len + SPLIT_ALIGN - 1) / SPLIT_ALIGN;
    if (ways > tiles) ways = tiles;
    for (int p = 0, start = 0; p < ways; p++) {
        int end = (int)((long long)tiles * (p + 1) / ways) * SPLIT_ALIGN;
        if (end > len) end = len;
        Gemm *q = &part[p];
        *q = *g;
        if (rows) { /* C rows [start, end): op(A)'s rows */
            q->m = end - start;
            q->a = g->a + (g->ta == TRANS ? (size_t)start : (size_t)start * (size_t)g->lda);
            q->c = g->c + (size_t)start * (size_t)g->ldc;
        } else { /* C columns [start, end): op(B)'s columns */
            q->n = end - start;
            q->b = g->b + (g->tb == TRANS ? (size_t)start * (size_t)g->ldb : (size_t)start);
            q->c = g->c + start;
        }
        start = end;
    }
    return ways;
}

/* The blocks of one product, for the pool. */
typedef struct Split {
    SgemmFn f;
    Gemm part[AAIRT_POOL_MAX_THREADS];
} Split;

static void gemm_part(void *ctx, int part) {
    Split *s = ctx;
    gemm_run(s->f, &s->part[part]);
}

void aairt_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc) {
    Gemm g = {order, trans_a, trans_b, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc};
    int threads = aairt_get_threads();
    if (aairt_gemm_small_run(&g, threads)) return;
    Split s = {.f = blas_sgemm()};
    int parts = gemm_split(&g, threads, s.part);
    if (parts < 2) gemm_run(s.f, &g);
    else aairt_pool_run(gemm_part, &s, parts);
}
