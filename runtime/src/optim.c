/* optim.c - torch.optim updates (SGD, Adam, AdamW), optimizer construction
 * from the manifest, and per-epoch learning-rate schedules.
 *
 * The update follows PyTorch 1.13's single-tensor code path operation by
 * operation, in float32, so parity with torch is within rounding: scalars
 * PyTorch computes in Python doubles (bias corrections, 1 - lr*wd) are
 * computed in double here too and rounded to float once, as PyTorch does
 * when it passes them to a float kernel. */
#include "optim.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#if defined(__SSE__)
#include <pmmintrin.h> /* _MM_DENORMALS_ZERO_ON */
#include <xmmintrin.h>
#endif

/* The update loops are memory-bound streams over every parameter; an AVX2
 * clone (picked at load time by the CPU, via ifunc) does 8 lanes where the
 * portable build does 4. No FMA in the clone: results stay bitwise equal
 * to the portable code, so determinism does not depend on the machine. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define AAIRT_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AAIRT_VECTOR_CLONES
#endif

/* Checking the updated parameters. A non-finite gradient (or parameter,
 * or state) always makes the updated parameter non-finite: each loop
 * below only multiplies, adds and divides it with finite numbers, and
 * none of those turns NaN or infinity into a number (0 * inf is NaN). So
 * the loops screen the parameters they write, not the gradients too. The
 * screen keeps the largest exponent field it sees (an integer max, which
 * vectorizes to two instructions); all ones means NaN or infinity. A float
 * compare of both operands, OR-reduced, cost a third of Adam's time (349
 * against 249 us over 235k parameters, 1 thread, warm caches). */
enum { EXPONENT_BITS = 0x7f800000u };

static inline uint32_t exponent_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u & EXPONENT_BITS;
}

static inline uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* SGD: d = g + wd*p; buf = mu*buf + (1-dampening)*d (buf = d on the first
 * step); d = nesterov ? d + mu*buf : buf; p -= lr*d. */
/* Both updates work on elements [off, off + n) of the parameter block (p
 * and g point at element off): every element is updated on its own, so
 * cutting the block into ranges for threads changes no answer. */
AAIRT_VECTOR_CLONES
static int sgd_step(AairtOptimizer *opt, float *restrict p,
                    const float *restrict g, int64_t off, int64_t n) {
    const float lr = opt->lr, wd = opt->weight_decay, mu = opt->momentum;
    const float neg_lr = -lr;
    uint32_t top = 0;
    if (mu == 0.0f) {
        if (wd == 0.0f) {
            for (int64_t i = 0; i < n; i++) {
                float pi = p[i] + neg_lr * g[i];
                p[i] = pi;
                top = max_u32(top, exponent_of(pi));
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                float d = g[i] + wd * p[i];
                float pi = p[i] + neg_lr * d;
                p[i] = pi;
                top = max_u32(top, exponent_of(pi));
            }
        }
        return top == EXPONENT_BITS;
    }
    float *restrict buf = opt->m + off;
    const float keep = 1.0f - opt->dampening;
    const int first = opt->step == 0;
    const int nesterov = opt->nesterov;
    for (int64_t i = 0; i < n; i++) {
        float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        float b = first ? d : buf[i] * mu + keep * d;
        buf[i] = b;
        float u = nesterov ? d + mu * b : b;
        float pi = p[i] + neg_lr * u;
        p[i] = pi;
        top = max_u32(top, exponent_of(pi));
    }
    return top == EXPONENT_BITS;
}

/* Adam / AdamW: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 * p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps). Adam adds wd*p to g first,
 * AdamW scales p by (1 - lr*wd) first.
 * One step departs from PyTorch's order: sqrt(v) is multiplied by
 * 1/sqrt(bc2) (computed once, in double) instead of divided by sqrt(bc2).
 * The loop is bound by the FP divider (a square root and a division per
 * parameter remain; Zen 1 splits each 256-bit one in two), and the third
 * divider operation cost 17 % of the step (235k parameters, 1 thread: 368
 * -> 307 us); the denominator moves by at most an ulp, far inside the
 * 1e-5 the PyTorch fixtures are checked to. */

/* The scalars of one Adam step. */
typedef struct AdamScalars {
    float beta1, beta2, one_m_b1, one_m_b2;
    float neg_step_size, inv_bc2_sqrt, eps;
    float l2;    /* Adam's weight decay, added to the gradient */
    float decay; /* AdamW's: p is scaled by it first, as PyTorch's p.mul_(1 - lr*wd) */
} AdamScalars;

/* The update over n parameters; returns the largest exponent field of the
 * updated ones. `weighted` applies l2 and decay: a separate instance of
 * the loop, since their two multiply-adds cost 9 % of the plain one (277
 * against 253 us, as above). */
