/* fuzz_idx.c - libFuzzer harness for the IDX reader (gzip or plain: zlib
 * detects the gzip magic, so the corpus holds both). The first byte picks
 * the rank demanded (0: any, 1: labels, 3: images); on success the items
 * are converted to floats as the dataset loader does. */
#include "fuzz_util.h"

#include <stdlib.h>

#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    static const int ranks[] = {0, 1, 3, 2};
    FuzzFile f;
    if (fuzz_file_open(&f, data + 1, size - 1)) return 0;
    AairtIdx idx;
    AairtError err;
    if (aairt_idx_read(f.path, ranks[data[0] & 3], &idx, &err) == 0) {
        if (idx.size != 0 && idx.dims[0] != 0 && aairt_idx_item_size(&idx) < 1) abort();
        free(aairt_idx_to_floats(&idx));
        aairt_idx_free(&idx);
    }
    fuzz_file_close(&f);
    return 0;
}
