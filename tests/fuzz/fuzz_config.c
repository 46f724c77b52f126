/* fuzz_config.c - libFuzzer harness for the YAML run file (train --config):
 * aairt_config_parse, then aairt_config_apply onto a train block, as
 * cmd_train does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 16)) return 0;
    AairtRunConfig cfg;
    AairtError err;
    if (aairt_config_parse((const char *)data, size, "fuzz.yaml", &cfg, &err) == 0) {
        AairtTrainSpec ts;
        memset(&ts, 0, sizeof ts);
        aairt_optimizer_spec_default(&ts.optimizer, AAIRT_OPT_ADAM);
        ts.epochs = 1;
        ts.batch = 1;
        aairt_config_apply(&cfg, &ts);
        aairt_config_free(&cfg);
    }
    return 0;
}
