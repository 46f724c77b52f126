/* pool.c - the runtime's worker threads (see pool.h) and the thread count.
 *
 * Workers spin briefly for the next job (a training step hands them out
 * back to back), then sleep on a condition variable; the caller likewise
 * spins briefly for the parts to finish, then sleeps until the last one
 * wakes it. The spins are short (tens of microseconds): on a machine with
 * more runnable threads than cores a spinning thread steals the core the
 * thread it waits for needs. A job is announced by
 * one atomic word: a sequence number (high bits) and the number of parts
 * (low 8 bits), so a worker that wakes late acts on the current job or
 * none, never on a stale count. Parts are claimed, not assigned: the
 * caller runs part 0, then claims whatever parts no worker has taken yet,
 * so a worker that is asleep or lost its core delays a job by at most the
 * part it already runs (a batch-1 prediction split over two cores is a few
 * microseconds, less than waking a thread). The claim word carries the
 * job's sequence number too, so a late worker cannot claim a part of a
 * job it has not seen announced. This is process-wide state by nature (the
 * threads are the process's), guarded so that any thread may call in. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "aairt.h"

enum { SPIN_ROUNDS = 2048 };

typedef struct Pool {
    pthread_mutex_t busy; /* held by the caller whose job the pool runs */
    pthread_mutex_t mu;   /* with `wake`: sleeping workers; `done`: the caller */
    pthread_cond_t wake, done;
    atomic_int caller_sleeps;
    _Atomic uint64_t job;
    _Atomic uint64_t claim; /* sequence << 8 | the next unclaimed part */
    atomic_int sleepers, pending;
    atomic_int threads;   /* the thread count; 0: not yet set */
    int workers;          /* started so far */
    AairtPartFn fn;       /* the job, published by `job` */
    void *ctx;
} Pool;

