#include "dashboard.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/text.h"
#include "chart.h"
#include "cli.h"
#include "screen.h"
#include "term.h"

// ---- the state ------------------------------------------------------------

void dashboard_state_init(DashboardState *s) { memset(s, 0, sizeof *s); }

void dashboard_state_free(DashboardState *s) {
    free(s->config);
    free(s->lr_curve);
    free(s->rows);
    for (int i = 0; i < s->n_messages; i++) free(s->messages[i]);
    free(s->checkpoint);
    free(s->stop_reason);
    memset(s, 0, sizeof *s);
}

// *dst = a copy of src ("" for NULL); -1 when out of memory (*dst unchanged).
static int copy_text(char **dst, const char *src) {
    char *s = strdup(src ? src : "");
    if (!s) return -1;
    free(*dst);
    *dst = s;
    return 0;
}

// prefix + text as the newest message, the oldest dropped when full.
static int add_message(DashboardState *s, const char *prefix, const char *text) {
    size_t np = strlen(prefix), nt = strlen(text ? text : "");
    char *m = malloc(np + nt + 1);
    if (!m) return -1;
    memcpy(m, prefix, np);
    memcpy(m + np, text ? text : "", nt + 1);
    if (s->n_messages == DASH_MESSAGES) {
        free(s->messages[0]);
        memmove(s->messages, s->messages + 1, sizeof s->messages[0] * (DASH_MESSAGES - 1));
        s->n_messages--;
    }
    s->messages[s->n_messages++] = m;
    return 0;
}

int dashboard_state_apply(DashboardState *s, const TrainEvent *ev) {
    s->version++;
    switch (ev->kind) {
    case TRAIN_EV_CONFIG: {
        void *rows = calloc((size_t)(ev->n_rows > 0 ? ev->n_rows : 1), sizeof *s->config);
        if (!rows) return -1;
        free(s->config);
        s->config = rows;
        for (int i = 0; i < ev->n_rows; i++)
            for (int k = 0; k < 2; k++)
                snprintf(s->config[i][k], sizeof s->config[i][k], "%s",
                         ev->table[i][k] ? ev->table[i][k] : "");
        s->n_config = ev->n_rows;
        break;
    }
    case TRAIN_EV_MESSAGE: return add_message(s, "", ev->message);
    case TRAIN_EV_PREPARE:
        snprintf(s->prepare, sizeof s->prepare, "%s", ev->message ? ev->message : "");
        s->prepare_done = ev->batch;
        s->prepare_total = ev->batches;
        break;
    case TRAIN_EV_RUN_START:
        s->phase = DASH_RUNNING;
        s->stepped = 0;
        s->epochs = ev->epochs;
        s->batches = ev->batches;
        s->epoch = ev->epoch;
        s->lr = ev->lr;
        free(s->lr_curve);
        s->lr_curve = NULL;
        if (ev->lr_curve && ev->epochs > 0) {
            if (!(s->lr_curve = malloc((size_t)ev->epochs * sizeof *s->lr_curve))) return -1;
            memcpy(s->lr_curve, ev->lr_curve, (size_t)ev->epochs * sizeof *s->lr_curve);
        }
        break;
    case TRAIN_EV_BATCH:
        s->stepped = 1;
        s->epoch = ev->epoch;
        s->epochs = ev->epochs;
        s->batch = ev->batch;
        s->batches = ev->batches;
        s->loss = ev->loss;
        s->pairs_per_sec = ev->pairs_per_sec;
        s->seconds = ev->seconds;
        s->eta = ev->eta_seconds;
        s->lr = ev->lr;
        break;
    case TRAIN_EV_EPOCH_END:
        if (s->n_rows == s->cap_rows) {
            int cap = s->cap_rows ? 2 * s->cap_rows : 16;
            DashEpoch *rows = realloc(s->rows, (size_t)cap * sizeof *rows);
            if (!rows) return -1;
            s->rows = rows;
            s->cap_rows = cap;
        }
        s->rows[s->n_rows++] =
            (DashEpoch){ev->epoch, ev->loss, ev->val_loss, ev->val_acc, ev->lr, ev->seconds};
        s->epoch = ev->epoch;
        s->batch = s->batches;
        s->lr = ev->lr;
        break;
    case TRAIN_EV_CHECKPOINT:
        if (copy_text(&s->checkpoint, ev->message)) return -1;
        return add_message(s, "checkpoint written: ", ev->message);
    case TRAIN_EV_STOP:
        s->phase = DASH_FINISHED;
        return copy_text(&s->stop_reason, ev->message);
    }
    return 0;
}

