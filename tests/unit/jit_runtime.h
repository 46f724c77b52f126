/* jit_runtime.h - the libaairt functions generated code calls, as JIT
 * symbols for jit_new. Naming them here also links their objects into a
 * test binary: libaairt is a static library, and nothing else in a test
 * may refer to, say, aairt_im2col. */
#ifndef AAI_TEST_JIT_RUNTIME_H
#define AAI_TEST_JIT_RUNTIME_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "aairt.h"
#include "jit.h"
#include "pipeline.h"

static const JitSymbol jit_runtime[] = {
    {"aairt_sgemm", (void *)aairt_sgemm},
    {"aairt_optimizer_step", (void *)aairt_optimizer_step},
    {"aairt_run_rows", (void *)aairt_run_rows},
    {"aairt_im2col", (void *)aairt_im2col},
    {"aairt_col2im", (void *)aairt_col2im},
    {"aairt_conv2d", (void *)aairt_conv2d},
    {"aairt_conv2d_grad_w", (void *)aairt_conv2d_grad_w},
    {"aairt_pool2d", (void *)aairt_pool2d},
    {"aairt_pool2d_grad", (void *)aairt_pool2d_grad},
    {"aairt_transpose", (void *)aairt_transpose},
    {"aairt_batch_norm_stats", (void *)aairt_batch_norm_stats},
    {"aairt_batch_norm", (void *)aairt_batch_norm},
    {"aairt_batch_norm_grad", (void *)aairt_batch_norm_grad},
    {"aairt_batch_norm_grad_x", (void *)aairt_batch_norm_grad_x},
};
enum { JIT_RUNTIME_COUNT = sizeof jit_runtime / sizeof jit_runtime[0] };

/* m through the pass pipeline (po, verified) and the JIT with the symbols
 * above; fails the test when either fails. */
static inline Jit *jit_compile_with(IrModule *m, PipelineOptions po) {
    po.verify = true;
    cr_assert(pipeline_run(m, &po), "pipeline failed");
    char *err = NULL;
    Jit *j = jit_new(m, NULL, jit_runtime, JIT_RUNTIME_COUNT, &err);
    cr_assert(j, "JIT: %s", err ? err : "?");
    return j;
}

/* The same with the default passes. */
static inline Jit *jit_compile(IrModule *m) { return jit_compile_with(m, pipeline_options_default()); }

/* A zeroed scratch arena for j's entries at `batch` rows (free it), one
 * float over: entries never read past their plan, and a read past it
 * would show. */
static inline float *jit_arena(const Jit *j, int64_t batch) {
    const AairtModel *md = jit_model(j);
    float *a = calloc((size_t)(md->arena_static_floats + md->arena_row_floats * batch) + 1,
                      sizeof(float));
    cr_assert(a, "out of memory for the arena");
    return a;
}

#endif
