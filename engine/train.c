// train: the epoch loop of `siamese train` (see train.h).
//
// A run, step by step: check the options, open the backend (in the
// precision --precision asks for: the CPU has fp32 only), scan the
// dataset and split it, build (or load, or resume) the model, build the
// optimizer and the learning-rate curve, then per epoch: the training
// steps (batches from the loader threads), the validation pass, the loss
// log and picture, the checkpoints, early stopping.
//
// The steps are pipelined: a step's forward pass, backward pass and
// optimizer step are queued on the backend one after the other, and its
// loss and accuracy are read one step later (siamese_forward_queued's
// readback), while the device works on the next step; nothing waits for
// the device before the backward pass is queued. The batch crosses as
// bytes from the loader's ring (the backend's host memory), beside the
// previous step's work. On the CPU everything runs as it is called, in the
// same order, so the numbers are those of an unpipelined loop.
//
// Data-parallel training (dist.h, several processes): every rank runs this
// same loop on its share of each batch; they exchange their losses and
// stop requests (dist_vote) and sum their gradients (dist_sum_gradients)
// before the optimizer step, and check that they agree (the data, the
// weights at the start and after every epoch). Rank 0 alone reports and
// writes files; a checkpoint does not depend on the rank count.
//
// Resuming is exact: the checkpoint stores the optimizer's slots and step
// count, the epoch and step reached, the partial sums of the epoch in
// progress, the best validation loss and the early-stopping count; batches
// are a pure function of (seed, epoch, step) (loader.h), so a resumed run
// computes the same numbers as one that was never interrupted.
//
// Text (messages, paths, the checkpoint's state) is built with vasprintf,
// as long as its content: a path of any length round-trips through a
// checkpoint.
#define _GNU_SOURCE  // vasprintf
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "augment.h"
#include "backend.h"
#include "dataset.h"
#include "dist.h"
#include "loader.h"
#include "model.h"
#include "optim.h"
#include "plot.h"
#include "text.h"
#include "weights.h"

// printf's output in a new string (free it); NULL when memory runs out.
static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_vprintf(const char *fmt, va_list ap) {
    char *s;
    return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}
static char *str_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = str_vprintf(fmt, ap);
    va_end(ap);
    return s;
}

void train_config_free(TrainConfig *c) {
    free(c->store);
    c->store = NULL;
}

void train_config_defaults(TrainConfig *c) {
    memset(c, 0, sizeof *c);
    c->dataset = "dataset";
    c->val_ratio = 0.1;
    c->backbone = "vgg16";
    c->input_size = 105;
    c->epochs = 100;
    c->batch_size = 32;
    c->optimizer = "sgd";
    c->lr = 1e-2;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->lr_decay = "cos";
    c->save_dir = "logs";
    c->save_period = 10;
    c->device = "auto";
    c->precision = backend_precision_name(BACKEND_DEFAULT_PRECISION);
    c->augment = "standard";
}

static int custom_widths(const TrainConfig *c) {
    for (int i = 0; i < 5; i++)
        if (c->widths[i] <= 0) return 0;
    return 1;
}

int train_config_check(const TrainConfig *c, Err *e) {
    if (!c->dataset || !*c->dataset) return err_set(e, "--dataset: a folder is needed");
    if (!(c->val_ratio > 0 && c->val_ratio < 1))
        return err_set(e, "--val-ratio: %g is out of range (expected more than 0 and less than 1)",
                       c->val_ratio);
    if (!custom_widths(c) && strcmp(c->backbone, "vgg16") && strcmp(c->backbone, "compact"))
        return err_set(e, "--backbone: '%s' is not vgg16 or compact", c->backbone);
    if (c->input_size < MODEL_MIN_INPUT || c->input_size > MODEL_MAX_INPUT)
        return err_set(e, "--input-shape: %d is out of range (%d to %d)", c->input_size,
                       MODEL_MIN_INPUT, MODEL_MAX_INPUT);
    if (c->epochs < 1) return err_set(e, "--epochs: %d is out of range (at least 1)", c->epochs);
    if (c->init_epoch < 0 || c->init_epoch >= c->epochs)
        return err_set(e, "--init-epoch: %d is out of range (0 to --epochs - 1 = %d)",
                       c->init_epoch, c->epochs - 1);
    if (c->batch_size < 1 || c->batch_size > 4096)
        return err_set(e, "--batch-size: %d is out of range (1 to 4096)", c->batch_size);
    if (strcmp(c->optimizer, "sgd") && strcmp(c->optimizer, "adam"))
        return err_set(e, "--optimizer: '%s' is not sgd or adam", c->optimizer);
    if (!(c->lr > 0)) return err_set(e, "--lr: %g must be positive", c->lr);
    if (!(c->min_lr >= 0)) return err_set(e, "--min-lr: %g must not be negative", c->min_lr);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return err_set(e, "--momentum: %g is out of range (0 to less than 1)", c->momentum);
    if (!(c->weight_decay >= 0))
        return err_set(e, "--weight-decay: %g must not be negative", c->weight_decay);
    if (strcmp(c->lr_decay, "cos") && strcmp(c->lr_decay, "step"))
        return err_set(e, "--lr-decay: '%s' is not cos or step", c->lr_decay);
    if (c->save_period < 1)
        return err_set(e, "--save-period: %d is out of range (at least 1)", c->save_period);
    if (c->patience < 0) return err_set(e, "--patience: %d must not be negative", c->patience);
    if (!(c->same_alphabet >= 0 && c->same_alphabet <= 1))
        return err_set(e, "--same-alphabet-negatives: %g is out of range (0 to 1)",
                       c->same_alphabet);
    if (backend_precision_parse(c->precision) < 0)
        return err_set(e, "--precision: '%s' is not fp32, tf32 or bf16", c->precision);
    if (augment_kind_parse(c->augment) < 0)
        return err_set(e, "--augment: '%s' is not standard, koch or none", c->augment);
    if (c->steps_per_epoch < 0 || c->val_steps < 0)
        return err_set(e, "--steps-per-epoch / --val-steps must not be negative");
    if (c->workers < 0 || c->workers > 64)
        return err_set(e, "--workers: %d is out of range (0 to 64)", c->workers);
    if (c->hidden < 0 || c->hidden > 65536)
        return err_set(e, "--hidden: %d is out of range (1 to 65536)", c->hidden);
    if (!c->save_dir || !*c->save_dir) return err_set(e, "--save-dir: a folder is needed");
    if (c->stop_after_steps < 0 || !(c->time_limit >= 0) || c->loader_benchmark < 0)
        return err_set(e, "--stop-after-steps / --time-limit / --loader-benchmark must not be "
                          "negative");
    return 0;
}

static void spec_of(const TrainConfig *c, ModelSpec *s) {
    if (!strcmp(c->backbone, "vgg16")) model_spec_vgg16(s, c->input_size);
    else model_spec_compact(s, c->input_size);
    if (custom_widths(c)) memcpy(s->widths, c->widths, sizeof s->widths);
    if (c->hidden > 0) s->hidden = c->hidden;
    s->pre.invert = c->invert;
    s->pre.letterbox = c->letterbox;
}

// ---- the training state in a checkpoint ------------------------------------------

// Where a run stands; what a checkpoint must restore.
typedef struct Progress {
    int epoch;            // the epoch in progress (0-based)
    long batch;           // its steps done; == steps: training done, validation not
    double loss_sum, acc_sum;  // over those steps
    long step;            // optimizer steps in all
    double best_val;      // INFINITY until the first validation
    int bad_epochs;       // epochs since the best one
    char *log_dir;        // loss_<timestamp> folder (malloc'ed; NULL before open_log)
    int log_first_epoch;  // the epoch its first line is for
} Progress;

// A path as a checkpoint records it: absolute (a relative one is taken
// from the working directory, the one the run started in), so that
// --resume from another folder finds the dataset and goes on writing into
// the run's folder; canonical where it exists (realpath), so that one
// folder has one name. A new string (free it); NULL when memory runs out.
static char *absolute_path(const char *path) {
    char *real = realpath(path, NULL);
    if (real) return real;
    if (path[0] == '/') return strdup(path);
    while (path[0] == '.' && path[1] == '/') path += 2;
    char *cwd = getcwd(NULL, 0);
    if (!cwd) return strdup(path);  // (the folder was removed: as given)
    char *abs = str_printf("%s/%s", cwd, path);
    free(cwd);
    return abs;
}

