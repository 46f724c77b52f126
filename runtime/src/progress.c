/* progress.c - live training line and per-epoch summaries (see progress.h). */
#include "progress.h"

#include <time.h>
#include <unistd.h>

double aairt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void aairt_format_count(double value, char *buf, size_t size) {
    if (value >= 1e9) snprintf(buf, size, "%.2fG", value / 1e9);
    else if (value >= 1e6) snprintf(buf, size, "%.2fM", value / 1e6);
    else if (value >= 1e3) snprintf(buf, size, "%.1fk", value / 1e3);
    else snprintf(buf, size, "%.0f", value);
}

void aairt_progress_init(AairtProgress *p, FILE *out, int quiet) {
    p->out = out;
    p->quiet = quiet;
    p->tty = !quiet && isatty(fileno(out));
    p->epoch = p->epochs = p->steps = 0;
    p->t_start = p->t_epoch = p->t_drawn = aairt_now();
}

void aairt_progress_epoch_begin(AairtProgress *p, int64_t epoch, int64_t epochs,
                                int64_t steps) {
    p->epoch = epoch;
    p->epochs = epochs;
    p->steps = steps;
    p->t_epoch = aairt_now();
}

static void format_duration(double s, char *buf, size_t size) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, size, "%lds", t);
}

void aairt_progress_step(AairtProgress *p, int64_t step, int64_t samples, double loss) {
    if (!p->tty) return;
    double now = aairt_now();
    if (step < p->steps && now - p->t_drawn < 0.1) return;
    p->t_drawn = now;
    double spent = now - p->t_epoch;
    double rate = spent > 0 ? (double)samples / spent : 0;
    /* Remaining steps of this epoch and of the epochs after it, at this
     * epoch's pace. */
    double per_step = step > 0 ? spent / (double)step : 0;
    double left = per_step * (double)(p->steps - step + (p->epochs - p->epoch - 1) * p->steps);
    char r[32], eta[32];
    aairt_format_count(rate, r, sizeof r);
    format_duration(left, eta, sizeof eta);
    fprintf(p->out, "\r\033[Kepoch %lld/%lld  step %lld/%lld  loss %.4f  %s samples/s  ETA %s",
            (long long)p->epoch + 1, (long long)p->epochs, (long long)step,
            (long long)p->steps, loss, r, eta);
    fflush(p->out);
}

void aairt_progress_epoch_end(AairtProgress *p, const char *summary) {
    if (p->quiet) return;
    fprintf(p->out, "%s%s\n", p->tty ? "\r\033[K" : "", summary);
    fflush(p->out);
}
