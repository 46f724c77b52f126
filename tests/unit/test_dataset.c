/* test_dataset.c - manifest dataset specs end to end: iris and diabetes
 * from examples/data, holdout split sizes and determinism, fitted
 * statistics, transform JSON round trips, eval/predict reloads, IDX
 * sources, and each error path. Specs are written with single quotes for
 * readability and converted to JSON. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "csv.h"
#include "dataset.h"
#include "shuffle.h"

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/aai_ds_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(dataset, .init = setup, .fini = teardown);

/* Parses a spec written with ' for ", with every "@" replaced by tmpdir. */
static cJSON *spec(const char *text)
{
    char buf[4096];
    size_t o = 0;
    for (const char *p = text; *p && o < sizeof buf - 80; p++) {
        if (*p == '@') {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", tmpdir);
        } else {
            buf[o++] = *p == '\'' ? '"' : *p;
        }
    }
    buf[o] = 0;
    cJSON *j = cJSON_Parse(buf);
    cr_assert_not_null(j, "bad test spec: %s", buf);
    return j;
}

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
}

static const char *load_fail(const char *text)
{
    static AairtError err;
    cJSON *s = spec(text);
    AairtDataset ds;
    cr_assert_eq(aairt_dataset_load(s, NULL, NULL, &ds, &err), -1);
    cr_assert_null(ds.train.x);
    cr_assert_null(ds.features);
    cJSON_Delete(s);
    return err.msg;
}

#define EXPECT_ERR(msg, frag) cr_assert(strstr((msg), (frag)), "got: %s", (msg))

#define IRIS_SPEC(transforms, seed)                                                            \
    "{'name': 'iris', 'source': {'kind': 'csv', 'path': 'examples/data/iris.csv', "           \
    "'header': true, 'delimiter': ','}, 'test_source': null, "                                \
    "'features': {'columns': ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], " \
    "'transforms': " transforms "}, "                                                          \
    "'label': {'column': 'species', 'transforms': [{'kind': 'classes', 'n': 3}]}, "           \
    "'split': {'kind': 'holdout', 'test': 0.2, 'seed': " seed "}}"

static void load_ok(const char *text, AairtDataset *ds)
{
    AairtError err;
    cJSON *s = spec(text);
    cr_assert_eq(aairt_dataset_load(s, NULL, NULL, ds, &err), 0, "%s", err.msg);
    cJSON_Delete(s);
}

Test(dataset, iris_split_sizes_and_standardized_train)
{
    AairtDataset ds;
    load_ok(IRIS_SPEC("[{'kind': 'standardize'}]", "7"), &ds);
    cr_assert_eq(ds.train.n, 120);
    cr_assert_eq(ds.test.n, 30);
    cr_assert_eq(ds.train.x_width, 4);
    cr_assert_eq(ds.train.y_width, 1);
    cr_assert_eq(ds.test.x_width, 4);
    for (int64_t i = 0; i < ds.train.n; i++) {
        float y = ds.train.y[i];
        cr_assert(y == 0 || y == 1 || y == 2);
    }
    for (int j = 0; j < 4; j++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < 120; i++)
            m += ds.train.x[i * 4 + j];
        m /= 120;
        for (int64_t i = 0; i < 120; i++)
            v += (ds.train.x[i * 4 + j] - m) * (ds.train.x[i * 4 + j] - m);
        cr_assert_lt(fabs(m), 1e-5);
        cr_assert_lt(fabs(sqrt(v / 120) - 1), 1e-5, "population std, column %d", j);
    }
    cr_assert_eq(aairt_transforms_width(ds.features), 4);
    cr_assert_eq(aairt_transforms_n_classes(ds.label), 3);
    aairt_dataset_free(&ds);
}

