/* test_config.c - YAML run files: values, overrides, located errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int parse(const char *text, AairtRunConfig *cfg, AairtError *err) {
    return aairt_config_parse(text, strlen(text), "run.yaml", cfg, err);
}

Test(config, all_keys) {
    const char *text =
        "# a run file\n"
        "epochs: 50\n"
        "lr: 0.005\n"
        "batch: 8\n"
        "seed: 3\n"
        "optimizer:\n"
        "  kind: sgd\n"
        "  momentum: 0.9\n"
        "  nesterov: true\n"
        "weight_decay: 1e-4\n"
        "schedule: {kind: step, every: 10, gamma: 0.5}\n"
        "data: train.csv\n"
        "test_data: \"test data.csv\"\n"
        "out: w.safetensors\n"
        "metrics: m.jsonl\n"
        "quiet: yes\n";
    AairtRunConfig cfg;
    AairtError err;
    cr_assert_eq(parse(text, &cfg, &err), 0, "%s", err.msg);
    cr_expect_eq(cfg.epochs, 50);
    cr_expect_eq(cfg.batch, 8);
    cr_expect_eq(cfg.seed, 3);
    cr_expect_str_eq(cfg.data, "train.csv");
    cr_expect_str_eq(cfg.test_data, "test data.csv");
    cr_expect_str_eq(cfg.out, "w.safetensors");
    cr_expect_str_eq(cfg.metrics, "m.jsonl");
    cr_expect_eq(cfg.quiet, 1);

    AairtTrainSpec ts = {0};
    ts.epochs = 100;
    ts.batch = 16;
    aairt_optimizer_spec_default(&ts.optimizer, AAIRT_OPT_ADAM);
    ts.optimizer.lr = 0.01f;
    aairt_config_apply(&cfg, &ts);
    cr_expect_eq(ts.epochs, 50);
    cr_expect_eq(ts.batch, 8);
    cr_expect_eq(ts.seed, 3);
    cr_expect_eq(ts.optimizer.kind, AAIRT_OPT_SGD);
    cr_expect_float_eq(ts.optimizer.lr, 0.005f, 1e-9);
    cr_expect_float_eq(ts.optimizer.momentum, 0.9f, 1e-9);
    cr_expect_eq(ts.optimizer.nesterov, 1);
    cr_expect_float_eq(ts.optimizer.weight_decay, 1e-4f, 1e-12);
    cr_expect_eq(ts.schedule.kind, AAIRT_SCHED_STEP);
    cr_expect_eq(ts.schedule.every, 10);
    cr_expect_float_eq(ts.schedule.gamma, 0.5f, 1e-9);
    aairt_config_free(&cfg);
}

Test(config, partial_override_keeps_manifest_values) {
    AairtRunConfig cfg;
    AairtError err;
    cr_assert_eq(parse("epochs: 3\n", &cfg, &err), 0, "%s", err.msg);
    AairtTrainSpec ts = {.epochs = 100, .batch = 16, .seed = 42};
    aairt_optimizer_spec_default(&ts.optimizer, AAIRT_OPT_ADAM);
    ts.optimizer.lr = 0.01f;
    aairt_config_apply(&cfg, &ts);
    cr_expect_eq(ts.epochs, 3);
    cr_expect_eq(ts.batch, 16);
    cr_expect_eq(ts.seed, 42);
    cr_expect_float_eq(ts.optimizer.lr, 0.01f, 1e-9);
    aairt_config_free(&cfg);
    cr_assert_eq(parse("", &cfg, &err), 0, "empty file is fine: %s", err.msg);
    cr_expect_eq(cfg.set, 0);
    aairt_config_free(&cfg);
}

static void expect_error(const char *text, const char *where, const char *what) {
    AairtRunConfig cfg;
    AairtError err;
    cr_assert_eq(parse(text, &cfg, &err), -1, "accepted: %s", text);
    cr_expect(strstr(err.msg, where) == err.msg, "location: want %s in '%s'", where, err.msg);
    cr_expect(strstr(err.msg, what), "message: want '%s' in '%s'", what, err.msg);
    cr_expect_null(cfg.data);
}

Test(config, errors_name_file_line_col) {
    expect_error("epochs: 5\nepoch: 3\n", "run.yaml:2:1:", "unknown key 'epoch'");
    expect_error("epochs: five\n", "run.yaml:1:9:", "'epochs' expects an integer");
    expect_error("lr: fast\n", "run.yaml:1:5:", "'lr' expects a number");
    expect_error("batch: 0\n", "run.yaml:1:8:", "at least 1");
    expect_error("data: train.csv\nepochs: \"10\"\n", "run.yaml:2:9:", "integer");
    expect_error("optimizer: {kind: rmsprop}\n", "run.yaml:1:19:", "sgd, adam or adamw");
    expect_error("optimizer:\n  kind: adam\n  beta3: 1\n", "run.yaml:3:3:", "optimizer.beta3");
    expect_error("schedule: {kind: cosine, period: 3}\n", "run.yaml:1:26:", "schedule.period");
    expect_error("nesterov: maybe\n", "run.yaml:1:11:", "true or false");
    expect_error("epochs: 1\nepochs: 2\n", "run.yaml:2:1:", "duplicate key");
    expect_error("- epochs\n", "run.yaml:1:1:", "mapping");
    expect_error("epochs: [1\n", "run.yaml:", "");
    expect_error("out: \n", "run.yaml:1:", "'out' expects a string");
}

Test(config, load_from_file) {
    char path[] = "/tmp/aai-cfg-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "epochs: 7\nbogus: 1\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    AairtRunConfig cfg;
    AairtError err;
    cr_expect_eq(aairt_config_load(path, &cfg, &err), -1);
    char want[64];
    snprintf(want, sizeof want, "%s:2:1:", path);
    cr_expect(strstr(err.msg, want), "%s", err.msg);
    unlink(path);
    cr_expect_eq(aairt_config_load(path, &cfg, &err), -1);
    cr_expect(strstr(err.msg, path), "%s", err.msg);
}

/* Found by the bad-input corpus (tests/bad/yaml): out-of-range optimizer
 * settings and extra documents used to be accepted silently. */
Test(config, ranges_and_documents) {
    expect_error("lr: -0.1\n", "run.yaml:1:5:", "'lr' must be greater than 0");
    expect_error("lr: 1e999\n", "run.yaml:1:5:", "'lr' expects a number");
    expect_error("eps: 0\n", "run.yaml:1:6:", "'eps' must be greater than 0");
    expect_error("optimizer: {kind: adam, beta2: 1}\n", "run.yaml:1:32:", "less than 1");
    expect_error("momentum: -1\n", "run.yaml:1:11:", "'momentum' must be at least 0");
    expect_error("schedule: {kind: step, every: 2, gamma: 0}\n", "run.yaml:1:41:",
                 "'schedule.gamma' must be greater than 0");
    expect_error("epochs: 1\n---\nepochs: 2\n", "run.yaml:", "one YAML document");
}
