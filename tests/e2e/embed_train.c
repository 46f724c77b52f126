/* embed_train.c - on-device training through a generated header (built by
 * tests/e2e/embed.sh from `aaic -c --train-api --prefix m`).
 *
 * usage: embed_train WEIGHTS.safetensors ROWS.csv (features..., label)
 * The model is iris with Adam(lr = 0.01) and a step(every = 2, gamma = 0.5)
 * schedule. Checks the learning rate calls (m_lr, m_set_epoch against the
 * schedule, m_set_lr, and that a zero rate leaves the weights alone),
 * takes 30 Adam steps on the rows, checks the loss went down, saves the
 * weights to memory, loads them into a second context and checks both
 * predict the same bits. Exit 0 on success. */
#include <math.h>
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

static int fail(const char *what, m_ctx *ctx) {
    fprintf(stderr, "%s (error: '%s')\n", what, m_error(ctx));
    return 1;
}

/* The rate the schedule gives `epoch`, as the runtime computes it: in
 * double, rounded to float once. */
static float step_rate(int epoch) { return (float)(0.01 * pow(0.5, (double)(epoch / 2))); }

static int check_learning_rate(m_ctx *ctx) {
    if (m_lr(ctx) != 0.01f) return fail("the first rate is not the train block's", ctx);
    const int epochs[] = {0, 1, 2, 3, 4, 9, 0};
    for (size_t i = 0; i < sizeof epochs / sizeof *epochs; i++)
        if (m_set_epoch(ctx, epochs[i]) || m_lr(ctx) != step_rate(epochs[i]))
            return fail("m_set_epoch does not follow the schedule", ctx);
    if (m_set_epoch(ctx, -1) == 0 || !strstr(m_error(ctx), "negative"))
        return fail("m_set_epoch took a negative epoch", ctx);
    if (m_set_lr(ctx, -0.5f) == 0 || m_set_lr(ctx, NAN) == 0 || m_lr(ctx) != 0.01f)
        return fail("m_set_lr took a bad rate", ctx);
    /* A zero rate: Adam's moments move, the weights must not. */
    if (m_set_lr(ctx, 0.0f) || m_lr(ctx) != 0.0f) return fail("m_set_lr(0)", ctx);
    if (m_predict(ctx, scratch, x, out1, 8)) return fail("predict", ctx);
    float loss;
    if (m_train_step(ctx, scratch, x, y, 8, &loss)) return fail("train_step", ctx);
    if (m_predict(ctx, scratch, x, out2, 8)) return fail("predict", ctx);
    if (memcmp(out1, out2, 8 * M_OUTPUT_WIDTH * sizeof(float)) != 0)
        return fail("a step at rate 0 changed the predictions", ctx);
    return m_set_epoch(ctx, 0) ? fail("m_set_epoch(0)", ctx) : 0;
}

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
    if (check_learning_rate(ctx)) return 1;
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