// The options that shape the run's numbers, as key=value lines (a new
// string, NULL when out of memory), the dataset's path as given or
// (absolute_paths, for the checkpoint) absolute; a resumed run compares
// them with the checkpoint's.
static char *config_text(const TrainConfig *c, int absolute_paths) {
    // The thread count is part of the numbers: the CPU backend splits some
    // reductions (weight gradients) between its threads, so another count
    // rounds them differently. Kept as asked: "all" cores, or a number.
    char threads[16] = "all";
    if (c->threads > 0) snprintf(threads, sizeof threads, "%d", c->threads);
    char *dataset = absolute_paths ? absolute_path(c->dataset) : strdup(c->dataset);
    if (!dataset) return NULL;
    char *text = str_printf(
        "dataset=%s\nown_data=%d\nval_ratio=%.17g\nseed=%llu\nepochs=%d\nbatch_size=%d\n"
        "optimizer=%s\nlr=%.17g\nmin_lr=%.17g\nmomentum=%.17g\nweight_decay=%.17g\n"
        "lr_decay=%s\nsame_alphabet=%.17g\naugment=%s\nsteps_per_epoch=%ld\nval_steps=%ld\n"
        "init_epoch=%d\nprecision=%s\nthreads=%s\n",
        dataset, c->own_data, c->val_ratio, (unsigned long long)c->seed, c->epochs,
        c->batch_size, c->optimizer, c->lr, c->min_lr, c->momentum, c->weight_decay, c->lr_decay,
        c->same_alphabet, c->augment, c->steps_per_epoch, c->val_steps, c->init_epoch,
        c->precision, threads);
    free(dataset);
    return text;
}

// The whole training state, as key=value lines (a new string, NULL when out
// of memory).
static char *state_text(const TrainConfig *c, const Progress *p) {
    char *config = config_text(c, 1);
    char *save_dir = absolute_path(c->save_dir);
    char *log_dir = p->log_dir ? absolute_path(p->log_dir) : strdup("");
    char *s = NULL;
    if (config && save_dir && log_dir)
        s = str_printf("siamese_train_state=1\nepoch=%d\nbatch=%ld\nloss_sum=%.17g\n"
                       "acc_sum=%.17g\nstep=%ld\nbest_val=%.17g\nbad_epochs=%d\nlog_dir=%s\n"
                       "log_first_epoch=%d\nsave_dir=%s\nsave_period=%d\npatience=%d\n%s",
                       p->epoch, p->batch, p->loss_sum, p->acc_sum, p->step, p->best_val,
                       p->bad_epochs, log_dir, p->log_first_epoch, save_dir, c->save_period,
                       c->patience, config);
    free(config);
    free(save_dir);
    free(log_dir);
    return s;
}

// The value of key in key=value lines: where it starts in text, its length
// in *len (up to the line's end); NULL when text has no such key.
static const char *text_value(const char *text, const char *key, size_t *len) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) || p[kl] != '=') continue;
        const char *v = p + kl + 1, *end = strchr(v, '\n');
        *len = end ? (size_t)(end - v) : strlen(v);
        return v;
    }
    return NULL;
}

// Reads a state text; the first missing or bad value is the error.
typedef struct StateReader {
    const char *text, *path;
    Err *e;
    int failed;
    char *store;  // a copy of text for get_str, or NULL
} StateReader;

static const char *value_of(StateReader *r, const char *key, size_t *len) {
    const char *v = text_value(r->text, key, len);
    if (!v && !r->failed) {
        err_set(r->e, "%s: the training state lacks '%s'", r->path, key);
        r->failed = 1;
    }
    return v;
}

// The value as a string that lives as long as r->store: the copy's own
// bytes, ended where the line ends.
static const char *get_str(StateReader *r, const char *key) {
    size_t n;
    const char *v = value_of(r, key, &n);
    if (!v) return "";
    char *s = r->store + (v - r->text);
    s[n] = '\0';
    return s;
}

static double get_num(StateReader *r, const char *key) {
    size_t n;
    const char *v = value_of(r, key, &n);
    if (!v) return 0;
    char *end;
    double d = strtod(v, &end);  // (stops at the line's end)
    if (end == v) {
        if (!r->failed) err_set(r->e, "%s: the training state's '%s' is not a number", r->path, key);
        r->failed = 1;
    }
    return d;
}

static int read_state(const char *path, WeightsState *st, Err *e) {
    if (weights_load_state(path, st, e)) return -1;
    if (!st->text || strncmp(st->text, "siamese_train_state=1\n", 22)) {
        weights_state_free(st);
        return err_set(e,
                       "%s has no training state to resume from (last_epoch_weights.h5 and the "
                       "periodic ep*.h5 checkpoints have one); to start a new run from its "
                       "weights use --model-path %s",
                       path, path);
    }
    return 0;
}

int train_config_from_checkpoint(TrainConfig *c, const char *path, Err *e) {
    WeightsState st;
    WeightsInfo info;
    if (weights_inspect(path, &info, e) || read_state(path, &st, e)) return -1;
    train_config_free(c);
    if (!(c->store = strdup(st.text))) {
        weights_state_free(&st);
        return err_set(e, "out of memory reading %s", path);
    }
    StateReader r = {st.text, path, e, 0, c->store};
    c->dataset = get_str(&r, "dataset");
    c->own_data = (int)get_num(&r, "own_data");
    c->val_ratio = get_num(&r, "val_ratio");
    c->epochs = (int)get_num(&r, "epochs");
    c->batch_size = (int)get_num(&r, "batch_size");
    c->optimizer = get_str(&r, "optimizer");
    c->lr = get_num(&r, "lr");
    c->min_lr = get_num(&r, "min_lr");
    c->momentum = get_num(&r, "momentum");
    c->weight_decay = get_num(&r, "weight_decay");
    c->lr_decay = get_str(&r, "lr_decay");
    c->same_alphabet = get_num(&r, "same_alphabet");
    c->augment = get_str(&r, "augment");
    c->steps_per_epoch = (long)get_num(&r, "steps_per_epoch");
    c->val_steps = (long)get_num(&r, "val_steps");
    c->init_epoch = (int)get_num(&r, "init_epoch");
    c->save_dir = get_str(&r, "save_dir");
    c->save_period = (int)get_num(&r, "save_period");
    c->patience = (int)get_num(&r, "patience");
    // Checkpoints written before --precision recorded --amp (off: fp32), and
    // before --amp they trained in fp32.
    size_t n;
    if (text_value(st.text, "precision", &n)) {
        c->precision = get_str(&r, "precision");
    } else {
        int p = text_value(st.text, "amp", &n) ? backend_amp_parse(get_str(&r, "amp"))
                                                : BACKEND_FP32;
        c->precision = backend_precision_name(p < 0 ? BACKEND_FP32 : (BackendPrecision)p);
    }
    // Older checkpoints did not record the threads: all cores, the default.
    const char *threads = text_value(st.text, "threads", &n) ? get_str(&r, "threads") : "all";
    c->threads = !strcmp(threads, "all") ? 0 : atoi(threads);
    // The seed is a 64-bit integer: a double would round it.
    c->seed = strtoull(get_str(&r, "seed"), NULL, 10);
    weights_state_free(&st);
    if (r.failed) {
        train_config_free(c);
        return -1;
    }
    // The model's shape is the file's.
    const ModelSpec *s = &info.spec;
    char name[64];
    model_spec_describe(s, name, sizeof name);
    c->backbone = !strcmp(name, "vgg16") ? "vgg16" : "compact";
    memcpy(c->widths, s->widths, sizeof c->widths);
    c->hidden = s->hidden;
    c->input_size = s->input_size;
    c->invert = s->pre.invert;
    c->letterbox = s->pre.letterbox;
    return 0;
}

// ---- the run -------------------------------------------------------------------

// The step whose results are not read yet (see the top).
typedef struct Pipeline {
    int unread;                        // 1: a step is queued and unread, in `slot`
    int slot;                          // its readback slot; the next step takes the other
    int n;                             // its pairs
    float *labels[MODEL_READBACKS];    // each slot's labels, copied: the loader reuses its batch
    float *prob;                       // the probabilities read
} Pipeline;

typedef struct Run {
    const TrainConfig *c;
    TrainCallback cb;
    void *ctx;
    TrainControl *ctl;
    Err *e;
    Backend *be;
    Model *m;
    Optim opt;
    Dataset ds;
    int *train_idx, *val_idx, n_train, n_val;
    PairSampler train_s, val_s;
    AugmentParams aug;
    Loader *train_l, *val_l;
    OptimKind kind;
    LrDecay decay;
    BackendPrecision precision;  // of the training steps (as the backend took it)
    double lr_fit, min_lr_fit;
    double *lr_curve;
    long steps, val_steps;
    int workers;
    Dist *dist, solo;    // the ranks (c->dist, or solo: this process alone)
    int pairs;           // of a step: TRAIN_PAIRS_PER_SAMPLE * batch size, over all ranks
    double t_steps, t_vote, t_sum;  // seconds in training steps, of them in dist_vote, dist_sum_gradients
    int device_failed;   // this rank's step failed in the backend (step_end_failed)
    long run_steps;      // steps taken by this invocation
    double t_start;      // when it started (monotonic seconds)
    Progress p;
    double *hist_loss, *hist_val;   // per logged epoch
    int n_hist;
    char *(*rows)[2];    // the configuration table (malloc'ed, each string too)
    int n_rows, cap_rows;
    DistGroup *devices;  // every rank's device, ranks with the same in a row as one (rank 0)
    int n_devices;
    WeightsState resume_state;
    Pipeline pipe;
} Run;

