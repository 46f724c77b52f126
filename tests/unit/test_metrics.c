/* test_metrics.c - accuracy, loss, mse, R^2, confusion matrix. */
#include <criterion/criterion.h>
#include <math.h>

#include "metrics.h"

Test(metrics, classes_accuracy_and_confusion) {
    const float logits[] = {2, 1, 0,   0, 3, 1,   0, 1, 5,   4, 0, 0,   0, 2, 1};
    const float labels[] = {0, 1, 1, 0, 2};
    cr_expect_float_eq(aairt_accuracy_classes(logits, labels, 5, 3), 0.6, 1e-12);
    AairtMetrics m;
    cr_assert_eq(aairt_metrics_init(&m, AAIRT_TASK_CLASSIFICATION, 3, 1, 3), 0);
    aairt_metrics_add(&m, logits, labels, 3, 0.5f);
    aairt_metrics_add(&m, logits + 9, labels + 3, 2, 2.0f);
    cr_expect_eq(m.n, 5);
    cr_expect_float_eq(aairt_metrics_accuracy(&m), 0.6, 1e-12);
    cr_expect_float_eq(aairt_metrics_loss(&m), (0.5 * 3 + 2.0 * 2) / 5, 1e-7);
    /* rows true, columns predicted */
    const int64_t want[9] = {2, 0, 0,   0, 1, 1,   0, 1, 0};
    for (int i = 0; i < 9; i++) cr_expect_eq(m.confusion[i], want[i], "cell %d", i);
    aairt_metrics_reset(&m);
    cr_expect_eq(m.n, 0);
    cr_expect_eq(m.confusion[0], 0);
    cr_expect(isnan(aairt_metrics_accuracy(&m)));
    aairt_metrics_free(&m);
}

Test(metrics, argmax_first_on_ties) {
    const float row[] = {1, 3, 3, 2};
    cr_expect_eq(aairt_argmax(row, 4), 1);
}

Test(metrics, binary_accuracy_elementwise) {
    const float logits[] = {0.3f, -1, 2, -0.1f, 0, 1};
    const float labels[] = {1, 0, 0, 0, 1, 1};
    cr_expect_float_eq(aairt_accuracy_binary(logits, labels, 3, 2), 4.0 / 6, 1e-12);
    AairtMetrics m;
    cr_assert_eq(aairt_metrics_init(&m, AAIRT_TASK_BINARY, 2, 2, 0), 0);
    aairt_metrics_add(&m, logits, labels, 3, 0.7f);
    cr_expect_float_eq(aairt_metrics_accuracy(&m), 4.0 / 6, 1e-12);
    cr_expect_eq(m.total, 6);
    aairt_metrics_free(&m);
}

Test(metrics, regression_mse_r2) {
    const float pred[] = {2.5f, 0.0f, 2.0f, 8.0f};
    const float truth[] = {3.0f, -0.5f, 2.0f, 7.0f};
    /* sklearn: mean_squared_error = 0.375, r2_score = 0.9486081370449679 */
    cr_expect_float_eq(aairt_mse(pred, truth, 4), 0.375, 1e-9);
    cr_expect_float_eq(aairt_r2(pred, truth, 4, 1), 0.9486081370449679, 1e-9);
    AairtMetrics m;
    cr_assert_eq(aairt_metrics_init(&m, AAIRT_TASK_REGRESSION, 1, 1, 0), 0);
    aairt_metrics_add(&m, pred, truth, 2, 0.1f);
    aairt_metrics_add(&m, pred + 2, truth + 2, 2, 0.2f);
    cr_expect_float_eq(aairt_metrics_mse(&m), 0.375, 1e-9);
    cr_expect_float_eq(aairt_metrics_r2(&m), 0.9486081370449679, 1e-9);
    cr_expect_float_eq(aairt_metrics_loss(&m), 0.15, 1e-7);
    aairt_metrics_free(&m);
}

Test(metrics, r2_multi_output_uniform_average) {
    /* sklearn r2_score([[0.5,1],[-1,1],[7,-6]], [[0,2],[-1,2],[8,-5]])
     * = 0.9368005266622779 (y_true first) */
    const float truth[] = {0.5f, 1, -1, 1, 7, -6};
    const float pred[] = {0, 2, -1, 2, 8, -5};
    cr_expect_float_eq(aairt_r2(pred, truth, 3, 2), 0.9368005266622779, 1e-7);
    AairtMetrics m;
    cr_assert_eq(aairt_metrics_init(&m, AAIRT_TASK_REGRESSION, 2, 2, 0), 0);
    aairt_metrics_add(&m, pred, truth, 3, 0);
    cr_expect_float_eq(aairt_metrics_r2(&m), 0.9368005266622779, 1e-7);
    aairt_metrics_free(&m);
}

Test(metrics, softmax_row) {
    const float l[] = {1000, 1001, 999};
    float p[3];
    aairt_softmax_row(l, p, 3);
    cr_expect_float_eq(p[0] + p[1] + p[2], 1.0f, 1e-6);
    cr_expect_float_eq(p[1], 0.66524096f, 1e-6);
}
