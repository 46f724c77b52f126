/* test_rng_init.c - PCG32 streams and weight initialisers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "model.h"
#include "rng.h"

Test(rng, pcg32_reference_sequence) {
    /* pcg32-demo: pcg32_srandom_r(&rng, 42u, 54u) */
    static const uint32_t want[] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                                    0x83d2f293, 0xbfa4784b, 0xcbed606e};
    AairtRng r;
    aairt_rng_seed(&r, 42, 54);
    for (int i = 0; i < 6; i++) cr_expect_eq(aairt_rng_u32(&r), want[i], "output %d", i);
}

Test(rng, streams_are_deterministic_and_distinct) {
    AairtRng a, b, c;
    aairt_rng_seed(&a, 7, AAIRT_RNG_STREAM_INIT);
    aairt_rng_seed(&b, 7, AAIRT_RNG_STREAM_INIT);
    aairt_rng_seed(&c, 7, AAIRT_RNG_STREAM_SHUFFLE);
    int same_ac = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = aairt_rng_u32(&a), y = aairt_rng_u32(&b), z = aairt_rng_u32(&c);
        cr_assert_eq(x, y);
        same_ac += x == z;
    }
    cr_expect_lt(same_ac, 3);
}

Test(rng, uniform_and_normal_moments) {
    AairtRng r;
    aairt_rng_seed(&r, 123, 9);
    enum { N = 200000 };
    double su = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < N; i++) {
        float u = aairt_rng_uniform(&r);
        cr_assert(u >= 0.0f && u < 1.0f);
        su += u;
        double n = aairt_rng_normal(&r);
        cr_assert(isfinite(n));
        sn += n;
        sn2 += n * n;
    }
    cr_expect_float_eq(su / N, 0.5, 0.005);
    cr_expect_float_eq(sn / N, 0.0, 0.01);
    cr_expect_float_eq(sn2 / N, 1.0, 0.02);
}

Test(rng, below_and_shuffle) {
    AairtRng r;
    aairt_rng_seed(&r, 5, 1);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t k = aairt_rng_below(&r, 7);
        cr_assert_lt(k, 7);
        counts[k]++;
    }
    for (int k = 0; k < 7; k++) cr_expect(abs(counts[k] - 10000) < 500, "bucket %d: %d", k, counts[k]);
    cr_expect_eq(aairt_rng_below(&r, 1), 0);

    int64_t idx[100];
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) idx[i] = i;
    aairt_rng_shuffle(&r, idx, 100);
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        cr_assert(idx[i] >= 0 && idx[i] < 100);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++) cr_assert_eq(seen[i], 1);
    cr_expect_gt(moved, 80);
}

static const char *manifest_json =
    "{\"name\":\"t\",\"input\":{\"shape\":[-1,50]},\"output\":{\"shape\":[-1,40]},"
    "\"task\":\"regression\",\"n_param_floats\":8040,\"params\":["
    "{\"name\":\"a\",\"shape\":[40,50],\"offset\":0,\"size\":2000,\"init\":\"torch_default\"},"
    "{\"name\":\"b\",\"shape\":[40,50],\"offset\":2000,\"size\":2000,\"init\":\"he_normal\"},"
    "{\"name\":\"c\",\"shape\":[40,50],\"offset\":4000,\"size\":2000,\"init\":\"xavier_uniform\"},"
    "{\"name\":\"d\",\"shape\":[40,50],\"offset\":6000,\"size\":2000,\"init\":\"he_uniform\"},"
    "{\"name\":\"z\",\"shape\":[20],\"offset\":8000,\"size\":20,\"init\":\"zeros\"},"
    "{\"name\":\"o\",\"shape\":[20],\"offset\":8020,\"size\":20,\"init\":\"ones\","
    "\"fan_in\":50}]}";

