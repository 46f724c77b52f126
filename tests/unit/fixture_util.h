/* fixture_util.h - read the PyTorch reference tensors in tests/fixtures.
 *
 * A deliberately tiny, independent safetensors reader for tests (so parity
 * tests do not trust the runtime's own reader). The folder comes from the
 * environment variable AAI_FIXTURES, else the compile definition
 * AAI_FIXTURES_DEFAULT, so one runner can check any folder of cases in this
 * format (tests/fixtures/README.md). */
#ifndef AAI_FIXTURE_UTIL_H
#define AAI_FIXTURE_UTIL_H

#include <stdint.h>

typedef struct FixtureShape {
    int rank;
    int64_t dims[8];
    int64_t numel;
    char dtype[8];   /* "F32", "I64", ... as stored */
} FixtureShape;

typedef struct Fixture Fixture;

/* Loads `<folder>/<name>.safetensors` (".safetensors" is added when
 * missing). Returns NULL and prints why to stderr on failure. */
Fixture *fixture_load(const char *name);
void fixture_free(Fixture *f);
/* Tensor `name` converted to float (F32 copied, F64/I64/I32 converted),
 * owned by the fixture; NULL when absent. `shape` may be NULL. */
const float *fixture_tensor(Fixture *f, const char *name, FixtureShape *shape);
/* __metadata__ value or NULL. */
const char *fixture_meta(const Fixture *f, const char *key);
/* fixture_meta parsed as a number, or `fallback` when absent. */
double fixture_meta_num(const Fixture *f, const char *key, double fallback);
/* The folder in use. */
const char *fixture_dir(void);

/* |a-b| <= tol * max(1, |b|) for all n; prints the first mismatch. */
int fixture_close(const float *got, const float *want, int64_t n, double tol,
                  const char *what);

#endif
