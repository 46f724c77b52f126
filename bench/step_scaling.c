/* step_scaling.c - how much a second thread speeds up each kernel of the
 * MLP's training step, through libaairt, kernel by kernel.
 *
 *   cmake --build build-bench --target aairt
 *   cc -O2 bench/step_scaling.c -Iruntime/include -Iruntime/src \
 *      build-bench/lib/libaairt.a -lyaml -lcjson -lz -lmvec -lm -lpthread -ldl \
 *      -o step_scaling && ./step_scaling
 *
 * A training step scales no better than its kernels do where they run.
 * This replays the big kernels of examples/fashion_mlp.aai's step at batch
 * 64 in the order the step runs them, on buffers shared the way the step
 * shares them (the weights the forward products read are the parameters
 * Adam updates; the weight gradients are its gradients): the products
 * through aairt_sgemm (the call generated code makes, split over the
 * runtime's pool) and the Adam update through aairt_optimizer_step over
 * the 235,146 parameters. So each kernel finds the caches as the step
 * leaves them: at 2 threads a core's half of W1 does not stay in its L2
 * between steps, as it would if the product ran alone. Each kernel is
 * timed inside the sequence; a row is its best mean over RUNS runs of
 * STEPS steps, runs at 1 and 2 threads interleaved, so a moment when the
 * shared host takes a core costs one run, not a row. A 512 x 512 x 512
 * product timed alone is the reference a textbook GEMM gets. Prints a
 * table, then the same figures as one JSON line for bench/bench.py
 * (workload step_scaling); README "Performance" quotes them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aairt.h"
#include "optim.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
enum { STEPS = 40, WARM_STEPS = 3, RUNS = 9, REFERENCE = 512 };
enum { BATCH = 64, IN = 784, H1 = 256, H2 = 128, OUT = 10 };
enum {
    W1_AT = 0,                  /* parameter offsets, as the manifest lays them out */
    W2_AT = H1 * IN + H1,       /* after W1 and its bias */
    PARAMS = W2_AT + H2 * H1 + H2 + OUT * H2 + OUT, /* 235,146 */
};

typedef struct Product {
    const char *name;
    int ta, tb, m, n, k;
    const float *a, *b;
    float *c;
} Product;

enum { N_PRODUCTS = 5, N_KERNELS = N_PRODUCTS + 1 }; /* the products, then Adam */

typedef struct Step {
    Product products[N_PRODUCTS];
    AairtOptimizer opt;
    float *params, *grads;
} Step;

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

/* The step's big kernels in its order: h1 = x W1^T, h2 = h1 W2^T, then
 * backwards dh1 = dh2 W2, dW2 = dh2^T h1, dW1 = dh1^T x, and Adam. (The
 * 10-wide output layer's products and the element-wise ops are left out:
 * they are a few percent of the step.) */
static void step_init(Step *s) {
    s->params = filled(PARAMS, 0.05f);
    s->grads = filled(PARAMS, 0.01f);
    float *x = filled(BATCH * IN, 1.0f), *h1 = filled(BATCH * H1, 1.0f);
    float *h2 = filled(BATCH * H2, 1.0f), *dh1 = filled(BATCH * H1, 0.1f);
    float *dh2 = filled(BATCH * H2, 0.1f);
    const float *w1 = s->params + W1_AT, *w2 = s->params + W2_AT;
    Product p[N_PRODUCTS] = {
        {"h1 forward (x W1^T)", NO_TRANS, TRANS, BATCH, H1, IN, x, w1, h1},
        {"h2 forward", NO_TRANS, TRANS, BATCH, H2, H1, h1, w2, h2},
        {"h2 input gradient", NO_TRANS, NO_TRANS, BATCH, H1, H2, dh2, w2, dh1},
        {"h2 weight gradient", TRANS, NO_TRANS, H2, H1, BATCH, dh2, h1, s->grads + W2_AT},
        {"h1 weight gradient", TRANS, NO_TRANS, H1, IN, BATCH, dh1, x, s->grads + W1_AT},
    };
    for (int i = 0; i < N_PRODUCTS; i++) s->products[i] = p[i];
    AairtOptimizerSpec spec;
    AairtError err;
    aairt_optimizer_spec_default(&spec, AAIRT_OPT_ADAM);
    if (aairt_optimizer_init(&s->opt, &spec, PARAMS, &err) != 0) {
        fprintf(stderr, "step_scaling: cannot build the optimizer\n");
        exit(1);
    }
}

