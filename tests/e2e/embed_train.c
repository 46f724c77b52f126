/* embed_train.c - on-device training through a generated header (built by
 * tests/e2e/embed.sh from `aaic -c --train-api --prefix m`).
 *
 * usage: embed_train WEIGHTS.safetensors ROWS.csv (features..., label)
 * Loads the weights, takes 30 Adam steps on the rows, checks the loss went
 * down, saves the weights to memory, loads them into a second context and
 * checks both predict the same bits. Exit 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m.h"

#define ROWS 160
static _Alignas(64) unsigned char state[M_STATE_SIZE], state2[M_STATE_SIZE];
static _Alignas(64) unsigned char scratch[M_SCRATCH_SIZE(ROWS)];
static _Alignas(64) float weights[M_PARAM_COUNT], weights2[M_PARAM_COUNT];
static float x[ROWS * M_INPUT_WIDTH], y[ROWS], out1[ROWS * M_OUTPUT_WIDTH],
    out2[ROWS * M_OUTPUT_WIDTH];

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    m_ctx *ctx = m_init(state, weights);
    if (!ctx || m_error(ctx)[0] || m_load_file(ctx, argv[1])) {
        fprintf(stderr, "init/load: %s\n", ctx ? m_error(ctx) : "null");
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    char line[1024];
    int n = 0;
    if (!f || !fgets(line, sizeof line, f)) return 1; /* header */
    while (n < ROWS && fgets(line, sizeof line, f)) {
        char *p = line;
        for (int j = 0; j <= M_INPUT_WIDTH; j++) {
            float v = strtof(p, &p);
            if (*p == ',') p++;
            if (j < M_INPUT_WIDTH) x[n * M_INPUT_WIDTH + j] = v;
            else y[n] = v;
        }
        n++;
    }
    fclose(f);
    float first = 0, loss = 0;
    for (int step = 0; step < 30; step++) {
        if (m_train_step(ctx, scratch, x, y, n, &loss)) {
            fprintf(stderr, "train_step: %s\n", m_error(ctx));
            return 1;
        }
        if (step == 0) first = loss;
    }
    printf("loss %g -> %g\n", (double)first, (double)loss);
    if (!(loss < first)) return 1;
    size_t size = 0;
    if (m_save(ctx, NULL, 0, &size) == 0 || size == 0) return 1; /* asks the size */
    unsigned char *bytes = malloc(size);
    if (m_save(ctx, bytes, size, &size)) return 1;
    m_ctx *ctx2 = m_init(state2, weights2);
    if (m_load(ctx2, bytes, size)) {
        fprintf(stderr, "reload: %s\n", m_error(ctx2));
        return 1;
    }
    free(bytes);
    if (m_predict(ctx, scratch, x, out1, n) || m_predict(ctx2, scratch, x, out2, n)) return 1;
    if (memcmp(out1, out2, sizeof out1) != 0) {
        fprintf(stderr, "saved and reloaded weights predict differently\n");
        return 1;
    }
    FILE *o = fopen("trained.safetensors", "wb");
    if (o) {
        m_save(ctx, NULL, 0, &size);
        bytes = malloc(size);
        m_save(ctx, bytes, size, &size);
        fwrite(bytes, 1, size, o);
        fclose(o);
        free(bytes);
    }
    printf("ok\n");
    return 0;
}
