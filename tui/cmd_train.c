// siamese train: the options of the Python train.py with the same
// defaults, the configuration table, then one plain line per epoch (and a
// step counter every few seconds). SIGINT / SIGTERM finish the step, write
// a checkpoint to resume from, and exit 130 / 143. Started by mpirun, one
// data-parallel training over its processes (engine/dist.h): rank 0 shows
// the progress, every rank shows its own errors.
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/dist.h"
#include "../engine/train.h"
#include "cli.h"
#include "commands.h"
#include "dashboard.h"
#include "term.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s train [options]\n"
            "Trains the Siamese network on DIR/images_background: the Omniglot layout\n"
            "<alphabet>/<character>/<image>, or <class>/<image> for your own classes.\n"
            "\n"
            "data\n"
            "  --dataset DIR            the dataset folder (default dataset)\n"
            "  --own-data               insist on the <class>/<image> layout (default: detect)\n"
            "  --val-ratio X            images held out for validation (default 0.1)\n"
            "  --same-alphabet-negatives X  fraction of negative pairs drawn from the same\n"
            "                           alphabet (harder negatives; default 0)\n"
            "  --augment KIND           standard (crop, flip, Koch's affine), koch (affine only)\n"
            "                           or none (default standard)\n"
            "  --seed N                 seed of the initial weights and the pairs (default 0)\n"
            "  --workers N              loader threads (default: one per core, up to 8;\n"
            "                           shared among the ranks under mpirun)\n"
            "model\n"
            "  --backbone vgg16|compact conv widths 64..512 or 16..128 (default vgg16)\n"
            "  --widths A,B,C,D,E       custom conv widths of the five blocks\n"
            "  --hidden N               units of the hidden Dense layer (default 512)\n"
            "  --input-shape N          input side in pixels, 32 to 1024 (default 105)\n"
            "  --invert                 feed 1 - x (dark strokes on white become 1)\n"
            "  --letterbox              fit and pad with grey instead of centre-cropping\n"
            "  --model-path FILE        start from these weights, by layer name\n"
            "  --resume FILE            continue a run from its checkpoint\n"
            "                           (logs/last_epoch_weights.h5), optimizer state included\n"
            "optimisation\n"
            "  --epochs N               (default 100)        --init-epoch N      (default 0)\n"
            "  --batch-size N           samples a step, 2 pairs each (default 32)\n"
            "  --optimizer sgd|adam     (default sgd)        --lr X              (default 1e-2)\n"
            "  --min-lr X               (default lr * 0.01)  --momentum X        (default 0.9)\n"
            "  --weight-decay X         (default 5e-4)       --lr-decay cos|step (default cos)\n"
            "  --steps-per-epoch N      (default: training images / batch size)\n"
            "  --val-steps N            (default: validation images / batch size)\n"
            "output\n"
            "  --save-dir DIR           (default logs)       --save-period N     (default 10)\n"
            "  --patience N             stop after N epochs without a better validation loss\n"
            "                           (default 0: off)\n"
            "  --time-limit MIN         stop cleanly after MIN minutes (a checkpoint to resume)\n"
            "  --stop-after-steps N     stop cleanly after N steps in this run\n"
            "engine\n"
            "  --device DEV             auto, cpu, cuda or cuda:N (default auto)\n"
            "  --precision P            fp32, tf32 (TF32 convolutions on a GPU, as PyTorch's\n"
            "                           default; the CPU computes fp32) or bf16 (bfloat16\n"
            "                           products, fp32 weights and optimizer; GPU only);\n"
            "                           default tf32\n"
            "  --amp bf16|off           the older spelling of --precision bf16|fp32\n"
            "  --threads N              CPU threads (default: all cores, shared among the\n"
            "                           ranks on a machine under mpirun)\n"
            "  --plain                  plain log lines even in a terminal\n"
            "  --loader-benchmark N     only time the data loader over N batches, then exit\n"
            "  -h, --help               this text\n"
            "Exit status: 0 done, 1 runtime failure, 2 usage error, 130/143 interrupted (a\n"
            "checkpoint to --resume from is written first).\n",
            cli_prog);
}