static void step_free(Step *s) {
    aairt_optimizer_free(&s->opt);
    free((void *)s->products[0].a); /* x */
    free(s->products[0].c);         /* h1 */
    free(s->products[1].c);         /* h2 */
    free(s->products[2].c);         /* dh1 */
    free((void *)s->products[2].a); /* dh2 */
    free(s->params);
    free(s->grads);
}

/* One run of STEPS steps (after WARM_STEPS untimed ones, which leave the
 * caches as this thread count keeps them): adds each kernel's mean
 * microseconds to us[]. */
static void step_run(Step *s, double us[N_KERNELS]) {
    double total[N_KERNELS] = {0};
    for (int step = -WARM_STEPS; step < STEPS; step++)
        for (int k = 0; k < N_KERNELS; k++) {
            double t0 = now();
            if (k < N_PRODUCTS) product_run(&s->products[k]);
            else aairt_optimizer_step(&s->opt, s->params, s->grads, PARAMS);
            if (step >= 0) total[k] += now() - t0;
        }
    for (int k = 0; k < N_KERNELS; k++) us[k] = total[k] / STEPS * 1e6;
}

/* Best microseconds of a REFERENCE^3 product alone. */
static double reference_us(void) {
    float *a = filled(REFERENCE * REFERENCE, 0.1f), *b = filled(REFERENCE * REFERENCE, 1.0f);
    float *c = filled(REFERENCE * REFERENCE, 0.0f);
    Product p = {"512^3 reference", NO_TRANS, NO_TRANS, REFERENCE, REFERENCE, REFERENCE, a, b, c};
    double best = 1e30;
    for (int run = 0; run < 5; run++) {
        double t0 = now();
        product_run(&p);
        double t = (now() - t0) * 1e6;
        if (t < best) best = t;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static const char *kernel_name(const Step *s, int k) {
    return k < N_PRODUCTS ? s->products[k].name : "Adam (235k params)";
}

int main(void) {
    Step s;
    step_init(&s);
    double best[2][N_KERNELS], step_best[2] = {1e30, 1e30}, ref[2];
    for (int k = 0; k < N_KERNELS; k++) best[0][k] = best[1][k] = 1e30;
    for (int run = 0; run < RUNS; run++)
        for (int t = 0; t < 2; t++) {
            double us[N_KERNELS], sum = 0;
            aairt_set_threads(t + 1);
            step_run(&s, us);
            for (int k = 0; k < N_KERNELS; k++) {
                if (us[k] < best[t][k]) best[t][k] = us[k];
                sum += us[k];
            }
            if (sum < step_best[t]) step_best[t] = sum;
        }
    for (int t = 0; t < 2; t++) {
        aairt_set_threads(t + 1);
        ref[t] = reference_us();
    }
    printf("%-24s %10s %10s %8s\n", "kernel", "1 thread", "2 threads", "speed-up");
    for (int k = 0; k < N_KERNELS; k++)
        printf("%-24s %8.1f us %8.1f us %7.2fx\n", kernel_name(&s, k), best[0][k], best[1][k],
               best[0][k] / best[1][k]);
    printf("%-24s %8.1f us %8.1f us %7.2fx\n", "the kernels of a step", step_best[0],
           step_best[1], step_best[0] / step_best[1]);
    printf("%-24s %8.1f us %8.1f us %7.2fx\n", "512^3 reference, alone", ref[0], ref[1],
           ref[0] / ref[1]);
    printf("{\"kernels\": [");
    for (int k = 0; k < N_KERNELS; k++)
        printf("{\"name\": \"%s\", \"us_t1\": %.1f, \"us_t2\": %.1f}, ", kernel_name(&s, k),
               best[0][k], best[1][k]);
    printf("{\"name\": \"512^3 reference, alone\", \"us_t1\": %.1f, \"us_t2\": %.1f}], ", ref[0],
           ref[1]);
    printf("\"step_us_t1\": %.1f, \"step_us_t2\": %.1f}\n", step_best[0], step_best[1]);
    step_free(&s);
    return 0;
}
