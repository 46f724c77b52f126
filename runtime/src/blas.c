/* blas.c - OpenBLAS, loaded on the first matrix product.
 *
 * Linking OpenBLAS makes every process pay for its initialisation (CPU
 * detection, buffer allocation, a pthread pool): about 5-10 ms, more than
 * a small model's whole run. Batch-1 predictions never call sgemm (the
 * generated matrix-vector kernels handle them), so generated code calls
 * aairt_sgemm, which dlopen()s the library the first time a product needs
 * it. The binding is process-wide state by nature: OpenBLAS itself is one
 * per process. It is written once, under pthread_once, and read through an
 * atomic pointer, so concurrent first calls from several threads are safe.
 *
 * The thread count asked for before the library is loaded is kept and
 * applied when it loads (aairt_set_threads). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "aairt.h"

typedef void (*SgemmFn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc);
typedef void (*SetThreadsFn)(int n);
typedef int (*GetThreadsFn)(void);

/* Where the library is looked for, in order: OpenBLAS's SONAME, its
 * development link, then the system BLAS (on Debian an alternative that is
 * usually OpenBLAS too; one without openblas_set_num_threads runs on its
 * own threading). */
static const char *const blas_names[] = {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"};

typedef struct Blas {
    pthread_once_t once;
    _Atomic(SgemmFn) sgemm;
    SetThreadsFn set_threads; /* NULL for a BLAS without a thread pool call */
    GetThreadsFn get_threads;
    atomic_int wanted_threads; /* 0: the library's own default */
} Blas;

static Blas blas = {.once = PTHREAD_ONCE_INIT};

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
    union { void *p; GetThreadsFn f; } get = {dlsym(lib, "openblas_get_num_threads")};
    union { void *p; SgemmFn f; } gemm = {sgemm};
    blas.set_threads = set.f;
    blas.get_threads = get.f;
    int n = atomic_load(&blas.wanted_threads);
    if (n > 0 && blas.set_threads) blas.set_threads(n);
    atomic_store_explicit(&blas.sgemm, gemm.f, memory_order_release);
}

static SgemmFn blas_sgemm(void) {
    SgemmFn f = atomic_load_explicit(&blas.sgemm, memory_order_acquire);
    if (f) return f;
    pthread_once(&blas.once, blas_load);
    return atomic_load_explicit(&blas.sgemm, memory_order_acquire);
}

void aairt_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc) {
    blas_sgemm()(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void aairt_set_threads(int n) {
    if (n < 1) return;
    atomic_store(&blas.wanted_threads, n);
    /* Once loaded, apply now; a load racing with this call reads the new
     * count itself. */
    if (atomic_load_explicit(&blas.sgemm, memory_order_acquire) && blas.set_threads)
        blas.set_threads(n);
}

int aairt_get_threads(void) {
    blas_sgemm();
    return blas.get_threads ? blas.get_threads() : 1;
}