enum {
    O_DATASET = 256, O_OWN, O_VAL_RATIO, O_SAME, O_AUGMENT, O_SEED, O_WORKERS, O_BACKBONE,
    O_WIDTHS, O_HIDDEN, O_INPUT, O_INVERT, O_LETTERBOX, O_MODEL, O_RESUME, O_EPOCHS, O_INIT,
    O_BATCH, O_OPTIM, O_LR, O_MIN_LR, O_MOMENTUM, O_WD, O_DECAY, O_STEPS, O_VAL_STEPS, O_SAVE_DIR,
    O_PERIOD, O_PATIENCE, O_DEVICE, O_PRECISION, O_AMP, O_THREADS, O_PLAIN, O_STOP_STEPS, O_TIME_LIMIT, O_LOADER_BENCH,
};

static const struct option LONGS[] = {
    {"dataset", required_argument, 0, O_DATASET},
    {"own-data", no_argument, 0, O_OWN},
    {"val-ratio", required_argument, 0, O_VAL_RATIO},
    {"same-alphabet-negatives", required_argument, 0, O_SAME},
    {"augment", required_argument, 0, O_AUGMENT},
    {"seed", required_argument, 0, O_SEED},
    {"workers", required_argument, 0, O_WORKERS},
    {"backbone", required_argument, 0, O_BACKBONE},
    {"widths", required_argument, 0, O_WIDTHS},
    {"hidden", required_argument, 0, O_HIDDEN},
    {"input-shape", required_argument, 0, O_INPUT},
    {"invert", no_argument, 0, O_INVERT},
    {"letterbox", no_argument, 0, O_LETTERBOX},
    {"model-path", required_argument, 0, O_MODEL},
    {"resume", required_argument, 0, O_RESUME},
    {"epochs", required_argument, 0, O_EPOCHS},
    {"init-epoch", required_argument, 0, O_INIT},
    {"batch-size", required_argument, 0, O_BATCH},
    {"optimizer", required_argument, 0, O_OPTIM},
    {"lr", required_argument, 0, O_LR},
    {"min-lr", required_argument, 0, O_MIN_LR},
    {"momentum", required_argument, 0, O_MOMENTUM},
    {"weight-decay", required_argument, 0, O_WD},
    {"lr-decay", required_argument, 0, O_DECAY},
    {"steps-per-epoch", required_argument, 0, O_STEPS},
    {"val-steps", required_argument, 0, O_VAL_STEPS},
    {"save-dir", required_argument, 0, O_SAVE_DIR},
    {"save-period", required_argument, 0, O_PERIOD},
    {"patience", required_argument, 0, O_PATIENCE},
    {"device", required_argument, 0, O_DEVICE},
    {"precision", required_argument, 0, O_PRECISION},
    {"amp", required_argument, 0, O_AMP},
    {"threads", required_argument, 0, O_THREADS},
    {"plain", no_argument, 0, O_PLAIN},
    {"stop-after-steps", required_argument, 0, O_STOP_STEPS},
    {"time-limit", required_argument, 0, O_TIME_LIMIT},
    {"loader-benchmark", required_argument, 0, O_LOADER_BENCH},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static int parse_widths(const char *s, int w[5]) {
    char *end;
    const char *p = s;
    for (int i = 0; i < 5; i++) {
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 4096 || (i < 4 ? *end != ',' : *end != '\0')) {
            cli_usage_error("--widths: '%s' is not five channel counts like 16,32,64,128,128", s);
            return -1;
        }
        w[i] = (int)v;
        p = end + 1;
    }
    return 0;
}

// The value of --resume if given (before option parsing proper, so the
// checkpoint's settings become the defaults that other options override).
static const char *find_resume(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--resume") && i + 1 < argc) path = argv[++i];
        else if (!strncmp(argv[i], "--resume=", 9)) path = argv[i] + 9;
    }
    return path;
}

static int plain_flag;
static int precision_given;  // --precision or --amp on the command line, not from a checkpoint

// A failure of the --resume file or of the values read from it, which a rank
// may meet alone: each rank reads the file from its own file system. One
// process says it at once; under an MPI launcher it waits in resume_error
// until the ranks are connected (cmd_train), where dist_agree says it once
// when every rank met it alike (the same file missing everywhere), else by
// the ranks that did, naming them.
static Err resume_error;
static int resume_error_status;  // its exit status; EXIT_OK when none waits

