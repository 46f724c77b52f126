/* peak.c - the CPU's measured fp32 FMA peak, for the roofline figures.
 *
 * Each thread runs NACC independent FMA chains on 256-bit (AVX2) or 512-bit
 * (AVX-512) registers: enough chains to cover the FMA latency on every
 * pipe, so the loop is bound by FMA throughput alone. Best of 5 runs of
 * ~50 ms. Prints one JSON object in GFLOP/s (1 and 2 threads, AVX2 and,
 * when the CPU has it, AVX-512). Build: cc -O2 -pthread peak.c. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

enum { NACC = 12, ITERS = 2000000 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The chains' values are summed into *sink so nothing is dead code. */
__attribute__((target("avx2,fma"))) static void *run_avx2(void *sink) {
    __m256 acc[NACC];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < NACC; j++) acc[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < ITERS; i++)
        for (int j = 0; j < NACC; j++) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
    __m256 s = acc[0];
    for (int j = 1; j < NACC; j++) s = _mm256_add_ps(s, acc[j]);
    *(float *)sink = _mm256_cvtss_f32(s);
    return NULL;
}

__attribute__((target("avx512f"))) static void *run_avx512(void *sink) {
    __m512 acc[NACC];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < NACC; j++) acc[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < ITERS; i++)
        for (int j = 0; j < NACC; j++) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
    __m512 s = acc[0];
    for (int j = 1; j < NACC; j++) s = _mm512_add_ps(s, acc[j]);
    *(float *)sink = _mm512_reduce_add_ps(s);
    return NULL;
}

/* GFLOP/s of `fn` on `threads` threads (lanes: floats per register). */
static double measure(void *(*fn)(void *), int threads, int lanes) {
    double best = 0;
    float sink[8];
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[8];
        double t0 = now();
        for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, fn, &sink[t]);
        for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
        double dt = now() - t0;
        double gf = (double)threads * ITERS * NACC * lanes * 2 / dt / 1e9;
        if (gf > best) best = gf;
    }
    return best;
}

int main(void) {
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    printf("{\"avx2_t1\": %.1f, \"avx2_t2\": %.1f", measure(run_avx2, 1, 8), measure(run_avx2, 2, 8));
    if (has512)
        printf(", \"avx512_t1\": %.1f, \"avx512_t2\": %.1f", measure(run_avx512, 1, 16),
               measure(run_avx512, 2, 16));
    printf("}\n");
    return 0;
}
