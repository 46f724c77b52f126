/* test_blas.c - aairt_sgemm: the lazily loaded BLAS and its row/column
 * split over threads (runtime/src/blas.c). A split product must equal a
 * naive reference and the single-thread product within rounding (OpenBLAS
 * may pick another micro-kernel for a block's edge, so not bit for bit),
 * and repeat bit for bit at the same thread count, for every transpose,
 * shapes that are and are not multiples of the split tile, both split
 * directions, and sub-matrices (ld > width). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aairt.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

static float *random_floats(size_t n, unsigned seed) {
    float *x = malloc(n * sizeof *x);
    cr_assert(x);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return x;
}

typedef struct Case {
    int m, n, k;
    bool ta, tb;
    int pad; /* extra columns in every leading dimension */
} Case;

/* C = alpha op(A) op(B) + beta C in double, row-major. */
static void naive(const Case *t, const float *a, int lda, const float *b, int ldb, float *c,
                  int ldc, float alpha, float beta) {
    for (int i = 0; i < t->m; i++)
        for (int j = 0; j < t->n; j++) {
            double s = 0;
            for (int p = 0; p < t->k; p++) {
                double x = t->ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double y = t->tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += x * y;
            }
            c[(size_t)i * ldc + j] = (float)(alpha * s + beta * c[(size_t)i * ldc + j]);
        }
}

static void check_case(const Case *t) {
    int lda = (t->ta ? t->m : t->k) + t->pad, ldb = (t->tb ? t->k : t->n) + t->pad;
    int ldc = t->n + t->pad;
    size_t na = (size_t)(t->ta ? t->k : t->m) * lda, nb = (size_t)(t->tb ? t->n : t->k) * ldb;
    size_t nc = (size_t)t->m * ldc;
    float *a = random_floats(na, 1), *b = random_floats(nb, 2), *c0 = random_floats(nc, 3);
    float *one = malloc(nc * sizeof *one), *two = malloc(nc * sizeof *two);
    float *again = malloc(nc * sizeof *again), *ref = malloc(nc * sizeof *ref);
    cr_assert(one && two && again && ref);
    memcpy(one, c0, nc * sizeof *one);
    memcpy(two, c0, nc * sizeof *two);
    memcpy(again, c0, nc * sizeof *again);
    memcpy(ref, c0, nc * sizeof *ref);
    int ta = t->ta ? TRANS : NO_TRANS, tb = t->tb ? TRANS : NO_TRANS;
    aairt_set_threads(1);
    aairt_sgemm(ROW_MAJOR, ta, tb, t->m, t->n, t->k, 0.5f, a, lda, b, ldb, 0.25f, one, ldc);
    aairt_set_threads(3);
    aairt_sgemm(ROW_MAJOR, ta, tb, t->m, t->n, t->k, 0.5f, a, lda, b, ldb, 0.25f, two, ldc);
    aairt_sgemm(ROW_MAJOR, ta, tb, t->m, t->n, t->k, 0.5f, a, lda, b, ldb, 0.25f, again, ldc);
    naive(t, a, lda, b, ldb, ref, ldc, 0.5f, 0.25f);
    for (size_t i = 0; i < nc; i++) {
        cr_assert(fabsf(one[i] - two[i]) <= 1e-5f * (1.0f + fabsf(one[i])),
                  "%dx%dx%d ta=%d tb=%d: element %zu: %g with 1 thread, %g with 3", t->m, t->n,
                  t->k, t->ta, t->tb, i, one[i], two[i]);
        cr_assert_eq(memcmp(&two[i], &again[i], sizeof(float)), 0,
                     "%dx%dx%d: element %zu changed between two runs on 3 threads", t->m, t->n,
                     t->k, i);
        cr_assert(fabsf(two[i] - ref[i]) <= 1e-3f * (1.0f + fabsf(ref[i])),
                  "%dx%dx%d: element %zu is %g, reference %g", t->m, t->n, t->k, i, two[i], ref[i]);
    }
    free(a), free(b), free(c0), free(one), free(two), free(again), free(ref);
}

/* beta = 0 (C := alpha op(A) op(B)) on 1 and 3 threads: C's old contents
 * (NaN) never leak into the answer, which equals the reference, and the
 * padding between C's rows is left as it was. */