// ---- drawing ----------------------------------------------------------------

static void fmt_duration(double sec, char *buf, size_t len) {
    if (!(sec >= 0) || !isfinite(sec))
        snprintf(buf, len, "-");
    else if (sec < 60)
        snprintf(buf, len, "%.1fs", sec);
    else if (sec < 3600)
        snprintf(buf, len, "%d:%02d", (int)sec / 60, (int)sec % 60);
    else
        snprintf(buf, len, "%d:%02d:%02d", (int)sec / 3600, (int)sec / 60 % 60, (int)sec % 60);
}

static const char *phase_label(const DashboardState *s) {
    if (s->error[0]) return "FAILED";
    if (s->phase == DASH_FINISHED) return "FINISHED";
    if (s->stopping) return "STOPPING";
    if (s->paused) return "PAUSED";
    return s->phase == DASH_PREPARING ? "PREPARING" : "RUNNING";
}

static void draw_title(const DashboardState *s, Canvas *c) {
    canvas_fill(c, 0, 0, 1, c->w, ' ', CA_REVERSE);
    char t[256];
    if (s->epochs)
        snprintf(t, sizeof t, " siamese train  %s  epoch %d/%d", phase_label(s), s->epoch,
                 s->epochs);
    else
        snprintf(t, sizeof t, " siamese train  %s", phase_label(s));
    canvas_text(c, 0, 0, c->w, CA_REVERSE | CA_BOLD, t);
}

// The configuration as a grid of "option value" entries, column-major.
// Returns the rows used (box included).
static int draw_config(const DashboardState *s, Canvas *c, int y, int max_rows) {
    if (!s->n_config) return 0;
    int kw = 0, vw = 0;
    for (int i = 0; i < s->n_config; i++) {
        int k = (int)strlen(s->config[i][0]), v = (int)strlen(s->config[i][1]);
        if (k > kw) kw = k;
        if (v > vw) vw = v;
    }
    int entry = kw + 1 + (vw < 12 ? 12 : vw > 28 ? 28 : vw);
    int ncols = (c->w - 2) / (entry + 2);
    if (ncols < 1) ncols = 1;
    int nrows = (s->n_config + ncols - 1) / ncols;
    if (nrows > max_rows) nrows = max_rows;
    int colw = (c->w - 2) / ncols;
    canvas_box(c, y, 0, nrows + 2, c->w, "Configuration");
    for (int i = 0; i < s->n_config && i / nrows < ncols; i++) {
        int r = i % nrows, col = i / nrows, x = 2 + col * colw;
        canvas_text(c, y + 1 + r, x, kw, CA_DIM, s->config[i][0]);
        canvas_text(c, y + 1 + r, x + kw + 1, colw - kw - 3, 0, s->config[i][1]);
    }
    if (s->n_config > nrows * ncols) {
        char more[32];
        snprintf(more, sizeof more, " +%d more ", s->n_config - nrows * ncols);
        canvas_text(c, y + nrows + 1, c->w - 2 - (int)strlen(more), -1, CA_DIM, more);
    }
    return nrows + 2;
}

