/* safetensors.h - read and write safetensors files (PyTorch-compatible).
 *
 * Format: u64 little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"key": "string value"}}, then the raw data. Every size
 * and offset is validated against the file before use. Writes are atomic:
 * temp file in the same directory, fsync, rename, fsync the directory. */
#ifndef AAIRT_SAFETENSORS_H
#define AAIRT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "rt_error.h"

typedef enum AairtDType { AAIRT_F32, AAIRT_F64, AAIRT_I64, AAIRT_I32, AAIRT_U8 } AairtDType;

typedef struct AairtTensorView {
    const char *name;
    AairtDType dtype;
    int rank;
    int64_t shape[8];
    const void *data; /* points into the file buffer */
    size_t nbytes;
} AairtTensorView;

/* A loaded file: owns its bytes and the tensor table. */
typedef struct AairtSafetensors {
    unsigned char *bytes;
    size_t size;
    AairtTensorView *tensors;
    size_t n_tensors;
    char **meta_keys, **meta_values; /* __metadata__ */
    size_t n_meta;
} AairtSafetensors;

int aairt_st_load(const char *path, AairtSafetensors *out, AairtError *err);
/* Same, from memory (copied). `name` is used in error messages. */
int aairt_st_load_bytes(const void *data, size_t size, const char *name,
                        AairtSafetensors *out, AairtError *err);
void aairt_st_free(AairtSafetensors *st);
const AairtTensorView *aairt_st_find(const AairtSafetensors *st, const char *name);
const char *aairt_st_meta(const AairtSafetensors *st, const char *key);

/* One tensor to write (F32 only needed for weights, I64 allowed). */
typedef struct AairtTensorOut {
    const char *name;
    AairtDType dtype;
    int rank;
    int64_t shape[8];
    const void *data;
} AairtTensorOut;

/* Writes tensors (in the given order; header keys sorted as PyTorch's
 * safetensors does) and metadata atomically to path. */
int aairt_st_save(const char *path, const AairtTensorOut *tensors, size_t n,
                  const char *const *meta_keys, const char *const *meta_values,
                  size_t n_meta, AairtError *err);
/* Same bytes as aairt_st_save would write, into a malloc'd buffer
 * (*bytes, caller frees; *size bytes). */
int aairt_st_encode(const AairtTensorOut *tensors, size_t n, const char *const *meta_keys,
                    const char *const *meta_values, size_t n_meta, unsigned char **bytes,
                    size_t *size, AairtError *err);

#endif
