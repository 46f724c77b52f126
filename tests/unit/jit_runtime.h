/* jit_runtime.h - the libaairt functions generated code calls, as JIT
 * symbols for jit_new. Naming them here also links their objects into a
 * test binary: libaairt is a static library, and nothing else in a test
 * may refer to, say, aairt_im2col. */
#ifndef AAI_TEST_JIT_RUNTIME_H
#define AAI_TEST_JIT_RUNTIME_H

#include "aairt.h"
#include "jit.h"

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
};
enum { JIT_RUNTIME_COUNT = sizeof jit_runtime / sizeof jit_runtime[0] };

#endif