// Says or keeps (above) a --resume failure; parse_args's return value.
static int resume_failed(int status, const char *prefix, const Err *e) {
    int exact;
    if (dist_launched_size(&exact) > 1) {
        err_set(&resume_error, "%s%s", prefix, e->msg);
        resume_error_status = status;
    } else {
        cli_error("%s%s", prefix, e->msg);
    }
    return status == EXIT_RUNTIME ? -2 : -1;
}

static int parse_args(int argc, char **argv, TrainConfig *c) {
    train_config_defaults(c);
    plain_flag = 0;
    precision_given = 0;
    const char *resume = find_resume(argc, argv);
    if (resume) {
        Err e;
        // (A file that cannot be read, or is no checkpoint: a runtime
        // failure, as a bad --model-path file is, not a usage error.)
        if (train_config_from_checkpoint(c, resume, &e)) return resume_failed(EXIT_RUNTIME, "--resume: ", &e);
    }
    long v;
    double d;
    int opt;
    optind = 1;
    opterr = 0;
#define INT_OPT(name, lo, hi, field)                                   \
    do {                                                               \
        if (cli_parse_int(name, optarg, lo, hi, &v)) return -1;        \
        field = v;                                                     \
    } while (0)
#define FLOAT_OPT(name, lo, hi, field)                                 \
    do {                                                               \
        if (cli_parse_float(name, optarg, lo, hi, &d)) return -1;      \
        field = d;                                                     \
    } while (0)
    while ((opt = getopt_long(argc, argv, ":h", LONGS, NULL)) != -1) {
        switch (opt) {
        case O_DATASET: c->dataset = optarg; break;
        case O_OWN: c->own_data = 1; break;
        case O_VAL_RATIO: FLOAT_OPT("--val-ratio", 1e-6, 0.999999, c->val_ratio); break;
        case O_SAME: FLOAT_OPT("--same-alphabet-negatives", 0, 1, c->same_alphabet); break;
        case O_AUGMENT: c->augment = optarg; break;
        case O_SEED: {
            char *end;
            errno = 0;  // (past 2^64 - 1 strtoull gives that, with ERANGE)
            unsigned long long s = strtoull(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-' || errno) {
                cli_usage_error("--seed: '%s' is not a whole number from 0 to %llu", optarg, ULLONG_MAX);
                return -1;
            }
            c->seed = s;
            break;
        }
        case O_WORKERS: INT_OPT("--workers", 1, 64, c->workers); break;
        case O_BACKBONE:
            c->backbone = optarg;
            memset(c->widths, 0, sizeof c->widths);  // the backbone's widths, not a checkpoint's
            break;
        case O_WIDTHS:
            if (parse_widths(optarg, c->widths)) return -1;
            break;
        case O_HIDDEN: INT_OPT("--hidden", 1, 65536, c->hidden); break;
        case O_INPUT:
            INT_OPT("--input-shape", MODEL_MIN_INPUT, MODEL_MAX_INPUT, c->input_size);
            break;
        case O_INVERT: c->invert = 1; break;
        case O_LETTERBOX: c->letterbox = 1; break;
        case O_MODEL: c->model_path = optarg; break;
        case O_RESUME: c->resume = optarg; break;
        case O_EPOCHS: INT_OPT("--epochs", 1, 1000000, c->epochs); break;
        case O_INIT: INT_OPT("--init-epoch", 0, 1000000, c->init_epoch); break;
        case O_BATCH: INT_OPT("--batch-size", 1, 4096, c->batch_size); break;
        case O_OPTIM: c->optimizer = optarg; break;
        case O_LR: FLOAT_OPT("--lr", 1e-12, 10, c->lr); break;
        case O_MIN_LR: FLOAT_OPT("--min-lr", 0, 10, c->min_lr); break;
        case O_MOMENTUM: FLOAT_OPT("--momentum", 0, 0.999999, c->momentum); break;
        case O_WD: FLOAT_OPT("--weight-decay", 0, 1, c->weight_decay); break;
        case O_DECAY: c->lr_decay = optarg; break;
        case O_STEPS: INT_OPT("--steps-per-epoch", 1, 100000000, c->steps_per_epoch); break;
        case O_VAL_STEPS: INT_OPT("--val-steps", 1, 100000000, c->val_steps); break;
        case O_SAVE_DIR: c->save_dir = optarg; break;
        case O_PERIOD: INT_OPT("--save-period", 1, 1000000, c->save_period); break;
        case O_PATIENCE: INT_OPT("--patience", 0, 1000000, c->patience); break;
        case O_DEVICE:
            if (cli_parse_device(optarg)) return -1;
            c->device = optarg;
            break;
        case O_PRECISION:
        case O_AMP: {
            BackendPrecision p;
            if (opt == O_AMP ? cli_parse_amp(optarg, &p) : cli_parse_precision(optarg, &p))
                return -1;
            c->precision = backend_precision_name(p);
            precision_given = 1;
            break;
        }
        case O_THREADS: INT_OPT("--threads", 1, 1024, c->threads); break;
        case O_PLAIN: plain_flag = 1; break;
        case O_STOP_STEPS: INT_OPT("--stop-after-steps", 1, 1000000000, c->stop_after_steps); break;
        case O_TIME_LIMIT:
            FLOAT_OPT("--time-limit", 1e-3, 1e7, c->time_limit);
            c->time_limit *= 60;  // minutes on the command line
            break;
        case O_LOADER_BENCH: INT_OPT("--loader-benchmark", 1, 1000000, c->loader_benchmark); break;
        case 'h': cli_help(usage); return 1;
        default: cli_option_error(opt, argv); return -1;
        }
    }
#undef INT_OPT
#undef FLOAT_OPT
    if (optind != argc) {
        cli_usage_error("unexpected argument '%s' (train takes options only)", argv[optind]);
        return -1;
    }
    Err e;
    if (train_config_check(c, &e)) {
        // With --resume the values checked are the checkpoint's too, read
        // from a file each rank reads for itself.
        if (resume) return resume_failed(EXIT_USAGE, "", &e);
        cli_usage_error("%s", e.msg);
        return -1;
    }
    return 0;
}

