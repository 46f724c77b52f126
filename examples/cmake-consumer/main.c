/* main.c - classifies three flowers with the model aai_add_model built.
 * With baked weights no argument is needed; otherwise pass the weights
 * file (safetensors from `./iris train`). */
#include <stdio.h>

#include "iris.h"

static _Alignas(64) unsigned char state[IRIS_STATE_SIZE];
static _Alignas(64) unsigned char scratch[IRIS_SCRATCH_SIZE(3)];
static _Alignas(64) float weights[IRIS_PARAM_COUNT];

int main(int argc, char **argv) {
    static const float flowers[3 * IRIS_INPUT_WIDTH] = {
        5.1f, 3.5f, 1.4f, 0.2f, /* setosa */
        6.4f, 3.2f, 4.5f, 1.5f, /* versicolor */
        7.7f, 3.0f, 6.1f, 2.3f, /* virginica */
    };
    float out[3 * IRIS_OUTPUT_WIDTH];
    iris_ctx *ctx = iris_init(state, IRIS_HAS_WEIGHTS ? NULL : weights);
    if (!ctx || iris_error(ctx)[0] || (argc > 1 && iris_load_file(ctx, argv[1]))) {
        fprintf(stderr, "flowers: %s\n", ctx ? iris_error(ctx) : "bad state block");
        return 1;
    }
    if (iris_predict(ctx, scratch, flowers, out, 3) != 0) {
        fprintf(stderr, "flowers: %s\n", iris_error(ctx));
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        int best = 0;
        for (int j = 1; j < IRIS_OUTPUT_WIDTH; j++)
            if (out[i * IRIS_OUTPUT_WIDTH + j] > out[i * IRIS_OUTPUT_WIDTH + best]) best = j;
        printf("flower %d: class %d\n", i, best);
    }
    return 0;
}
