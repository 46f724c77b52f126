/* transpose.c - batched matrix transposes, for generated code (IR op
 * TRANSPOSE when the permutation keeps the batch axis first and swaps
 * two blocks of the others: a convolution's [N, positions, channels] <->
 * [N, channels, positions], compiler/codegen_layers.c).
 *
 * Each matrix is cut into 4x4 blocks transposed in registers (four quad
 * loads, eight shuffles, four quad stores, in GCC's portable vectors: SSE
 * on x86-64, NEON on aarch64); the edges are copied element by element.
 * A copy moves bits, so the result is exact whatever the path. */
#include <stdint.h>
#include <string.h>

#include "aairt.h"

typedef float Quad __attribute__((vector_size(4 * sizeof(float))));
typedef int32_t Lanes __attribute__((vector_size(4 * sizeof(int32_t))));

/* y (4 rows of stride ldy) = the transpose of x's 4x4 block (stride ldx). */
static inline void block4(const float *x, int64_t ldx, float *y, int64_t ldy) {
    const Lanes lo = {0, 4, 1, 5}, hi = {2, 6, 3, 7}, first = {0, 1, 4, 5}, second = {2, 3, 6, 7};
    Quad r[4];
    for (int i = 0; i < 4; i++) memcpy(&r[i], x + i * ldx, sizeof r[i]);
    Quad t0 = __builtin_shuffle(r[0], r[1], lo), t1 = __builtin_shuffle(r[0], r[1], hi);
    Quad t2 = __builtin_shuffle(r[2], r[3], lo), t3 = __builtin_shuffle(r[2], r[3], hi);
    Quad c[4] = {__builtin_shuffle(t0, t2, first), __builtin_shuffle(t0, t2, second),
                 __builtin_shuffle(t1, t3, first), __builtin_shuffle(t1, t3, second)};
    for (int i = 0; i < 4; i++) memcpy(y + i * ldy, &c[i], sizeof c[i]);
}

/* y [cols, rows] = x [rows, cols]^T. */
static void transpose_matrix(const float *restrict x, float *restrict y, int64_t rows,
                             int64_t cols) {
    int64_t i = 0;
    for (; i + 4 <= rows; i += 4) {
        int64_t j = 0;
        for (; j + 4 <= cols; j += 4) block4(x + i * cols + j, cols, y + j * rows + i, rows);
        for (; j < cols; j++)
            for (int64_t r = i; r < i + 4; r++) y[j * rows + r] = x[r * cols + j];
    }
    for (; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) y[j * rows + i] = x[i * cols + j];
}

void aairt_transpose(const float *x, float *y, int64_t batch, int64_t rows, int64_t cols) {
    for (int64_t b = 0; b < batch; b++)
        transpose_matrix(x + b * rows * cols, y + b * rows * cols, rows, cols);
}
