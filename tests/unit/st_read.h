/* st_read.h - a small safetensors reader for test fixtures
 * (tests/fixtures/README.md): 8-byte little-endian header length, a JSON
 * header, raw little-endian data. F32 and I64 tensors are both returned as
 * float arrays (class indices become float indices). */
#ifndef AAI_ST_READ_H
#define AAI_ST_READ_H

#include <stdbool.h>
#include <stdint.h>

enum { ST_MAX_RANK = 8 };

typedef struct StTensor {
    char *name;
    int rank;
    int64_t shape[ST_MAX_RANK];
    int64_t n;    /* elements */
    bool is_int;  /* stored as I64 */
    float *data;  /* n floats */
} StTensor;

typedef struct StFile {
    StTensor *tensors;
    int n;
    char **meta_keys, **meta_vals;
    int n_meta;
} StFile;

/* Reads `path`. Returns NULL (and prints why to stderr) on error. */
StFile *st_open(const char *path);
const StTensor *st_get(const StFile *f, const char *name);
/* A __metadata__ string, or NULL. */
const char *st_meta(const StFile *f, const char *key);
void st_close(StFile *f);
/* The fixtures folder: $AAI_FIXTURES, else the build's default. */
const char *st_fixtures_dir(void);

#endif
