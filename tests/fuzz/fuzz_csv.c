/* fuzz_csv.c - libFuzzer harness for the CSV reader and the CSV half of
 * the dataset loader. The first byte picks the mode and options; the rest
 * is the file:
 *   mode 0: aairt_csv_load_all (every column numeric), header on/off,
 *           delimiter ',' ';' '\t' or '|'
 *   mode 1: aairt_dataset_load with an iris-like spec (named feature
 *           columns, standardize, classes(3) label, holdout split), then
 *           the transforms JSON round trip as the weights file stores it
 *   mode 2: aairt_dataset_load_split for predict (no labels, fitted
 *           transforms absent) */
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "csv.h"
#include "dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char spec_fmt[] =
    "{\"name\": \"f\", \"source\": {\"kind\": \"csv\", \"path\": \"%s\", \"header\": true,"
    " \"delimiter\": \",\"}, \"test_source\": null, \"features\": {\"columns\": [\"a\", \"b\","
    " \"c\"], \"transforms\": [{\"kind\": \"%s\"}]}, \"label\": {\"column\": \"y\","
    " \"transforms\": [{\"kind\": \"classes\", \"n\": 3}]}, \"split\": {\"kind\": \"holdout\","
    " \"test\": 0.25, \"seed\": 7}}";

static void dataset_mode(const char *path, int opts, int predict) {
    char text[1024];
    snprintf(text, sizeof text, spec_fmt, path, opts & 1 ? "minmax" : "standardize");
    cJSON *spec = cJSON_Parse(text);
    if (!spec) abort();
    AairtError err;
    if (predict) {
        AairtSplit s;
        if (aairt_dataset_load_split(spec, path, NULL, NULL, 0, &s, &err) == 0)
            aairt_split_free(&s);
    } else {
        AairtDataset ds;
        if (aairt_dataset_load(spec, NULL, NULL, &ds, &err) == 0) {
            char *json = aairt_transforms_to_json(ds.features, ds.label);
            AairtTransforms *f = NULL, *l = NULL;
            if (json && aairt_transforms_from_json(json, &f, &l, &err) == 0) {
                if (f) aairt_transforms_free(f);
                if (l) aairt_transforms_free(l);
            }
            free(json);
            aairt_dataset_free(&ds);
        }
    }
    cJSON_Delete(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    int mode = data[0] % 3, opts = data[0] / 3;
    FuzzFile f;
    if (fuzz_file_open(&f, data + 1, size - 1)) return 0;
    AairtError err;
    if (mode == 0) {
        static const char delims[] = {',', ';', '\t', '|'};
        AairtCsvMatrix m;
        if (aairt_csv_load_all(f.path, delims[opts & 3], (opts >> 2) & 1, &m, &err) == 0)
            aairt_csv_matrix_free(&m);
    } else {
        dataset_mode(f.path, opts, mode == 2);
    }
    fuzz_file_close(&f);
    return 0;
}