static inline __attribute__((always_inline)) uint32_t
adam_pass(const AdamScalars *k, bool weighted, float *restrict p, const float *restrict g,
          float *restrict m, float *restrict v, int64_t n) {
    const AdamScalars s = *k; /* in registers: p's stores cannot touch them */
    uint32_t top = 0;
    for (int64_t i = 0; i < n; i++) {
        float gi = weighted ? g[i] + s.l2 * p[i] : g[i];
        float mi = m[i] * s.beta1 + s.one_m_b1 * gi;
        float vi = v[i] * s.beta2 + s.one_m_b2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) * s.inv_bc2_sqrt + s.eps;
        float pi = (weighted ? p[i] * s.decay : p[i]) + s.neg_step_size * (mi / denom);
        p[i] = pi;
        top = max_u32(top, exponent_of(pi));
    }
    return top;
}

/* Vectorizes only with -fno-math-errno (GCC otherwise guards each sqrtf with
 * an errno branch; the pragma/attribute forms do not help): v >= 0 here, so
 * the flag changes nothing but speed. */
AAIRT_VECTOR_CLONES
static int adam_step(AairtOptimizer *opt, float *restrict p,
                     const float *restrict g, int64_t off, int64_t n) {
    const int64_t t = opt->step + 1;
    const double b1 = (double)opt->beta1, b2 = (double)opt->beta2;
    const double bc1 = 1.0 - pow(b1, (double)t);
    const double bc2 = 1.0 - pow(b2, (double)t);
    const float wd = opt->weight_decay;
    const bool adamw = opt->kind == AAIRT_OPT_ADAMW;
    const AdamScalars s = {
        .beta1 = opt->beta1,
        .beta2 = opt->beta2,
        .one_m_b1 = (float)(1.0 - b1),
        .one_m_b2 = (float)(1.0 - b2),
        .neg_step_size = (float)(-((double)opt->lr / bc1)),
        .inv_bc2_sqrt = (float)(1.0 / sqrt(bc2)),
        .eps = opt->eps,
        .l2 = adamw ? 0.0f : wd,
        .decay = adamw ? (float)(1.0 - (double)opt->lr * (double)wd) : 1.0f,
    };
    float *m = opt->m + off, *v = opt->v + off;
    uint32_t top = wd != 0.0f ? adam_pass(&s, true, p, g, m, v, n)
                              : adam_pass(&s, false, p, g, m, v, n);
    return top == EXPONENT_BITS;
}

/* The update is a memory-bound stream; at 2 threads each streams half.
 * Ranges are whole cache lines (16 floats), and blocks under SPLIT_MIN
 * floats a part are not worth a handoff. */
enum { SPLIT_MIN = 1 << 14, LINE = 16 };

/* Subnormal moments. A weight whose gradient stays zero for many steps
 * (those of a hidden unit whose relu stays off) keeps a first moment that
 * shrinks by beta1 a step, down through the subnormal range, where an x86
 * core takes a microcode assist for each operation that reads or makes a
 * subnormal: at step 900 of fashion_mlp 23,686 of its 235,146 first
 * moments were subnormal, most on 52 of the first layer's 256 units. That
 * cost Adam a quarter of its time in a fashion_mlp epoch (103-110 us a
 * step at 1 thread against 79-81 with subnormals flushed). So the update
 * runs with flush-to-zero and denormals-are-zero set, as under
 * torch.set_flush_denormal(True), and the thread's mode is restored
 * afterwards. What a subnormal moment (below 1.2e-38) adds to a parameter,
 * lr/bc1 x m / (sqrt(v) c + eps), is under lr / (1 - beta1) x 1.2e-30
 * for eps >= 1e-8 (1.2e-32 with the defaults): less than half the last
 * bit of any parameter above ~1e-24 then. So parameters of normal size
 * come out the same bits (fashion_mlp's trained weights are identical
 * with and without the flush), and the moments hold 0 where they would
 * hold a subnormal.
 * SGD's momentum decays the same way and moves the parameters by lr x buf,
 * so it flushes too. With eps = 0 Adam's denominator can itself be
 * subnormal, so Adam then keeps subnormals. On other CPUs the update runs
 * as written. */
typedef struct FpMode {
    unsigned csr;
} FpMode;

static FpMode flush_subnormals(void) {
    FpMode was = {0};
#if defined(__SSE__)
    was.csr = _mm_getcsr();
    _mm_setcsr(was.csr | _MM_FLUSH_ZERO_ON | _MM_DENORMALS_ZERO_ON);
#endif
    return was;
}

