/* infer_harness.c - times a compiled model's predict entry, in process.
 *
 * Links an object from `aaic -c model.aai -o m.o` with libaairt and calls
 * aai_model.predict directly, the way an embedding program would, so the
 * figure is the generated code's, not the CLI's (no CSV, no process start).
 *
 *   infer_harness WEIGHTS X.f32 ROWS OUT.f32 THREADS [N_B1 N_BIG BIG]
 *
 * X.f32 holds ROWS raw float32 rows of the model's input width. Prints one
 * JSON object: batch-1 latency (median of N_B1 calls after 10% warm-up),
 * batch-BIG time per call (median of N_BIG), and writes predict's output
 * for the first BIG rows to OUT.f32 so bench/peer_torch.py can compare. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aairt.h"
#include "model.h"

extern const AairtModel aai_model;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of n timed calls of predict on `args` after n/10 + 1
 * untimed ones. */
static double median_call(const AairtStepArgs *args, int n) {
    double *t = malloc((size_t)n * sizeof *t);
    if (!t) return -1;
    for (int i = 0; i < n / 10 + 1; i++) aai_model.predict(args);
    for (int i = 0; i < n; i++) {
        double t0 = now();
        aai_model.predict(args);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double med = t[n / 2];
    free(t);
    return med;
}

static void *alloc_floats(int64_t n) {
    size_t bytes = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s WEIGHTS X.f32 ROWS OUT.f32 THREADS [N_B1 N_BIG BIG]\n", argv[0]);
        return 2;
    }
    const char *wpath = argv[1], *xpath = argv[2], *opath = argv[4];
    int64_t rows = atoll(argv[3]);
    int threads = atoi(argv[5]);
    int n_b1 = argc > 6 ? atoi(argv[6]) : 2000;
    int n_big = argc > 7 ? atoi(argv[7]) : 200;
    int64_t big = argc > 8 ? atoll(argv[8]) : 256;
    if (big > rows) big = rows;
    aairt_set_threads(threads);

    AairtManifest man;
    AairtError err = {{0}};
    if (aairt_manifest_parse(aai_model.manifest_json, &man, &err)) {
        fprintf(stderr, "manifest: %s\n", err.msg);
        return 3;
    }
    float *params = alloc_floats(aai_model.n_param_floats);
    float *arena = alloc_floats(aai_model.arena_static_floats + aai_model.arena_row_floats * big);
    float *x = alloc_floats(man.x_width * rows);
    float *out = alloc_floats(man.out_width * big);
    if (!params || !arena || !x || !out) return 3;
    char *transforms = NULL;
    if (aairt_weights_load(wpath, &man, params, &transforms, &err)) {
        fprintf(stderr, "weights: %s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(xpath, "rb");
    if (!f || fread(x, sizeof(float), (size_t)(man.x_width * rows), f) != (size_t)(man.x_width * rows)) {
        fprintf(stderr, "%s: cannot read %lld rows of %lld floats\n", xpath, (long long)rows,
                (long long)man.x_width);
        return 1;
    }
    fclose(f);
    free(transforms); /* x.f32 is already in the model's input space */

    AairtStepArgs a1 = {.params = params, .arena = arena, .x = x, .out = out, .batch = 1};
    double lat = median_call(&a1, n_b1);
    AairtStepArgs ab = {.params = params, .arena = arena, .x = x, .out = out, .batch = big};
    double tbig = median_call(&ab, n_big);

    /* Output of the batch call, and row 0 again through batch 1 (same
     * numbers expected; the benchmark checks both against torch). */
    aai_model.predict(&ab);
    f = fopen(opath, "wb");
    if (!f || fwrite(out, sizeof(float), (size_t)(man.out_width * big), f) !=
                  (size_t)(man.out_width * big)) {
        fprintf(stderr, "%s: cannot write\n", opath);
        return 1;
    }
    aai_model.predict(&a1);
    fwrite(out, sizeof(float), (size_t)man.out_width, f);
    fclose(f);
    printf("{\"threads\": %d, \"b1_latency_us\": %.4f, \"big\": %lld, \"big_batch_us\": %.3f, "
           "\"big_throughput\": %.1f, \"flops_per_sample\": %lld}\n",
           aairt_get_threads(), lat * 1e6, (long long)big, tbig * 1e6, (double)big / tbig,
           (long long)man.flops_per_sample);
    aairt_manifest_free(&man);
    free(params);
    free(arena);
    free(x);
    free(out);
    return 0;
}
