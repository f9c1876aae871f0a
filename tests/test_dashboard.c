// The training dashboard: its state as events fold into it, and its
// drawing at several window sizes. With --run, the real dashboard screen
// around a scripted training loop (events, pause, stop, checkpoint) that
// tests/expect/dashboard.exp drives in a pseudo-terminal.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tui/dashboard.h"
#include "check.h"

static const char *const CONFIG[][2] = {
    {"dataset", "scripted"}, {"backbone", "compact"}, {"input size", "32"},
    {"epochs", "3"},         {"batch size", "4"},     {"optimizer", "sgd"},
};
#define N_CONFIG (int)(sizeof CONFIG / sizeof *CONFIG)

static void apply(DashboardState *s, TrainEvent ev) {
    CHECK(dashboard_state_apply(s, &ev) == 0, "apply");
}

// Three epochs of a run, as train_run would report them.
static void feed_run(DashboardState *s, int epochs_done) {
    static const double lr[3] = {1e-2, 5e-3, 1e-4};
    apply(s, (TrainEvent){.kind = TRAIN_EV_CONFIG, .table = CONFIG, .n_rows = N_CONFIG});
    apply(s, (TrainEvent){.kind = TRAIN_EV_MESSAGE, .message = "layout: background/evaluation"});
    apply(s, (TrainEvent){.kind = TRAIN_EV_RUN_START,
                          .epoch = 1,
                          .epochs = 3,
                          .batches = 10,
                          .lr = lr[0],
                          .lr_curve = lr});
    for (int e = 1; e <= epochs_done; e++) {
        apply(s, (TrainEvent){.kind = TRAIN_EV_BATCH,
                              .epoch = e,
                              .epochs = 3,
                              .batch = 5,
                              .batches = 10,
                              .loss = 0.7,
                              .pairs_per_sec = 80,
                              .eta_seconds = 2,
                              .lr = lr[e - 1]});
        apply(s, (TrainEvent){.kind = TRAIN_EV_EPOCH_END,
                              .epoch = e,
                              .epochs = 3,
                              .loss = 0.7 - 0.1 * e,
                              .val_loss = 0.75 - 0.1 * e,
                              .val_acc = 0.5 + 0.1 * e,
                              .lr = lr[e - 1],
                              .seconds = 12.5});
    }
}

static void test_state(void) {
    DashboardState s;
    dashboard_state_init(&s);
    // The event's buffers are the loop's: the state keeps copies.
    char value[16] = "compact";
    const char *table[1][2] = {{"backbone", value}};
    apply(&s, (TrainEvent){
                  .kind = TRAIN_EV_CONFIG, .table = (const char *const(*)[2])table, .n_rows = 1});
    strcpy(value, "changed");
    CHECK(s.n_config == 1 && !strcmp(s.config[0][1], "compact"), "config copied: '%s'",
          s.config[0][1]);
    double curve[2] = {0.1, 0.01};
    apply(
        &s,
        (TrainEvent){
            .kind = TRAIN_EV_RUN_START, .epoch = 1, .epochs = 2, .batches = 7, .lr_curve = curve});
    curve[0] = 99;
    CHECK(s.phase == DASH_RUNNING && s.lr_curve && s.lr_curve[0] == 0.1 && s.batches == 7,
          "run start");
    unsigned long v = s.version;
    apply(&s, (TrainEvent){.kind = TRAIN_EV_BATCH,
                           .epoch = 1,
                           .epochs = 2,
                           .batch = 3,
                           .batches = 7,
                           .loss = 0.69});
    CHECK(s.batch == 3 && s.loss == 0.69 && s.version > v, "batch progress, version bumped");
    for (int i = 0; i < 40; i++)
        apply(&s, (TrainEvent){.kind = TRAIN_EV_EPOCH_END, .epoch = i + 1, .loss = i});
    CHECK(s.n_rows == 40 && s.rows[39].loss == 39 && s.rows[0].epoch == 1,
          "40 epoch rows kept in order");
    for (int i = 0; i < DASH_MESSAGES + 6; i++) {
        char m[32];
        snprintf(m, sizeof m, "message %d", i);
        apply(&s, (TrainEvent){.kind = TRAIN_EV_MESSAGE, .message = m});
    }
    CHECK(s.n_messages == DASH_MESSAGES, "messages bounded: %d", s.n_messages);
    CHECK(
        !strcmp(s.messages[DASH_MESSAGES - 1], "message 69") && !strcmp(s.messages[0], "message 6"),
        "the latest messages kept: '%s' .. '%s'", s.messages[0], s.messages[DASH_MESSAGES - 1]);
    apply(&s, (TrainEvent){.kind = TRAIN_EV_CHECKPOINT, .message = "logs/ep002.h5"});
    CHECK(!strcmp(s.checkpoint, "logs/ep002.h5"), "checkpoint path");
    apply(&s, (TrainEvent){.kind = TRAIN_EV_STOP, .message = "stopped by the user"});
    CHECK(s.phase == DASH_FINISHED && !strcmp(s.stop_reason, "stopped by the user"), "stop");
    dashboard_state_free(&s);
}

