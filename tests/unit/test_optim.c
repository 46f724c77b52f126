/* test_optim.c - optimizer parity with torch.optim and schedules. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_util.h"
#include "optim.h"
#include "pool.h"

/* Replays a fixture's three gradients and compares with PyTorch. */
static void check_fixture(const char *name, AairtOptimizerKind kind) {
    Fixture *f = fixture_load(name);
    cr_assert(f, "cannot load fixture %s from %s", name, fixture_dir());
    FixtureShape sh;
    const float *param = fixture_tensor(f, "param", &sh);
    const float *after = fixture_tensor(f, "param_after", NULL);
    cr_assert(param && after);
    AairtOptimizerSpec spec;
    aairt_optimizer_spec_default(&spec, kind);
    spec.lr = (float)fixture_meta_num(f, "lr", spec.lr);
    spec.momentum = (float)fixture_meta_num(f, "momentum", 0);
    spec.dampening = (float)fixture_meta_num(f, "dampening", 0);
    spec.beta1 = (float)fixture_meta_num(f, "beta1", spec.beta1);
    spec.beta2 = (float)fixture_meta_num(f, "beta2", spec.beta2);
    spec.eps = (float)fixture_meta_num(f, "eps", spec.eps);
    spec.weight_decay = (float)fixture_meta_num(f, "weight_decay", spec.weight_decay);
    const char *nest = fixture_meta(f, "nesterov");
    spec.nesterov = nest && (!strcmp(nest, "True") || !strcmp(nest, "true") || !strcmp(nest, "1"));
    int steps = (int)fixture_meta_num(f, "steps", 3);

    AairtOptimizer opt;
    AairtError err;
    cr_assert_eq(aairt_optimizer_init(&opt, &spec, sh.numel, &err), 0);
    float *p = malloc((size_t)sh.numel * sizeof *p);
    memcpy(p, param, (size_t)sh.numel * sizeof *p);
    for (int s = 0; s < steps; s++) {
        char gname[16];
        snprintf(gname, sizeof gname, "grad%d", s);
        const float *g = fixture_tensor(f, gname, NULL);
        cr_assert(g, "%s lacks %s", name, gname);
        aairt_optimizer_step(&opt, p, g, sh.numel);
    }
    cr_expect_eq(opt.step, steps);
    cr_expect(fixture_close(p, after, sh.numel, 1e-5, name), "%s differs from PyTorch", name);
    free(p);
    aairt_optimizer_free(&opt);
    fixture_free(f);
}

Test(optim, sgd_matches_pytorch) { check_fixture("optim_sgd", AAIRT_OPT_SGD); }
Test(optim, sgd_momentum_matches_pytorch) { check_fixture("optim_sgd_momentum", AAIRT_OPT_SGD); }
Test(optim, adam_matches_pytorch) { check_fixture("optim_adam", AAIRT_OPT_ADAM); }
Test(optim, adamw_matches_pytorch) { check_fixture("optim_adamw", AAIRT_OPT_ADAMW); }

/* Double-precision transcription of torch.optim.SGD for the options the
 * fixtures do not cover (dampening, nesterov, weight decay). */
static void sgd_reference(double *p, double *buf, const float *g, int n, int t, double lr,
                          double mu, double damp, int nesterov, double wd) {
    for (int i = 0; i < n; i++) {
        double d = g[i] + wd * p[i];
        buf[i] = t == 0 ? d : mu * buf[i] + (1 - damp) * d;
        double u = nesterov ? d + mu * buf[i] : buf[i];
        p[i] -= lr * u;
    }
}

Test(optim, sgd_nesterov_dampening_weight_decay) {
    enum { N = 37 };
    float p[N], g[N];
    double pr[N], br[N];
    for (int i = 0; i < N; i++) pr[i] = p[i] = (float)sin(i * 0.7);
    AairtOptimizerSpec spec;
    aairt_optimizer_spec_default(&spec, AAIRT_OPT_SGD);
    spec.lr = 0.05f;
    spec.momentum = 0.8f;
    spec.dampening = 0.25f;
    spec.nesterov = 1;
    spec.weight_decay = 0.01f;
    AairtOptimizer opt;
    cr_assert_eq(aairt_optimizer_init(&opt, &spec, N, NULL), 0);
    cr_assert_null(opt.v);
    for (int t = 0; t < 5; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)cos(i * 1.3 + t);
        aairt_optimizer_step(&opt, p, g, N);
        sgd_reference(pr, br, g, N, t, 0.05, 0.8f, 0.25, 1, 0.01f);
    }
    for (int i = 0; i < N; i++) cr_assert_float_eq(p[i], pr[i], 1e-5, "element %d", i);
    aairt_optimizer_free(&opt);
}