static void restore_fp_mode(FpMode was) {
#if defined(__SSE__)
    _mm_setcsr(was.csr);
#else
    (void)was;
#endif
}

typedef struct StepJob {
    AairtOptimizer *opt;
    float *params;
    const float *grads;
    int64_t n;
    int parts;
    bool flush; /* run the parts with subnormals flushed (above) */
    int bad[AAIRT_POOL_MAX_THREADS];
} StepJob;

static int64_t part_start(const StepJob *j, int part) {
    if (part >= j->parts) return j->n;
    return (j->n * part / j->parts) & ~(int64_t)(LINE - 1);
}

static void step_part(void *ctx, int part) {
    StepJob *j = ctx;
    int64_t lo = part_start(j, part), n = part_start(j, part + 1) - lo;
    float *p = j->params + lo;
    const float *g = j->grads + lo;
    FpMode mode = {0};
    if (j->flush) mode = flush_subnormals();
    j->bad[part] = j->opt->kind == AAIRT_OPT_SGD ? sgd_step(j->opt, p, g, lo, n)
                                                  : adam_step(j->opt, p, g, lo, n);
    if (j->flush) restore_fp_mode(mode);
}

void aairt_optimizer_step(AairtOptimizer *opt, float *params,
                          const float *grads, int64_t n) {
    StepJob job = {.opt = opt, .params = params, .grads = grads, .n = n,
                   .flush = opt->kind == AAIRT_OPT_SGD || opt->eps > 0.0f};
    int64_t most = n / SPLIT_MIN, threads = aairt_get_threads();
    job.parts = (int)(most < 1 ? 1 : most < threads ? most : threads);
    aairt_pool_run(step_part, &job, job.parts);
    int bad = 0;
    for (int i = 0; i < job.parts; i++) bad |= job.bad[i];
    opt->checked = n;
    opt->nonfinite = bad;
    opt->step++;
}

void aairt_optimizer_spec_default(AairtOptimizerSpec *spec,
                                  AairtOptimizerKind kind) {
    memset(spec, 0, sizeof *spec);
    spec->kind = kind;
    spec->beta1 = 0.9f;
    spec->beta2 = 0.999f;
    spec->eps = 1e-8f;
    switch (kind) {
    case AAIRT_OPT_SGD: spec->lr = 0.01f; break;
    case AAIRT_OPT_ADAM: spec->lr = 1e-3f; break;
    case AAIRT_OPT_ADAMW:
        spec->lr = 1e-3f;
        spec->weight_decay = 0.01f;
        break;
    }
}

int aairt_optimizer_kind_parse(const char *name, AairtOptimizerKind *kind) {
    if (!strcmp(name, "sgd")) *kind = AAIRT_OPT_SGD;
    else if (!strcmp(name, "adam")) *kind = AAIRT_OPT_ADAM;
    else if (!strcmp(name, "adamw")) *kind = AAIRT_OPT_ADAMW;
    else return -1;
    return 0;
}

const char *aairt_optimizer_kind_name(AairtOptimizerKind kind) {
    switch (kind) {
    case AAIRT_OPT_SGD: return "sgd";
    case AAIRT_OPT_ADAM: return "adam";
    case AAIRT_OPT_ADAMW: return "adamw";
    }
    return "?";
}

/* Reads an optional number field; -1 when present with another type. */
static int json_float(const cJSON *obj, const char *key, float *dst,
                      const char *where, AairtError *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsNumber(it))
        return aairt_error_set(err, "%s.%s: expected a number", where, key);
    *dst = (float)it->valuedouble;
    return 0;
}

int aairt_optimizer_spec_from_json(const cJSON *obj, AairtOptimizerSpec *spec,
                                   AairtError *err) {
    AairtOptimizerKind kind = AAIRT_OPT_ADAM;
    if (obj && !cJSON_IsNull(obj)) {
        if (!cJSON_IsObject(obj))
            return aairt_error_set(err, "train.optimizer: expected an object");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "kind");
        if (k) {
            if (!cJSON_IsString(k) || aairt_optimizer_kind_parse(k->valuestring, &kind))
                return aairt_error_set(err, "train.optimizer.kind: expected "
                                            "\"sgd\", \"adam\" or \"adamw\"");
        }
    }
    aairt_optimizer_spec_default(spec, kind);
    if (!obj || cJSON_IsNull(obj)) return 0;
    const char *w = "train.optimizer";
    if (json_float(obj, "lr", &spec->lr, w, err) ||
        json_float(obj, "momentum", &spec->momentum, w, err) ||
        json_float(obj, "dampening", &spec->dampening, w, err) ||
        json_float(obj, "beta1", &spec->beta1, w, err) ||
        json_float(obj, "beta2", &spec->beta2, w, err) ||
        json_float(obj, "eps", &spec->eps, w, err) ||
        json_float(obj, "weight_decay", &spec->weight_decay, w, err))
        return -1;
    const cJSON *nest = cJSON_GetObjectItemCaseSensitive(obj, "nesterov");
    if (nest && !cJSON_IsNull(nest)) {
        if (!cJSON_IsBool(nest))
            return aairt_error_set(err, "train.optimizer.nesterov: expected a boolean");
        spec->nesterov = cJSON_IsTrue(nest);
    }
    return 0;
}

