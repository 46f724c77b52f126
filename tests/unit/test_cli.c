/* test_cli.c - aairt_main end to end on a hand-written model.
 *
 * Before the compiler exists, this file plays its part: a linear softmax
 * classifier over iris (4 features, 3 classes) written in C against the
 * ABI in aairt.h, with the manifest the compiler would emit. The tests then
 * drive the real CLI: train, eval, predict, info, errors. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aairt.h"
#include "safetensors.h"

/* ---- the model: out = x W^T + b, cross-entropy --------------------------- */

enum { IN = 4, OUT = 3, NPARAM = IN * OUT + OUT };

static void forward(const AairtStepArgs *a) {
    const float *w = a->params, *b = a->params + IN * OUT;
    for (int64_t i = 0; i < a->batch; i++)
        for (int k = 0; k < OUT; k++) {
            float s = b[k];
            for (int j = 0; j < IN; j++) s += w[k * IN + j] * a->x[i * IN + j];
            a->out[i * OUT + k] = s;
        }
}

/* Softmax probabilities into the arena (row_floats = OUT); returns mean CE. */
static float softmax_ce(const AairtStepArgs *a) {
    double loss = 0;
    for (int64_t i = 0; i < a->batch; i++) {
        const float *z = a->out + i * OUT;
        float *p = a->arena + i * OUT;
        float mx = z[0];
        for (int k = 1; k < OUT; k++) mx = z[k] > mx ? z[k] : mx;
        double sum = 0;
        for (int k = 0; k < OUT; k++) sum += p[k] = expf(z[k] - mx);
        for (int k = 0; k < OUT; k++) p[k] = (float)(p[k] / sum);
        loss -= log(p[(int)a->y[i]] > 1e-30f ? p[(int)a->y[i]] : 1e-30f);
    }
    return (float)(loss / (double)a->batch);
}

static void lin_predict(const AairtStepArgs *a) { forward(a); }

static void lin_eval(const AairtStepArgs *a) {
    forward(a);
    *a->loss = softmax_ce(a);
}

static void lin_train(const AairtStepArgs *a) {
    forward(a);
    *a->loss = softmax_ce(a);
    float *gw = a->grads, *gb = a->grads + IN * OUT;
    /* train_step owns the whole gradient block (the trainer does not zero it) */
    memset(a->grads, 0, NPARAM * sizeof(float));
    for (int64_t i = 0; i < a->batch; i++)
        for (int k = 0; k < OUT; k++) {
            float d = (a->arena[i * OUT + k] - (k == (int)a->y[i] ? 1.0f : 0.0f)) /
                      (float)a->batch;
            for (int j = 0; j < IN; j++) gw[k * IN + j] += d * a->x[i * IN + j];
            gb[k] += d;
        }
    aairt_optimizer_step(a->opt, a->params, a->grads, NPARAM);
}

static const char manifest[] =
    "{\"aai_manifest\": 1, \"name\": \"iris_lin\", \"compiler\": \"hand-written test\","
    " \"input\": {\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [-1, 4]},"
    " \"output\": {\"dtype\": \"f32\", \"shape\": [-1, 3]},"
    " \"task\": \"classification\", \"label\": {\"kind\": \"classes\", \"classes\": 3, \"width\": 1},"
    " \"params\": ["
    "  {\"name\": \"fc.weight\", \"shape\": [3, 4], \"offset\": 0, \"size\": 12,"
    "   \"init\": \"torch_default\", \"fan_in\": 4, \"fan_out\": 3},"
    "  {\"name\": \"fc.bias\", \"shape\": [3], \"offset\": 12, \"size\": 3,"
    "   \"init\": \"torch_default\", \"fan_in\": 4, \"fan_out\": 3}],"
    " \"n_param_floats\": 15, \"arena\": {\"static_floats\": 0, \"row_floats\": 3},"
    " \"flops_per_sample\": 30,"
    " \"dataset\": {\"name\": \"iris\","
    "  \"source\": {\"kind\": \"csv\", \"path\": \"examples/data/iris.csv\", \"header\": true,"
    "             \"delimiter\": \",\"},"
    "  \"test_source\": null,"
    "  \"features\": {\"columns\": [\"sepal_length\", \"sepal_width\", \"petal_length\","
    "               \"petal_width\"], \"transforms\": [{\"kind\": \"standardize\"}]},"
    "  \"label\": {\"column\": \"species\", \"transforms\": [{\"kind\": \"classes\", \"n\": 3}]},"
    "  \"split\": {\"kind\": \"holdout\", \"test\": 0.2, \"seed\": 7}},"
    " \"train\": {\"loss\": \"cross_entropy\","
    "  \"optimizer\": {\"kind\": \"adam\", \"lr\": 0.05, \"beta1\": 0.9, \"beta2\": 0.999,"
    "                \"eps\": 1e-8, \"weight_decay\": 0},"
    "  \"schedule\": {\"kind\": \"constant\"}, \"epochs\": 30, \"batch\": 16, \"seed\": 42,"
    "  \"metrics\": [\"accuracy\", \"loss\"]}}";

