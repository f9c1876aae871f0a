#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void progress_init(Progress *p) {
    memset(p, 0, sizeof *p);
    p->out = stderr;
    const char *force = getenv("SIAMESE_PROGRESS");
    p->on = force && *force ? strcmp(force, "0") != 0 : isatty(STDERR_FILENO);
}

// "4m02s", "1h05m", "12s": seconds as a person reads them.
static void format_duration(double s, char *buf, size_t len) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, len, "%lds", t);
}

void progress_update(const char *stage, long done, long total, void *ctx) {
    progress_at(ctx, stage, done, total, cli_now());
}

void progress_at(Progress *p, const char *stage, long done, long total, double now) {
    if (!p->on) return;
    if (strcmp(stage, p->stage) || done < p->last_done) {
        progress_end(p);
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->start = now;
        p->last = -1e30;  // the first count shows at once
    }
    p->last_done = done;
    const int finished = done >= total;
    // A terminal redrawn 4 times a second at most: the work is the point.
    if (!finished && now - p->last < 0.25) return;
    p->last = now;
    const double elapsed = now - p->start, rate = elapsed > 0 ? done / elapsed : 0;
    char when[32];
    // \r back to the line's start; ESC[K clears what a longer line left.
    fprintf(p->out, "\r%s: %ld/%ld %s", cli_prog, done, total, stage);
    if (finished) {
        format_duration(elapsed, when, sizeof when);
        fprintf(p->out, " in %s (%.1f/s)\033[K\n", when, rate);
    } else if (done > 0 && elapsed >= 1.0) {
        format_duration((total - done) / rate, when, sizeof when);
        fprintf(p->out, " (%.1f/s, %s left)\033[K", rate, when);
    } else {
        fprintf(p->out, "\033[K");
    }
    fflush(p->out);
    p->open = !finished;
}

void progress_end(Progress *p) {
    if (p->open) fputc('\n', p->out);
    p->open = 0;
}