Test(dataset, holdout_is_the_last_rows_of_the_seeded_shuffle_in_file_order)
{
    AairtDataset ds;
    load_ok(IRIS_SPEC("[]", "7"), &ds);
    AairtCsvMatrix all;
    AairtError err;
    cr_assert_eq(aairt_csv_load_all("examples/data/iris.csv", ',', 1, &all, &err), 0);
    int64_t perm[150];
    aairt_shuffle_perm(perm, 150, 7);
    int in_test[150] = {0};
    for (int i = 120; i < 150; i++)
        in_test[perm[i]] = 1;
    int64_t tr = 0, te = 0;
    for (int64_t r = 0; r < 150; r++) {
        AairtSplit *s = in_test[r] ? &ds.test : &ds.train;
        int64_t k = in_test[r] ? te++ : tr++;
        cr_assert_eq(memcmp(s->x + k * 4, all.values + r * 5, 4 * sizeof(float)), 0,
                     "row %lld", (long long)r);
        cr_assert_eq(s->y[k], all.values[r * 5 + 4]);
    }
    cr_assert_eq(tr, 120);
    cr_assert_eq(te, 30);
    aairt_csv_matrix_free(&all);
    aairt_dataset_free(&ds);
}

Test(dataset, split_is_deterministic_per_seed)
{
    AairtDataset a, b, c;
    load_ok(IRIS_SPEC("[{'kind': 'standardize'}]", "7"), &a);
    load_ok(IRIS_SPEC("[{'kind': 'standardize'}]", "7"), &b);
    load_ok(IRIS_SPEC("[{'kind': 'standardize'}]", "8"), &c);
    cr_assert_eq(memcmp(a.train.x, b.train.x, 120 * 4 * sizeof(float)), 0);
    cr_assert_eq(memcmp(a.test.x, b.test.x, 30 * 4 * sizeof(float)), 0);
    cr_assert_eq(memcmp(a.test.y, b.test.y, 30 * sizeof(float)), 0);
    cr_assert_neq(memcmp(a.test.x, c.test.x, 30 * 4 * sizeof(float)), 0);
    aairt_dataset_free(&a);
    aairt_dataset_free(&b);
    aairt_dataset_free(&c);
}

Test(dataset, standardize_stats_are_population_mean_and_std_of_train)
{
    AairtDataset raw, ds;
    load_ok(IRIS_SPEC("[]", "3"), &raw);
    load_ok(IRIS_SPEC("[{'kind': 'standardize'}]", "3"), &ds);
    cr_assert_eq(aairt_transforms_n_steps(ds.features), 1);
    const AairtFitted *f = aairt_transforms_fitted(ds.features, 0);
    cr_assert_eq(f->kind, 1);
    cr_assert_eq(f->width, 4);
    for (int j = 0; j < 4; j++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < raw.train.n; i++)
            m += raw.train.x[i * 4 + j];
        m /= (double)raw.train.n;
        for (int64_t i = 0; i < raw.train.n; i++)
            v += pow(raw.train.x[i * 4 + j] - m, 2);
        cr_assert_eq(f->a[j], (float)m);
        cr_assert_eq(f->b[j], (float)sqrt(v / (double)raw.train.n));
        /* Test rows use the train statistics. */
        cr_assert_eq(ds.test.x[j], (raw.test.x[j] - f->a[j]) / f->b[j]);
    }
    aairt_dataset_free(&raw);
    aairt_dataset_free(&ds);
}

