/* threads.h - how many threads a model process computes with.
 *
 * Matrix products (blas.c, each block a single-threaded OpenBLAS call),
 * the optimizer update (optim.c) and generated kernels with independent
 * batch rows (aairt_run_rows) are split over the runtime's thread pool
 * (pool.c); everything else runs on the calling thread.
 * `--threads N` (any command) and AAI_THREADS set the count; without
 * either, OPENBLAS_NUM_THREADS, else every online CPU. */
#ifndef AAIRT_THREADS_H
#define AAIRT_THREADS_H

#include "rt_error.h"

/* Removes every `--threads N` / `--threads=N` from argv[0..argc) (in
 * place), applies the last one with aairt_set_threads, and returns the new
 * argc; -1 with err set when a value is not a positive integer. When the
 * option is absent, AAI_THREADS is applied if set. */
int aairt_threads_take_option(int argc, char **argv, AairtError *err);

#endif