Test(optim, adam_l2_weight_decay_reference) {
    enum { N = 19 };
    float p[N], g[N];
    double pr[N], m[N] = {0}, v[N] = {0};
    for (int i = 0; i < N; i++) pr[i] = p[i] = (float)(0.1 * i - 0.9);
    AairtOptimizerSpec spec;
    aairt_optimizer_spec_default(&spec, AAIRT_OPT_ADAM);
    spec.lr = 0.02f;
    spec.weight_decay = 0.05f;
    AairtOptimizer opt;
    cr_assert_eq(aairt_optimizer_init(&opt, &spec, N, NULL), 0);
    for (int t = 1; t <= 4; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)sin(i + 0.5 * t);
        aairt_optimizer_step(&opt, p, g, N);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + 0.05f * pr[i];
            m[i] = 0.9f * m[i] + (1 - 0.9f) * gi;
            v[i] = 0.999f * v[i] + (1 - 0.999f) * gi * gi;
            double denom = sqrt(v[i]) / sqrt(1 - pow(0.999f, t)) + 1e-8f;
            pr[i] -= 0.02f / (1 - pow(0.9f, t)) * m[i] / denom;
        }
    }
    for (int i = 0; i < N; i++) cr_assert_float_eq(p[i], pr[i], 1e-5, "element %d", i);
    cr_assert_eq(opt.step, 4);
    aairt_optimizer_free(&opt);
}

Test(optim, spec_from_json) {
    cJSON *j = cJSON_Parse("{\"kind\":\"sgd\",\"lr\":0.5,\"momentum\":0.9,\"nesterov\":true}");
    AairtOptimizerSpec spec;
    AairtError err;
    cr_assert_eq(aairt_optimizer_spec_from_json(j, &spec, &err), 0);
    cr_expect_eq(spec.kind, AAIRT_OPT_SGD);
    cr_expect_float_eq(spec.lr, 0.5f, 1e-9);
    cr_expect_float_eq(spec.momentum, 0.9f, 1e-9);
    cr_expect_eq(spec.nesterov, 1);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"kind\":\"rmsprop\"}");
    cr_expect_eq(aairt_optimizer_spec_from_json(j, &spec, &err), -1);
    cr_expect(strstr(err.msg, "train.optimizer.kind"), "%s", err.msg);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"kind\":\"adam\",\"lr\":\"fast\"}");
    cr_expect_eq(aairt_optimizer_spec_from_json(j, &spec, &err), -1);
    cJSON_Delete(j);
}

Test(optim, schedules) {
    AairtSchedule s;
    cr_assert_eq(aairt_schedule_from_json(NULL, &s, NULL), 0);
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 7, 10), 0.1f, 1e-9);

    cJSON *j = cJSON_Parse("{\"kind\":\"step\",\"every\":3,\"gamma\":0.5}");
    cr_assert_eq(aairt_schedule_from_json(j, &s, NULL), 0);
    cJSON_Delete(j);
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 0, 10), 0.1f, 1e-7);
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 2, 10), 0.1f, 1e-7);
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 3, 10), 0.05f, 1e-7);
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 9, 10), 0.0125f, 1e-7);

    j = cJSON_Parse("{\"kind\":\"cosine\",\"min_lr\":0.001}");
    cr_assert_eq(aairt_schedule_from_json(j, &s, NULL), 0);
    cJSON_Delete(j);
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 0, 10), 0.1f, 1e-7);
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 5, 10), 0.0505f, 1e-6);
    /* torch CosineAnnealingLR(T_max=10) at epoch 9 */
    double want = 0.001 + (0.1 - 0.001) * (1 + cos(M_PI * 9 / 10)) / 2;
    cr_expect_float_eq(aairt_schedule_lr(&s, 0.1f, 9, 10), want, 1e-6);

    j = cJSON_Parse("{\"kind\":\"warmup\"}");
    AairtError err;
    cr_expect_eq(aairt_schedule_from_json(j, &s, &err), -1);
    cJSON_Delete(j);
}

/* Large blocks are updated in ranges on the runtime's threads: every
 * element is independent, so 1 and 3 threads must agree bit for bit, and
 * a non-finite value in the last range must still be reported. */
