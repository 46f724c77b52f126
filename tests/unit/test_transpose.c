/* test_transpose.c - aairt_transpose (runtime/src/transpose.c): every
 * element lands at its transposed place, for shapes with and without
 * whole 4x4 blocks (the convolution's [784, 8] among them), batches, and
 * nothing is written past the output. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "aairt.h"
#include "guard.h"

Test(transpose, every_element_in_place) {
    const int64_t shapes[][3] = {{1, 4, 4}, {3, 784, 8}, {2, 8, 784}, {2, 5, 7}, {1, 1, 9},
                                 {2, 9, 1}, {1, 13, 6}, {4, 3, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t batch = shapes[s][0], rows = shapes[s][1], cols = shapes[s][2];
        int64_t n = batch * rows * cols;
        float *x = malloc((size_t)n * sizeof *x), *y = guarded(n);
        cr_assert(x);
        for (int64_t i = 0; i < n; i++) x[i] = (float)i;
        aairt_transpose(x, y, batch, rows, cols);
        int64_t wrong = 0;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < cols; j++)
                    wrong += y[(b * cols + j) * rows + i] != x[(b * rows + i) * cols + j];
        cr_expect_eq(wrong, 0, "%lld x [%lld, %lld]: %lld elements wrong", (long long)batch,
                     (long long)rows, (long long)cols, (long long)wrong);
        expect_guards(y, n, "transpose");
        free(x);
        guarded_free(y);
    }
}
