/* step_scaling.c - how much a second thread speeds up each kernel of the
 * MLP's training step, through libaairt, kernel by kernel.
 *
 *   cmake --build build-bench --target aairt
 *   cc -O2 bench/step_scaling.c -Iruntime/include -Iruntime/src \
 *      build-bench/lib/libaairt.a -lyaml -lcjson -lz -lm -lpthread -ldl \
 *      -o step_scaling && ./step_scaling
 *
 * A training step can scale no better than its kernels do. Each row times
 * one of examples/fashion_mlp.aai's products at batch 64 (aairt_sgemm,
 * the call generated code makes, with its split over the runtime's pool)
 * or its Adam update (aairt_optimizer_step over the 235,146 parameters),
 * back to back with warm caches: the best case for both thread counts. A
 * 512 x 512 x 512 product is the reference a textbook GEMM gets. Best of
 * 9 runs of 50 calls. Prints a table, then the same figures as one JSON
 * line for bench/bench.py (workload step_scaling). README "Performance"
 * quotes them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aairt.h"
#include "optim.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112, CALLS = 50, RUNS = 9 };
enum { PARAMS = 235146 }; /* fashion_mlp: 784-256-128-10 */

typedef struct Product {
    const char *name;
    int ta, tb, m, n, k;
    float *a, *b, *c;
} Product;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n floats in [-scale/2, scale/2), 64-byte aligned; exits without memory. */
static float *filled(int64_t n, float scale) {
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    if (!p) {
        fprintf(stderr, "step_scaling: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) p[i] = scale * ((float)(i * 7919 % 1000) / 1000.0f - 0.5f);
    return p;
}

static void product_run(const Product *p) {
    int lda = p->ta == TRANS ? p->m : p->k, ldb = p->tb == TRANS ? p->k : p->n;
    aairt_sgemm(ROW_MAJOR, p->ta, p->tb, p->m, p->n, p->k, 1.0f, p->a, lda, p->b, ldb, 0.0f, p->c,
                p->n);
}

/* Microseconds a call of row `i` (products, then Adam) takes at best. */
static double best_us(Product *ps, int n_products, int i, AairtOptimizer *opt, float *params,
                      const float *grads) {
    double best = 1e30;
    for (int run = 0; run < RUNS; run++) {
        double t0 = now();
        for (int call = 0; call < CALLS; call++) {
            if (i < n_products) product_run(&ps[i]);
            else aairt_optimizer_step(opt, params, grads, PARAMS);
        }
        double us = (now() - t0) / CALLS * 1e6;
        if (us < best) best = us;
    }
    return best;
}

int main(void) {
    Product ps[] = {
        {.name = "h1 forward (x W1^T)", .ta = NO_TRANS, .tb = TRANS, .m = 64, .n = 256, .k = 784},
        {.name = "h1 weight gradient", .ta = TRANS, .tb = NO_TRANS, .m = 256, .n = 784, .k = 64},
        {.name = "h2 forward", .ta = NO_TRANS, .tb = TRANS, .m = 64, .n = 128, .k = 256},
        {.name = "h2 input gradient", .ta = NO_TRANS, .tb = NO_TRANS, .m = 64, .n = 256, .k = 128},
        {.name = "h2 weight gradient", .ta = TRANS, .tb = NO_TRANS, .m = 128, .n = 256, .k = 64},
        {.name = "512^3 reference", .ta = NO_TRANS, .tb = NO_TRANS, .m = 512, .n = 512, .k = 512},
    };
    enum { N_PRODUCTS = sizeof ps / sizeof *ps, STEP_ROWS = N_PRODUCTS - 1 };
    for (int i = 0; i < N_PRODUCTS; i++) {
        ps[i].a = filled((int64_t)ps[i].m * ps[i].k, 0.1f);
        ps[i].b = filled((int64_t)ps[i].k * ps[i].n, 1.0f);
        ps[i].c = filled((int64_t)ps[i].m * ps[i].n, 0.0f);
    }
    float *params = filled(PARAMS, 0.05f), *grads = filled(PARAMS, 0.01f);
    AairtOptimizerSpec spec;
    aairt_optimizer_spec_default(&spec, AAIRT_OPT_ADAM);
    AairtOptimizer opt;
    AairtError err;
    if (aairt_optimizer_init(&opt, &spec, PARAMS, &err) != 0) {
        fprintf(stderr, "step_scaling: cannot build the optimizer\n");
        return 1;
    }
    /* Rows: the step's products, Adam, then the reference product. */
    int order[N_PRODUCTS + 1];
    for (int i = 0; i < STEP_ROWS; i++) order[i] = i;
    order[STEP_ROWS] = N_PRODUCTS; /* Adam */
    order[N_PRODUCTS] = STEP_ROWS;
    double us[2][N_PRODUCTS + 1];
    for (int threads = 1; threads <= 2; threads++) {
        aairt_set_threads(threads);
        for (int r = 0; r <= N_PRODUCTS; r++)
            us[threads - 1][r] = best_us(ps, N_PRODUCTS, order[r], &opt, params, grads);
    }
    double step1 = 0, step2 = 0;
    printf("%-22s %10s %10s %8s\n", "kernel", "1 thread", "2 threads", "speed-up");
    for (int r = 0; r <= N_PRODUCTS; r++) {
        const char *name = order[r] < N_PRODUCTS ? ps[order[r]].name : "Adam (235k params)";
        printf("%-22s %8.1f us %8.1f us %7.2fx\n", name, us[0][r], us[1][r], us[0][r] / us[1][r]);
        if (r <= STEP_ROWS) {
            step1 += us[0][r];
            step2 += us[1][r];
        }
    }
    printf("%-22s %8.1f us %8.1f us %7.2fx\n", "step's kernels, summed", step1, step2,
           step1 / step2);
    printf("{\"kernels\": [");
    for (int r = 0; r <= N_PRODUCTS; r++)
        printf("%s{\"name\": \"%s\", \"us_t1\": %.1f, \"us_t2\": %.1f}", r ? ", " : "",
               order[r] < N_PRODUCTS ? ps[order[r]].name : "Adam (235k params)", us[0][r], us[1][r]);
    printf("], \"step_us_t1\": %.1f, \"step_us_t2\": %.1f}\n", step1, step2);
    aairt_optimizer_free(&opt);
    for (int i = 0; i < N_PRODUCTS; i++) {
        free(ps[i].a);
        free(ps[i].b);
        free(ps[i].c);
    }
    free(params);
    free(grads);
    return 0;
}
