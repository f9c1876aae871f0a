// cli: what every command shares: exit statuses, number parsing with
// ranges, the default model, opening the backend and the model.
#ifndef SIAMESE_CLI_H
#define SIAMESE_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "../engine/backend.h"
#include "../engine/dist.h"
#include "../engine/model.h"
#include "../engine/weights.h"

enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1,     // a bad image, bad weights, I/O
    EXIT_USAGE = 2,       // unknown option, out-of-range value
    EXIT_SIGINT = 130,
    EXIT_SIGTERM = 143,
};

// The shipped model, and the untrained stand-in `make` writes when the
// trained one is absent.
#define DEFAULT_MODEL "model_data/siamese_omniglot.h5"
#define UNTRAINED_MODEL "model_data/untrained_random.h5"

// Options shared by predict, train, eval and rank.
typedef struct CommonOpts {
    const char *model;    // NULL: the default model
    const char *device;   // auto|cpu|cuda[:N]
    int threads;          // 0: all cores
    int letterbox;        // -1: as the weights file says
    BackendPrecision precision;  // of the convolutions and dense products (--precision)
    int verbose;          // -v: say which device runs and why
} CommonOpts;

void common_opts_init(CommonOpts *o);

// The common options as getopt_long entries (codes 'm', 'd', 't', 'l',
// 'v', 'P'), for the commands that take them (predict, eval, rank, index),
// which read their options with cli_getopt.
#define CLI_COMMON_LONGS                                                           \
    {"model", required_argument, 0, 'm'}, {"device", required_argument, 0, 'd'}, \
        {"threads", required_argument, 0, 't'}, {"letterbox", no_argument, 0, 'l'}, \
        {"verbose", no_argument, 0, 'v'}, {"precision", required_argument, 0, 'P'}
#define CLI_COMMON_HELP                                                            \
    "  --model PATH     weights file (default " DEFAULT_MODEL ")\n"                 \
    "  --device DEV     auto, cpu, cuda or cuda:N (default auto)\n"                 \
    "  --threads N      CPU threads at most (default: all cores)\n"                 \
    "  --letterbox      keep the aspect ratio and pad with grey instead of centre-cropping\n" \
    "  --precision P    fp32, tf32 (TF32 convolutions on a GPU; the CPU computes fp32) or\n" \
    "                   bf16 (bfloat16 products; GPU only); default tf32\n" \
    "  -v, --verbose    say which device runs, and why not the GPU when auto finds none\n"
// getopt_long over argv with longs (CLI_COMMON_LONGS, the command's own
// options and "help" as 'h'; GNU order, errors not printed): the common
// options go into co and are not returned. Returns the next other
// option's code (':' or '?' for cli_option_error), -1 at the end, or
// CLI_OPT_FAILED after printing why a common option's value is wrong.
// A command's parse starts with optind = 1.
#define CLI_OPT_FAILED (-2)
int cli_getopt(int argc, char **argv, const struct option *longs, CommonOpts *co);

// Parse a number for option `name`; on error print a message and return -1.
int cli_parse_int(const char *name, const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *name, const char *s, double lo, double hi, double *out);
// Checks a --device value's form (auto, cpu, cuda, cuda:N); on error prints
// a message and returns -1. Whether the device exists is known only later.
int cli_parse_device(const char *s);
// A --precision value (fp32, tf32, bf16) into *out; on error prints a
// message and returns -1.
int cli_parse_precision(const char *s, BackendPrecision *out);
// An --amp value (bf16, off: the older spelling of --precision bf16|fp32)
// into *out; on error prints a message and returns -1.
int cli_parse_amp(const char *s, BackendPrecision *out);
// Sets be's precision, printing the refusal (bf16 on the CPU, naming why
// --device auto chose it: notice) and returning EXIT_USAGE; else EXIT_OK.
int cli_set_precision(Backend *be, BackendPrecision p, const char *notice);