static void draw_epochs(const DashboardState *s, Canvas *c, int y, int x, int h, int w) {
    canvas_box(c, y, x, h, w, "Epochs");
    canvas_text(c, y + 1, x + 2, w - 4, CA_BOLD,
                "epoch    train loss  val loss  val acc        lr     time");
    int best = -1;
    for (int i = 0; i < s->n_rows; i++)
        if (isfinite(s->rows[i].val_loss) &&
            (best < 0 || s->rows[i].val_loss < s->rows[best].val_loss))
            best = i;
    int fit = h - 3, first = s->n_rows > fit ? s->n_rows - fit : 0;  // the latest rows
    for (int i = first; i < s->n_rows; i++) {
        const DashEpoch *r = &s->rows[i];
        char ep[32], dur[32], line[160];
        snprintf(ep, sizeof ep, "%d/%d", r->epoch, s->epochs);
        fmt_duration(r->seconds, dur, sizeof dur);
        snprintf(line, sizeof line, "%-8s %10.4f %9.4f %7.1f%% %9.2e %8s", ep, r->loss, r->val_loss,
                 100 * r->val_acc, r->lr, dur);
        canvas_text(c, y + 2 + i - first, x + 2, w - 4, i == best ? CA_BOLD : 0, line);
        if (i == best)
            canvas_text(c, y + 2 + i - first, x + 2 + (int)strlen(line) + 1, 1, CA_BOLD, "*");
    }
    if (!s->n_rows) canvas_text(c, y + 2, x + 2, w - 4, CA_DIM, "(no epoch finished yet)");
}

static void draw_loss_chart(const DashboardState *s, Canvas *c, int y, int x, int h, int w) {
    canvas_box(c, y, x, h, w, NULL);
    // The title doubles as the legend, each mark in its series' colour.
    int tx = x + 2, end = x + w - 2;
    tx += canvas_text(c, y, tx, end - tx, CA_BOLD, " Loss   ");
    tx += canvas_textc(c, y, tx, end - tx, CA_BOLD, COL_CYAN, "* train   ");
    canvas_textc(c, y, tx, end - tx, CA_BOLD, COL_YELLOW, "o validation ");
    int n = s->epochs > 0 ? s->epochs : 1;
    double *tr = malloc((size_t)n * sizeof *tr), *va = malloc((size_t)n * sizeof *va);
    if (tr && va) {
        for (int i = 0; i < n; i++) tr[i] = va[i] = NAN;
        for (int i = 0; i < s->n_rows; i++) {
            int e = s->rows[i].epoch - 1;
            if (e >= 0 && e < n) {
                tr[e] = s->rows[i].loss;
                va[e] = s->rows[i].val_loss;
            }
        }
        ChartSeries series[2] = {{tr, n, '*', COL_CYAN}, {va, n, 'o', COL_YELLOW}};
        chart_draw(c, y + 1, x + 1, h - 2, w - 2, n, series, 2, 0);
        if (!s->n_rows) canvas_text(c, y + h / 2, x + 3, w - 6, CA_DIM, "drawn as epochs finish");
    }
    free(tr);
    free(va);
}

static void draw_lr_chart(const DashboardState *s, Canvas *c, int y, int x, int h, int w) {
    char title[64];
    snprintf(title, sizeof title, "Learning rate %.3g", s->lr);
    canvas_box(c, y, x, h, w, title);
    if (s->lr_curve && s->epochs > 0) {
        ChartSeries lr = {s->lr_curve, s->epochs, CH_BULLET, COL_GREEN};
        chart_draw(c, y + 1, x + 1, h - 2, w - 2, s->epochs, &lr, 1, s->epoch);
    }
}

// The message with its first letter in capitals: a sentence of its own.
static void sentence(char *buf, size_t len, const char *msg) {
    text_fit(buf, len, "%s", msg);  // (the row clips it anyway)
    if (buf[0] >= 'a' && buf[0] <= 'z') buf[0] = (char)(buf[0] - 'a' + 'A');
}

// "Label [bar] text" on row y: the bar takes what the text leaves, up to
// 40 cells.
static void bar_line(Canvas *c, int y, const char *label, double frac, int fg, const char *text) {
    int x = 1 + canvas_text(c, y, 1, -1, CA_BOLD, label);
    int bar = c->w - x - (int)strlen(text) - 2;
    if (bar > 40) bar = 40;
    if (bar >= 5) {
        canvas_bar(c, y, x, bar, frac, fg);
        x += bar;
    }
    canvas_text(c, y, x, c->w - x - 1, 0, text);
}

