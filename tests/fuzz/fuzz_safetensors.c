/* fuzz_safetensors.c - libFuzzer harness for the safetensors reader and
 * the two loaders built on it, as a model binary runs them on a file the
 * user passes: aairt_weights_load (eval/predict --weights, with the
 * aai.transforms metadata parsed like load_weights does) and
 * aairt_checkpoint_load (train --resume), both against a small fixed
 * manifest. Run with FUZZ_WRITE_SEEDS=DIR once to write valid weights and
 * checkpoint files for that manifest into DIR (the checked-in seeds). */
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dataset.h"
#include "model.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char manifest_json[] =
    "{\"aai_manifest\": 1, \"name\": \"tiny\", \"input\": {\"name\": \"x\", \"dtype\": \"f32\","
    " \"shape\": [-1, 3]}, \"output\": {\"dtype\": \"f32\", \"shape\": [-1, 2]}, \"task\":"
    " \"classification\", \"label\": {\"kind\": \"classes\", \"classes\": 2, \"width\": 1},"
    " \"params\": [{\"name\": \"l.weight\", \"shape\": [2, 3], \"offset\": 0, \"size\": 6,"
    " \"init\": \"torch_default\", \"fan_in\": 3, \"fan_out\": 2}, {\"name\": \"l.bias\","
    " \"shape\": [2], \"offset\": 6, \"size\": 2, \"init\": \"torch_default\", \"fan_in\": 3,"
    " \"fan_out\": 2}], \"n_param_floats\": 8, \"arena\": {\"static_floats\": 0,"
    " \"row_floats\": 8}, \"train\": {\"loss\": \"cross_entropy\", \"optimizer\": {\"kind\":"
    " \"adam\", \"lr\": 0.01}, \"epochs\": 1, \"batch\": 2, \"seed\": 1, \"metrics\":"
    " [\"accuracy\"]}}";

enum { ROWS = 5 };
static AairtManifest man;

static void write_seeds(const char *dir) {
    float params[8] = {0.5f, -1, 2, 0, 1e-3f, 3, -0.25f, 1};
    char path[4096];
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    AairtError err;
    const char *tj = "{\"aai_transforms\": 1, \"features\": {\"width\": 3, \"steps\": [{\"kind\":"
                     " \"standardize\", \"mean\": [0, 1, 2], \"std\": [1, 0.5, 2]}]}, \"label\":"
                     " {\"width\": 1, \"steps\": [{\"kind\": \"classes\", \"n\": 2}]}}";
    if (aairt_weights_save(path, &man, manifest_json, params, tj, &err))
        fprintf(stderr, "%s\n", err.msg);
    AairtOptimizer opt;
    aairt_optimizer_init(&opt, &man.train.optimizer, 8, &err);
    opt.step = 7;
    int64_t perm[ROWS] = {3, 1, 4, 0, 2};
    AairtTrainState st = {.epoch = 1, .step = 1, .seed = 1, .batch = 2, .rows = ROWS,
                          .loss_sum = 1.5, .seen = 2, .metrics_bytes = 10};
    aairt_rng_seed(&st.shuffle, 1, AAIRT_RNG_STREAM_SHUFFLE);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    if (aairt_checkpoint_save(path, &man, manifest_json, params, &opt, perm, &st, &err))
        fprintf(stderr, "%s\n", err.msg);
    aairt_optimizer_free(&opt);
}

static void free_manifest(void) { aairt_manifest_free(&man); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    AairtError err;
    if (aairt_manifest_parse(manifest_json, &man, &err)) {
        fprintf(stderr, "fuzz_safetensors: %s\n", err.msg);
        abort();
    }
    atexit(free_manifest);
    const char *dir = getenv("FUZZ_WRITE_SEEDS");
    if (dir) write_seeds(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    AairtError err;
    AairtSafetensors st;
    if (aairt_st_load_bytes(data, size, "fuzz", &st, &err) == 0) {
        for (size_t i = 0; i < st.n_tensors; i++) {
            const AairtTensorView *v = &st.tensors[i];
            if (aairt_st_find(&st, v->name) == NULL) abort();
            volatile unsigned char sink = 0;
            if (v->nbytes) sink ^= ((const unsigned char *)v->data)[v->nbytes - 1];
            (void)sink;
        }
        (void)aairt_st_meta(&st, "aai.transforms");
        aairt_st_free(&st);
    } else {
        return 0; /* the loaders below would fail the same way */
    }
    FuzzFile f;
    if (fuzz_file_open(&f, data, size)) return 0;
    float params[8];
    char *tj = NULL;
    if (aairt_weights_load(f.path, &man, params, &tj, &err) == 0 && tj) {
        AairtTransforms *feat = NULL, *label = NULL;
        if (aairt_transforms_from_json(tj, &feat, &label, &err) == 0) {
            if (feat) aairt_transforms_free(feat);
            if (label) aairt_transforms_free(label);
        }
    }
    free(tj);
    AairtOptimizer opt;
    if (aairt_optimizer_init(&opt, &man.train.optimizer, 8, &err) == 0) {
        int64_t perm[ROWS];
        AairtTrainState ts;
        aairt_checkpoint_load(f.path, &man, manifest_json, params, &opt, perm, ROWS, &ts, &err);
        aairt_optimizer_free(&opt);
    }
    fuzz_file_close(&f);
    return 0;
}