static const AairtModel model = {
    .abi_version = AAIRT_ABI_VERSION,
    .manifest_json = manifest,
    .n_param_floats = NPARAM,
    .arena_static_floats = 0,
    .arena_row_floats = OUT,
    .predict = lin_predict,
    .train_step = lin_train,
    .eval_step = lin_eval,
};

/* ---- a second model: linear regression on diabetes (10 -> 1, MSE) ------ */

enum { RIN = 10 };

static void reg_forward(const AairtStepArgs *a) {
    for (int64_t i = 0; i < a->batch; i++) {
        float s = a->params[RIN];
        for (int j = 0; j < RIN; j++) s += a->params[j] * a->x[i * RIN + j];
        a->out[i] = s;
    }
}

static float reg_mse(const AairtStepArgs *a) {
    double s = 0;
    for (int64_t i = 0; i < a->batch; i++) s += (a->out[i] - a->y[i]) * (a->out[i] - a->y[i]);
    return (float)(s / (double)a->batch);
}

static void reg_eval(const AairtStepArgs *a) {
    reg_forward(a);
    *a->loss = reg_mse(a);
}

static void reg_train(const AairtStepArgs *a) {
    reg_forward(a);
    *a->loss = reg_mse(a);
    memset(a->grads, 0, (RIN + 1) * sizeof(float));
    for (int64_t i = 0; i < a->batch; i++) {
        float d = 2.0f * (a->out[i] - a->y[i]) / (float)a->batch;
        for (int j = 0; j < RIN; j++) a->grads[j] += d * a->x[i * RIN + j];
        a->grads[RIN] += d;
    }
    aairt_optimizer_step(a->opt, a->params, a->grads, RIN + 1);
}

static const char reg_manifest[] =
    "{\"aai_manifest\": 1, \"name\": \"diabetes_lin\","
    " \"input\": {\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [-1, 10]},"
    " \"output\": {\"dtype\": \"f32\", \"shape\": [-1, 1]},"
    " \"task\": \"regression\", \"label\": {\"kind\": \"values\", \"width\": 1},"
    " \"params\": ["
    "  {\"name\": \"w\", \"shape\": [1, 10], \"offset\": 0, \"size\": 10, \"init\": \"zeros\"},"
    "  {\"name\": \"b\", \"shape\": [1], \"offset\": 10, \"size\": 1, \"init\": \"zeros\"}],"
    " \"n_param_floats\": 11, \"arena\": {\"static_floats\": 0, \"row_floats\": 0},"
    " \"dataset\": {\"name\": \"diabetes\","
    "  \"source\": {\"kind\": \"csv\", \"path\": \"examples/data/diabetes.csv\", \"header\": true,"
    "             \"delimiter\": \",\"}, \"test_source\": null,"
    "  \"features\": {\"columns\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],"
    "               \"transforms\": [{\"kind\": \"standardize\"}]},"
    "  \"label\": {\"column\": \"progression\", \"transforms\": [{\"kind\": \"standardize\"}]},"
    "  \"split\": {\"kind\": \"holdout\", \"test\": 0.2, \"seed\": 3}},"
    " \"train\": {\"loss\": \"mse\", \"optimizer\": {\"kind\": \"sgd\", \"lr\": 0.05,"
    "  \"momentum\": 0.9}, \"schedule\": {\"kind\": \"cosine\", \"min_lr\": 0.001},"
    "  \"epochs\": 40, \"batch\": 32, \"seed\": 1, \"metrics\": [\"mse\", \"r2\"]}}";