static void test_draw(void) {
    DashboardState s;
    dashboard_state_init(&s);
    feed_run(&s, 2);
    Canvas c = {0};
    // Wide: the table beside the charts.
    canvas_resize(&c, 120, 36);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "siamese train  RUNNING  epoch 2/3"), "title");
    CHECK(canvas_contains(&c, "Configuration") && canvas_contains(&c, "backbone") &&
              canvas_contains(&c, "compact") && canvas_contains(&c, "optimizer"),
          "configuration table");
    CHECK(canvas_contains(&c, "1/3          0.6000    0.6500    60.0%  1.00e-02    12.5s"),
          "epoch 1 row");
    CHECK(canvas_contains(&c, "2/3          0.5000    0.5500    70.0%  5.00e-03    12.5s *"),
          "epoch 2 row, the best validation loss starred");
    CHECK(canvas_contains(&c, "Loss") && canvas_contains(&c, "Learning rate 0.005"), "charts");
    CHECK(canvas_contains(&c, "layout: background/evaluation"), "messages");
    CHECK(canvas_contains(&c, "q stop after this step and save"), "keys");
    int bullets = 0, stars = 0;
    for (int i = 0; i < c.w * c.h; i++) {
        bullets += c.cells[i].ch == CH_BULLET;
        stars += c.cells[i].ch == '*';
    }
    CHECK(bullets == 3, "the learning-rate curve has a point per epoch (%d)", bullets);
    CHECK(stars >= 3, "train loss points plotted (%d '*' incl. the best mark)", stars);
    s.paused = 1;
    canvas_clear(&c);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "PAUSED") && canvas_contains(&c, "ETA (paused)"), "paused");
    // Narrow: stacked, still every part.
    canvas_resize(&c, 60, 20);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "Epochs") && canvas_contains(&c, "2/3") &&
              canvas_contains(&c, "Loss") && canvas_contains(&c, "Learning rate"),
          "narrow layout");
    char row[512];
    for (int y = 0; y < c.h; y++) {
        canvas_row(&c, y, row, sizeof row);
        CHECK(strlen(row) <= 3 * 60, "row %d within the width", y);
    }
    // Small: the title, the latest epochs, the progress and the keys, no
    // charts; the progress stays down to a few rows.
    canvas_resize(&c, 40, 12);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "PAUSED  epoch 2/3") && canvas_contains(&c, "2/3          0.5000") &&
              canvas_contains(&c, "Epoch 2/3") && canvas_contains(&c, "q stop") &&
              !canvas_contains(&c, "Learning rate") && !canvas_contains(&c, "too small"),
          "compact layout");
    canvas_resize(&c, 30, 2);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "Epoch 2/3"), "the progress in 30x2");
    // Finished: the reason as a sentence.
    apply(&s, (TrainEvent){.kind = TRAIN_EV_STOP, .message = "finished 3 epochs; best 0.5"});
    canvas_resize(&c, 100, 30);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "FINISHED") && canvas_contains(&c, "Finished 3 epochs; best 0.5") &&
              !canvas_contains(&c, "Finished: finished") && canvas_contains(&c, "q close"),
          "finished");
    // The summary that outlives the screen.
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    apply(&s, (TrainEvent){.kind = TRAIN_EV_CHECKPOINT, .message = "logs/last.h5"});
    dashboard_print_summary(&s, f);
    fclose(f);
    CHECK(strstr(text, "epoch 2/3  train loss 0.5000  val loss 0.5500  val acc 70.0%") &&
              strstr(text, "checkpoint: logs/last.h5\n") && strstr(text, "finished 3 epochs; best 0.5\n"),
          "summary:\n%s", text);
    free(text);
    canvas_free(&c);
    dashboard_state_free(&s);
}

