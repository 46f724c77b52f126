/* report.h - `aaic --report`: what a model costs on a device, and the
 * --max-ram / --max-code budgets.
 *
 * Per layer (parameters grouped by the name before their last '.', e.g.
 * "hidden" for hidden.weight and hidden.bias): parameter count, FLOPs per
 * sample and activation bytes per sample of the predict entry (each value
 * is charged to the layer whose parameter it uses, else to the layer of
 * its first input). Totals: weights, arena (the memory plan's peak), the
 * RAM to predict one row (weights + arena + embedding state), and the
 * object's size. */
#ifndef AAI_REPORT_H
#define AAI_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "embed.h"
#include "ir.h"

typedef struct ReportTotals {
    int64_t weights_bytes;
    int64_t arena_static_bytes, arena_row_bytes; /* arena = static + row * batch */
    int64_t ram_bytes;     /* weights + arena(1 row) + embedding state */
    int64_t code_bytes;    /* object size */
    int64_t flops_per_sample;
} ReportTotals;

/* Fills the totals; `spec` gives the embedding state size. */
void report_totals(const IrModule *m, const EmbedSpec *spec, size_t object_size,
                   ReportTotals *t);

/* Prints the per-layer table and the totals to `out`. */
void report_print(FILE *out, const IrModule *m, const ReportTotals *t);

/* Reports an error at `at` (the model's name) for every budget exceeded
 * (0: no budget). Returns false when one was. */
bool report_check_budgets(Diag *d, SrcLoc at, const ReportTotals *t, int64_t max_ram,
                          int64_t max_code);

#endif