static void draw_progress(const DashboardState *s, Canvas *c, int y) {
    char t[256], eta[32];
    if (s->error[0]) {
        canvas_textc(c, y, 1, c->w - 2, CA_BOLD, COL_RED, s->error);
    } else if (s->phase == DASH_FINISHED) {
        // "Finished 3 epochs; best ...", "Stopped at epoch 2, step 5 of 30; continue with ..."
        sentence(t, sizeof t, s->stop_reason ? s->stop_reason : "done");
        canvas_text(c, y, 1, c->w - 2, CA_BOLD, t);
    } else if (s->phase == DASH_PREPARING && s->prepare_done < s->prepare_total) {
        // Before the first step: what is under way rather than zeros.
        snprintf(t, sizeof t, " %ld/%ld %s", s->prepare_done, s->prepare_total, s->prepare);
        bar_line(c, y, "Preparing ", (double)s->prepare_done / s->prepare_total, COL_CYAN, t);
    } else if (s->phase == DASH_PREPARING) {
        canvas_text(c, y, 1, c->w - 2, CA_DIM, "Preparing the data and the model...");
    } else if (!s->stepped) {
        snprintf(t, sizeof t, "Epoch %d/%d starting: the first of %ld step%s...", s->epoch,
                 s->epochs, s->batches, s->batches == 1 ? "" : "s");
        canvas_text(c, y, 1, c->w - 2, CA_DIM, t);
    } else {
        char label[64];
        snprintf(label, sizeof label, "Epoch %d/%d ", s->epoch, s->epochs);
        fmt_duration(s->eta, eta, sizeof eta);
        snprintf(t, sizeof t, " %ld/%ld  loss %.4f  %.1f pairs/s  ETA %s", s->batch, s->batches,
                 s->loss, s->pairs_per_sec, s->paused ? "(paused)" : eta);
        bar_line(c, y, label, s->batches > 0 ? (double)s->batch / s->batches : 0, COL_GREEN, t);
    }
}

// The latest messages, wrapped, in the rows y..y+h-1 (the newest at the
// bottom; a long one takes the rows of older ones).
static void draw_messages(const DashboardState *s, Canvas *c, int y, int h) {
    const int w = c->w - 2;
    int first = s->n_messages, rows = 0;
    while (first > 0 && rows + canvas_wrap(NULL, 0, 0, w, 0, 0, 0, -1, s->messages[first - 1]) <= h)
        rows += canvas_wrap(NULL, 0, 0, w, 0, 0, 0, -1, s->messages[--first]);
    if (first == s->n_messages && first > 0) {  // the newest alone is too long: its start
        canvas_wrap(c, y, 1, w, 0, h, CA_DIM, -1, s->messages[first - 1]);
        return;
    }
    for (int i = first, row = y + h - rows; i < s->n_messages; i++)
        row += canvas_wrap(c, row, 1, w, 0, h, CA_DIM, -1, s->messages[i]);
}

static const char *keys_line(const DashboardState *s) {
    return s->phase == DASH_FINISHED || s->error[0]
               ? " q close   Ctrl-L redraw"
               : " q stop after this step and save   p pause/resume   Ctrl-L redraw";
}

// A window too small for the charts: the title, the latest epochs, the
// progress, the latest message and the keys, as many as fit.
static void draw_compact(const DashboardState *s, Canvas *c) {
    int bottom = c->h - 1;
    if (c->h >= 3) canvas_text(c, bottom--, 0, c->w, CA_DIM, keys_line(s));
    draw_progress(s, c, bottom);
    if (c->h >= 2) draw_title(s, c);
    int top = 1, room = bottom - top;
    if (room >= 6) {
        draw_messages(s, c, bottom - 1, 1);
        room--;
    }
    if (room >= 4) draw_epochs(s, c, top, 0, room, c->w);
}

