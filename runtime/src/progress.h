/* progress.h - what `train` shows while it runs.
 *
 * On a terminal a live line is redrawn in place (`\r`) at most ten times a
 * second: epoch, step, running loss, samples/s, ETA. Every epoch ends with
 * one plain summary line, which is all that is printed when the output is
 * not a terminal (logs, pipes, tests). --quiet prints nothing. */
#ifndef AAIRT_PROGRESS_H
#define AAIRT_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct AairtProgress {
    FILE *out;            /* not owned */
    int tty;              /* draw the live line */
    int quiet;            /* print nothing */
    int64_t epoch, epochs, steps;
    double t_start;       /* whole run */
    double t_epoch;       /* this epoch */
    double t_drawn;       /* last redraw */
} AairtProgress;

/* Monotonic seconds. */
double aairt_now(void);
/* 12345.0 -> "12.3k", 2.5e6 -> "2.50M". */
void aairt_format_count(double value, char *buf, size_t size);

void aairt_progress_init(AairtProgress *p, FILE *out, int quiet);
void aairt_progress_epoch_begin(AairtProgress *p, int64_t epoch, int64_t epochs,
                                int64_t steps);
/* After `step` (1-based) steps of the current epoch, `samples` rows done and
 * running mean loss; redraws the live line when due. */
void aairt_progress_step(AairtProgress *p, int64_t step, int64_t samples, double loss);
/* Clears the live line and prints `summary` and a newline. */
void aairt_progress_epoch_end(AairtProgress *p, const char *summary);

#endif
