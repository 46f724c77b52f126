/* init.c - weight initialisers (see init.h).
 *
 * Bounds follow torch.nn.init: torch_default is nn.Linear's
 * kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)), for weight and bias
 * alike; he_* use the ReLU gain sqrt(2); xavier_* gain 1. */
#include "init.h"

#include <math.h>
#include <string.h>

static void fill_uniform(float *dst, int64_t n, double bound, AairtRng *rng) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)((2.0 * aairt_rng_uniform_f64(rng) - 1.0) * bound);
}

static void fill_normal(float *dst, int64_t n, double std, AairtRng *rng) {
    for (int64_t i = 0; i < n; i++) dst[i] = (float)(aairt_rng_normal(rng) * std);
}

void aairt_init_param(const AairtParamInfo *param, float *dst, AairtRng *rng) {
    double fan_in = param->fan_in > 0 ? (double)param->fan_in : 1.0;
    double fan_out = param->fan_out > 0 ? (double)param->fan_out : 1.0;
    int64_t n = param->size;
    switch (param->init) {
    case AAIRT_INIT_TORCH_DEFAULT: fill_uniform(dst, n, 1.0 / sqrt(fan_in), rng); break;
    case AAIRT_INIT_HE_UNIFORM: fill_uniform(dst, n, sqrt(6.0 / fan_in), rng); break;
    case AAIRT_INIT_HE_NORMAL: fill_normal(dst, n, sqrt(2.0 / fan_in), rng); break;
    case AAIRT_INIT_XAVIER_UNIFORM:
        fill_uniform(dst, n, sqrt(6.0 / (fan_in + fan_out)), rng);
        break;
    case AAIRT_INIT_XAVIER_NORMAL:
        fill_normal(dst, n, sqrt(2.0 / (fan_in + fan_out)), rng);
        break;
    case AAIRT_INIT_ZEROS:
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0f;
        break;
    case AAIRT_INIT_ONES:
        for (int64_t i = 0; i < n; i++) dst[i] = 1.0f;
        break;
    }
}

void aairt_init_params(const AairtManifest *m, float *params, uint64_t seed) {
    AairtRng rng;
    aairt_rng_seed(&rng, seed, AAIRT_RNG_STREAM_INIT);
    memset(params, 0, (size_t)m->n_param_floats * sizeof(float));
    for (int64_t i = 0; i < m->n_params; i++)
        aairt_init_param(&m->params[i], params + m->params[i].offset, &rng);
}