// The model path to use: o->model, else the shipped model, else the
// untrained stand-in (with a warning on stderr). Looks beside the
// executable too, so the program works from any directory.
const char *cli_model_path(const CommonOpts *o, char *buf, size_t len, int *untrained);

// Opens the backend in o->precision and loads the model, printing errors;
// returns an exit status (EXIT_OK on success; EXIT_USAGE for a precision
// the device does not have).
int cli_open_model(const CommonOpts *o, Backend **be, Model **m, WeightsInfo *info,
                   char *path_buf, size_t path_len);
// The same for a command whose ranks share its embedding when an MPI
// launcher started it (index, eval): opens the ranks (*d, one process when
// no launcher did), this rank's device and threads as train takes them
// (dist_device, dist_threads), and the model (rank 0 alone warning of an
// untrained one). Every rank fails when any does, or when their models or
// arithmetics differ (rank 0 says so); then all is closed. A failure is
// said as dist_agree says it: once, by rank 0, when every rank met it,
// else by the rank that met it, naming it. The exit status.
int cli_open_model_ranks(CommonOpts *o, Dist **d, Backend **be, Model **m, char *path_buf,
                         size_t path_len);
// The exit status of a command that failed, stopped by signal sig (0: none).
int cli_failure_status(int sig);

// Monotonic seconds, for progress throttling.
double cli_now(void);

// The error cases of getopt_long (opterr = 0, optstring starting with ':'):
// ':' a missing value, else an unknown option (or a value given to an
// option that takes none). Prints one line naming the option; returns
// EXIT_USAGE. (main adds the pointer to the command's --help.)
int cli_option_error(int c, char **argv);

// SIGINT and SIGTERM call handler the first time (a clean stop); a second
// one ends the program at once.
void cli_catch_stop_signals(void (*handler)(int));

// Flushes standard output: 0, or -1 when a write to it failed, now or
// before (a full disk, a closed descriptor), which is said once, naming
// the reason. main calls it after every command, so lost results are a
// failure (exit status 1), never a silent success.
int cli_flush_stdout(void);

// The line that follows every usage error: "'siamese train --help' lists
// the options." (command: the subcommand's name).
void cli_usage_hint(const char *command);
// Prints a command's --help text (usage(stdout)) where it is this process's
// to print: under an MPI launcher every rank has the same command line, so
// rank 0 alone prints it (dist_says_alike), not one copy a rank.
void cli_help(void (*usage)(FILE *));

// "prog: message" on stderr, escaped (text_escape).
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// cli_error for a usage error, one that the command line alone decides (an
// unknown option, a value out of range): before MPI starts, every rank of
// an MPI launcher's job meets it alike, as each has the same command line,
// so rank 0 alone says it (dist_says_alike) and the others exit with the
// same status, saying nothing. Not for what depends on a file, a device or
// anything else a rank may find otherwise than rank 0: a rank that alone
// met such an error would end the job without a word.
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// cli_error for a failure that every rank on this machine meets alike (its
// devices, its build), before MPI starts: said by the first rank on it.
void cli_machine_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// How many messages cli_error printed: none on a rank that left a failure
// it shared to another to say (dist_agree, cli_usage_error).
int cli_errors_said(void);
// The exit status rc, at the end of main. A process that left its failure
// to another rank to say (cli_usage_error, cli_open_dist) first waits for
// that one: an MPI launcher ends the whole job as soon as one process
// fails (Open MPI's in a tenth of a second), maybe before the rank that
// says why has started. It ends the job by failing with the same status,
// and the launcher's SIGTERM ends this process with rc; a launcher that
// lets the others run (srun without --kill-on-bad-exit) finds it exiting
// CLI_SPEAKER_WAIT seconds later.
#define CLI_SPEAKER_WAIT 10
int cli_wait_for_speaker(int rc);

// dist_open, saying why it failed: once a machine where every rank on it
// meets the failure alike (a build without MPI), else by the rank that
// met it. EXIT_OK or EXIT_RUNTIME.
int cli_open_dist(Dist **d);

extern const char *cli_prog;

#endif
