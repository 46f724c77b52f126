/* cpu.h - what the running CPU can do, for libaairt's hand-vectorized
 * kernels (gemm_small.c, conv2d.c, conv2d_grad.c), which are compiled with
 * target attributes and must only run where the CPU has them. */
#ifndef AAIRT_CPU_H
#define AAIRT_CPU_H

#include <stdbool.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* AVX2 and FMA, the instruction sets of the kernels' fast paths. */
static inline bool aairt_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

#endif