static void check_beta_zero(const Case *t) {
    int lda = (t->ta ? t->m : t->k) + t->pad, ldb = (t->tb ? t->k : t->n) + t->pad;
    int ldc = t->n + t->pad;
    size_t na = (size_t)(t->ta ? t->k : t->m) * lda, nb = (size_t)(t->tb ? t->n : t->k) * ldb;
    size_t nc = (size_t)t->m * ldc;
    float *a = random_floats(na, 4), *b = random_floats(nb, 5), *c = malloc(nc * sizeof *c);
    float *ref = calloc(nc, sizeof *ref);
    cr_assert(c && ref);
    int ta = t->ta ? TRANS : NO_TRANS, tb = t->tb ? TRANS : NO_TRANS;
    naive(t, a, lda, b, ldb, ref, ldc, 0.5f, 0.0f);
    for (int threads = 1; threads <= 3; threads += 2) {
        for (size_t i = 0; i < nc; i++) c[i] = NAN;
        aairt_set_threads(threads);
        aairt_sgemm(ROW_MAJOR, ta, tb, t->m, t->n, t->k, 0.5f, a, lda, b, ldb, 0.0f, c, ldc);
        for (int i = 0; i < t->m; i++)
            for (int j = 0; j < ldc; j++) {
                float got = c[(size_t)i * ldc + j], want = ref[(size_t)i * ldc + j];
                if (j >= t->n)
                    cr_assert(isnan(got), "%dx%dx%d: padding C[%d,%d] written", t->m, t->n, t->k,
                              i, j);
                else
                    cr_assert(fabsf(got - want) <= 1e-3f * (1.0f + fabsf(want)),
                              "%dx%dx%d beta=0 on %d threads: C[%d,%d] is %g, reference %g",
                              t->m, t->n, t->k, threads, i, j, got, want);
            }
    }
    free(a), free(b), free(c), free(ref);
}

Test(blas, split_products_equal_single_thread_and_reference) {
    static const Case cases[] = {
        {256, 64, 100, false, false, 0},  /* split by rows, tile multiple */
        {250, 40, 97, false, true, 3},    /* ragged rows, B transposed, padded */
        {37, 300, 64, true, false, 1},    /* split by columns, A transposed */
        {64, 129, 80, true, true, 0},     /* columns, both transposed */
        {33, 33, 200, false, false, 0},   /* barely two tiles */
        {8, 25, 5000, true, false, 0},    /* too narrow to split */
        {20, 3000, 8, true, false, 2},    /* rows preferred but too few: columns */
        {3, 4, 5, false, false, 0},       /* too small to split */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_case(&cases[i]);
        check_beta_zero(&cases[i]);
    }
    aairt_set_threads(1);
}

/* The products gemm_small.c takes instead of OpenBLAS (one short side: n <=
 * 16; A B with k <= 32; A^T B with m <= 16) against the reference, for
 * ragged widths, sub-matrices and long sums. Their elements are summed in
 * the same order at any thread count, so where they run (AVX2 + FMA) 1 and
 * 3 threads must agree bit for bit; elsewhere OpenBLAS takes them and the
 * tolerance applies. With beta = 0, C's old contents (NaN here) must not
 * leak into the answer, as in BLAS. */