int train_parse_args(int argc, char **argv, TrainConfig *c) {
    int rc = parse_args(argc, argv, c);
    if (rc) train_config_free(c);
    return rc;
}

// ---- plain progress lines ----------------------------------------------------------

typedef struct PlainCtx {
    double last_batch_line;  // monotonic seconds
} PlainCtx;

static void duration(char *buf, size_t len, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%lds", t);
}

// Seconds between two step counters in plain mode.
#define PLAIN_BATCH_INTERVAL 5.0

static void plain_event(const TrainEvent *ev, void *ctx) {
    PlainCtx *pc = ctx;
    char t1[32], t2[32];
    switch (ev->kind) {
    case TRAIN_EV_CONFIG: {
        // The original's show_config table.
        printf("Configurations:\n%.70s\n|%25s | %40s|\n%.70s\n",
               "----------------------------------------------------------------------", "keys",
               "values", "----------------------------------------------------------------------");
        for (int i = 0; i < ev->n_rows; i++) printf("|%25s | %40s|\n", ev->table[i][0], ev->table[i][1]);
        printf("%.70s\n", "----------------------------------------------------------------------");
        break;
    }
    case TRAIN_EV_MESSAGE: printf("%s\n", ev->message); break;
    case TRAIN_EV_RUN_START:
        printf("training epochs %d to %d, %ld step%s an epoch, learning rate %.3g at the start\n",
               ev->epoch, ev->epochs, ev->batches, ev->batches == 1 ? "" : "s", ev->lr);
        pc->last_batch_line = cli_now();
        break;
    case TRAIN_EV_BATCH: {
        double now = cli_now();
        if (now - pc->last_batch_line < PLAIN_BATCH_INTERVAL || ev->batch == ev->batches) break;
        pc->last_batch_line = now;
        duration(t1, sizeof t1, ev->eta_seconds);
        printf("  epoch %d/%d step %ld/%ld  loss %.4f  acc %.4f  %.1f pairs/s  eta %s\n", ev->epoch,
               ev->epochs, ev->batch, ev->batches, ev->loss, ev->acc, ev->pairs_per_sec, t1);
        break;
    }
    case TRAIN_EV_EPOCH_END:
        duration(t2, sizeof t2, ev->seconds);
        printf("Epoch %d/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  lr %.3g  %s  "
               "%.1f pairs/s\n",
               ev->epoch, ev->epochs, ev->loss, ev->acc, ev->val_loss, ev->val_acc, ev->lr, t2,
               ev->pairs_per_sec);
        pc->last_batch_line = cli_now();
        break;
    case TRAIN_EV_CHECKPOINT: printf("  saved %s\n", ev->message); break;
    case TRAIN_EV_STOP: printf("%s\n", ev->message); break;
    case TRAIN_EV_PREPARE: {
        // Every few seconds while a long stage runs (the end is said by the
        // messages that follow).
        double now = cli_now();
        if (now - pc->last_batch_line < PLAIN_BATCH_INTERVAL || ev->batch == ev->batches) break;
        pc->last_batch_line = now;
        printf("  %ld/%ld %s\n", ev->batch, ev->batches, ev->message);
        break;
    }
    }
    fflush(stdout);
}

