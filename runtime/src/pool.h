/* pool.h - the runtime's worker threads, for work cut into parts.
 *
 * One process-wide pool of aairt_get_threads() - 1 workers (started on
 * first use, restarted in a forked child) runs one job at a time: a job is
 * fn(ctx, part) for part in [0, parts), part 0 on the caller. Matrix
 * products (blas.c) and the optimizer update (optim.c) use it. The answer
 * of a job never depends on which thread ran a part, nor on whether the
 * pool was free: a caller that finds it busy (another thread's job) runs
 * every part itself, in order. */
#ifndef AAIRT_POOL_H
#define AAIRT_POOL_H

enum { AAIRT_POOL_MAX_THREADS = 64 };

typedef void (*AairtPartFn)(void *ctx, int part);

/* Runs fn(ctx, p) for every p in [0, parts) and returns when all are done;
 * parts <= AAIRT_POOL_MAX_THREADS. */
void aairt_pool_run(AairtPartFn fn, void *ctx, int parts);

#endif