static const AairtModel reg_model = {
    .abi_version = AAIRT_ABI_VERSION,
    .manifest_json = reg_manifest,
    .n_param_floats = RIN + 1,
    .predict = reg_forward,
    .train_step = reg_train,
    .eval_step = reg_eval,
};

/* ---- harness ------------------------------------------------------------ */

static char dir[64];
static const AairtModel *current = &model; /* what run_argv runs */

static void setup(void) {
    cr_assert_eq(chdir(AAI_SOURCE_DIR), 0);
    strcpy(dir, "/tmp/aai-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(cli, .init = setup, .fini = teardown);

static char *path_in(const char *name) {
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    if (len) *len = got;
    return s;
}

typedef struct Run {
    int rc;
    char *out, *err; /* captured stdout / stderr, owned */
} Run;

static void run_free(Run *r) {
    free(r->out);
    free(r->err);
}

/* Runs aairt_main(argv) with stdout/stderr captured, stdin from `in`. */
static Run run_argv(const char *in, int argc, char **argv) {
    char *out_path = strdup(path_in("stdout.txt")), *err_path = strdup(path_in("stderr.txt"));
    fflush(stdout);
    fflush(stderr);
    int save_out = dup(1), save_err = dup(2), save_in = dup(0);
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    if (in) {
        int fi = open(in, O_RDONLY);
        dup2(fi, 0);
        close(fi);
        clearerr(stdin);
    }
    Run r;
    r.rc = aairt_main(current, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    dup2(save_in, 0);
    close(save_out);
    close(save_err);
    close(save_in);
    r.out = slurp(out_path, NULL);
    r.err = slurp(err_path, NULL);
    free(out_path);
    free(err_path);
    return r;
}

#define RUN(in, ...)                                                   \
    ({                                                                 \
        char *argv_[] = {"iris_lin", __VA_ARGS__, NULL};               \
        run_argv(in, (int)(sizeof argv_ / sizeof argv_[0]) - 1, argv_); \
    })

static void train(const char *weights, const char *seed, const char *epochs) {
    Run r = RUN(NULL, "train", "--epochs", (char *)epochs, "--seed", (char *)seed, "--out",
                (char *)weights, "--metrics", path_in("metrics.jsonl"), "--quiet");
    cr_assert_eq(r.rc, 0, "train failed: %s", r.err);
    run_free(&r);
}

/* ---- tests -------------------------------------------------------------- */

Test(cli, train_then_eval_json) {
    char *w = strdup(path_in("w.safetensors"));
    Run r = RUN(NULL, "train", "--epochs", "30", "--out", w, "--metrics",
                path_in("metrics.jsonl"));
    cr_assert_eq(r.rc, 0, "train: %s", r.err);
    cr_expect(strstr(r.out, "epoch 1/30  loss "), "summary lines: %s", r.out);
    cr_expect(strstr(r.out, "test_accuracy "), "%s", r.out);
    cr_expect(strstr(r.out, "samples/s"), "%s", r.out);
    cr_expect(strstr(r.out, "epoch 30/30"), "%s", r.out);
    run_free(&r);

    /* metrics.jsonl: one JSON object per epoch */
    char *jl = slurp(path_in("metrics.jsonl"), NULL);
    cr_assert_not_null(jl);
    int lines = 0;
    for (char *line = strtok(jl, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "bad line: %s", line);
        cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(j, "test_accuracy")));
        cr_expect_eq(cJSON_GetObjectItem(j, "epoch")->valueint, lines + 1);
        cJSON_Delete(j);
    }
    cr_expect_eq(lines, 30);
    free(jl);

    r = RUN(NULL, "eval", "--weights", w, "--json");
    cr_assert_eq(r.rc, 0, "eval: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "eval --json printed: %s", r.out);
    double acc = cJSON_GetObjectItem(j, "accuracy")->valuedouble;
    cr_expect_geq(acc, 0.9, "accuracy %g", acc);
    cr_expect_eq(cJSON_GetObjectItem(j, "samples")->valueint, 30);
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(j, "loss")));
    cJSON_Delete(j);
    run_free(&r);

    r = RUN(NULL, "eval", "--weights", w);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_expect(strstr(r.out, "accuracy"), "%s", r.out);
    cr_expect(strstr(r.out, "confusion matrix"), "%s", r.out);
    run_free(&r);

    /* eval on explicit data with the saved transforms: all 150 rows */
    r = RUN(NULL, "eval", "--weights", w, "--data", "examples/data/iris.csv", "--json");
    cr_assert_eq(r.rc, 0, "%s", r.err);
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "samples")->valueint, 150);
    cr_expect_geq(cJSON_GetObjectItem(j, "accuracy")->valuedouble, 0.85);
    cJSON_Delete(j);
    run_free(&r);
    free(w);
}