Test(dataset, transforms_json_round_trips_bitwise_and_reload_matches)
{
    AairtDataset ds;
    load_ok(IRIS_SPEC("[{'kind': 'scale', 'factor': 0.1}, {'kind': 'standardize'}, "
                      "{'kind': 'minmax'}, {'kind': 'shift', 'offset': -0.5}]",
                      "7"),
            &ds);
    char *json = aairt_transforms_to_json(ds.features, ds.label);
    cr_assert_not_null(json);
    AairtTransforms *f2, *l2;
    AairtError err;
    cr_assert_eq(aairt_transforms_from_json(json, &f2, &l2, &err), 0, "%s", err.msg);
    char *json2 = aairt_transforms_to_json(f2, l2);
    cr_assert_str_eq(json, json2);
    for (size_t s = 0; s < 4; s++) {
        const AairtFitted *a = aairt_transforms_fitted(ds.features, s),
                          *b = aairt_transforms_fitted(f2, s);
        cr_assert_eq(a->kind, b->kind);
        if (a->kind)
            cr_assert_eq(memcmp(a->a, b->a, 4 * sizeof(float)) | memcmp(a->b, b->b, 16), 0);
    }
    /* Eval reload: the whole file through the saved transforms; the test
     * rows must match the training-time test split bit for bit. */
    cJSON *s = spec(IRIS_SPEC("[]", "7"));
    AairtSplit all;
    cr_assert_eq(aairt_dataset_load_split(s, "examples/data/iris.csv", f2, l2, 1, &all, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(all.n, 150);
    int64_t perm[150];
    aairt_shuffle_perm(perm, 150, 7);
    int in_test[150] = {0};
    for (int i = 120; i < 150; i++)
        in_test[perm[i]] = 1;
    int64_t te = 0;
    for (int64_t r = 0; r < 150; r++)
        if (in_test[r]) {
            cr_assert_eq(memcmp(all.x + r * 4, ds.test.x + te * 4, 16), 0);
            te++;
        }
    aairt_split_free(&all);
    cJSON_Delete(s);
    free(json);
    free(json2);
    aairt_transforms_free(f2);
    aairt_transforms_free(l2);
    aairt_dataset_free(&ds);
}

Test(dataset, transforms_from_json_rejects_bad_statistics)
{
    AairtTransforms *f, *l;
    AairtError err;
    cr_assert_eq(aairt_transforms_from_json("{\"aai_transforms\": 1, \"features\": {\"width\": 2, "
                                            "\"steps\": [{\"kind\": \"standardize\", \"mean\": "
                                            "[0, 0], \"std\": [1, 0]}]}, \"label\": null}",
                                            &f, &l, &err),
                 -1);
    EXPECT_ERR(err.msg, "features step 0 (standardize)");
    cr_assert_null(f);
    cr_assert_eq(aairt_transforms_from_json("[]", &f, &l, &err), -1);
    cr_assert_eq(aairt_transforms_from_json("{\"aai_transforms\": 2}", &f, &l, &err), -1);
    EXPECT_ERR(err.msg, "unsupported version");
}

Test(dataset, predict_input_without_label_column)
{
    AairtDataset ds;
    load_ok(IRIS_SPEC("[{'kind': 'standardize'}]", "7"), &ds);
    put("in.csv", "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n");
    put("in_nohdr.csv", "5.1,3.5,1.4,0.2\n6,3,5,2\n");
    char path[256];
    snprintf(path, sizeof path, "%s/in.csv", tmpdir);
    cJSON *s = spec(IRIS_SPEC("[]", "7"));
    AairtSplit p;
    AairtError err;
    cr_assert_eq(aairt_dataset_load_split(s, path, ds.features, ds.label, 0, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(p.n, 1);
    cr_assert_null(p.y);
    cr_assert_eq(p.y_width, 0);
    const AairtFitted *f = aairt_transforms_fitted(ds.features, 0);
    cr_assert_eq(p.x[2], (1.4f - f->a[2]) / f->b[2]);
    aairt_split_free(&p);
    /* The same columns with labels demanded: the label is missing. */
    cr_assert_eq(aairt_dataset_load_split(s, path, ds.features, ds.label, 1, &p, &err), -1);
    EXPECT_ERR(err.msg, "no column named 'species'");
    cJSON_Delete(s);
    /* Headerless input, columns by index, label absent. */
    s = spec("{'source': {'kind': 'csv', 'path': 'x', 'header': false}, "
             "'features': {'transforms': []}, 'label': {'column': 4}}");
    snprintf(path, sizeof path, "%s/in_nohdr.csv", tmpdir);
    cr_assert_eq(aairt_dataset_load_split(s, path, ds.features, NULL, 0, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(p.n, 2);
    cr_assert_eq(p.x_width, 4);
    aairt_split_free(&p);
    cJSON_Delete(s);
    aairt_dataset_free(&ds);
}

Test(dataset, diabetes_regression_label_standardize_inverts)
{
    AairtDataset ds;
    load_ok("{'source': {'kind': 'csv', 'path': 'examples/data/diabetes.csv'}, "
            "'features': {'transforms': [{'kind': 'standardize'}]}, "
            "'label': {'column': 'progression', 'transforms': [{'kind': 'standardize'}]}, "
            "'split': {'kind': 'holdout', 'test': 0.25, 'seed': 1}}",
            &ds);
    cr_assert_eq(ds.train.x_width, 10, "all columns but the label");
    cr_assert_eq(ds.test.n, 111); /* round(0.25 * 442) = 110.5 -> 111 */
    cr_assert_eq(ds.train.n, 331);
    AairtDataset raw;
    load_ok("{'source': {'kind': 'csv', 'path': 'examples/data/diabetes.csv'}, "
            "'label': {'column': 'progression'}, "
            "'split': {'kind': 'holdout', 'test': 0.25, 'seed': 1}}",
            &raw);
    float *y = malloc((size_t)ds.test.n * sizeof *y);
    memcpy(y, ds.test.y, (size_t)ds.test.n * sizeof *y);
    aairt_transforms_invert(ds.label, y, ds.test.n, 1);
    for (int64_t i = 0; i < ds.test.n; i++)
        cr_assert_float_eq(y[i], raw.test.y[i], 1e-3f * fabsf(raw.test.y[i]));
    free(y);
    aairt_dataset_free(&raw);
    aairt_dataset_free(&ds);
}

Test(dataset, transform_chain_and_zero_spread_columns)
{
    put("c.csv", "a,b,y\n1,5,0\n3,5,1\n");
    AairtDataset ds;
    load_ok("{'source': {'kind': 'csv', 'path': '@/c.csv'}, "
            "'features': {'columns': ['a', 1], 'transforms': [{'kind': 'minmax'}, "
            "{'kind': 'scale', 'factor': 2}, {'kind': 'shift', 'offset': -1}]}, "
            "'label': {'column': 'y'}, 'split': null}",
            &ds);
    cr_assert_eq(ds.test.n, 0);
    cr_assert_eq(ds.train.n, 2);
    float want[] = {-1, -1, 1, 9}; /* b: range 0 -> 1, so (5-5)/1*2-1 = -1 */
    want[3] = -1;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ds.train.x[i], want[i], "x[%d] = %g", i, (double)ds.train.x[i]);
    aairt_dataset_free(&ds);
    load_ok("{'source': {'kind': 'csv', 'path': '@/c.csv'}, "
            "'features': {'transforms': [{'kind': 'standardize'}]}, "
            "'label': {'column': 'y'}}",
            &ds);
    cr_assert_eq(ds.train.x[1], 0.0f, "constant column: std guarded to 1");
    cr_assert_eq(aairt_transforms_fitted(ds.features, 0)->b[1], 1.0f);
    aairt_dataset_free(&ds);
}

Test(dataset, separate_test_source)
{
    put("tr.csv", "x,y\n1,0\n2,1\n3,0\n");
    put("te.csv", "x,y\n4,1\n");
    AairtDataset ds;
    load_ok("{'source': {'kind': 'csv', 'path': '@/tr.csv'}, "
            "'test_source': {'kind': 'csv', 'path': '@/te.csv'}, "
            "'features': {'transforms': [{'kind': 'standardize'}]}, "
            "'label': {'column': 'y', 'transforms': [{'kind': 'classes', 'n': 2}]}, "
            "'split': null}",
            &ds);
    cr_assert_eq(ds.train.n, 3);
    cr_assert_eq(ds.test.n, 1);
    cr_assert_float_eq(ds.test.x[0], (4.0f - 2.0f) / sqrtf(2.0f / 3.0f), 1e-6f);
    aairt_dataset_free(&ds);
    /* Command-line paths override the spec's. */
    char tr[256], te[256];
    snprintf(tr, sizeof tr, "%s/te.csv", tmpdir);
    snprintf(te, sizeof te, "%s/tr.csv", tmpdir);
    cJSON *s = spec("{'source': {'kind': 'csv', 'path': 'nope.csv'}, 'label': {'column': 'y'}}");
    AairtError err;
    cr_assert_eq(aairt_dataset_load(s, tr, te, &ds, &err), 0, "%s", err.msg);
    cr_assert_eq(ds.train.n, 1);
    cr_assert_eq(ds.test.n, 3);
    aairt_dataset_free(&ds);
    cJSON_Delete(s);
}

Test(dataset, error_class_label_out_of_range_names_file_row)
{
    put("bad.csv", "a,b,label\n1,2,0\n1,2,3\n");
    const char *msg = load_fail("{'source': {'kind': 'csv', 'path': '@/bad.csv'}, "
                                "'label': {'column': 'label', 'transforms': "
                                "[{'kind': 'classes', 'n': 3}]}}");
    EXPECT_ERR(msg, "bad.csv:3:3: label 3 is not a class index in 0..2");
    put("frac.csv", "a,label\n1,0.5\n");
    msg = load_fail("{'source': {'kind': 'csv', 'path': '@/frac.csv'}, "
                    "'label': {'column': 1, 'transforms': [{'kind': 'classes', 'n': 3}]}}");
    EXPECT_ERR(msg, "frac.csv:2:2: label 0.5 is not a class index");
}

Test(dataset, error_paths)
{
    EXPECT_ERR(load_fail(IRIS_SPEC("[{'kind': 'whiten'}]", "7")),
               "features.transforms[0]: unknown kind 'whiten'");
    EXPECT_ERR(load_fail(IRIS_SPEC("[{'kind': 'scale'}]", "7")), "'factor' must be a finite");
    EXPECT_ERR(load_fail(IRIS_SPEC("[{'kind': 'classes', 'n': 2}]", "7")),
               "'classes' applies only to a single label column");
    EXPECT_ERR(load_fail("{'source': {'kind': 'parquet'}}"), "source.kind must be");
    EXPECT_ERR(load_fail("{'source': {'kind': 'csv', 'path': 'examples/data/iris.csv'}, "
                         "'features': {'columns': ['sepal_length', 'colour']}, "
                         "'label': {'column': 'species'}}"),
               "iris.csv:1: no column named 'colour'; available columns: 'sepal_length', "
               "'sepal_width', 'petal_length', 'petal_width', 'species'");
    EXPECT_ERR(load_fail("{'source': {'kind': 'csv', 'path': 'examples/data/iris.csv'}, "
                         "'features': {'columns': ['species']}, 'label': {'column': 'species'}}"),
               "is both a feature and the label");
    EXPECT_ERR(load_fail("{'source': {'kind': 'csv', 'path': 'examples/data/iris.csv'}, "
                         "'label': {'column': 9}}"),
               "label column index 9 is out of range");
    EXPECT_ERR(load_fail("{'source': {'kind': 'csv', 'path': 'examples/data/iris.csv'}, "
                         "'label': {'column': 'species'}, 'split': {'kind': 'holdout', "
                         "'test': 0.999, 'seed': 1}}"),
               "leaves no training rows");
    EXPECT_ERR(load_fail("{'source': {'kind': 'csv', 'path': 'examples/data/iris.csv'}, "
                         "'label': {'column': 'species'}, 'split': {'kind': 'kfold'}}"),
               "split.kind must be \"holdout\"");
    EXPECT_ERR(load_fail("{'source': {'kind': 'csv', 'path': '@/missing.csv'}}"),
               "missing.csv: cannot open");
}

/* Writes a gzipped IDX file of u8 with the given dims. */
static void put_idx(const char *name, int rank, const uint32_t *dims, const uint8_t *data,
                    size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    gzFile f = gzopen(path, "wb");
    unsigned char h[4] = {0, 0, 8, (unsigned char)rank};
    gzwrite(f, h, 4);
    for (int i = 0; i < rank; i++) {
        unsigned char d[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        gzwrite(f, d, 4);
    }
    gzwrite(f, data, (unsigned)n);
    gzclose(f);
}

Test(dataset, idx_source_with_scale)
{
    uint8_t px[4 * 2 * 2], lb[4] = {0, 1, 2, 1};
    for (int i = 0; i < 16; i++)
        px[i] = (uint8_t)(i * 17);
    uint32_t idims[3] = {4, 2, 2}, ldims[1] = {4};
    put_idx("im.gz", 3, idims, px, sizeof px);
    put_idx("lb.gz", 1, ldims, lb, sizeof lb);
    lb[1] = 12;
    put_idx("badlb.gz", 1, ldims, lb, sizeof lb);
    AairtDataset ds;
    load_ok("{'source': {'kind': 'idx', 'images': '@/im.gz', 'labels': '@/lb.gz'}, "
            "'test_source': {'kind': 'idx', 'images': '@/im.gz', 'labels': '@/lb.gz'}, "
            "'features': {'transforms': [{'kind': 'scale', 'factor': 0.00392156862745098}]}, "
            "'label': {'transforms': [{'kind': 'classes', 'n': 10}]}, 'split': null}",
            &ds);
    cr_assert_eq(ds.train.n, 4);
    cr_assert_eq(ds.train.x_width, 4);
    cr_assert_eq(ds.train.x[15], 1.0f);
    cr_assert_eq(ds.test.y[2], 2.0f);
    aairt_dataset_free(&ds);
    EXPECT_ERR(load_fail("{'source': {'kind': 'idx', 'images': '@/im.gz', 'labels': "
                         "'@/badlb.gz'}, 'label': {'transforms': [{'kind': 'classes', 'n': 10}]}}"),
               "badlb.gz: byte 9: label 12 (item 1) is not a class index in 0..9");
    uint32_t short_dims[1] = {3};
    put_idx("lb3.gz", 1, short_dims, lb, 3);
    EXPECT_ERR(load_fail("{'source': {'kind': 'idx', 'images': '@/im.gz', 'labels': "
                         "'@/lb3.gz'}}"),
               "3 labels, but");
    /* Predict input: images only, via a command-line path. */
    cJSON *s = spec("{'source': {'kind': 'idx', 'images': 'x', 'labels': 'y'}}");
    char path[256];
    snprintf(path, sizeof path, "%s/im.gz", tmpdir);
    AairtSplit p;
    AairtError err;
    cr_assert_eq(aairt_dataset_load_split(s, path, NULL, NULL, 0, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p.n, 4);
    cr_assert_null(p.y);
    aairt_split_free(&p);
    snprintf(path, sizeof path, "%s/im.gz,%s/lb.gz", tmpdir, tmpdir);
    cr_assert_eq(aairt_dataset_load_split(s, path, NULL, NULL, 1, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p.y[3], 1.0f);
    aairt_split_free(&p);
    cJSON_Delete(s);
}

#define FMNIST "/usr/share/datasets/fashion-mnist/"

Test(dataset, fashion_mnist_when_installed, .timeout = 180)
{
    if (access(FMNIST "train-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("Fashion-MNIST is not installed");
    AairtDataset ds;
    load_ok("{'source': {'kind': 'idx', 'images': '" FMNIST "train-images-idx3-ubyte.gz', "
            "'labels': '" FMNIST "train-labels-idx1-ubyte.gz'}, "
            "'test_source': {'kind': 'idx', 'images': '" FMNIST "t10k-images-idx3-ubyte.gz', "
            "'labels': '" FMNIST "t10k-labels-idx1-ubyte.gz'}, "
            "'features': {'transforms': [{'kind': 'scale', 'factor': 0.00392156862745098}]}, "
            "'label': {'transforms': [{'kind': 'classes', 'n': 10}]}, 'split': null}",
            &ds);
    cr_assert_eq(ds.train.n, 60000);
    cr_assert_eq(ds.train.x_width, 784);
    cr_assert_eq(ds.test.n, 10000);
    float mx = 0;
    for (size_t i = 0; i < (size_t)ds.test.n * 784; i++)
        mx = ds.test.x[i] > mx ? ds.test.x[i] : mx;
    cr_assert_float_eq(mx, 1.0f, 1e-6f);
    aairt_dataset_free(&ds);
}