static bool small_kernels_run(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

static void check_small_case(const Case *t, float beta) {
    int lda = (t->ta ? t->m : t->k) + t->pad, ldb = (t->tb ? t->k : t->n) + t->pad;
    int ldc = t->n + t->pad;
    size_t na = (size_t)(t->ta ? t->k : t->m) * lda, nb = (size_t)(t->tb ? t->n : t->k) * ldb;
    size_t nc = (size_t)t->m * ldc;
    float *a = random_floats(na, 11), *b = random_floats(nb, 12), *c0 = random_floats(nc, 13);
    if (beta == 0.0f)
        for (size_t i = 0; i < nc; i++) c0[i] = NAN;
    float *one = malloc(nc * sizeof *one), *three = malloc(nc * sizeof *three);
    float *ref = malloc(nc * sizeof *ref);
    cr_assert(one && three && ref);
    memcpy(one, c0, nc * sizeof *one);
    memcpy(three, c0, nc * sizeof *three);
    for (size_t i = 0; i < nc; i++) ref[i] = beta == 0.0f ? 0.0f : c0[i];
    int ta = t->ta ? TRANS : NO_TRANS, tb = t->tb ? TRANS : NO_TRANS;
    aairt_set_threads(1);
    aairt_sgemm(ROW_MAJOR, ta, tb, t->m, t->n, t->k, 0.5f, a, lda, b, ldb, beta, one, ldc);
    aairt_set_threads(3);
    aairt_sgemm(ROW_MAJOR, ta, tb, t->m, t->n, t->k, 0.5f, a, lda, b, ldb, beta, three, ldc);
    aairt_set_threads(1);
    naive(t, a, lda, b, ldb, ref, ldc, 0.5f, beta);
    bool exact = small_kernels_run();
    for (int i = 0; i < t->m; i++)
        for (int j = 0; j < t->n; j++) {
            size_t at = (size_t)i * ldc + (size_t)j;
            cr_assert(fabsf(one[at] - ref[at]) <= 1e-4f * (1.0f + sqrtf((float)t->k)),
                      "%dx%dx%d ta=%d tb=%d beta=%g: C[%d,%d] is %g, reference %g", t->m, t->n,
                      t->k, t->ta, t->tb, beta, i, j, one[at], ref[at]);
            if (exact)
                cr_assert_eq(memcmp(&one[at], &three[at], sizeof(float)), 0,
                             "%dx%dx%d ta=%d tb=%d: C[%d,%d] is %g on 1 thread, %g on 3",
                             t->m, t->n, t->k, t->ta, t->tb, i, j, one[at], three[at]);
            else
                cr_assert(fabsf(one[at] - three[at]) <= 1e-5f * (1.0f + fabsf(one[at])));
        }
    for (size_t i = 0; i < nc; i++) /* the padding between rows is never written */
        if ((int)(i % (size_t)ldc) >= t->n)
            cr_assert_eq(memcmp(&one[i], &c0[i], sizeof(float)), 0, "padding at %zu changed", i);
    free(a), free(b), free(c0), free(one), free(three), free(ref);
}

Test(blas, short_side_products_equal_reference_at_any_thread_count) {
    static const Case cases[] = {
        {50176, 8, 25, false, true, 0},  /* LeNet conv1 forward: narrow */
        {6400, 16, 200, false, true, 0}, /* conv2 forward */
        {999, 13, 77, false, true, 2},   /* narrow, ragged, padded */
        {37, 1, 9, false, false, 1},     /* one column, B not transposed */
        {300, 9, 40, false, false, 0},   /* two vectors, the second one lane */
        {5, 16, 2048, false, true, 0},   /* the longest packed B */
        {6400, 200, 16, false, false, 0}, /* conv2 input gradient: short */
        {1001, 37, 10, false, false, 3}, /* short, ragged rows and columns */
        {64, 120, 1, false, false, 0},   /* k = 1 */
        {8, 25, 50176, true, false, 0},  /* conv1 weight gradient: tall */
        {16, 200, 6400, true, false, 0}, /* conv2 weight gradient: tall and wide */
        {10, 120, 64, true, false, 2},   /* a dense layer's, m not a vector */
        {3, 31, 1000, true, false, 1},   /* tall, just under wide */
        {16, 33, 257, true, false, 0},   /* wide, a one-lane tail, ragged block */
        {1, 7, 3, true, false, 0},       /* tiny */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_small_case(&cases[i], 0.0f);
        check_small_case(&cases[i], 0.75f);
    }
}

/* Several caller threads share the pool: one runs its blocks on it, the
 * others find it busy and run their blocks themselves, so every answer is
 * bit for bit the one a lone caller gets at that thread count, and no
 * caller may hang. */
typedef struct Caller {
    const float *a, *b;
    float *c;
    int m, n, k;
} Caller;

static void *caller_main(void *arg) {
    Caller *t = arg;
    for (int r = 0; r < 20; r++)
        aairt_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, t->m, t->n, t->k, 1.0f, t->a, t->k, t->b, t->n,
                    0.0f, t->c, t->n);
    return NULL;
}

Test(blas, concurrent_callers_get_the_lone_answer) {
    enum { M = 128, N = 96, K = 64, CALLERS = 4 };
    float *a = random_floats((size_t)M * K, 5), *b = random_floats((size_t)K * N, 6);
    float *want = calloc((size_t)M * N, sizeof *want);
    cr_assert(want);
    aairt_set_threads(2);
    aairt_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, M, N, K, 1.0f, a, K, b, N, 0.0f, want, N);
    pthread_t th[CALLERS];
    Caller cs[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        cs[i] = (Caller){a, b, calloc((size_t)M * N, sizeof(float)), M, N, K};
        cr_assert(cs[i].c);
        cr_assert_eq(pthread_create(&th[i], NULL, caller_main, &cs[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(memcmp(cs[i].c, want, (size_t)M * N * sizeof(float)), 0, "caller %d", i);
        free(cs[i].c);
    }
    aairt_set_threads(1);
    free(a), free(b), free(want);
}

Test(blas, thread_count_defaults_and_clamps) {
    aairt_set_threads(0); /* ignored */
    cr_expect_geq(aairt_get_threads(), 1);
    aairt_set_threads(1000);
    cr_expect_eq(aairt_get_threads(), 64);
    aairt_set_threads(2);
    cr_expect_eq(aairt_get_threads(), 2);
}

/* A child forked after the pool started has no workers: its split products
 * must start their own instead of waiting on the parent's. */
Test(blas, forked_child_splits_without_hanging) {
    enum { M = 256, N = 64, K = 64 };
    float *a = random_floats((size_t)M * K, 7), *b = random_floats((size_t)K * N, 8);
    float *c = calloc((size_t)M * N, sizeof *c);
    cr_assert(c);
    aairt_set_threads(2);
    aairt_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        alarm(20); /* a hang fails the test instead of stalling it */
        aairt_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    aairt_set_threads(1);
    free(a), free(b), free(c);
}