Test(cli, weights_file_layout) {
    char *w = strdup(path_in("w.safetensors"));
    train(w, "1", "2");
    AairtSafetensors st;
    AairtError err;
    cr_assert_eq(aairt_st_load(w, &st, &err), 0, "%s", err.msg);
    cr_expect_eq(st.n_tensors, 2);
    const AairtTensorView *tw = aairt_st_find(&st, "fc.weight");
    cr_assert_not_null(tw);
    cr_expect_eq(tw->rank, 2);
    cr_expect_eq(tw->shape[0], 3);
    cr_expect_eq(tw->shape[1], 4);
    cr_expect_eq(tw->dtype, AAIRT_F32);
    cr_expect_not_null(aairt_st_find(&st, "fc.bias"));
    cr_expect_str_eq(aairt_st_meta(&st, "aai.model"), "iris_lin");
    cr_expect_not_null(aairt_st_meta(&st, "aai.transforms"));
    cr_expect_not_null(aairt_st_meta(&st, "aai.manifest_hash"));
    aairt_st_free(&st);
    free(w);
}

Test(cli, same_seed_same_bytes) {
    char *a = strdup(path_in("a.safetensors")), *b = strdup(path_in("b.safetensors")),
         *c = strdup(path_in("c.safetensors"));
    train(a, "7", "5");
    train(b, "7", "5");
    train(c, "8", "5");
    size_t la = 0, lb = 0, lc = 0;
    char *da = slurp(a, &la), *db = slurp(b, &lb), *dc = slurp(c, &lc);
    cr_assert(da && db && dc);
    cr_expect_eq(la, lb);
    cr_expect(la == lb && memcmp(da, db, la) == 0, "same seed gave different weights files");
    cr_expect(la != lc || memcmp(da, dc, la) != 0, "another seed gave the same weights");
    free(da);
    free(db);
    free(dc);
    free(a);
    free(b);
    free(c);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(cli, predict_csv) {
    char *w = strdup(path_in("w.safetensors"));
    train(w, "42", "30");
    char *in = strdup(path_in("in.csv"));
    write_file(in, "sepal_length,sepal_width,petal_length,petal_width\n"
                   "5.1,3.5,1.4,0.2\n"
                   "6.7,3.1,4.4,1.4\n"
                   "7.7,3.0,6.1,2.3\n");
    Run r = RUN(NULL, "predict", "--weights", w, "--input", in);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "class\n0\n1\n2\n");
    run_free(&r);

    r = RUN(in, "predict", "--weights", w, "--proba");
    cr_assert_eq(r.rc, 0, "stdin: %s", r.err);
    cr_expect(strncmp(r.out, "class,p0,p1,p2\n0,", 17) == 0, "%s", r.out);
    int rows = 0;
    char *save = NULL;
    strtok_r(r.out, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int cls;
        float p0, p1, p2;
        cr_assert_eq(sscanf(line, "%d,%f,%f,%f", &cls, &p0, &p1, &p2), 4, "%s", line);
        cr_expect_float_eq(p0 + p1 + p2, 1.0f, 1e-4);
        cr_expect_eq(cls, rows);
        rows++;
    }
    cr_expect_eq(rows, 3);
    run_free(&r);
    free(in);
    free(w);
}

