#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../engine/gallery.h"
#include "../engine/text.h"

const char *cli_prog = "siamese";

void common_opts_init(CommonOpts *o) {
    memset(o, 0, sizeof *o);
    o->device = "auto";
    o->letterbox = -1;
    o->precision = BACKEND_DEFAULT_PRECISION;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// 1 when code was a common option (taken into o), 0 when not, -1 after
// printing what is wrong with its value.
static int common_opt(int code, const char *arg, CommonOpts *o) {
    long v;
    switch (code) {
    case 'm': o->model = arg; return 1;
    case 'd':
        if (cli_parse_device(arg)) return -1;
        o->device = arg;
        return 1;
    case 't':
        if (cli_parse_int("--threads", arg, 1, 1024, &v)) return -1;
        o->threads = (int)v;
        return 1;
    case 'l': o->letterbox = 1; return 1;
    case 'P': return cli_parse_precision(arg, &o->precision) ? -1 : 1;
    case 'v': o->verbose = 1; return 1;
    default: return 0;
    }
}

int cli_getopt(int argc, char **argv, const struct option *longs, CommonOpts *co) {
    opterr = 0;
    int c, common;
    // (":" first: a missing value is told from an unknown option; -h and
    // -v are the short forms of --help and --verbose.)
    while ((c = getopt_long(argc, argv, ":hv", longs, NULL)) != -1)
        if ((common = common_opt(c, optarg, co)) <= 0) return common < 0 ? CLI_OPT_FAILED : c;
    return -1;
}

void cli_catch_stop_signals(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int errors_said, errors_left;

int cli_errors_said(void) {
    return errors_said;
}

// cli_error's line, or where another rank says the same (scope:
// dist_says_alike) nothing but a count of what was left to it.
static void say_alike(int alike, DistAlike scope, const char *fmt, va_list ap) {
    if (alike && !dist_says_alike(scope)) {
        errors_left++;
        return;
    }
    // Escaped (text_escape), as every message: a file's name or contents
    // may hold control characters.
    char raw[2048], safe[2048];
    errors_said++;
    vsnprintf(raw, sizeof raw, fmt, ap);
    fprintf(stderr, "%s: %s\n", cli_prog, text_escape(raw, safe, sizeof safe));
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say_alike(0, DIST_ALIKE_IN_JOB, fmt, ap);
    va_end(ap);
}

void cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say_alike(1, DIST_ALIKE_IN_JOB, fmt, ap);
    va_end(ap);
}

void cli_machine_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say_alike(1, DIST_ALIKE_ON_MACHINE, fmt, ap);
    va_end(ap);
}

// The exit status of a process that left its failure to another to say
// (the same as that one's), taken on the launcher's SIGTERM.
static volatile sig_atomic_t left_status;

static void exit_with_left_status(int sig) {
    (void)sig;
    _exit(left_status);
}

int cli_wait_for_speaker(int rc) {
    if (!errors_left || errors_said || rc == EXIT_OK) return rc;
    left_status = rc;
    cli_catch_stop_signals(exit_with_left_status);
    for (unsigned left = CLI_SPEAKER_WAIT; left;) left = sleep(left);
    return rc;
}

int cli_open_dist(Dist **d) {
    Err e;
    const int rc = dist_open(d, &e);
    if (!rc) return EXIT_OK;
    if (rc == DIST_FAILED_ON_MACHINE) cli_machine_error("%s", e.msg);
    else cli_error("%s", e.msg);
    return EXIT_RUNTIME;
}

int cli_option_error(int c, char **argv) {
    // getopt has moved optind past the option (and past the missing value's
    // place), so argv[optind - 1] is the option, but inside a cluster of
    // short ones ("-xh"), where optopt names the letter.
    const char *arg = argv[optind - 1], *eq = strchr(arg, '=');
    if (c == ':')
        cli_usage_error("option %s needs a value", arg);
    else if (!strncmp(arg, "--", 2) && eq && optopt)
        // A known long option given a value it does not take: getopt sets
        // optopt to its code (to 0 for an unknown name).
        cli_usage_error("option %.*s takes no value", (int)(eq - arg), arg);
    else if (optopt)
        cli_usage_error("unknown option '-%c'", optopt);
    else
        cli_usage_error("unknown option '%s'", arg);
    return EXIT_USAGE;
}

int cli_flush_stdout(void) {
    static int said;
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    // (A failed write's data is dropped from the buffer and errno goes
    // with it; the first failure is the one seen with its reason.)
    if (!said++) cli_error("standard output: %s", errno ? strerror(errno) : "a write failed");
    return -1;
}

void cli_usage_hint(const char *command) {
    fprintf(stderr, "'%s %s --help' lists the options.\n", cli_prog, command);
}