void dashboard_draw(const DashboardState *s, Canvas *c) {
    if (c->w < DASH_MIN_W || c->h < DASH_MIN_H) {
        draw_compact(s, c);
        return;
    }
    draw_title(s, c);
    // The configuration takes what the rest leaves: the title, the bottom
    // four rows and 14 rows for the table and the charts.
    int y = 1, cfg_rows = c->h - 1 - 4 - 14 - 2;
    y += draw_config(s, c, y, cfg_rows < 3 ? 3 : cfg_rows);
    // Bottom: progress, two message rows, the keys.
    const int bottom = c->h - 4;
    int mid_h = bottom - y;
    if (c->w >= 100) {
        // Wide: the table on the left, the two charts stacked on the right.
        int tw = 62, lh = mid_h * 3 / 5;
        draw_epochs(s, c, y, 0, mid_h, tw);
        draw_loss_chart(s, c, y, tw, lh, c->w - tw);
        draw_lr_chart(s, c, y + lh, tw, mid_h - lh, c->w - tw);
    } else {
        // Narrow: the table on top, the charts side by side below.
        int th = mid_h / 2, lw = c->w * 3 / 5;
        draw_epochs(s, c, y, 0, th, c->w);
        draw_loss_chart(s, c, y + th, 0, mid_h - th, lw);
        draw_lr_chart(s, c, y + th, lw, mid_h - th, c->w - lw);
    }
    draw_progress(s, c, bottom);
    draw_messages(s, c, bottom + 1, 2);
    canvas_text(c, c->h - 1, 0, c->w, CA_DIM, keys_line(s));
}

void dashboard_print_summary(const DashboardState *s, FILE *f) {
    for (int i = 0; i < s->n_rows; i++) {
        const DashEpoch *r = &s->rows[i];
        char dur[32];
        fmt_duration(r->seconds, dur, sizeof dur);
        fprintf(f, "epoch %d/%d  train loss %.4f  val loss %.4f  val acc %.1f%%  lr %.2e  %s\n",
                r->epoch, s->epochs, r->loss, r->val_loss, 100 * r->val_acc, r->lr, dur);
    }
    if (s->checkpoint) fprintf(f, "checkpoint: %s\n", s->checkpoint);
    if (s->stop_reason) fprintf(f, "%s\n", s->stop_reason);
}

// ---- the run ----------------------------------------------------------------

typedef struct Dashboard {
    const TrainConfig *cfg;
    TrainRunFn run;
    pthread_mutex_t lock;  // guards state, done, rc and err
    DashboardState state;
    TrainControl ctl;
    int done, rc;
    Err err;
    unsigned long drawn;  // the state version last drawn
    int status;           // the exit status a signal asked for
} Dashboard;

static void on_event(const TrainEvent *ev, void *ctx) {
    Dashboard *d = ctx;
    pthread_mutex_lock(&d->lock);
    dashboard_state_apply(&d->state, ev);
    pthread_mutex_unlock(&d->lock);
}