Test(cli, info_text_and_json) {
    Run r = RUN(NULL, "info");
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_expect(strstr(r.out, "iris_lin"), "%s", r.out);
    cr_expect(strstr(r.out, "fc.weight"), "%s", r.out);
    cr_expect(strstr(r.out, "[3, 4]"), "%s", r.out);
    cr_expect(strstr(r.out, "total"), "%s", r.out);
    cr_expect(strstr(r.out, "15"), "%s", r.out);
    cr_expect(strstr(r.out, "flops"), "%s", r.out);
    cr_expect(strstr(r.out, "arena"), "%s", r.out);
    cr_expect(strstr(r.out, "examples/data/iris.csv"), "%s", r.out);
    run_free(&r);
    r = RUN(NULL, "info", "--json");
    cr_assert_eq(r.rc, 0);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "name")->valuestring, "iris_lin");
    cJSON_Delete(j);
    run_free(&r);
}

static void expect_exit(Run r, int code, const char *needle) {
    cr_expect_eq(r.rc, code, "exit %d, want %d; stderr: %s", r.rc, code, r.err);
    if (needle) cr_expect(strstr(r.err, needle), "want '%s' in stderr: %s", needle, r.err);
    run_free(&r);
}

Test(cli, usage_errors_exit_2) {
    char *argv0[] = {"iris_lin", NULL};
    Run r = run_argv(NULL, 1, argv0);
    cr_expect(strstr(r.err, "usage:"), "%s", r.err);
    expect_exit(r, 2, NULL);
    r = RUN(NULL, "--help");
    cr_expect(strstr(r.out, "usage:"), "%s", r.out);
    expect_exit(r, 0, NULL);
    expect_exit(RUN(NULL, "-h"), 0, NULL);
    expect_exit(RUN(NULL, "frobnicate"), 2, "iris_lin: error: unknown command 'frobnicate'");
    expect_exit(RUN(NULL, "train", "--bogus"), 2, "unknown option '--bogus'");
    expect_exit(RUN(NULL, "train", "--epochs"), 2, "needs a value");
    expect_exit(RUN(NULL, "train", "--epochs", "ten"), 2, "integer");
    expect_exit(RUN(NULL, "train", "--lr=-1"), 2, "--lr");
    expect_exit(RUN(NULL, "eval", "--proba"), 2, "unknown option");
    expect_exit(RUN(NULL, "info", "extra"), 2, "unexpected argument");
}

