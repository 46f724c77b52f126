/* blas.c - matrix products: OpenBLAS, loaded on first use, threaded here.
 *
 * Loading. Linking OpenBLAS makes every process pay for its
 * initialisation (CPU detection, buffers, a thread pool): 5-10 ms, more
 * than a small model's whole run. Batch-1 predictions never call sgemm
 * (generated matrix-vector kernels handle them), so generated code calls
 * aairt_sgemm, which dlopen()s the library the first time a product needs
 * it.
 *
 * Threads. OpenBLAS's own threading gains little or loses on the GEMMs of
 * small-batch training (a 64-row product barely scales, bench/README), and
 * its spinning workers compete with the caller on a small machine. So
 * OpenBLAS runs single-threaded, and a product big enough to share is cut
 * here into one block of C's rows (or columns) per thread, each an
 * independent single-threaded sgemm: no block depends on another and each
 * element's sum over k is formed exactly as unsplit. The workers spin
 * briefly for the next product (a training step issues them back to back)
 * and then sleep.
 *
 * This is process-wide state by nature, as OpenBLAS itself is one per
 * process: the binding is written once under pthread_once and read through
 * an atomic pointer; the pool takes one product at a time, and a caller
 * that finds it busy (another thread's product) computes on its own. */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "aairt.h"

typedef void (*SgemmFn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc);
typedef void (*SetThreadsFn)(int n);

enum {
    ROW_MAJOR = 101,    /* CblasRowMajor */
    TRANS = 112,        /* CblasTrans */
    MAX_THREADS = 64,
    SPLIT_ALIGN = 16,   /* blocks of whole micro-kernel tiles */
    MIN_SPLIT_MACS = 1 << 17, /* below this a handoff costs more than it saves */
    SPIN_ROUNDS = 1 << 16,
};

/* Where the library is looked for, in order: OpenBLAS's SONAME, its
 * development link, then the system BLAS (on Debian an alternative that is
 * usually OpenBLAS too). */
static const char *const blas_names[] = {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"};

typedef struct Gemm {
    int order, ta, tb, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
} Gemm;

typedef struct Pool {
    pthread_mutex_t busy;  /* held by the caller whose product the pool runs */
    pthread_mutex_t mu;    /* with `wake`: sleeping workers */
    pthread_cond_t wake;
    /* The product being handed out: a sequence number (high bits) and its
     * number of parts (low 8 bits) in one word, so a worker that wakes late
     * acts on the current product or none, never on a stale count. */
    _Atomic uint64_t job;
    atomic_int sleepers, pending;
    int workers;           /* started so far */
    Gemm part[MAX_THREADS];
} Pool;

typedef struct Blas {
    pthread_once_t once;
    _Atomic(SgemmFn) sgemm;
    atomic_int threads; /* the matrix-product thread count; 0: not yet set */
    Pool pool;
} Blas;

static Blas blas = {
    .once = PTHREAD_ONCE_INIT,
    .pool = {.busy = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER,
             .wake = PTHREAD_COND_INITIALIZER},
};

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
    atomic_store_explicit(&blas.sgemm, gemm.f, memory_order_release);
}

static SgemmFn blas_sgemm(void) {
    SgemmFn f = atomic_load_explicit(&blas.sgemm, memory_order_acquire);
    if (f) return f;
    pthread_once(&blas.once, blas_load);
    return atomic_load_explicit(&blas.sgemm, memory_order_acquire);
}

static void gemm_run(SgemmFn f, const Gemm *g) {
    f(g->order, g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->a, g->lda, g->b, g->ldb, g->beta,
      g->c, g->ldc);
}

/* ---- thread count ---------------------------------------------------------- */

/* The default: OPENBLAS_NUM_THREADS when set (the knob BLAS users know),
 * else every online CPU. */