static void moments(const float *x, int n, double *mean, double *var, double *maxabs) {
    double s = 0, s2 = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        mx = fabs(x[i]) > mx ? fabs(x[i]) : mx;
    }
    *mean = s / n;
    *var = s2 / n - *mean * *mean;
    *maxabs = mx;
}

Test(init, kinds_bounds_and_determinism) {
    AairtManifest m;
    AairtError err;
    cr_assert_eq(aairt_manifest_parse(manifest_json, &m, &err), 0, "%s", err.msg);
    cr_expect_eq(m.params[0].fan_in, 50);
    cr_expect_eq(m.params[0].fan_out, 40);
    float *p = malloc(8040 * sizeof *p), *q = malloc(8040 * sizeof *q);
    aairt_init_params(&m, p, 42);
    aairt_init_params(&m, q, 42);
    cr_expect_eq(memcmp(p, q, 8040 * sizeof *p), 0, "same seed, same weights");
    aairt_init_params(&m, q, 43);
    cr_expect_neq(memcmp(p, q, 8040 * sizeof *p), 0, "another seed, other weights");

    double mean, var, mx;
    moments(p, 2000, &mean, &var, &mx);            /* U(+-1/sqrt(50)) */
    double b = 1 / sqrt(50.0);
    cr_expect_leq(mx, b);
    cr_expect_float_eq(var, b * b / 3, b * b / 3 * 0.1);
    moments(p + 2000, 2000, &mean, &var, &mx);     /* N(0, 2/50) */
    cr_expect_float_eq(var, 2.0 / 50, 2.0 / 50 * 0.1);
    cr_expect_float_eq(mean, 0, 0.02);
    moments(p + 4000, 2000, &mean, &var, &mx);     /* U(+-sqrt(6/90)) */
    cr_expect_leq(mx, sqrt(6.0 / 90));
    cr_expect_float_eq(var, 6.0 / 90 / 3, 6.0 / 90 / 3 * 0.1);
    moments(p + 6000, 2000, &mean, &var, &mx);     /* U(+-sqrt(6/50)) */
    cr_expect_leq(mx, sqrt(6.0 / 50));
    cr_expect_gt(mx, sqrt(6.0 / 50) * 0.95);
    for (int i = 0; i < 20; i++) {
        cr_expect_eq(p[8000 + i], 0.0f);
        cr_expect_eq(p[8020 + i], 1.0f);
    }
    free(p);
    free(q);
    aairt_manifest_free(&m);
}

Test(init, xavier_normal_variance) {
    AairtParamInfo info = {.name = "w", .rank = 2, .shape = {100, 60}, .size = 6000,
                           .init = AAIRT_INIT_XAVIER_NORMAL, .fan_in = 60, .fan_out = 100};
    float *w = malloc(6000 * sizeof *w);
    AairtRng r;
    aairt_rng_seed(&r, 1, AAIRT_RNG_STREAM_INIT);
    aairt_init_param(&info, w, &r);
    double mean, var, mx;
    moments(w, 6000, &mean, &var, &mx);
    cr_expect_float_eq(var, 2.0 / 160, 2.0 / 160 * 0.08);
    free(w);
}

Test(manifest, rejects_bad_param_table) {
    AairtManifest m;
    AairtError err;
    const char *bad =
        "{\"name\":\"t\",\"input\":{\"shape\":[-1,2]},\"output\":{\"shape\":[-1,1]},"
        "\"task\":\"regression\",\"n_param_floats\":3,\"params\":["
        "{\"name\":\"w\",\"shape\":[1,2],\"offset\":0,\"size\":2},"
        "{\"name\":\"b\",\"shape\":[1],\"offset\":2,\"size\":2}]}";
    cr_expect_eq(aairt_manifest_parse(bad, &m, &err), -1);
    cr_expect(strstr(err.msg, "param b"), "%s", err.msg);
    cr_expect_eq(aairt_manifest_parse("{\"name\":", &m, &err), -1);
    cr_expect_eq(aairt_manifest_parse("{\"task\":\"classification\"}", &m, &err), -1);
}
