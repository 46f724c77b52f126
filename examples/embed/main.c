/* main.c - classify CSV rows with an embedded model (no ./model binary).
 *
 * Build (see README.md here, or tests/e2e/embed.sh):
 *   aaic -c ../iris.aai --prefix iris --weights iris.safetensors -o iris.o --header iris.h
 *   cc -std=c11 main.c iris.o $(pkg-config --cflags --libs aai) -o classify
 *
 * Reads feature rows (CSV, the header line is skipped) from stdin and
 * prints, per row, the model's raw outputs with %.9g — the format of
 * `./model predict --raw`, so the two can be compared bit for bit — or,
 * with --class, the predicted class. Rows go through iris_predict in
 * batches of up to BATCH (argument --batch N, default 64). Without baked
 * weights (IRIS_HAS_WEIGHTS 0) pass --weights FILE.safetensors. All
 * memory is static or on the stack: no malloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iris.h"

#define MAX_BATCH 256

static _Alignas(64) unsigned char state[IRIS_STATE_SIZE];
static _Alignas(64) unsigned char scratch[IRIS_SCRATCH_SIZE(MAX_BATCH)];
static _Alignas(64) float weights[IRIS_PARAM_COUNT];
static float in[MAX_BATCH * IRIS_INPUT_WIDTH];
static float out[MAX_BATCH * IRIS_OUTPUT_WIDTH];

static void flush(iris_ctx *ctx, int n, int classes) {
    if (n == 0) return;
    if (iris_predict(ctx, scratch, in, out, n) != 0) {
        fprintf(stderr, "classify: %s\n", iris_error(ctx));
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        const float *row = out + i * IRIS_OUTPUT_WIDTH;
        if (classes) {
            int best = 0;
            for (int j = 1; j < IRIS_OUTPUT_WIDTH; j++)
                if (row[j] > row[best]) best = j;
            printf("%d\n", best);
        } else {
            for (int j = 0; j < IRIS_OUTPUT_WIDTH; j++)
                printf("%.9g%s", (double)row[j], j + 1 < IRIS_OUTPUT_WIDTH ? "," : "\n");
        }
    }
}

int main(int argc, char **argv) {
    int batch = 64, classes = 0;
    const char *weights_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc) weights_file = argv[++i];
        else if (!strcmp(argv[i], "--class")) classes = 1;
        else {
            fprintf(stderr, "usage: classify [--batch N] [--class] [--weights W] < rows.csv\n");
            return 2;
        }
    }
    if (batch < 1 || batch > MAX_BATCH) batch = MAX_BATCH;
    /* A writable weights block when loading at run time; baked weights
     * are used in place otherwise. */
    iris_ctx *ctx = iris_init(state, weights_file ? weights : NULL);
    if (!ctx || iris_error(ctx)[0]) {
        fprintf(stderr, "classify: %s\n", ctx ? iris_error(ctx) : "bad state block");
        return 1;
    }
    if (weights_file && iris_load_file(ctx, weights_file) != 0) {
        fprintf(stderr, "classify: %s\n", iris_error(ctx));
        return 1;
    }
    char line[4096];
    int n = 0, first = 1;
    if (!classes)
        for (int j = 0; j < IRIS_OUTPUT_WIDTH; j++)
            printf("output_%d%s", j, j + 1 < IRIS_OUTPUT_WIDTH ? "," : "\n");
    while (fgets(line, sizeof line, stdin)) {
        char *p = line, *end;
        if (first && !(*p == '-' || *p == '.' || (*p >= '0' && *p <= '9'))) {
            first = 0; /* the header line */
            continue;
        }
        first = 0;
        if (*p == '\n' || *p == '\0') continue;
        for (int j = 0; j < IRIS_INPUT_WIDTH; j++) {
            in[n * IRIS_INPUT_WIDTH + j] = strtof(p, &end);
            if (end == p) {
                fprintf(stderr, "classify: bad number in: %s", line);
                return 1;
            }
            p = *end == ',' ? end + 1 : end;
        }
        if (++n == batch) {
            flush(ctx, n, classes);
            n = 0;
        }
    }
    flush(ctx, n, classes);
    return 0;
}