static void run_steps(AairtOptimizerKind kind, int threads, int64_t n, float *p, float *m) {
    AairtOptimizerSpec spec;
    aairt_optimizer_spec_default(&spec, kind);
    spec.momentum = 0.9f;
    spec.weight_decay = 0.01f;
    AairtOptimizer opt;
    cr_assert_eq(aairt_optimizer_init(&opt, &spec, n, NULL), 0);
    float *g = malloc((size_t)n * sizeof *g);
    cr_assert(g);
    for (int64_t i = 0; i < n; i++) {
        p[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        g[i] = (float)((i * 104729) % 997) / 997.0f - 0.5f;
    }
    aairt_set_threads(threads);
    for (int s = 0; s < 3; s++) {
        aairt_optimizer_step(&opt, p, g, n);
        cr_assert_eq(opt.nonfinite, 0);
    }
    memcpy(m, opt.m, (size_t)n * sizeof *m);
    g[n - 1] = NAN;
    aairt_optimizer_step(&opt, p, g, n);
    cr_expect_neq(opt.nonfinite, 0, "a NaN gradient in the last range goes unnoticed");
    aairt_set_threads(1);
    aairt_optimizer_free(&opt);
    free(g);
}

Test(optim, threaded_update_is_bitwise_the_serial_one) {
    enum { N = 100003 };
    static const AairtOptimizerKind kinds[] = {AAIRT_OPT_SGD, AAIRT_OPT_ADAM, AAIRT_OPT_ADAMW};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        float *p1 = malloc(N * sizeof *p1), *p3 = malloc(N * sizeof *p3);
        float *m1 = malloc(N * sizeof *m1), *m3 = malloc(N * sizeof *m3);
        cr_assert(p1 && p3 && m1 && m3);
        run_steps(kinds[k], 1, N, p1, m1);
        run_steps(kinds[k], 3, N, p3, m3);
        cr_expect_eq(memcmp(m1, m3, N * sizeof *m1), 0, "%s: state differs", aairt_optimizer_kind_name(kinds[k]));
        /* the NaN step poisoned the last element only */
        cr_expect_eq(memcmp(p1, p3, (N - 1) * sizeof *p1), 0, "%s: parameters differ",
                     aairt_optimizer_kind_name(kinds[k]));
        free(p1), free(p3), free(m1), free(m3);
    }
}

/* The update screens only the parameters it writes (optim.c): a NaN or
 * infinite gradient or parameter must still be reported whatever the
 * optimizer and its settings, including a zero learning rate (0 * inf is
 * NaN), and a gradient large enough to overflow Adam's v but finite must
 * not be. */
typedef struct Screen {
    const char *name;
    AairtOptimizerKind kind;
    float lr, momentum, dampening, weight_decay;
} Screen;

static int screened(const Screen *c, float grad, float param) {
    enum { N = 40000 }; /* over SPLIT_MIN: 2 threads take a range each */
    AairtOptimizerSpec spec;
    aairt_optimizer_spec_default(&spec, c->kind);
    spec.lr = c->lr;
    spec.momentum = c->momentum;
    spec.dampening = c->dampening;
    spec.weight_decay = c->weight_decay;
    AairtOptimizer opt;
    cr_assert_eq(aairt_optimizer_init(&opt, &spec, N, NULL), 0);
    float *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g);
    cr_assert(p && g);
    for (int i = 0; i < N; i++) p[i] = 0.5f, g[i] = 0.25f;
    aairt_set_threads(2);
    aairt_optimizer_step(&opt, p, g, N); /* momentum buffers filled */
    cr_assert_eq(opt.nonfinite, 0, "%s: a finite step flagged", c->name);
    g[N / 3] = grad;
    p[N / 3] = param;
    aairt_optimizer_step(&opt, p, g, N);
    int flagged = opt.nonfinite;
    aairt_set_threads(1);
    aairt_optimizer_free(&opt);
    free(p), free(g);
    return flagged;
}