// --precision bf16 needs the CUDA backend: found out before anything starts
// (a usage error, exit 2), also when --device auto would fall back to the
// CPU. (--device cuda without a GPU fails as usual, when the run opens it.)
static int precision_device_usable(const TrainConfig *c) {
    if (backend_precision_parse(c->precision) != BACKEND_BF16 || !strncmp(c->device, "cuda", 4))
        return 1;
    Backend *be;
    Err e;
    char notice[600];
    if (backend_open(&be, c->device, 1, notice, sizeof notice, &e)) return 1;
    int ok = backend_set_precision(be, BACKEND_BF16, &e) == 0;
    backend_close(be);
    if (!ok) {
        // Before MPI starts: --device cpu fails alike on every rank (the
        // command line decides), another device (auto) on every rank of a
        // machine without a GPU, so one rank says it; but a precision that
        // came from a --resume file, which a rank reads for itself, each.
        void (*say)(const char *, ...) = c->resume && !precision_given ? cli_error
                                         : strcmp(c->device, "cpu")    ? cli_machine_error
                                                                        : cli_usage_error;
        say("%s", e.msg);
        if (notice[0]) say("%s", notice);
        if (c->resume && !precision_given)
            say("--resume keeps the checkpoint's --precision; add --precision tf32 (or fp32) to "
                "train without bf16");
    }
    return ok;
}

static TrainControl control;
static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
    got_signal = sig;
    control.stop = 1;
}

// Runs the training with plain log lines; returns the exit status.
static int train_plain(const TrainConfig *c) {
    PlainCtx pc = {cli_now()};  // the first progress line after an interval, as later ones
    Err e;
    if (train_run(c, plain_event, &pc, &control, &e)) {
        // (Empty on the ranks that leave the report to another.)
        if (e.msg[0]) cli_error("%s", e.msg);
        return EXIT_RUNTIME;
    }
    return got_signal == SIGINT ? EXIT_SIGINT : got_signal == SIGTERM ? EXIT_SIGTERM : EXIT_OK;
}

int cmd_train(int argc, char **argv) {
    TrainConfig c;
    resume_error_status = EXIT_OK;
    int rc = train_parse_args(argc, argv, &c);
    if (rc > 0) return EXIT_OK;
    // (A --resume failure kept for the ranks to compare goes on: below.)
    if (rc < 0 && !resume_error_status) return rc == -2 ? EXIT_RUNTIME : EXIT_USAGE;
    if (!rc && !precision_device_usable(&c)) {
        train_config_free(&c);
        return EXIT_USAGE;
    }
    // The ranks of this training (one process unless mpirun started it).
    Dist *dist;
    if (cli_open_dist(&dist)) {
        if (resume_error_status) {
            cli_error("%s", resume_error.msg);
            return resume_error_status;
        }
        train_config_free(&c);
        return EXIT_RUNTIME;
    }
    // Every rank, failed or not, compares its --resume (resume_failed).
    Err e = resume_error;
    if (dist_agree(dist, resume_error_status ? -1 : 0, &e)) {
        if (e.msg[0]) cli_error("%s", e.msg);
        if (!resume_error_status) train_config_free(&c);
        dist_close(dist);
        return resume_error_status ? resume_error_status : EXIT_RUNTIME;
    }
    c.dist = dist;
    // In a terminal, the dashboard (it handles the signals itself).
    char why[256];
    if (!plain_flag && dist->rank == 0 && term_usable(why, sizeof why)) {
        rc = dashboard_run(&c);
    } else {
        // The first signal asks for a clean stop (a checkpoint); a second
        // one ends the program at once.
        cli_catch_stop_signals(on_signal);
        rc = train_plain(&c);
    }
    train_config_free(&c);
    // (After a failed exchange between ranks this ends the whole job.)
    dist_close(dist);
    return rc;
}