// What the summary prints after the screen closes is whole, however long:
// a checkpoint under a 3,000-character folder, and the stop line naming it
// (they were cut at 511 and 255 characters).
static void test_long_summary(void) {
    DashboardState s;
    dashboard_state_init(&s);
    char path[3100], stop[3300];
    memset(path, 'x', 3000);
    check_snprintf(path + 3000, sizeof path - 3000, "/last_epoch_weights.h5");
    check_snprintf(stop, sizeof stop, "stopped at epoch 2, step 3 of 9; continue with --resume %s",
                   path);
    apply(&s, (TrainEvent){.kind = TRAIN_EV_CHECKPOINT, .message = path});
    apply(&s, (TrainEvent){.kind = TRAIN_EV_STOP, .message = stop});
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    dashboard_print_summary(&s, f);
    fclose(f);
    CHECK(strstr(text, path) && strstr(text, stop), "long summary lines cut: %zu bytes", len);
    free(text);
    dashboard_state_free(&s);
}

// Before the first step: what is under way (decoding, the first step), never
// a progress line of zeros; a flat loss curve's axis labels differ.
static void test_before_first_step(void) {
    DashboardState s;
    dashboard_state_init(&s);
    Canvas c = {0};
    canvas_resize(&c, 100, 30);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "PREPARING") && canvas_contains(&c, "Preparing the data"), "preparing");
    apply(&s, (TrainEvent){.kind = TRAIN_EV_PREPARE, .message = "images decoded", .batch = 1200,
                           .batches = 19280});
    canvas_clear(&c);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "Preparing ") && canvas_contains(&c, "1200/19280 images decoded"),
          "decoding progress");
    double lr[2] = {0.01, 0.005};
    apply(&s, (TrainEvent){.kind = TRAIN_EV_RUN_START, .epoch = 1, .epochs = 2, .batches = 30,
                           .lr = 0.01, .lr_curve = lr});
    canvas_clear(&c);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "Epoch 1/2 starting: the first of 30 steps") &&
              !canvas_contains(&c, "loss 0.0000") && !canvas_contains(&c, "0.0 pairs/s"),
          "starting, not zeros");
    apply(&s, (TrainEvent){.kind = TRAIN_EV_BATCH, .epoch = 1, .epochs = 2, .batch = 1,
                           .batches = 30, .loss = 0.69, .pairs_per_sec = 50, .eta_seconds = 9});
    canvas_clear(&c);
    dashboard_draw(&s, &c);
    CHECK(canvas_contains(&c, "1/30  loss 0.6900  50.0 pairs/s"), "the first step's progress");
    // An untrained model's loss stays at ln 2 to four digits.
    apply(&s, (TrainEvent){.kind = TRAIN_EV_EPOCH_END, .epoch = 1, .loss = 0.693152,
                           .val_loss = 0.693141, .val_acc = 0.5, .lr = 0.01, .seconds = 3});
    apply(&s, (TrainEvent){.kind = TRAIN_EV_EPOCH_END, .epoch = 2, .loss = 0.693147,
                           .val_loss = 0.693139, .val_acc = 0.5, .lr = 0.005, .seconds = 3});
    canvas_clear(&c);
    dashboard_draw(&s, &c);
    char row[512], labels[3][32];
    int n = 0;
    for (int y = 0; y < c.h && n < 3; y++) {
        canvas_row(&c, y, row, sizeof row);
        char *tick = strstr(row, "\xe2\x94\xa4");  // a labelled tick of the loss chart
        if (!tick || !strstr(row, "0.69")) continue;
        char *start = tick;
        while (start > row && start[-1] != ' ') start--;
        snprintf(labels[n++], sizeof labels[0], "%.*s", (int)(tick - start), start);
    }
    CHECK(n == 3 && strcmp(labels[0], labels[1]) && strcmp(labels[1], labels[2]),
          "three different loss labels: '%s' '%s' '%s'", n > 0 ? labels[0] : "",
          n > 1 ? labels[1] : "", n > 2 ? labels[2] : "");
    canvas_free(&c);
    dashboard_state_free(&s);
}

// ---- --run: the screen around a scripted loop ----------------------------------

static int run_epochs = 50, run_batches = 5, run_step_ms = 40, run_fail, run_prepare_ms;
static const char *run_checkpoint = "dashboard_checkpoint.txt";

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int checkpoint(TrainCallback cb, void *ctx, int epoch, Err *e) {
    FILE *f = fopen(run_checkpoint, "w");
    if (!f) return err_set(e, "%s: cannot write the checkpoint", run_checkpoint);
    fprintf(f, "epoch %d\n", epoch);
    fclose(f);
    cb(&(TrainEvent){.kind = TRAIN_EV_CHECKPOINT, .message = run_checkpoint}, ctx);
    return 0;
}