static void emit(Run *r, TrainEvent *ev) {
    ev->epochs = r->c->epochs;
    if (r->cb && r->dist->rank == 0) r->cb(ev, r->ctx);
}

static void say(Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// A message for the user; dropped when memory runs out.
static void say(Run *r, const char *fmt, ...) {
    // Messages name files and layers, and quote a checkpoint's settings:
    // escaped (text_escape), as errors are. An escape takes at most 4 bytes
    // a byte ("\xNN").
    va_list ap;
    va_start(ap, fmt);
    char *raw = str_vprintf(fmt, ap);
    va_end(ap);
    const size_t cap = raw ? 4 * strlen(raw) + 1 : 0;
    char *msg = raw ? malloc(cap) : NULL;
    if (msg) {
        text_escape(raw, msg, cap);
        TrainEvent ev = {.kind = TRAIN_EV_MESSAGE, .message = msg, .epoch = r->p.epoch + 1};
        emit(r, &ev);
    }
    free(raw);
    free(msg);
}

// Each line of a multi-line text as its own message.
static void say_lines(Run *r, const char *text) {
    char *buf = strdup(text), *save = NULL;
    if (!buf) return;
    // (The dashboard's thread runs this loop: strtok_r, not strtok.)
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        say(r, "%s", line);
    free(buf);
}

// A row of the configuration table; dropped when memory runs out.
static void row(Run *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void row(Run *r, const char *key, const char *fmt, ...) {
    // (A row a group of ranks' devices: as many as the ranks.)
    if (r->n_rows == r->cap_rows) {
        const int cap = r->cap_rows ? 2 * r->cap_rows : 40;
        void *more = realloc(r->rows, cap * sizeof *r->rows);
        if (!more) return;
        r->rows = more;
        r->cap_rows = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *k = strdup(key), *v = str_vprintf(fmt, ap);
    va_end(ap);
    if (!k || !v) {
        free(k);
        free(v);
        return;
    }
    r->rows[r->n_rows][0] = k;
    r->rows[r->n_rows][1] = v;
    r->n_rows++;
}

static int mkdir_p(const char *path, Err *e) {
    char *buf = strdup(path);
    if (!buf) return err_set(e, "out of memory");
    int rc = 0;
    for (char *p = buf + 1; !rc; p++) {
        if (*p == '/' || !*p) {
            char keep = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                rc = err_set(e, "%s: cannot create the folder: %s", buf, strerror(errno));
            if (!keep) break;
            *p = keep;
        }
    }
    free(buf);
    return rc;
}

// The images decoded so far, for the front (the first minutes of a large
// dataset would otherwise show nothing happening).
static void decode_progress(int done, int total, void *ctx) {
    TrainEvent ev = {.kind = TRAIN_EV_PREPARE, .message = "images decoded", .batch = done,
                     .batches = total};
    emit(ctx, &ev);
}

// Scans root = DIR/images_background and splits it, with an explanation
// when root is missing.
static int scan_dataset(Run *r, const char *root) {
    const TrainConfig *c = r->c;
    struct stat st;
    const int found = stat(c->dataset, &st) == 0;
    if (!found || !S_ISDIR(st.st_mode))
        return err_set(r->e,
                       "--dataset %s: %s. Training reads DIR/images_background/"
                       "<alphabet>/<character>/<image> (Omniglot) or "
                       "DIR/images_background/<class>/<image> (your own classes)",
                       c->dataset, found ? "not a folder"
                                   : errno == ENOENT ? "no such folder" : strerror(errno));
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        const char *base = strrchr(c->dataset, '/');
        base = base ? base + 1 : c->dataset;
        if (!strcmp(base, "images_background"))
            return err_set(r->e,
                           "--dataset %s: this is the images_background folder itself; pass "
                           "the folder that contains it",
                           c->dataset);
        return err_set(r->e,
                       "--dataset %s has no images_background folder. Training reads "
                       "DIR/images_background/<alphabet>/<character>/<image> (Omniglot) or "
                       "DIR/images_background/<class>/<image> (your own classes): if %s holds "
                       "your class folders directly, move them into %s/images_background/",
                       c->dataset, c->dataset, c->dataset);
    }
    DatasetLayout want = c->own_data ? LAYOUT_CLASSES : LAYOUT_AUTO;
    say(r, "scanning %s (every image is decoded once, so broken files show now)", root);
    if (dataset_scan_progress(&r->ds, root, want, DATASET_TRAINING, 2,
                              dist_threads(r->dist, c->threads), decode_progress, r, r->e))
        return -1;
    const Dataset *d = &r->ds;
    if (d->layout == LAYOUT_OMNIGLOT)
        say(r, "dataset %s: Omniglot layout (alphabet/character/image): %d alphabet%s, %d "
               "characters, %d images",
            root, d->n_groups, d->n_groups == 1 ? "" : "s", d->n_classes, d->n_images);
    else
        say(r, "dataset %s: own-classes layout (class/image)%s: %d classes, %d images", root,
            c->own_data ? ", as --own-data asks" : "", d->n_classes, d->n_images);
    if (d->notes[0]) say_lines(r, d->notes);
    if (dataset_split(d, c->val_ratio, &r->train_idx, &r->n_train, &r->val_idx, &r->n_val, r->e))
        return -1;
    if (sampler_init(&r->train_s, d, r->train_idx, r->n_train, c->same_alphabet, r->e))
        return err_prefix(r->e, "the training split");
    if (sampler_init(&r->val_s, d, r->val_idx, r->n_val, c->same_alphabet, r->e))
        return err_prefix(r->e, "the validation split (--val-ratio %g gives %d image%s)",
                          c->val_ratio, r->n_val, r->n_val == 1 ? "" : "s");
    say(r, "split: %d training and %d validation images (fixed shuffle); classes that can give "
           "positive pairs: %d in training, %d in validation",
        r->n_train, r->n_val, r->train_s.n_pos, r->val_s.n_pos);
    if (c->same_alphabet > 0 && d->layout != LAYOUT_OMNIGLOT)
        say(r, "note: --same-alphabet-negatives has no effect on the own-classes layout (one "
               "group holds every class)");
    return 0;
}

static int open_dataset(Run *r) {
    char *root = str_printf("%s/images_background", r->c->dataset);
    if (!root) return err_set(r->e, "out of memory");
    int rc = scan_dataset(r, root);
    free(root);
    return rc;
}

// After --model-path: where the file's model differs from this run's
// (the shipped compact, inverted model under the default vgg16 loads one
// layer of 17; or it loads and then sees other inputs), the options that
// build the file's model.
static void note_model_path_options(Run *r, const ModelSpec *want, const WeightsReport *rep) {
    WeightsInfo info;
    Err ie;
    if (weights_inspect(r->c->model_path, &info, &ie)) return;
    ModelSpec *f = &info.spec;
    char opts[256] = "", desc[96];
    size_t n = 0;
    // A file without Dense layers does not say the hidden width: any fits.
    if (!info.hidden_known) f->hidden = want->hidden;
    // The widths matter when a layer of the file did not fit: one that
    // loaded whole has this run's shapes (and a partial file does not say
    // the missing layers' shapes).
    if (rep->n_misfit &&
        (memcmp(f->widths, want->widths, sizeof f->widths) || f->hidden != want->hidden)) {
        model_spec_describe(f, desc, sizeof desc);
        if (!strcmp(desc, "vgg16") || !strcmp(desc, "compact"))
            n += snprintf(opts + n, sizeof opts - n, " --backbone %s", desc);
        else
            n += snprintf(opts + n, sizeof opts - n, " --widths %d,%d,%d,%d,%d --hidden %d",
                          f->widths[0], f->widths[1], f->widths[2], f->widths[3], f->widths[4],
                          f->hidden);
    }
    if (info.input_size_known && f->input_size != want->input_size && n < sizeof opts)
        n += snprintf(opts + n, sizeof opts - n, " --input-shape %d", f->input_size);
    if (f->pre.invert != want->pre.invert && n < sizeof opts)
        n += snprintf(opts + n, sizeof opts - n, f->pre.invert ? " --invert" : " without --invert");
    if (f->pre.letterbox != want->pre.letterbox && n < sizeof opts)
        n += snprintf(opts + n, sizeof opts - n,
                      f->pre.letterbox ? " --letterbox" : " without --letterbox");
    if (n)
        say(r, "note: --model-path %s was trained otherwise; to start from all of it, give%s",
            r->c->model_path, opts);
}

static int build_model(Run *r) {
    const TrainConfig *c = r->c;
    ModelSpec want;
    spec_of(c, &want);
    if (c->resume) {
        if (weights_open_model(&r->m, c->resume, r->be, NULL, r->e)) return -1;
        const ModelSpec *s = &r->m->spec;
        if (s->input_size != want.input_size || memcmp(s->widths, want.widths, sizeof s->widths) ||
            s->hidden != want.hidden || s->pre.invert != want.pre.invert ||
            s->pre.letterbox != want.pre.letterbox)
            return err_set(r->e,
                           "--resume %s: the model options (--backbone, --input-shape, --invert, "
                           "--letterbox) differ from the checkpoint's model; a resumed run keeps "
                           "its model",
                           c->resume);
    } else {
        if (model_create(&r->m, &want, r->be, r->e) || model_init_random(r->m, c->seed, r->e))
            return -1;
        if (c->model_path) {
            WeightsReport rep;
            if (weights_load(r->m, c->model_path, 0, &rep, r->e))
                return err_prefix(r->e, "--model-path");
            char *names = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&names, &len);
            if (!f) return err_set(r->e, "out of memory");
            for (int i = 0; i < rep.n_loaded; i++) fprintf(f, "%s%s", i ? " " : "", rep.loaded[i]);
            fclose(f);
            say(r, "--model-path %s: %d layer%s loaded: %s", c->model_path, rep.n_loaded,
                rep.n_loaded == 1 ? "" : "s", rep.n_loaded ? names : "(none)");
            free(names);
            for (int i = 0; i < rep.n_skipped; i++) say(r, "  not loaded: %s", rep.skipped[i]);
            note_model_path_options(r, &want, &rep);
        }
    }
    if (model_enable_training(r->m, r->e)) return -1;
    return optim_create(&r->opt, r->kind, c->momentum, c->weight_decay, r->m, r->e);
}

// Whether a setting of this run is the checkpoint's (old, n bytes). The
// dataset's paths compare as absolute paths: the same folder named
// from elsewhere is the same run (and a checkpoint written before paths
// were recorded absolute holds it as given, from the folder the run
// started in).
static int same_setting(const char *key, const char *value, const char *old, size_t n) {
    if (strlen(value) == n && !strncmp(old, value, n)) return 1;
    if (strcmp(key, "dataset")) return 0;
    char *old_path = strndup(old, n);
    char *a = old_path ? absolute_path(old_path) : NULL, *b = absolute_path(value);
    int same = a && b && !strcmp(a, b);
    free(old_path);
    free(a);
    free(b);
    return same;
}

// Warns about options given with --resume that differ from the checkpoint's.
static void compare_resume_config(Run *r, const char *saved) {
    char *now = config_text(r->c, 0), *save_ptr = NULL;
    if (!now) return;
    for (char *line = strtok_r(now, "\n", &save_ptr); line; line = strtok_r(NULL, "\n", &save_ptr)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = '\0';
        const char *value = eq + 1;
        size_t n;
        const char *old = text_value(saved, line, &n);
        if (!old || same_setting(line, value, old, n)) continue;
        say(r, "note: %s is %s here but %.*s in the checkpoint: the run continues with %s, so it "
               "will not repeat an uninterrupted run exactly",
            line, value, (int)n, old, value);
    }
    free(now);
}

static int restore(Run *r) {
    const TrainConfig *c = r->c;
    WeightsState *st = &r->resume_state;
    if (read_state(c->resume, st, r->e)) return -1;
    StateReader rd = {st->text, c->resume, r->e, 0, NULL};
    Progress *p = &r->p;
    p->epoch = (int)get_num(&rd, "epoch");
    p->batch = (long)get_num(&rd, "batch");
    p->loss_sum = get_num(&rd, "loss_sum");
    p->acc_sum = get_num(&rd, "acc_sum");
    p->step = (long)get_num(&rd, "step");
    p->best_val = get_num(&rd, "best_val");
    p->bad_epochs = (int)get_num(&rd, "bad_epochs");
    p->log_first_epoch = (int)get_num(&rd, "log_first_epoch");
    if (rd.failed) return -1;
    size_t n;
    const char *log_dir = text_value(st->text, "log_dir", &n);
    if (log_dir && n && !(p->log_dir = strndup(log_dir, n))) return err_set(r->e, "out of memory");
    if (p->batch < 0 || p->batch > r->steps)
        return err_set(r->e, "--resume %s: it stopped at step %ld of an epoch, but an epoch has %ld",
                       c->resume, p->batch, r->steps);
    const char *saved_opt = text_value(st->text, "optimizer", &n);
    if (!saved_opt) n = 0;
    // Another optimizer's slots mean something else: that one starts fresh.
    int slots = strlen(c->optimizer) == n && !strncmp(saved_opt, c->optimizer, n)
                    ? optim_slots(&r->opt)
                    : 0;
    if (!slots)
        say(r, "note: the checkpoint's %.*s state does not carry over to %s", (int)n,
            saved_opt ? saved_opt : "", c->optimizer);
    for (int k = 0; k < slots; k++) {
        if (!st->slot[k] || st->n != r->m->n_params)
            return err_set(r->e, "--resume %s: its optimizer state does not fit (%s, %zu values)",
                           c->resume, c->optimizer, r->m->n_params);
        r->be->ops->upload(r->be, r->opt.slot[k], st->slot[k], st->n * sizeof(float));
    }
    if (backend_check(r->be, r->e)) return err_prefix(r->e, "--resume %s", c->resume);
    r->opt.t = slots ? p->step : 0;
    compare_resume_config(r, st->text);
    say(r, "resuming %s at epoch %d, step %ld of %ld (optimizer step %ld)", c->resume,
        p->epoch + 1, p->batch, r->steps, p->step);
    return 0;
}

// Reads the first n values of the loss file dir/name into v. (The file is
// written when the first epoch ends: a run stopped before has none, and
// its log, empty, is whole.)
static int read_history(const char *dir, const char *name, double *v, int n) {
    if (n == 0) return 0;
    char *path = str_printf("%s/%s", dir, name);
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    if (!f) return -1;
    int got = 0;
    while (got < n && fscanf(f, "%lf", &v[got]) == 1) got++;
    fclose(f);
    return got == n ? 0 : -1;
}

static int open_log(Run *r) {
    const TrainConfig *c = r->c;
    Progress *p = &r->p;
    if (r->dist->rank > 0) return 0;  // rank 0 writes the files
    int n_done = p->epoch - p->log_first_epoch;
    struct stat st;
    if (p->log_dir && stat(p->log_dir, &st) == 0 && n_done >= 0) {
        if (!read_history(p->log_dir, "epoch_loss.txt", r->hist_loss, n_done) &&
            !read_history(p->log_dir, "epoch_val_loss.txt", r->hist_val, n_done)) {
            r->n_hist = n_done;
            return 0;
        }
        say(r, "note: the loss log %s is incomplete; starting a new one", p->log_dir);
    }
    char stamp[64];
    time_t now = time(NULL);
    struct tm local;  // localtime_r: the loop may run beside the front's thread
    strftime(stamp, sizeof stamp, "%Y_%m_%d_%H_%M_%S", localtime_r(&now, &local));
    if (mkdir_p(c->save_dir, r->e)) return -1;
    // Two runs started in the same second get distinct folders.
    for (int k = 1;; k++) {
        free(p->log_dir);
        p->log_dir = k == 1 ? str_printf("%s/loss_%s", c->save_dir, stamp)
                            : str_printf("%s/loss_%s_%d", c->save_dir, stamp, k);
        if (!p->log_dir) return err_set(r->e, "out of memory");
        if (mkdir(p->log_dir, 0777) == 0) break;
        if (errno != EEXIST || k > 100)
            return err_set(r->e, "%s: cannot create the folder: %s", p->log_dir, strerror(errno));
    }
    p->log_first_epoch = p->epoch;
    r->n_hist = 0;
    return 0;
}

// Rewrites a file of numbers, one a line, atomically (atomicfile.h).
static int write_values(const char *path, const double *v, int n, Err *e) {
    char *text = malloc((size_t)n * 32 + 1);  // "%.17g\n" is at most 25 bytes
    if (!text) return err_set(e, "out of memory writing %s", path);
    size_t len = 0;
    for (int i = 0; i < n; i++) len += (size_t)snprintf(text + len, 32, "%.17g\n", v[i]);
    int rc = atomicfile_write(path, text, len, e);
    free(text);
    return rc;
}

static int write_log(Run *r) {
    if (r->dist->rank > 0) return 0;  // rank 0 writes the files
    const char *dir = r->p.log_dir;
    char *loss = str_printf("%s/epoch_loss.txt", dir);
    char *val = str_printf("%s/epoch_val_loss.txt", dir);
    char *png = str_printf("%s/epoch_loss.png", dir);
    PlotSeries s[2] = {{r->hist_loss, r->n_hist, "train loss", {220, 30, 30}},
                       {r->hist_val, r->n_hist, "val loss", {255, 127, 80}}};
    int rc = !loss || !val || !png ? err_set(r->e, "out of memory")
             : write_values(loss, r->hist_loss, r->n_hist, r->e) ||
                     write_values(val, r->hist_val, r->n_hist, r->e)
                 ? -1
                 : plot_write_png(png, 800, 500, "Loss", "Epoch", "Loss", r->p.log_first_epoch + 1,
                                  s, 2, r->e);
    free(loss);
    free(val);
    free(png);
    return rc;
}

// What a checkpoint holds beside the weights: the state's text and the
// optimizer's slots, read back from the device (for path's messages).
static int training_state(Run *r, WeightsState *st, const char *path) {
    if (!(st->text = state_text(r->c, &r->p)))
        return err_set(r->e, "out of memory saving %s", path);
    st->n = r->m->n_params;
    for (int k = 0; k < optim_slots(&r->opt); k++) {
        if (!(st->slot[k] = malloc(st->n * sizeof(float))))
            return err_set(r->e, "out of memory saving %s", path);
        r->be->ops->download(r->be, st->slot[k], r->opt.slot[k], st->n * sizeof(float));
    }
    if (backend_check(r->be, r->e))
        return err_prefix(r->e, "%s: the optimizer state could not be read from the device", path);
    return 0;
}

// Saves the weights (with the training state when with_state) to save_dir/name.
static int checkpoint(Run *r, const char *name, int with_state) {
    if (r->dist->rank > 0) return 0;
    char *path = str_printf("%s/%s", r->c->save_dir, name);
    if (!path) return err_set(r->e, "out of memory");
    WeightsState st = {0};
    int rc = with_state ? training_state(r, &st, path) : 0;
    if (!rc) rc = weights_save(r->m, path, with_state ? &st : NULL, r->e);
    weights_state_free(&st);
    if (!rc) {
        TrainEvent ev = {.kind = TRAIN_EV_CHECKPOINT, .epoch = r->p.epoch + 1, .message = path};
        emit(r, &ev);
    }
    free(path);
    return rc;
}

// Data-parallel training: fails on every rank unless every rank has the
// same weights and optimizer state (what names the moment, for the message).
static int ranks_agree(Run *r, const char *what) {
    if (r->dist->size == 1) return 0;
    const size_t n = r->m->n_params;
    float *host = malloc(n * sizeof(float));
    if (!host) return err_set(r->e, "out of memory");
    uint64_t h = DIST_HASH_START;
    r->be->ops->download(r->be, host, r->m->params, n * sizeof(float));
    h = dist_hash(h, host, n * sizeof(float));
    for (int k = 0; k < optim_slots(&r->opt); k++) {
        r->be->ops->download(r->be, host, r->opt.slot[k], n * sizeof(float));
        h = dist_hash(h, host, n * sizeof(float));
    }
    free(host);
    return dist_check_same(r->dist, what, h, r->e);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double batch_accuracy(const float *prob, const float *labels, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) ok += (prob[i] > 0.5f) == (labels[i] > 0.5f);
    return (double)ok / n;
}

// Waits while paused; returns 1 when the front asked for a stop. (The
// ranks of a data-parallel run do not pause: the others would wait for
// this one until they time out. Their front is plain lines anyway.)
static int user_stop(Run *r) {
    if (!r->ctl) return 0;
    while (r->ctl->pause && !r->ctl->stop && r->dist->size == 1) usleep(50 * 1000);
    return r->ctl->stop != 0;
}

// Before a training step: the front's stop, or --stop-after-steps /
// --time-limit reached (those let a started validation pass finish).
static int should_stop(Run *r) {
    const TrainConfig *c = r->c;
    if (c->stop_after_steps > 0 && r->run_steps >= c->stop_after_steps) return 1;
    if (c->time_limit > 0 && now_s() - r->t_start >= c->time_limit) return 1;
    return user_stop(r);
}

// The end of the loop for the front: ev as a STOP event with the message.
static int stop_event(Run *r, TrainEvent *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int stop_event(Run *r, TrainEvent *ev, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = str_vprintf(fmt, ap);
    va_end(ap);
    if (!msg) return err_set(r->e, "out of memory");
    ev->kind = TRAIN_EV_STOP;
    ev->message = msg;
    emit(r, ev);
    free(msg);
    return 0;
}

// Stops mid-epoch: a checkpoint with the state, so --resume continues here.
// Before this run's first step there is nothing to save, and the files are
// left as they are: a new run's starting state (random weights) would
// replace the checkpoint an earlier run left in the same folder, the one a
// user who started the wrong command and pressed Ctrl-C at once still
// wants; its loss folder, still empty, goes too.
static int stop_now(Run *r) {
    if (r->run_steps == 0) {
        if (!r->c->resume && r->dist->rank == 0) rmdir(r->p.log_dir);
        return r->c->resume
                   ? stop_event(r, &(TrainEvent){.epoch = r->p.epoch + 1},
                                "stopped before the first step; nothing written; continue "
                                "with --resume %s",
                                r->c->resume)
                   : stop_event(r, &(TrainEvent){.epoch = r->p.epoch + 1},
                                "stopped before the first step; nothing written");
    }
    if (checkpoint(r, "last_epoch_weights.h5", 1)) return -1;
    return stop_event(
        r, &(TrainEvent){.epoch = r->p.epoch + 1},
        "stopped at epoch %d, step %ld of %ld; continue with --resume %s/last_epoch_weights.h5",
        r->p.epoch + 1, r->p.batch, r->steps, r->c->save_dir);
}

// Queues the forward pass of the loader's batch lb into the readback slot
// the unread step does not hold; returns the slot, -1 when the backend
// failed (r->e says why).
static int pipe_forward(Run *r, const LoaderBatch *lb) {
    Pipeline *pp = &r->pipe;
    const int slot = pp->unread ? !pp->slot : pp->slot;
    if (siamese_forward_queued(r->m, lb->pixels, lb->labels, lb->n_pairs, slot, r->e)) return -1;
    memcpy(pp->labels[slot], lb->labels, lb->n_pairs * sizeof(float));
    return slot;
}

// Reads the unread step's loss and accuracy into *loss, *acc (waiting for
// the device to get there): 1, or 0 when no step is unread, -1 when the
// backend failed (the step stays unread).
static int pipe_read(Run *r, double *loss, double *acc) {
    Pipeline *pp = &r->pipe;
    if (!pp->unread) return 0;
    float l;
    if (siamese_readback(r->m, pp->slot, pp->n, &l, pp->prob, r->e)) return -1;
    *loss = l;
    *acc = batch_accuracy(pp->prob, pp->labels[pp->slot], pp->n);
    pp->unread = 0;
    return 1;
}

// Makes the step queued in slot (pipe_forward) of n pairs the unread one.
static void pipe_unread(Run *r, int slot, int n) {
    r->pipe.unread = 1;
    r->pipe.slot = slot;
    r->pipe.n = n;
}

// The unread training step, if any, into the epoch's sums: 1 when one was
// read, 0 when none was unread, -1 when the backend failed.
static int take_step(Run *r) {
    double l, a;
    int rc = pipe_read(r, &l, &a);
    if (rc > 0) {
        r->p.loss_sum += l;
        r->p.acc_sum += a;
    }
    return rc;
}

// The step's exchange between the ranks, in the pipeline: this rank reads
// its unread step (unless its own next one failed already), and dist_vote
// adds every rank's loss and hits (into v, to divide by the step's pairs)
// and agrees on stops and failures. Returns 1 when a step was read (then
// on every rank), 0 when none was unread, -1 when any rank failed.
static int step_exchange(Run *r, DistVote *v) {
    double l = 0, a = 0;
    const int n = r->pipe.n;
    int read = 0;
    if (!v->failed && (read = pipe_read(r, &l, &a)) < 0) v->failed = r->device_failed = 1;
    if (read > 0) {
        // Exact in double (a float's value times a small count, and a count
        // of hits), so that one process gets back l and a from v / n.
        v->loss = l * n;
        v->correct = (double)lround(a * n);
    }
    const double t = now_s();
    const int rc = dist_vote(r->dist, v, r->e);
    r->t_vote += now_s() - t;
    return rc < 0 ? -1 : read;
}

// A training or validation step failed on the device (siamese_forward's
// allocations, or any backend operation): its memory ran out, most likely.
// A failed step changes neither the parameters nor the optimizer state (the
// update is a step's last operation, and no operation runs after a
// failure), so after an out-of-memory failure they are those of the last
// completed step and are saved to resume from, with a smaller batch, with
// that step's loss, still unread in the pipeline (the caller has dropped
// the failed step's own). Returns -1 with the message in r->e.
static int step_failed(Run *r) {
    const TrainConfig *c = r->c;
    Err why = *r->e;
    // (With several ranks the unread step's loss is not taken: this rank's
    // own part is not the step's; the resumed epoch's mean loss misses it.)
    if (backend_recover(r->be) || (r->dist->size == 1 && take_step(r) < 0))
        return err_set(r->e,
                       "%s; the device cannot continue, so nothing since the last checkpoint "
                       "could be saved (--resume %s/last_epoch_weights.h5 continues from it)",
                       why.msg, c->save_dir);
    if (checkpoint(r, "last_epoch_weights.h5", 1))
        return err_prefix(r->e, "%s; and saving the run failed too", why.msg);
    char advice[128];
    if (c->batch_size > 1)
        snprintf(advice, sizeof advice, "lower --batch-size (%d now; try %d)", c->batch_size,
                 c->batch_size / 2);
    else
        snprintf(advice, sizeof advice,
                 "one sample a step is too many already: a smaller --input-shape or backbone");
    return err_set(r->e,
                   "%s; the run is saved at epoch %d, step %ld of %ld: %s and continue with "
                   "--resume %s/last_epoch_weights.h5",
                   why.msg, r->p.epoch + 1, r->p.batch, r->steps, advice, c->save_dir);
}

// After a step that failed on some rank (dist_vote): a failure of the
// device of the process that saves (rank 0, or the only one) saves the
// run (step_failed); any other has been told as it is (a file, another rank).
static int step_end_failed(Run *r) {
    return r->device_failed && r->dist->rank == 0 ? step_failed(r) : -1;
}

// The validation pass: mean loss and accuracy over the validation batches.
// They are batches 0..val_steps-1 of "epoch 0" of the validation stream
// every time, so every epoch is measured on the same pairs and the best
// checkpoint is chosen on a fair comparison (the original draws new random
// validation pairs each epoch). Pipelined as the training steps: batch b is
// read after b+1 is queued. A pass before the loop tells the front its
// progress (stage: what it is; NULL in the epochs, whose pass is short
// beside their steps). Returns 1 when stopped by the user, -1 on error.
static int validate_pairs(Run *r, double *loss, double *acc, const char *stage) {
    loader_start(r->val_l, 0, r->val_steps, r->val_steps);
    double ls = 0, as = 0;
    for (long b = 0; b <= r->val_steps; b++) {
        const LoaderBatch *lb = NULL;
        int slot = -1;
        if (stage)
            emit(r, &(TrainEvent){.kind = TRAIN_EV_PREPARE, .message = stage, .batch = b,
                                  .batches = r->val_steps});
        DistVote v = {.stop = b < r->val_steps && user_stop(r)};
        if (b < r->val_steps && !v.stop) {
            if (loader_next(r->val_l, &lb, r->e)) v.failed = 1;
            else if ((slot = pipe_forward(r, lb)) < 0) v.failed = r->device_failed = 1;
        }
        const int read = step_exchange(r, &v);
        if (read < 0 || v.stop) {
            r->pipe.unread = 0;  // validation's numbers are not the run's state
            return read < 0 ? step_end_failed(r) : 1;
        }
        if (read) ls += v.loss / r->pairs, as += v.correct / r->pairs;
        if (lb) pipe_unread(r, slot, lb->n_pairs);
    }
    *loss = ls / r->val_steps;
    *acc = as / r->val_steps;
    return 0;
}

// Validation in the training precision, but tf32 (what predict uses by
// default) for a bf16 run: it measures the weights as predict will use
// them, and its losses compare with those of a tf32 run.
static int validate(Run *r, double *loss, double *acc, const char *stage) {
    if (r->precision != BACKEND_BF16) return validate_pairs(r, loss, acc, stage);
    if (backend_set_precision(r->be, BACKEND_TF32, r->e)) return -1;
    int rc = validate_pairs(r, loss, acc, stage);
    if (backend_set_precision(r->be, r->precision, r->e)) return -1;
    return rc;
}

// The end of an epoch: log, checkpoints, early stopping. Returns 1 when
// early stopping ends the run.
static int end_epoch(Run *r, double loss, double acc, double val_loss, double val_acc, double lr,
                     double pairs_per_sec, double seconds) {
    const TrainConfig *c = r->c;
    Progress *p = &r->p;
    const int done = p->epoch + 1;  // epochs completed, 1-based number of this one
    TrainEvent ev = {.kind = TRAIN_EV_EPOCH_END, .epoch = done, .batch = r->steps,
                     .batches = r->steps, .loss = loss, .acc = acc, .val_loss = val_loss,
                     .val_acc = val_acc, .lr = lr, .seconds = seconds,
                     .pairs_per_sec = pairs_per_sec};
    emit(r, &ev);
    r->hist_loss[r->n_hist] = loss;
    r->hist_val[r->n_hist] = val_loss;
    r->n_hist++;
    if (write_log(r)) return -1;
    int improved = val_loss < p->best_val;
    if (improved) {
        p->best_val = val_loss;
        p->bad_epochs = 0;
    } else {
        p->bad_epochs++;
    }
    // The state written now is that of the next epoch's start.
    p->epoch++;
    p->batch = 0;
    p->loss_sum = p->acc_sum = 0;
    if (done % c->save_period == 0 || done == c->epochs) {
        char *name = str_printf("ep%03d-loss%.3f-val_loss%.3f.h5", done, loss, val_loss);
        int rc = name ? checkpoint(r, name, 1) : err_set(r->e, "out of memory");
        free(name);
        if (rc) return -1;
    }
    if (improved && checkpoint(r, "best_epoch_weights.h5", 0)) return -1;
    if (checkpoint(r, "last_epoch_weights.h5", 1)) return -1;
    if (c->patience > 0 && p->bad_epochs >= c->patience && done < c->epochs)
        return stop_event(r, &(TrainEvent){.epoch = done},
                          "early stopping: the validation loss has not improved for %d epoch%s "
                          "(best %.4f)",
                          p->bad_epochs, p->bad_epochs == 1 ? "" : "s", p->best_val)
                   ? -1
                   : 1;
    return 0;
}

// One epoch from step p.batch. Returns 0 done, 1 stopped (by the user or
// early stopping), -1 error.
static int run_epoch(Run *r) {
    Progress *p = &r->p;
    const double lr = r->lr_curve[p->epoch];
    const int P = r->pairs;
    const double t0 = now_s();
    double last_event = 0;
    const long first = p->batch;
    int rc = 0;
    // One pass more than there are steps: the last one queues nothing and
    // reads the last step. In pass k (p->batch = k) step k's forward pass is
    // queued, then step k-1 is read (its forward pass is long done: the
    // device waits for nothing) and its numbers go to the ranks' exchange,
    // which also agrees on a stop or a failure, then step k's backward pass,
    // gradient sum and update are queued; so p->batch steps of the epoch are
    // in its sums, and a failure leaves step k's update undone.
    for (;; p->batch++) {
        const int queue = p->batch < r->steps;
        const double t_step = now_s();
        DistVote v = {.stop = queue && should_stop(r)};
        const LoaderBatch *lb = NULL;
        int slot = -1;
        if (queue && !v.stop) {
            if (loader_next(r->train_l, &lb, r->e)) v.failed = 1;
            else if ((slot = pipe_forward(r, lb)) < 0) v.failed = r->device_failed = 1;
        }
        // The step before into the sums; every rank stops, fails or steps.
        const int read = step_exchange(r, &v);
        if (read < 0) {
            rc = step_end_failed(r);
            break;
        }
        if (read) p->loss_sum += v.loss / P, p->acc_sum += v.correct / P;
        if (v.stop) {
            rc = stop_now(r) ? -1 : 1;
            break;
        }
        if (queue) {
            pipe_unread(r, slot, lb->n_pairs);
            // (The gradients of the last layers are summed while the backward
            // pass computes the first ones', where the device can: dist.h.)
            dist_sum_start(r->dist, r->m->grads, r->m->n_params);
            siamese_backward_part(r->m, lb->n_pairs, P, 0, dist_grads_ready, r->dist);
            const double t_sum = now_s();
            if (dist_sum_gradients(r->dist, r->m->grads, r->m->n_params, r->e)) {
                rc = -1;
                break;
            }
            const double t_opt = now_s();
            optim_step(&r->opt, r->m, lr);
            if (backend_check(r->be, r->e)) {
                r->pipe.unread = 0;  // not kept
                // (The other ranks took this step: this one alone cannot save it.)
                rc = r->dist->size == 1 ? step_failed(r) : dist_fail_alone(r->dist, r->e);
                break;
            }
            r->t_sum += t_opt - t_sum;
            r->t_steps += now_s() - t_step;
            p->step = r->opt.t;
            r->run_steps++;
        }
        const long done = p->batch;
        const double t = now_s() - t0;
        if (read && (t - last_event >= 0.25 || done == r->steps)) {
            last_event = t;
            double per_step = t / (done - first);
            TrainEvent ev = {.kind = TRAIN_EV_BATCH, .epoch = p->epoch + 1, .batch = done,
                             .batches = r->steps, .loss = p->loss_sum / done,
                             .acc = p->acc_sum / done, .lr = lr,
                             .pairs_per_sec = (done - first) * (double)P / t, .seconds = t,
                             .eta_seconds = per_step * (r->steps - done)};
            emit(r, &ev);
        }
        if (!queue) break;
    }
    if (rc) return rc;
    if (ranks_agree(r, "the weights after this epoch (their gradient sums differed)")) return -1;
    const double train_seconds = now_s() - t0;
    const double pairs_per_sec =
        train_seconds > 0 ? (double)(r->steps - first) * P / train_seconds : 0;
    double val_loss = 0, val_acc = 0;
    int v = validate(r, &val_loss, &val_acc, NULL);
    if (v < 0) return -1;
    if (v > 0) return stop_now(r) ? -1 : 1;
    // (Rank 0 writes the files: the others must not go on if it failed.)
    return dist_agree(r->dist,
                      end_epoch(r, p->loss_sum / r->steps, p->acc_sum / r->steps, val_loss, val_acc,
                                lr, pairs_per_sec, now_s() - t0),
                      r->e);
}

// Before the first step of a run from --model-path weights: their
// validation loss, on the pairs every epoch is measured on, so the epochs
// of a fine-tuning run compare with where it started. (Random weights score
// about ln 2, and a resumed run has its epochs' history: neither is
// measured.) Returns 0, 1 when stopped by the user, -1 on error.
static int validate_start(Run *r) {
    const TrainConfig *c = r->c;
    if (!c->model_path || c->resume) return 0;
    double loss = 0, acc = 0;
    const int rc = validate(r, &loss, &acc, "validation batches of the --model-path weights");
    if (rc) return rc;
    say(r, "--model-path %s before training: validation loss %.4f, accuracy %.1f%%",
        c->model_path, loss, 100 * acc);
    return 0;
}

static void config_rows(Run *r) {
    const TrainConfig *c = r->c;
    char spec[96];
    model_spec_describe(&r->m->spec, spec, sizeof spec);
    row(r, "dataset", "%s", c->dataset);
    row(r, "own_data", "%s", c->own_data ? "yes" : "auto-detected");
    row(r, "backbone", "%s", spec);
    row(r, "input_shape", "%d x %d", c->input_size, c->input_size);
    row(r, "invert", "%s", c->invert ? "yes (strokes become 1)" : "no");
    row(r, "model_path", "%s", c->model_path ? c->model_path : "");
    row(r, "resume", "%s", c->resume ? c->resume : "");
    row(r, "init_epoch", "%d", c->init_epoch);
    row(r, "epochs", "%d", c->epochs);
    row(r, "batch_size", "%d (%d pairs a step)", c->batch_size, TRAIN_PAIRS_PER_SAMPLE * c->batch_size);
    row(r, "optimizer", "%s", c->optimizer);
    row(r, "lr", "%g (fitted to the batch: %g)", c->lr, r->lr_fit);
    row(r, "min_lr", "%g (fitted: %g)", c->min_lr > 0 ? c->min_lr : c->lr * 0.01, r->min_lr_fit);
    row(r, "momentum", "%g", c->momentum);
    row(r, "weight_decay", "%g", c->weight_decay);
    row(r, "lr_decay", "%s", c->lr_decay);
    row(r, "augment", "%s", c->augment);
    row(r, "same_alphabet_negatives", "%g", c->same_alphabet);
    row(r, "val_ratio", "%g", c->val_ratio);
    row(r, "seed", "%llu", (unsigned long long)c->seed);
    row(r, "save_period", "%d", c->save_period);
    row(r, "save_dir", "%s", c->save_dir);
    if (c->patience) row(r, "patience", "%d", c->patience);
    else row(r, "patience", "off");
    if (r->dist->size > 1) {
        int first, n;
        dist_share(r->dist, r->pairs, &first, &n);
        row(r, "ranks", "%d (data-parallel, %d%s pairs of a step each)", r->dist->size, n,
            r->pairs % r->dist->size ? " or fewer" : "");
    }
    // Under several ranks a row for each group of ranks on the same kind of
    // device ("device (ranks 0-3)": CPU ranks; a row a rank on GPUs).
    for (int i = 0; i < r->n_devices; i++) {
        char key[64] = "device", ranks[32];
        dist_group_ranks(&r->devices[i], ranks, sizeof ranks);
        if (r->dist->size > 1) snprintf(key, sizeof key, "device (%s)", ranks);
        row(r, key, "%s", r->devices[i].report);
    }
    row(r, "precision", "%s%s%s%s", backend_precision_describe(r->precision),
        r->be->precision_note[0] ? " (" : "", r->be->precision_note,
        r->be->precision_note[0] ? ")" : "");
    row(r, "num_workers", "%d%s", r->workers, c->workers > 0 ? "" : " (automatic)");
    row(r, "num_train", "%d", r->n_train);
    row(r, "num_val", "%d", r->n_val);
    row(r, "steps_per_epoch", "%ld", r->steps);
    row(r, "val_steps", "%ld", r->val_steps);
}

// Loader threads: one per core (of this rank's share of the machine), up to 8.
static int auto_workers(const Dist *d) {
    long n = sysconf(_SC_NPROCESSORS_ONLN) / d->local_size;
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

static void run_free(Run *r) {
    loader_close(r->train_l);
    loader_close(r->val_l);
    if (r->m) {
        optim_free(&r->opt, r->m);
        model_free(r->m);
    }
    dist_detach(r->dist);
    if (r->be) backend_close(r->be);
    sampler_free(&r->train_s);
    sampler_free(&r->val_s);
    dataset_free(&r->ds);
    free(r->train_idx);
    free(r->val_idx);
    for (int i = 0; i < MODEL_READBACKS; i++) free(r->pipe.labels[i]);
    free(r->pipe.prob);
    free(r->lr_curve);
    free(r->hist_loss);
    free(r->hist_val);
    free(r->p.log_dir);
    for (int i = 0; i < r->n_rows; i++) {
        free(r->rows[i][0]);
        free(r->rows[i][1]);
    }
    free(r->rows);
    free(r->devices);
    weights_state_free(&r->resume_state);
}

// The setup's first part: this rank's device and the model. The ranks
// agree that it went well before they gather their devices for the table
// (a collective that a rank which failed would not reach).
static int open_device(Run *r) {
    const TrainConfig *c = r->c;
    char notice[600], device[64];
    dist_device(r->dist, c->device, device, sizeof device);
    if (backend_open(&r->be, device, dist_threads(r->dist, c->threads), notice, sizeof notice,
                     r->e))
        return -1;
    if (notice[0]) say(r, "%s", notice);
    if (backend_set_precision(r->be, (BackendPrecision)backend_precision_parse(c->precision),
                              r->e))
        return -1;
    r->precision = r->be->precision;
    r->kind = !strcmp(c->optimizer, "adam") ? OPTIM_ADAM : OPTIM_SGD;
    // The model, with its --model-path or --resume weights, before the
    // dataset scan, which decodes every image (minutes on a large folder):
    // a file that is not weights, or whose weights are not numbers (NaN,
    // integers), fails now.
    return build_model(r);
}

static int run_setup(Run *r) {
    const TrainConfig *c = r->c;
    if (open_dataset(r)) return -1;
    r->decay = !strcmp(c->lr_decay, "step") ? LR_STEP : LR_COS;
    r->steps = c->steps_per_epoch > 0 ? c->steps_per_epoch : r->n_train / c->batch_size;
    r->val_steps = c->val_steps > 0 ? c->val_steps : r->n_val / c->batch_size;
    if (r->steps == 0 || r->val_steps == 0)
        return err_set(r->e,
                       "the dataset is too small for --batch-size %d: %d training and %d "
                       "validation images give %ld training batch%s and %ld validation batch%s "
                       "an epoch; lower --batch-size or add images",
                       c->batch_size, r->n_train, r->n_val, r->steps, r->steps == 1 ? "" : "es",
                       r->val_steps, r->val_steps == 1 ? "" : "es");
    r->pairs = TRAIN_PAIRS_PER_SAMPLE * c->batch_size;
    if (r->pairs < r->dist->size)
        return err_set(r->e,
                       "--batch-size %d gives %d pairs a step, fewer than the %d ranks: each rank "
                       "needs a pair; raise --batch-size to %d or more",
                       c->batch_size, r->pairs, r->dist->size,
                       (r->dist->size + TRAIN_PAIRS_PER_SAMPLE - 1) / TRAIN_PAIRS_PER_SAMPLE);
    r->workers = c->workers > 0 ? c->workers : auto_workers(r->dist);
    optim_fit_lr(r->kind, c->batch_size, c->lr, c->min_lr > 0 ? c->min_lr : c->lr * 0.01,
                 &r->lr_fit, &r->min_lr_fit);
    r->lr_curve = malloc(c->epochs * sizeof(double));
    r->hist_loss = malloc(c->epochs * sizeof(double));
    r->hist_val = malloc(c->epochs * sizeof(double));
    const size_t P = TRAIN_PAIRS_PER_SAMPLE * (size_t)c->batch_size;
    int ok = (r->pipe.prob = malloc(P * sizeof(float))) != NULL;
    for (int i = 0; i < MODEL_READBACKS; i++)
        ok &= (r->pipe.labels[i] = malloc(P * sizeof(float))) != NULL;
    if (!r->lr_curve || !r->hist_loss || !r->hist_val || !ok)
        return err_set(r->e, "out of memory");
    for (int i = 0; i < c->epochs; i++)
        r->lr_curve[i] = optim_schedule(r->decay, r->lr_fit, r->min_lr_fit, c->epochs, i);
    config_rows(r);
    TrainEvent ev = {.kind = TRAIN_EV_CONFIG, .table = (const char *const(*)[2])r->rows,
                     .n_rows = r->n_rows};
    emit(r, &ev);
    const long total = r->steps * c->epochs, wanted = optim_wanted_steps(r->kind);
    if (total <= wanted)
        say(r, "warning: with %s the original recommends more than %ld steps in all; %ld step%s "
               "an epoch over %d epoch%s give%s %ld: consider --epochs %ld",
            c->optimizer, wanted, r->steps, r->steps == 1 ? "" : "s", c->epochs,
            c->epochs == 1 ? "" : "s", c->epochs == 1 ? "s" : "", total, wanted / r->steps + 1);
    r->p.epoch = c->init_epoch;
    r->p.best_val = INFINITY;
    if (c->resume && restore(r)) return -1;
    if (r->p.epoch >= c->epochs)
        return err_set(r->e, "--resume %s: the run already finished its %d epoch%s; raise --epochs",
                       c->resume, c->epochs, c->epochs == 1 ? "" : "s");
    if (!c->loader_benchmark && open_log(r)) return -1;
    // The loaders, of this rank's share of each batch.
    augment_preset(&r->aug, (AugmentKind)augment_kind_parse(c->augment));
    LoaderConfig lc = {.ds = &r->ds, .sampler = &r->train_s, .samples = c->batch_size,
                       .size = c->input_size, .pre = r->m->spec.pre, .aug = &r->aug,
                       .seed = c->seed, .stream = 0, .workers = r->workers,
                       .depth = LOADER_DEPTH(r->workers), .be = r->be};
    if (r->dist->size > 1) dist_share(r->dist, r->pairs, &lc.part_first, &lc.part_pairs);
    if (loader_open(&r->train_l, &lc, r->e)) return -1;
    lc.sampler = &r->val_s;
    lc.aug = NULL;
    lc.stream = 1;
    if (loader_open(&r->val_l, &lc, r->e)) return -1;
    return 0;
}

// --loader-benchmark: the loader alone, all workers, over n batches.
static int bench_loader(Run *r, long n) {
    const int P = TRAIN_PAIRS_PER_SAMPLE * r->c->batch_size;
    loader_start(r->train_l, 0, n, r->steps);
    const double t0 = now_s();
    for (long i = 0; i < n; i++) {
        const LoaderBatch *lb;
        if (loader_next(r->train_l, &lb, r->e)) return -1;
    }
    const double t = now_s() - t0;
    return stop_event(r, &(TrainEvent){.pairs_per_sec = n * (double)P / t},
                      "loader alone: %ld batch%s of %d pairs in %.2f s with %d worker%s: %.1f "
                      "pairs/s",
                      n, n == 1 ? "" : "es", P, t, r->workers, r->workers == 1 ? "" : "s",
                      n * (double)P / t);
}

// Data-parallel training: after each rank's setup, how the gradients are
// summed, and proof that every rank has the same data and starting point.
static int join_ranks(Run *r) {
    if (!r->dist->ops) return 0;  // one process, not started by mpirun
    char how[1600];
    if (dist_attach(r->dist, r->be, r->m->n_params, how, sizeof how, r->e)) return -1;
    say(r, "%s", how);
    uint64_t h = DIST_HASH_START;
    for (int i = 0; i < r->ds.n_images; i++)
        h = dist_hash(h, r->ds.images[i].path, strlen(r->ds.images[i].path) + 1);
    h = dist_hash(h, r->train_idx, r->n_train * sizeof(int));
    if (dist_check_same(r->dist, "the dataset (its images or their split)", h, r->e)) return -1;
    char *text = config_text(r->c, 0);
    if (!text) return err_set(r->e, "out of memory");
    char where[96];
    snprintf(where, sizeof where, "epoch=%d\nbatch=%ld\nstep=%ld\n", r->p.epoch, r->p.batch,
             r->p.step);
    h = dist_hash(dist_hash(DIST_HASH_START, text, strlen(text)), where, strlen(where));
    free(text);
    if (dist_check_same(r->dist, "the options or the point to resume from", h, r->e)) return -1;
    return ranks_agree(r, "the starting weights or optimizer state");
}

int train_run(const TrainConfig *c, TrainCallback cb, void *ctx, TrainControl *ctl, Err *e) {
    if (train_config_check(c, e)) return -1;
    Run r = {.c = c, .cb = cb, .ctx = ctx, .ctl = ctl, .e = e, .t_start = now_s()};
    r.dist = c->dist;
    if (!r.dist) dist_solo(r.dist = &r.solo);
    int rc = dist_agree(r.dist, open_device(&r), e);
    // Every rank's device in the table, on rank 0 (one process: its own).
    if (!rc) rc = dist_gather_groups(r.dist, r.be->desc, &r.devices, &r.n_devices, e);
    if (!rc) rc = dist_agree(r.dist, run_setup(&r), e);
    if (!rc) rc = join_ranks(&r);
    int start = 0;  // validate_start's: 1 stopped by the user, -1 failed
    if (!rc && c->loader_benchmark > 0) {
        rc = bench_loader(&r, c->loader_benchmark);
    } else if (!rc && (start = validate_start(&r)) != 0) {
        rc = start < 0 || stop_now(&r) ? -1 : 0;
    } else if (!rc) {
        TrainEvent ev = {.kind = TRAIN_EV_RUN_START, .epoch = r.p.epoch + 1, .batch = r.p.batch,
                         .batches = r.steps, .lr = r.lr_curve[r.p.epoch],
                         .lr_curve = r.lr_curve};
        emit(&r, &ev);
        // Training batches run on across epochs; the loader prefetches
        // through the validation passes.
        loader_start(r.train_l, (long)r.p.epoch * r.steps + r.p.batch, (long)c->epochs * r.steps,
                     r.steps);
        int state = 0;
        while (!state && r.p.epoch < c->epochs) state = run_epoch(&r);
        rc = state < 0 ? -1 : 0;
        // On the CPU the backward pass is done when the sums are waited for;
        // a GPU's is only queued then, so the wait holds it too (an H200's
        // one rank through NCCL: 64% of the step, mostly the backward pass).
        if (r.dist->ops && r.t_steps > 0)
            say(&r,
                "rank 0's %.1f s of training steps: %.1f s (%.1f%%) %s, %.1f s (%.1f%%) waiting "
                "for the other ranks",
                r.t_steps, r.t_sum, 100 * r.t_sum / r.t_steps,
                r.be->is_cpu ? "summing gradients"
                             : "waiting for the backward pass and the gradient sums",
                r.t_vote, 100 * r.t_vote / r.t_steps);
        if (state == 0)
            rc = stop_event(&r, &(TrainEvent){.epoch = c->epochs},
                            "finished %d epoch%s; best validation loss %.4f", c->epochs,
                            c->epochs == 1 ? "" : "s", r.p.best_val);
    }
    run_free(&r);
    return rc;
}
