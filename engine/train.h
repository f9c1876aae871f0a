// train: the epoch loop of `siamese train`.
//
// The loop reports progress only through a callback (events), never by
// printing, so the same loop feeds the curses dashboard, the plain log
// lines and the tests. The front asks it to stop or pause through a
// TrainControl that the loop polls between steps; a stop finishes the
// current step and writes a checkpoint, so nothing is lost.
#ifndef SIAMESE_TRAIN_H
#define SIAMESE_TRAIN_H

#include <stdatomic.h>
#include <stdint.h>

#include "err.h"

typedef struct TrainConfig {
    // data
    const char *dataset;      // "dataset": DIR/images_background/...
    int own_data;             // force the two-level layout
    double val_ratio;         // 0.1
    uint64_t seed;            // 0 by default; the same seed gives the same run
    int workers;              // loader threads, 0 = automatic
    // model
    const char *backbone;     // "vgg16" | "compact"
    int input_size;           // 105
    int invert;               // record and apply 1 - x (strokes become 1)
    const char *model_path;   // start from these weights (by layer name), or NULL
    const char *resume;       // resume from a checkpoint with its state, or NULL
    // optimisation (the defaults of the original train.py)
    int epochs;               // 100
    int init_epoch;           // 0
    int batch_size;           // 32
    const char *optimizer;    // "sgd" | "adam"
    double lr;                // 1e-2 (Init_lr)
    double min_lr;            // lr * 0.01 when <= 0
    double momentum;          // 0.9
    double weight_decay;      // 5e-4
    const char *lr_decay;     // "cos" | "step"
    // output
    const char *save_dir;     // "logs"
    int save_period;          // 10
    int patience;             // early stopping after this many epochs without improvement, 0 = off
    // engine
    const char *device;       // "auto"
    const char *precision;    // "fp32" | "tf32" | "bf16" (backend.h): the training steps'
                              // convolutions and dense products; default tf32
    int threads;              // 0 = all cores
    long steps_per_epoch;     // 0 = as the original: train images / batch size
    // additions of the C version
    int widths[5];            // custom conv widths per block (all 0: the backbone's)
    int hidden;               // units of the hidden Dense layer (0: 512)
    int letterbox;            // preprocessing recorded in the weights: fit + grey pad
    double same_alphabet;     // fraction of negatives drawn from the same alphabet, 0
    const char *augment;      // "standard" | "koch" | "none"
    long val_steps;           // 0 = as the original: validation images / batch size
    long stop_after_steps;    // stop cleanly (checkpoint) after this many steps in this run, 0 = off
    double time_limit;        // stop cleanly after this many seconds, 0 = off
    long loader_benchmark;    // > 0: only time the loader over this many batches, no training
    char *store;              // owned: the strings read from a checkpoint live here
    // The ranks of a data-parallel run (dist.h: each computes a share of
    // every step, rank 0 alone reports and writes); NULL: this process alone.
    struct Dist *dist;
} TrainConfig;

void train_config_defaults(TrainConfig *c);
// For --resume: replaces c's values with the ones the checkpoint's run used
// (the model's shape included), so that options given after this only
// override what the user names. Fails if path has no training state.
int train_config_from_checkpoint(TrainConfig *c, const char *path, Err *e);
// Frees what train_config_from_checkpoint read (the strings it set).
void train_config_free(TrainConfig *c);
// Checks every value; the message names the option (e.g. "--batch-size: 0 ...").
int train_config_check(const TrainConfig *c, Err *e);

typedef enum TrainEventKind {
    TRAIN_EV_CONFIG,      // once: the configuration table (rows in table/n_rows)
    TRAIN_EV_MESSAGE,     // a line for the user (layout detected, layers loaded, warnings)
    TRAIN_EV_RUN_START,   // the loop starts: epochs, batches per epoch
    TRAIN_EV_BATCH,       // a step finished (at most a few per second are sent)
    TRAIN_EV_EPOCH_END,   // train loss, val loss, val acc, lr, duration
    TRAIN_EV_CHECKPOINT,  // a file was written (path)
    TRAIN_EV_STOP,        // the loop ended (reason in message)
    TRAIN_EV_PREPARE,     // before the loop: `batch` of `batches` items of a stage named by
                          // message ("images decoded"), a few times a second
} TrainEventKind;

typedef struct TrainEvent {
    TrainEventKind kind;
    int epoch, epochs;           // 1-based current epoch, total
    long batch, batches;         // steps done in this epoch, steps per epoch
    double loss;                 // BATCH: running mean train loss; EPOCH_END: epoch's train loss
    double acc;                  // BATCH / EPOCH_END: train accuracy (prob > 0.5 vs label)
    double val_loss, val_acc;    // EPOCH_END
    double lr;                   // current learning rate
    double pairs_per_sec;        // BATCH: recent throughput
    double seconds;              // EPOCH_END: epoch duration; BATCH: elapsed in epoch
    double eta_seconds;          // BATCH: time left in this epoch
    const char *message;         // MESSAGE / STOP / CHECKPOINT (path)
    const char *const (*table)[2];  // CONFIG: rows of {option, value}
    int n_rows;
    const double *lr_curve;      // RUN_START: learning rate per epoch (epochs values)
} TrainEvent;

typedef void (*TrainCallback)(const TrainEvent *ev, void *ctx);

// Written by the front, read by the loop between steps. The dashboard writes
// from its own thread, hence atomics; plain mode writes from a signal
// handler on the loop's thread, which may touch only volatile sig_atomic_t
// or lock-free atomic objects (C11 7.14.1.1), hence lock-free ones.
typedef struct TrainControl {
    atomic_int stop;    // set to 1: finish the step, checkpoint, return
    atomic_int pause;   // while 1 the loop waits between steps
} TrainControl;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler sets TrainControl.stop");

// Each step holds 2 * batch_size pairs, as the original: every sample of
// the batch gives one positive and one negative pair.
#define TRAIN_PAIRS_PER_SAMPLE 2

// Runs the whole training. Returns 0 when it finished or was stopped
// cleanly (ctl->stop), -1 with e filled on an error (bad dataset, bad
// weights, I/O); a failed checkpoint write stops the run and leaves the
// previous checkpoint intact. In a data-parallel run every rank returns
// the same way (a stop or failure on one rank stops all at the same step),
// and e's message is empty on the ranks that leave the report to another.
int train_run(const TrainConfig *c, TrainCallback cb, void *ctx, TrainControl *ctl, Err *e);

#endif