Test(optim, every_nonfinite_gradient_or_parameter_is_reported) {
    static const Screen cases[] = {
        {"sgd", AAIRT_OPT_SGD, 0.1f, 0, 0, 0},
        {"sgd lr 0", AAIRT_OPT_SGD, 0.0f, 0, 0, 0},
        {"sgd wd", AAIRT_OPT_SGD, 0.1f, 0, 0, 0.01f},
        {"sgd momentum", AAIRT_OPT_SGD, 0.1f, 0.9f, 0, 0},
        {"sgd dampening 1", AAIRT_OPT_SGD, 0.1f, 0.9f, 1.0f, 0},
        {"adam", AAIRT_OPT_ADAM, 1e-3f, 0, 0, 0},
        {"adam lr 0", AAIRT_OPT_ADAM, 0.0f, 0, 0, 0},
        {"adam wd", AAIRT_OPT_ADAM, 1e-3f, 0, 0, 0.01f},
        {"adamw", AAIRT_OPT_ADAMW, 1e-3f, 0, 0, 0.01f},
    };
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
            cr_expect(screened(&cases[c], bad[b], 0.5f), "%s: gradient %g not reported",
                      cases[c].name, (double)bad[b]);
            cr_expect(screened(&cases[c], 0.25f, bad[b]), "%s: parameter %g not reported",
                      cases[c].name, (double)bad[b]);
        }
    }
    /* Finite gradients are not flagged, even where g*g overflows (Adam's
     * step then goes to 0, as in PyTorch). */
    cr_expect(!screened(&cases[5], 3e38f, 0.5f), "adam: a finite gradient flagged");
    cr_expect(!screened(&cases[0], -3e38f, 0.5f), "sgd: a finite gradient flagged");
}

/* Moments that decay into the subnormal range are flushed to zero while
 * the update runs (optim.c, "Subnormal moments"), except in Adam with
 * eps = 0, whose denominator can be subnormal itself; and every thread
 * that ran a part computes subnormals again afterwards. */
enum { DECAY_N = 40000 }; /* over SPLIT_MIN: 2 threads take a range each */

/* This thread's floating-point mode keeps subnormal results. */
static bool keeps_subnormals(void) {
    volatile float tiny = FLT_MIN;
    volatile float half = tiny * 0.5f;
    return half != 0.0f;
}

static void record_mode(void *ctx, int part) { ((int *)ctx)[part] = keeps_subnormals(); }

/* One step with gradient `first`, then `steps` with a zero gradient, so
 * that the moment halves each step (beta1 or momentum 0.5); returns the
 * largest first moment (momentum buffer) left. */
static float decayed_moment(AairtOptimizerKind kind, float eps, float first, int steps,
                            int threads) {
    AairtOptimizerSpec spec;
    aairt_optimizer_spec_default(&spec, kind);
    spec.beta1 = 0.5f;
    spec.momentum = 0.5f;
    spec.eps = eps;
    AairtOptimizer opt;
    cr_assert_eq(aairt_optimizer_init(&opt, &spec, DECAY_N, NULL), 0);
    float *p = malloc(DECAY_N * sizeof *p), *g = malloc(DECAY_N * sizeof *g);
    cr_assert(p && g);
    for (int i = 0; i < DECAY_N; i++) p[i] = 1.0f, g[i] = first;
    aairt_set_threads(threads);
    aairt_optimizer_step(&opt, p, g, DECAY_N);
    for (int i = 0; i < DECAY_N; i++) g[i] = 0.0f;
    for (int s = 0; s < steps; s++) aairt_optimizer_step(&opt, p, g, DECAY_N);
    cr_expect_eq(opt.nonfinite, 0, "%s: a finite step flagged", aairt_optimizer_kind_name(kind));
    float most = 0.0f;
    for (int i = 0; i < DECAY_N; i++) most = fmaxf(most, fabsf(opt.m[i]));
    cr_expect(keeps_subnormals(), "the caller's floating-point mode was not restored");
    int kept[2] = {0, 0};
    for (int r = 0; r < 20; r++) {
        aairt_pool_run(record_mode, kept, 2);
        cr_expect(kept[0] && kept[1], "a pool thread's floating-point mode was not restored");
    }
    aairt_set_threads(1);
    aairt_optimizer_free(&opt);
    free(p), free(g);
    return most;
}

Test(optim, subnormal_moments_are_flushed_to_zero) {
    /* Adam: m = 5e-18 halves to ~1.3e-40 in 75 steps; v (1e-37) stays normal */
    for (int threads = 1; threads <= 2; threads++) {
        cr_expect_eq(decayed_moment(AAIRT_OPT_ADAM, 1e-8f, 1e-17f, 75, threads), 0.0f,
                     "adam, %d threads: a subnormal moment was kept", threads);
        cr_expect_eq(decayed_moment(AAIRT_OPT_SGD, 0, 1e-30f, 30, threads), 0.0f,
                     "sgd, %d threads: a subnormal momentum was kept", threads);
    }
    float kept = decayed_moment(AAIRT_OPT_ADAM, 0.0f, 1e-17f, 75, 2);
    cr_expect(kept > 0.0f && kept < FLT_MIN, "adam with eps = 0 flushed its moments (%g)",
              (double)kept);
}