static void *worker(void *arg) {
    Dashboard *d = arg;
    Err e = {{0}};
    int rc = d->run(d->cfg, on_event, d, &d->ctl, &e);
    pthread_mutex_lock(&d->lock);
    d->done = 1;
    d->rc = rc;
    d->err = e;
    if (rc) snprintf(d->state.error, sizeof d->state.error, "%s", e.msg);
    d->state.version++;
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void dash_draw(void *self, Canvas *c) {
    Dashboard *d = self;
    pthread_mutex_lock(&d->lock);
    dashboard_draw(&d->state, c);
    d->drawn = d->state.version;
    pthread_mutex_unlock(&d->lock);
}

static void request_stop(Dashboard *d) {
    d->ctl.pause = 0;
    d->ctl.stop = 1;
    pthread_mutex_lock(&d->lock);
    d->state.paused = 0;
    d->state.stopping = 1;
    d->state.version++;
    pthread_mutex_unlock(&d->lock);
}

static int dash_key(void *self, int ch) {
    Dashboard *d = self;
    if (ch == 'q' || ch == 'Q') {
        pthread_mutex_lock(&d->lock);
        int done = d->done;
        pthread_mutex_unlock(&d->lock);
        if (done) return SCREEN_QUIT;
        request_stop(d);
        return SCREEN_REDRAW;
    }
    if ((ch == 'p' || ch == 'P' || ch == ' ') && !d->ctl.stop) {
        d->ctl.pause = !d->ctl.pause;
        pthread_mutex_lock(&d->lock);
        d->state.paused = d->ctl.pause;
        d->state.version++;
        pthread_mutex_unlock(&d->lock);
        return SCREEN_REDRAW;
    }
    if (ch == 12) return SCREEN_REPAINT;  // Ctrl-L
    return 0;
}

static int dash_tick(void *self) {
    Dashboard *d = self;
    char line[512];
    int flags = 0;
    pthread_mutex_lock(&d->lock);
    // Lines something printed while the screen is up join the messages.
    while (term_captured(line, sizeof line)) {
        add_message(&d->state, "", line);
        d->state.version++;
    }
    if (d->state.version != d->drawn) flags |= SCREEN_REDRAW;
    // A stop the user asked for, or a failure, closes the dashboard as soon
    // as the loop has returned; a run that finished waits for q.
    if (d->done && (d->ctl.stop || d->rc)) flags |= SCREEN_QUIT;
    pthread_mutex_unlock(&d->lock);
    return flags;
}

static int dash_signal(void *self, int sig) {
    Dashboard *d = self;
    // Ctrl-C once the run has finished closes, as q does then: nothing is
    // interrupted, and the exit status stays the finished run's.
    pthread_mutex_lock(&d->lock);
    int finished = d->done && !d->rc;
    pthread_mutex_unlock(&d->lock);
    if (sig == SIGINT && finished) return SCREEN_QUIT;
    if (!d->status) d->status = term_signal_status(sig);
    request_stop(d);
    return SCREEN_REDRAW;
}

int dashboard_run_with(const TrainConfig *cfg, TrainRunFn run) {
    static const Screen screen = {dash_draw, dash_key, dash_tick, dash_signal};
    Dashboard *d = calloc(1, sizeof *d);
    if (!d) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    d->cfg = cfg;
    d->run = run;
    pthread_mutex_init(&d->lock, NULL);
    dashboard_state_init(&d->state);
    int own_terminal = !term_active(), status;
    char why[256];
    if (own_terminal && term_start(why, sizeof why)) {
        cli_error("cannot show the training dashboard: %s", why);
        status = EXIT_RUNTIME;
        goto out;
    }
    // The worker leaves the stop signals and SIGWINCH to this thread, whose
    // handlers turn them into a clean stop and a redraw.
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_t tid;
    int started = pthread_create(&tid, NULL, worker, d) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!started) {
        if (own_terminal) term_stop();
        cli_error("cannot start the training thread");
        status = EXIT_RUNTIME;
        goto out;
    }
    screen_run(&screen, d);
    // Closing while the loop still runs (a signal while paused, say)
    // still waits for its checkpoint: nothing is lost.
    if (!d->ctl.stop) request_stop(d);
    pthread_join(tid, NULL);
    // On the plain terminal after our own screen; inside the compare
    // screen, into its capture, which shows it.
    if (own_terminal) term_stop();
    dashboard_print_summary(&d->state, stdout);
    fflush(stdout);
    if (d->rc) {
        cli_error("%s", d->err.msg);
        status = EXIT_RUNTIME;
    } else {
        status = d->status ? d->status : EXIT_OK;
    }
out:
    dashboard_state_free(&d->state);
    pthread_mutex_destroy(&d->lock);
    free(d);
    return status;
}

int dashboard_run(const TrainConfig *cfg) { return dashboard_run_with(cfg, train_run); }