static int default_threads(void) {
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void aairt_set_threads(int n) {
    if (n < 1) return;
    atomic_store(&blas.threads, n > MAX_THREADS ? MAX_THREADS : n);
}

int aairt_get_threads(void) {
    int n = atomic_load(&blas.threads);
    if (n) return n;
    /* Once: sysconf reads /sys, too slow for every product. A concurrent
     * aairt_set_threads wins over the default. */
    int expected = 0, d = default_threads();
    return atomic_compare_exchange_strong(&blas.threads, &expected, d) ? d : expected;
}

/* ---- splitting ------------------------------------------------------------- */

/* Cuts g into at most `ways` blocks of C's rows (or columns, whichever is
 * longer) of whole SPLIT_ALIGN tiles; returns the number of blocks. Only
 * row-major products are cut (generated code issues no other). */
static int gemm_split(const Gemm *g, int ways, Gemm *part) {
    part[0] = *g;
    bool rows = g->m >= g->n;
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

/* ---- the pool -------------------------------------------------------------- */

/* Waits (spinning, then asleep) until the job word moves past `seen`. */
static uint64_t pool_wait(Pool *p, uint64_t seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        uint64_t g = atomic_load_explicit(&p->job, memory_order_acquire);
        if (g != seen) return g;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t g;
    while ((g = atomic_load(&p->job)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

typedef struct Worker {
    Pool *pool;
    int index;     /* runs part[index + 1] */
    uint64_t seen; /* the job word when it was started: it acts on later ones */
} Worker;

static void *worker_main(void *arg) {
    Worker self = *(Worker *)arg;
    free(arg);
    Pool *p = self.pool;
    uint64_t seen = self.seen;
    SgemmFn f = blas_sgemm();
    for (;;) {
        seen = pool_wait(p, seen);
        if (self.index + 1 >= (int)(seen & 0xff)) continue;
        gemm_run(f, &p->part[self.index + 1]);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

/* A forked child has none of its parent's workers: it starts its own. */
static void pool_after_fork(void) {
    Pool *p = &blas.pool;
    pthread_mutex_init(&p->busy, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_store(&p->sleepers, 0);
    atomic_store(&p->pending, 0);
    p->workers = 0;
}

static void pool_watch_forks(void) { pthread_atfork(NULL, NULL, pool_after_fork); }

/* Starts workers up to n - 1; returns how many run. Called with `busy`
 * held, so by one thread at a time. */
static int pool_grow(Pool *p, int n) {
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    if (p->workers < n - 1) pthread_once(&fork_once, pool_watch_forks);
    while (p->workers < n - 1) {
        Worker *w = malloc(sizeof *w);
        pthread_t t;
        pthread_attr_t attr;
        if (!w) break;
        /* `seen` is read here, not by the new thread: the product about to
         * be handed out may be published before that thread first runs. */
        *w = (Worker){p, p->workers, atomic_load(&p->job)};
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (rc) { /* fewer threads, same answers */
            free(w);
            break;
        }
        p->workers++;
    }
    return p->workers;
}

/* Runs the parts on the pool; the caller computes part 0. */
static void pool_run(Pool *p, SgemmFn f, int parts) {
    atomic_store(&p->pending, parts - 1);
    uint64_t next = ((atomic_load(&p->job) >> 8) + 1) << 8 | (uint64_t)parts;
    atomic_store(&p->job, next); /* publishes part[] */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    gemm_run(f, &p->part[0]);
    for (unsigned i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) {
        if (i % 4096 == 4095) sched_yield(); /* a worker lost its core */
#if defined(__x86_64__) || defined(__i386__)
        else __builtin_ia32_pause();
#endif
    }
}

void aairt_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc) {
    SgemmFn f = blas_sgemm();
    Gemm g = {order, trans_a, trans_b, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc};
    int threads = aairt_get_threads();
    Pool *p = &blas.pool;
    if (threads < 2 || pthread_mutex_trylock(&p->busy) != 0) {
        gemm_run(f, &g);
        return;
    }
    int parts = gemm_split(&g, pool_grow(p, threads) + 1, p->part);
    if (parts < 2) gemm_run(f, &g);
    else pool_run(p, f, parts);
    pthread_mutex_unlock(&p->busy);
}