Test(cli, user_errors_exit_1) {
    expect_exit(RUN(NULL, "eval", "--weights", path_in("missing.safetensors")), 1,
                "iris_lin: error: ");
    expect_exit(RUN(NULL, "predict", "--weights", path_in("missing.safetensors"), "--input",
                    "examples/data/iris.csv"), 1, "missing.safetensors");
    expect_exit(RUN(NULL, "train", "--data", path_in("nope.csv"), "--quiet", "--metrics",
                    path_in("m.jsonl")), 1, "nope.csv");

    /* wrong shape, missing and extra tensors */
    float data[16] = {0};
    AairtError err;
    AairtTensorOut bad_shape[] = {
        {"fc.weight", AAIRT_F32, 2, {4, 3}, data},
        {"fc.bias", AAIRT_F32, 1, {3}, data},
    };
    char *w = strdup(path_in("bad.safetensors"));
    cr_assert_eq(aairt_st_save(w, bad_shape, 2, NULL, NULL, 0, &err), 0, "%s", err.msg);
    expect_exit(RUN(NULL, "eval", "--weights", w), 1, "fc.weight");
    AairtTensorOut missing[] = {{"fc.weight", AAIRT_F32, 2, {3, 4}, data}};
    cr_assert_eq(aairt_st_save(w, missing, 1, NULL, NULL, 0, &err), 0, "%s", err.msg);
    expect_exit(RUN(NULL, "eval", "--weights", w), 1, "missing tensor 'fc.bias'");
    AairtTensorOut extra[] = {
        {"fc.weight", AAIRT_F32, 2, {3, 4}, data},
        {"fc.bias", AAIRT_F32, 1, {3}, data},
        {"fc.extra", AAIRT_F32, 1, {1}, data},
    };
    cr_assert_eq(aairt_st_save(w, extra, 3, NULL, NULL, 0, &err), 0, "%s", err.msg);
    expect_exit(RUN(NULL, "eval", "--weights", w), 1, "unexpected tensor 'fc.extra'");
    free(w);
}

Test(cli, config_file) {
    char *cfg = strdup(path_in("run.yaml")), *w = strdup(path_in("w.safetensors"));
    char *m = strdup(path_in("m.jsonl"));
    write_file(cfg, "epochs: 3\nbatch: 8\noptimizer: {kind: sgd, momentum: 0.9}\nlr: 0.1\n");
    Run r = RUN(NULL, "train", "--config", cfg, "--out", w, "--metrics", m, "--epochs", "2");
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_expect(strstr(r.out, "epoch 2/2"), "flags override the run file: %s", r.out);
    cr_expect_null(strstr(r.out, "epoch 3/"), "%s", r.out);
    run_free(&r);

    write_file(cfg, "epochs: 3\nlearning_rate: 0.1\n");
    expect_exit(RUN(NULL, "train", "--config", cfg, "--out", w, "--metrics", m), 1,
                "run.yaml:2:1: unknown key 'learning_rate'");
    free(cfg);
    free(w);
    free(m);
}

Test(cli, regression_metrics_in_user_units) {
    current = &reg_model;
    char *w = strdup(path_in("reg.safetensors"));
    Run r = RUN(NULL, "train", "--out", w, "--metrics", path_in("m.jsonl"));
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cr_expect(strstr(r.out, "test_r2 "), "%s", r.out);
    cr_expect(strstr(r.out, "test_mse "), "%s", r.out);
    run_free(&r);

    r = RUN(NULL, "eval", "--weights", w, "--json");
    cr_assert_eq(r.rc, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    double r2 = cJSON_GetObjectItem(j, "r2")->valuedouble;
    double mse = cJSON_GetObjectItem(j, "mse")->valuedouble;
    cr_expect_gt(r2, 0.3, "r2 %g", r2);
    /* progression is ~25..346: an mse in standardized units would be < 1 */
    cr_expect(mse > 500 && mse < 10000, "mse %g", mse);
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(j, "loss")));
    cr_expect_null(cJSON_GetObjectItem(j, "accuracy"));
    cJSON_Delete(j);
    run_free(&r);

    char *in = strdup(path_in("in.csv"));
    write_file(in, "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n"
                   "59,2,32.1,101,157,93.2,38,4,4.8598,87\n"
                   "48,1,21.6,87,183,103.2,70,3,3.8918,69\n");
    r = RUN(NULL, "predict", "--weights", w, "--input", in);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    double a, b;
    cr_assert_eq(sscanf(r.out, "prediction\n%lf\n%lf\n", &a, &b), 2, "%s", r.out);
    cr_expect(a > 100 && a < 350 && b > 25 && b < 200, "predictions %g %g (user units)", a, b);
    cr_expect_gt(a, b, "the first row has the higher progression");
    run_free(&r);
    expect_exit(RUN(NULL, "predict", "--weights", w, "--input", in, "--proba"), 2, "--proba");
    free(in);
    free(w);
}