int aairt_schedule_kind_parse(const char *name, AairtScheduleKind *kind) {
    if (!strcmp(name, "constant")) *kind = AAIRT_SCHED_CONSTANT;
    else if (!strcmp(name, "step")) *kind = AAIRT_SCHED_STEP;
    else if (!strcmp(name, "cosine")) *kind = AAIRT_SCHED_COSINE;
    else return -1;
    return 0;
}

int aairt_schedule_from_json(const cJSON *obj, AairtSchedule *sched,
                             AairtError *err) {
    memset(sched, 0, sizeof *sched);
    sched->kind = AAIRT_SCHED_CONSTANT;
    sched->every = 1;
    sched->gamma = 0.1f;
    if (!obj || cJSON_IsNull(obj)) return 0;
    if (!cJSON_IsObject(obj))
        return aairt_error_set(err, "train.schedule: expected an object");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    if (k && (!cJSON_IsString(k) || aairt_schedule_kind_parse(k->valuestring, &sched->kind)))
        return aairt_error_set(err, "train.schedule.kind: expected \"constant\", "
                                    "\"step\" or \"cosine\"");
    const cJSON *every = cJSON_GetObjectItemCaseSensitive(obj, "every");
    if (every && !cJSON_IsNull(every)) {
        if (!cJSON_IsNumber(every) || every->valuedouble < 1)
            return aairt_error_set(err, "train.schedule.every: expected a positive integer");
        sched->every = (int64_t)every->valuedouble;
    }
    if (json_float(obj, "gamma", &sched->gamma, "train.schedule", err) ||
        json_float(obj, "min_lr", &sched->min_lr, "train.schedule", err))
        return -1;
    return 0;
}

/* n zeroed floats on a cache-line boundary, as the trainer's parameters
 * and gradients are. From calloc the state could sit 16 bytes past one,
 * and then every other 32-byte load and store of m or v straddled two
 * lines: in bench/step_scaling.c's replay of the MLP's step (m and v both
 * off) Adam over 235k parameters took 101-121 us at 1 thread and 83-91 at
 * 2, aligned 77-89 and 49-57. (In the trainer only m had landed off, and
 * its epoch did not move outside the host's noise.) */
static float *state_alloc(size_t count) {
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

int aairt_optimizer_init(AairtOptimizer *opt, const AairtOptimizerSpec *spec,
                         int64_t n, AairtError *err) {
    memset(opt, 0, sizeof *opt);
    opt->kind = spec->kind;
    opt->lr = spec->lr;
    opt->momentum = spec->momentum;
    opt->dampening = spec->dampening;
    opt->nesterov = spec->nesterov;
    opt->beta1 = spec->beta1;
    opt->beta2 = spec->beta2;
    opt->eps = spec->eps;
    opt->weight_decay = spec->weight_decay;
    opt->n = n;
    size_t count = n > 0 ? (size_t)n : 1;
    opt->m = state_alloc(count);
    if (spec->kind != AAIRT_OPT_SGD) opt->v = state_alloc(count);
    if (!opt->m || (spec->kind != AAIRT_OPT_SGD && !opt->v)) {
        aairt_optimizer_free(opt);
        return aairt_error_set(err, "out of memory for optimizer state (%lld floats)",
                               (long long)n);
    }
    return 0;
}

void aairt_optimizer_free(AairtOptimizer *opt) {
    if (!opt) return;
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

float aairt_schedule_lr(const AairtSchedule *sched, float base_lr,
                        int64_t epoch, int64_t epochs) {
    switch (sched->kind) {
    case AAIRT_SCHED_CONSTANT: return base_lr;
    case AAIRT_SCHED_STEP: {
        int64_t every = sched->every > 0 ? sched->every : 1;
        return (float)((double)base_lr * pow((double)sched->gamma, (double)(epoch / every)));
    }
    case AAIRT_SCHED_COSINE: {
        if (epochs <= 0) return base_lr;
        double min = (double)sched->min_lr;
        double c = cos(3.141592653589793 * (double)epoch / (double)epochs);
        return (float)(min + ((double)base_lr - min) * (1.0 + c) * 0.5);
    }
    }
    return base_lr;
}
