// dashboard: the training dashboard (`siamese train` in a terminal, and
// `:train` in the compare loop).
//
// The training loop runs in a worker thread and reports through
// engine/train.h's events; each event updates a DashboardState (a model of
// everything seen so far, deep-copied so the loop's buffers can change),
// and the screen is a pure drawing of that state. The front only sends
// stop and pause requests back through the TrainControl.
#ifndef SIAMESE_DASHBOARD_H
#define SIAMESE_DASHBOARD_H

#include <stdio.h>

#include "../engine/train.h"
#include "canvas.h"

#define DASH_MESSAGES 64

typedef struct DashEpoch {
    int epoch;  // 1-based
    double loss, val_loss, val_acc, lr, seconds;
} DashEpoch;

typedef enum DashPhase {
    DASH_PREPARING,  // before RUN_START
    DASH_RUNNING,
    DASH_FINISHED,  // STOP arrived: the loop ended (reason in stop_reason)
} DashPhase;

typedef struct DashboardState {
    DashPhase phase;
    char prepare[64];  // PREPARE: the stage under way before the loop, and its count
    long prepare_done, prepare_total;
    int stepped;       // a BATCH arrived since RUN_START (until then: "starting")
    char (*config)[2][96];  // CONFIG: {option, value} rows
    int n_config;
    char *messages[DASH_MESSAGES];  // MESSAGE / CHECKPOINT lines, oldest first
    int n_messages;
    int epochs;  // RUN_START
    long batches;
    double *lr_curve;  // epochs values
    int epoch;         // BATCH: the current epoch and its progress
    long batch;
    double loss, pairs_per_sec, seconds, eta, lr;
    DashEpoch *rows;  // EPOCH_END, in order
    int n_rows, cap_rows;
    char *checkpoint;   // the last file written, or NULL
    char *stop_reason;  // why the loop ended (STOP), or NULL
    // Set by the front, shown in the title bar.
    int paused, stopping;
    char error[1024];       // train_run failed
    unsigned long version;  // bumped by every change
} DashboardState;

void dashboard_state_init(DashboardState *s);
void dashboard_state_free(DashboardState *s);
// Folds one event into the state, copying what it points to; -1 when out
// of memory (the state stays consistent, the event is dropped).
int dashboard_state_apply(DashboardState *s, const TrainEvent *ev);

// The whole dashboard, sized to the canvas; below DASH_MIN_W x DASH_MIN_H
// without the configuration and the charts.
void dashboard_draw(const DashboardState *s, Canvas *c);
#define DASH_MIN_W 60
#define DASH_MIN_H 20

// The finished epochs and the last checkpoint as plain lines, printed after
// the screen closes so the numbers outlive it.
void dashboard_print_summary(const DashboardState *s, FILE *f);

typedef int (*TrainRunFn)(const TrainConfig *c, TrainCallback cb, void *ctx, TrainControl *ctl,
                          Err *e);

// Runs `run` in a worker thread with the dashboard on screen until the run
// ends and the user closes it (q: stop after the current step, checkpoint,
// close; p: pause/resume). Starts curses when it is not on already. After
// closing, prints the summary on stdout (inside the compare screen, its
// capture shows it). Returns the exit status: 0 done
// or stopped with q, 1 the run failed (message on stderr), 130/143 stopped
// by SIGINT/SIGTERM (after the checkpoint).
int dashboard_run_with(const TrainConfig *cfg, TrainRunFn run);
// The same around engine/train.c's train_run: what `siamese train` calls
// in a terminal.
int dashboard_run(const TrainConfig *cfg);

#endif