static Pool pool = {.busy = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER,
                    .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

/* ---- thread count ------------------------------------------------------------ */

/* The default: OPENBLAS_NUM_THREADS when set (the knob BLAS users know),
 * else every online CPU. */
static int default_threads(void) {
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > AAIRT_POOL_MAX_THREADS ? AAIRT_POOL_MAX_THREADS : (int)n;
}

void aairt_set_threads(int n) {
    if (n < 1) return;
    atomic_store(&pool.threads, n > AAIRT_POOL_MAX_THREADS ? AAIRT_POOL_MAX_THREADS : n);
}

int aairt_get_threads(void) {
    int n = atomic_load(&pool.threads);
    if (n) return n;
    /* Once: sysconf reads /sys, too slow for every product. A concurrent
     * aairt_set_threads wins over the default. */
    int expected = 0, d = default_threads();
    return atomic_compare_exchange_strong(&pool.threads, &expected, d) ? d : expected;
}

/* ---- workers ------------------------------------------------------------------- */

static void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits (spinning, then asleep) until the job word moves past `seen`. */
static uint64_t pool_wait(Pool *p, uint64_t seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        uint64_t g = atomic_load_explicit(&p->job, memory_order_acquire);
        if (g != seen) return g;
        spin_pause();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t g;
    while ((g = atomic_load(&p->job)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* The next unclaimed part of job `job` (its word), or -1 when every part
 * is taken or a later job has replaced it. */
static int claim_part(Pool *p, uint64_t job) {
    uint64_t seq = job >> 8, parts = job & 0xff;
    uint64_t w = atomic_load(&p->claim);
    while (w >> 8 == seq && (w & 0xff) < parts)
        if (atomic_compare_exchange_weak(&p->claim, &w, w + 1)) return (int)(w & 0xff);
    return -1;
}

/* Runs the parts of `job` it can claim; fn and ctx are read only after a
 * claim, which orders them after the caller's stores of this job. */
static void run_claimed(Pool *p, uint64_t job, int is_caller) {
    for (int part; (part = claim_part(p, job)) >= 0;) {
        p->fn(p->ctx, part);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && !is_caller &&
            atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

typedef struct Worker {
    Pool *pool;
    uint64_t seen; /* the job word when it was started: it acts on later ones */
} Worker;

static void *worker_main(void *arg) {
    Worker self = *(Worker *)arg;
    free(arg);
    for (uint64_t seen = self.seen;;) {
        seen = pool_wait(self.pool, seen);
        run_claimed(self.pool, seen, 0);
    }
    return NULL;
}

/* A forked child has none of its parent's workers: it starts its own. */
static void pool_after_fork(void) {
    pthread_mutex_init(&pool.busy, NULL);
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    atomic_store(&pool.caller_sleeps, 0);
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.pending, 0);
    pool.workers = 0;
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
        /* `seen` is read here, not by the new thread: the job about to be
         * handed out may be published before that thread first runs. */
        *w = (Worker){p, atomic_load(&p->job)};
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

/* Offers parts [1, shared) to the workers, runs part 0 and then any part
 * still unclaimed, waits for the rest. */
static void pool_share(Pool *p, AairtPartFn fn, void *ctx, int shared) {
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, shared - 1);
    uint64_t seq = (atomic_load(&p->job) >> 8) + 1, next = seq << 8 | (uint64_t)shared;
    atomic_store(&p->claim, seq << 8 | 1); /* both publish fn and ctx */
    atomic_store(&p->job, next);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0);
    run_claimed(p, next, 1);
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        spin_pause();
    }
    /* A worker is slow or lost its core: sleep until the last part ends.
     * The flag is raised before pending is read again, and the last worker
     * reads it after its decrement, so one of the two sees the other. */
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_sleeps, 1);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
    atomic_store(&p->caller_sleeps, 0);
    pthread_mutex_unlock(&p->mu);
}

void aairt_pool_run(AairtPartFn fn, void *ctx, int parts) {
    int threads = aairt_get_threads();
    if (parts < 2 || threads < 2 || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int i = 0; i < parts; i++) fn(ctx, i);
        return;
    }
    int shared = pool_grow(&pool, threads < parts ? threads : parts) + 1;
    if (shared > parts) shared = parts;
    if (shared < 2) fn(ctx, 0);
    else pool_share(&pool, fn, ctx, shared);
    for (int i = shared; i < parts; i++) fn(ctx, i); /* workers that could not start */
    pthread_mutex_unlock(&pool.busy);
}

/* ---- batch rows ----------------------------------------------------------------- */

/* Below this many output floats a part, a handoff costs more than it saves. */
enum { ROWS_MIN_FLOATS = 1 << 14 };

/* Every cut falls on a multiple of this many output floats (from the
 * batch's first row). A generated kernel's vectorized loop runs over its
 * part's floats in vectors of up to 16, then a scalar remainder, and the
 * two compute libm functions differently in the last bits (glibc's vector
 * variants, compiler/codegen_vecmath.c). With every part but the last a
 * whole number of 16-float blocks, each element falls in a vector body or
 * in the remainder as it does in one uncut call, so answers do not change
 * with the thread count. */
enum { ROWS_CUT_FLOATS = 16 };

typedef struct RowsJob {
    AairtRowsFn fn;
    void *ctx;
    int64_t batch, align; /* align: rows per ROWS_CUT_FLOATS multiple */
    int parts;
} RowsJob;

static int64_t rows_cut(const RowsJob *j, int part) {
    if (part >= j->parts) return j->batch;
    return j->batch * part / j->parts / j->align * j->align;
}

static void rows_part(void *ctx, int part) {
    RowsJob *j = ctx;
    j->fn(j->ctx, rows_cut(j, part), rows_cut(j, part + 1));
}

static int64_t gcd(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void aairt_run_rows(AairtRowsFn fn, void *ctx, int64_t batch, int64_t row_floats) {
    int64_t parts = aairt_get_threads(), work = batch * row_floats / ROWS_MIN_FLOATS;
    int64_t align = row_floats > 0 ? ROWS_CUT_FLOATS / gcd(row_floats, ROWS_CUT_FLOATS) : 1;
    if (work < parts) parts = work;
    if (batch / align < parts) parts = batch / align; /* no empty part */
    if (parts < 2) {
        fn(ctx, 0, batch);
        return;
    }
    RowsJob job = {fn, ctx, batch, align, (int)parts};
    aairt_pool_run(rows_part, &job, job.parts);
}