void cli_help(void (*usage)(FILE *)) {
    if (dist_says_alike(DIST_ALIKE_IN_JOB)) usage(stdout);
}

int cli_parse_int(const char *name, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno) {
        cli_usage_error("%s: '%s' is not a whole number", name, s);
        return -1;
    }
    if (v < lo || v > hi) {
        cli_usage_error("%s: %ld is out of range (%ld to %ld)", name, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *name, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) {
        cli_usage_error("%s: '%s' is not a number", name, s);
        return -1;
    }
    if (v < lo || v > hi) {
        cli_usage_error("%s: %g is out of range (%g to %g)", name, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_device(const char *s) {
    if (!strcmp(s, "auto") || !strcmp(s, "cpu") || !strcmp(s, "cuda")) return 0;
    if (!strncmp(s, "cuda:", 5)) {
        char *end;
        errno = 0;
        long v = strtol(s + 5, &end, 10);
        if (end != s + 5 && !*end && !errno && v >= 0 && v <= 64) return 0;
    }
    cli_usage_error("--device: '%s' is not auto, cpu, cuda or cuda:N (N a GPU index, 0 to 64)", s);
    return -1;
}

// p, a parse of option's value s, into out; -1 with a message naming what
// the option takes when the parse found none.
static int take_precision(int p, const char *option, const char *s, const char *takes,
                          BackendPrecision *out) {
    if (p < 0) {
        cli_usage_error("%s: '%s' is not %s", option, s, takes);
        return -1;
    }
    *out = (BackendPrecision)p;
    return 0;
}

int cli_parse_precision(const char *s, BackendPrecision *out) {
    return take_precision(backend_precision_parse(s), "--precision", s, "fp32, tf32 or bf16", out);
}

int cli_parse_amp(const char *s, BackendPrecision *out) {
    return take_precision(backend_amp_parse(s), "--amp", s,
                          "bf16 or off (--precision is the newer option)", out);
}

// cli_set_precision without printing: the refusal in e.
static int set_precision(Backend *be, BackendPrecision p, const char *notice, Err *e) {
    if (!backend_set_precision(be, p, e)) return EXIT_OK;
    // (One message, so that ranks that all say it say it once: dist_agree.)
    if (notice && notice[0]) {
        char refused[sizeof e->msg];
        snprintf(refused, sizeof refused, "%s", e->msg);
        err_set(e, "%s; %s", refused, notice);
    }
    return EXIT_USAGE;
}

int cli_set_precision(Backend *be, BackendPrecision p, const char *notice) {
    Err e;
    const int rc = set_precision(be, p, notice, &e);
    if (rc) cli_error("%s", e.msg);
    return rc;
}

// path relative to the current directory, else to the executable's folder.
static int find_data_file(const char *rel, char *buf, size_t len) {
    if (access(rel, F_OK) == 0) {
        snprintf(buf, len, "%s", rel);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = '\0';
    snprintf(buf, len, "%s/%s", exe, rel);
    return access(buf, F_OK) == 0 ? 0 : -1;
}

const char *cli_model_path(const CommonOpts *o, char *buf, size_t len, int *untrained) {
    *untrained = 0;
    if (o->model) {
        snprintf(buf, len, "%s", o->model);
        return buf;
    }
    if (find_data_file(DEFAULT_MODEL, buf, len) == 0) return buf;
    if (find_data_file(UNTRAINED_MODEL, buf, len) == 0) {
        *untrained = 1;
        return buf;
    }
    snprintf(buf, len, "%s", DEFAULT_MODEL);
    return buf;
}

// What -v says of the device be (notice: backend_open's reason for taking
// the CPU under --device auto, or ""): one or two lines, each ending in
// '\n', without the program's name.
#define DEVICE_REPORT_LEN DIST_REPORT_BYTES  // (gathered whole under ranks)
static void device_report(const Backend *be, const char *notice, char *buf, size_t len) {
    const char *why = be->precision_note;
    snprintf(buf, len, "%s%sdevice %s; precision %s%s%s%s\n", notice, notice[0] ? "\n" : "",
             be->desc, backend_precision_describe(be->precision), why[0] ? " (" : "", why,
             why[0] ? ")" : "");
}

// report's lines on stderr, each after the program's name and prefix.
static void print_report(const char *prefix, const char *report) {
    for (const char *line = report, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        fprintf(stderr, "%s: %s%.*s\n", cli_prog, prefix, (int)(end - line), line);
    }
}

// cli_open_model, its error in e rather than printed, with -v's report
// of the device into report (printed now when print and o->verbose).
static int open_model(const CommonOpts *o, Backend **be, Model **m, WeightsInfo *info,
                      char *path_buf, size_t path_len, char *report, size_t report_len, int print,
                      Err *e) {
    int untrained;
    const char *path = cli_model_path(o, path_buf, path_len, &untrained);
    if (untrained)
        fprintf(stderr,
                "%s: warning: no trained model (%s); using %s, an UNTRAINED model with random "
                "weights: its scores mean nothing\n",
                cli_prog, DEFAULT_MODEL, path);
    char notice[600];
    if (backend_open(be, o->device, o->threads, notice, sizeof notice, e)) return EXIT_RUNTIME;
    int rc = set_precision(*be, o->precision, notice, e);
    if (rc) {
        backend_close(*be);
        *be = NULL;
        return rc;
    }
    // Where no GPU is to be had, --device auto running on the CPU is the
    // expected case, not news: said only when asked (-v).
    device_report(*be, notice, report, report_len);
    if (print && o->verbose) print_report("", report);
    WeightsInfo local;
    if (!info) info = &local;
    if (weights_open_model(m, path, *be, info, e)) {
        backend_close(*be);
        *be = NULL;
        return EXIT_RUNTIME;
    }
    if (o->letterbox >= 0) (*m)->spec.pre.letterbox = o->letterbox;
    return EXIT_OK;
}

int cli_open_model(const CommonOpts *o, Backend **be, Model **m, WeightsInfo *info,
                   char *path_buf, size_t path_len) {
    char report[DEVICE_REPORT_LEN];
    Err e;
    const int rc = open_model(o, be, m, info, path_buf, path_len, report, sizeof report, 1, &e);
    if (rc) cli_error("%s", e.msg);
    return rc;
}

// -v under several ranks: every rank's report, gathered to rank 0, which
// prints them in rank order, so lines from different ranks cannot cut
// into each other, each naming its rank ("rank 1 of 2: device cuda:1 ..."),
// and ranks with the same report in a row once ("ranks 0-3 of 4: device
// cpu, ...": CPU ranks, where every rank would say the same). Collective.
static int print_rank_reports(Dist *d, const char *report, Err *e) {
    DistGroup *groups;
    int n;
    if (dist_gather_groups(d, report, &groups, &n, e)) return -1;
    for (int i = 0; i < n; i++) {
        char ranks[32], prefix[64];
        dist_group_ranks(&groups[i], ranks, sizeof ranks);
        snprintf(prefix, sizeof prefix, "%s of %d: ", ranks, d->size);
        print_report(prefix, groups[i].report);
    }
    free(groups);
    return 0;
}

int cli_open_model_ranks(CommonOpts *o, Dist **d, Backend **be, Model **m, char *path_buf,
                         size_t path_len) {
    if (cli_open_dist(d)) return EXIT_RUNTIME;
    Err e = {{0}};
    char device[32];
    CommonOpts mine = *o;
    dist_device(*d, o->device, device, sizeof device);
    mine.device = device;
    o->threads = mine.threads = dist_threads(*d, o->threads);
    // Rank 0 alone says what the command does, the untrained model's
    // warning with it: the other ranks are given the file it finds by name.
    char found[PATH_MAX];
    int untrained;
    if ((*d)->rank > 0) mine.model = cli_model_path(o, found, sizeof found, &untrained);
    char report[DEVICE_REPORT_LEN] = "";
    int rc = open_model(&mine, be, m, NULL, path_buf, path_len, report, sizeof report,
                        (*d)->size == 1, &e);
    // Features that differ in their last digits between ranks would make
    // a result depend on the rank count: one model, one arithmetic.
    char id[17] = "", arith[64] = "";
    if (!rc && gallery_model_id(*m, id, &e)) {
        model_free(*m);
        backend_close(*be);
        rc = EXIT_RUNTIME;
    }
    if (!rc) gallery_arithmetic(*be, arith, sizeof arith);
    const uint64_t h = dist_hash(dist_hash(DIST_HASH_START, id, sizeof id), arith, sizeof arith);
    // A failure every rank met (a missing file, bad weights) is said once,
    // as one process says it; one of a rank's own (its GPU, a file it
    // alone cannot read) by that rank, naming it (dist_agree).
    const int failed = dist_agree(*d, rc ? -1 : 0, &e) != 0;
    if (failed ||
        dist_check_same(*d, "the model or the arithmetic it computes in (--model, --letterbox, "
                            "--device, --precision, NVIDIA_TF32_OVERRIDE)", h, &e) ||
        (o->verbose && (*d)->size > 1 && print_rank_reports(*d, report, &e))) {
        if (e.msg[0]) cli_error("%s", e.msg);
        if (!rc) {
            model_free(*m);
            backend_close(*be);
        }
        dist_close(*d);
        return rc ? rc : EXIT_RUNTIME;
    }
    return EXIT_OK;
}

int cli_failure_status(int sig) {
    return sig == SIGINT ? EXIT_SIGINT : sig == SIGTERM ? EXIT_SIGTERM : EXIT_RUNTIME;
}