// train_run's contract with a scripted loss: events in order, pause and
// stop polled between steps, a checkpoint on stop.
static int scripted_run(const TrainConfig *cfg, TrainCallback cb, void *ctx, TrainControl *ctl,
                        Err *e) {
    const int E = run_epochs;
    double *lr = malloc((size_t)E * sizeof *lr);
    if (!lr) return err_set(e, "out of memory");
    for (int i = 0; i < E; i++) lr[i] = 1e-4 + (1e-2 - 1e-4) * 0.5 * (1 + cos(M_PI * i / E));
    cb(&(TrainEvent){.kind = TRAIN_EV_CONFIG, .table = CONFIG, .n_rows = N_CONFIG}, ctx);
    cb(&(TrainEvent){.kind = TRAIN_EV_MESSAGE, .message = "scripted run"}, ctx);
    // --prepare-ms: a decoding stage, then as long before the first step.
    for (int i = 0; run_prepare_ms && i <= 10; i++) {
        cb(&(TrainEvent){.kind = TRAIN_EV_PREPARE, .message = "images decoded", .batch = 100 * i,
                         .batches = 1000},
           ctx);
        sleep_ms(run_prepare_ms / 10);
    }
    cb(&(TrainEvent){.kind = TRAIN_EV_RUN_START,
                     .epoch = 1,
                     .epochs = E,
                     .batches = run_batches,
                     .lr = lr[0],
                     .lr_curve = lr},
       ctx);
    sleep_ms(run_prepare_ms);
    int rc = 0;
    for (int ep = 1; ep <= E; ep++) {
        for (long b = 1; b <= run_batches; b++) {
            while (ctl->pause && !ctl->stop) sleep_ms(10);
            sleep_ms(run_step_ms);
            cb(&(TrainEvent){.kind = TRAIN_EV_BATCH,
                             .epoch = ep,
                             .epochs = E,
                             .batch = b,
                             .batches = run_batches,
                             .loss = 0.7 / ep,
                             .lr = lr[ep - 1],
                             .pairs_per_sec = 100,
                             .eta_seconds = (run_batches - b) * run_step_ms / 1e3},
               ctx);
            if (ctl->stop) {
                rc = checkpoint(cb, ctx, ep, e);
                if (!rc)
                    cb(&(TrainEvent){.kind = TRAIN_EV_STOP, .message = "stopped by the user"}, ctx);
                goto out;
            }
        }
        cb(&(TrainEvent){.kind = TRAIN_EV_EPOCH_END,
                         .epoch = ep,
                         .epochs = E,
                         .loss = 0.7 / ep,
                         .val_loss = 0.75 / ep,
                         .val_acc = 1 - 0.5 / ep,
                         .lr = lr[ep - 1],
                         .seconds = run_batches * run_step_ms / 1e3},
           ctx);
        if (run_fail && ep == run_fail) {
            rc = err_set(e, "scripted failure after epoch %d", ep);
            goto out;
        }
    }
    rc = checkpoint(cb, ctx, E, e);
    if (!rc) cb(&(TrainEvent){.kind = TRAIN_EV_STOP, .message = "finished"}, ctx);
out:
    free(lr);
    return rc;
}

static int run_screen(int argc, char **argv) {
    static const struct option longs[] = {
        {"epochs", required_argument, 0, 'e'},     {"batches", required_argument, 0, 'b'},
        {"step-ms", required_argument, 0, 's'},    {"fail-after", required_argument, 0, 'f'},
        {"checkpoint", required_argument, 0, 'c'}, {"prepare-ms", required_argument, 0, 'p'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'e': run_epochs = atoi(optarg); break;
        case 'b': run_batches = atoi(optarg); break;
        case 's': run_step_ms = atoi(optarg); break;
        case 'f': run_fail = atoi(optarg); break;
        case 'c': run_checkpoint = optarg; break;
        case 'p': run_prepare_ms = atoi(optarg); break;
        default: return 2;
        }
    }
    TrainConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    return dashboard_run_with(&cfg, scripted_run);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--run")) return run_screen(argc - 1, argv + 1);
    test_state();
    test_draw();
    test_long_summary();
    test_before_first_step();
    return check_summary("test_dashboard");
}
