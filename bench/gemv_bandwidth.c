/* gemv_bandwidth.c - how fast this machine streams a weight matrix
 * through a matrix-vector product, by working-set size.
 *
 *   cc -O3 -march=native bench/gemv_bandwidth.c -o gemv_bw && ./gemv_bw
 *
 * A batch-1 prediction reads every weight once, so its floor is the
 * weights' size over the bandwidth of the cache level they live in. The
 * product is a hand-written AVX2 kernel (4 rows x 8 lanes of FMA chains),
 * the same shape as the generated one (compiler/codegen_linear.c), so its
 * times are the ceiling for that code: README "Performance" compares the
 * MLP's 917 KB of weights with the sizes where the rate falls from the L2
 * figure to the L3 one. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { K = 784, CALLS = 2000 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_hadd_ps(s, s);
    return _mm_cvtss_f32(_mm_hadd_ps(s, s));
}

/* out[n] = w[n, K] x[K], four rows at a time. */
static void gemv(float *out, const float *x, const float *w, int n) {
    for (int r = 0; r < n; r += 4) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                         _mm256_setzero_ps()};
        for (int j = 0; j < K; j += 8) {
            __m256 xv = _mm256_loadu_ps(x + j);
            for (int i = 0; i < 4; i++)
                acc[i] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + (size_t)(r + i) * K + j), acc[i]);
        }
        for (int i = 0; i < 4; i++) out[r + i] = hsum(acc[i]);
    }
}

int main(void) {
    static const int rows[] = {16, 64, 128, 192, 256, 320, 512};
    float *x = aligned_alloc(64, K * sizeof(float)), *out = aligned_alloc(64, 512 * sizeof(float));
    double *t = malloc(CALLS * sizeof *t);
    if (!x || !out || !t) return 1;
    for (int i = 0; i < K; i++) x[i] = 0.001f * (float)i;
    for (size_t s = 0; s < sizeof rows / sizeof *rows; s++) {
        int n = rows[s];
        size_t bytes = (size_t)n * K * sizeof(float);
        float *w = aligned_alloc(64, bytes);
        if (!w) return 1;
        for (size_t i = 0; i < (size_t)n * K; i++) w[i] = 0.001f * (float)(i % 100);
        for (int c = 0; c < CALLS; c++) {
            double t0 = now();
            gemv(out, x, w, n);
            t[c] = now() - t0;
        }
        qsort(t, CALLS, sizeof *t, cmp_double);
        double us = t[CALLS / 2] * 1e6;
        printf("%4d x %d weights  %5.0f KB  %6.2f us  %5.1f GB/s\n", n, K, (double)bytes / 1024, us,
               (double)bytes / us / 1e3);
        free(w);
    }
    free(x), free(out), free(t);
    return 0;
}
