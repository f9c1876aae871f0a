// siamese predict: the similarity of two images, or of pairs of paths read
// two lines at a time from standard input (the line protocol).
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/compare.h"
#include "cli.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s predict [options] [IMAGE1 IMAGE2] [options]\n"
            "Prints the probability (0 to 1) that two images show the same class.\n"
            "Without images, reads image paths from standard input two lines at a time and\n"
            "prints one line per pair: the probability, or 'error' (the reason goes to stderr).\n"
            "Each line holds one path, as it is (no quoting).\n"
            "\n" CLI_COMMON_HELP
            "  --verdict        SAME or DIFFERENT after each probability\n"
            "  --threshold X    probabilities from X up are SAME (default 0.5)\n"
            "  -h, --help       this text\n"
            "In a terminal, without images (standard input and output both terminals):\n"
            "  the compare loop; ':help' inside it lists its keys and commands.\n"
            "  --plain          readline prompts instead of the full-screen interface\n"
            "  --blocks         previews in coloured half blocks (UTF-8, 256 colours)\n"
            "Exit status: 0 all pairs scored, 1 some pair or the model failed, 2 usage error.\n",
            cli_prog);
}

void predict_opts_init(PredictOpts *o) {
    memset(o, 0, sizeof *o);
    common_opts_init(&o->common);
    o->threshold = 0.5;
}

int predict_parse(int argc, char **argv, PredictOpts *po) {
    static const struct option longs[] = {
        CLI_COMMON_LONGS,
        {"plain", no_argument, 0, 'p'},
        {"threshold", required_argument, 0, 'T'},
        {"blocks", no_argument, 0, 'b'},
        {"verdict", no_argument, 0, 'V'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    // GNU getopt's order: options anywhere, operands in their order; a
    // path that starts with '-' comes after "--".
    while ((c = cli_getopt(argc, argv, longs, &po->common)) != -1) {
        switch (c) {
        case CLI_OPT_FAILED: return -1;
        case 'p': po->plain = 1; break;
        case 'T':
            if (cli_parse_float("--threshold", optarg, 0, 1, &po->threshold)) return -1;
            break;
        case 'b': po->blocks = 1; break;
        case 'V': po->verdict = 1; break;
        case 'h': return -2;
        default: cli_option_error(c, argv); return -1;
        }
    }
    return optind;
}

// Scores one pair; prints the error (naming the file) and returns -1 on failure.
int predict_pair(Model *m, const char *p1, const char *p2, float *prob) {
    Image a, b;
    Err e;
    if (image_load(p1, &a, &e)) {
        cli_error("image 1: %s", e.msg);
        return -1;
    }
    if (image_load(p2, &b, &e)) {
        cli_error("image 2: %s", e.msg);
        image_free(&a);
        return -1;
    }
    int rc = compare_images(m, &a, &b, prob, &e);
    if (rc) cli_error("%s", e.msg);
    image_free(&a);
    image_free(&b);
    return rc;
}

// Removes the newline and surrounding blanks in place.
static char *trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

// One line of the protocol: its buffer, its number, and the path in it.
typedef struct PathLine {
    char *buf;        // LINE_KEPT + 1 bytes
    long no;          // its number in the input
    char *path;       // in buf, trimmed
    const char *bad;  // why the line names no file (NULL when it may)
} PathLine;

// The most bytes of a line kept: a path is at most PATH_MAX, and blanks
// around it are dropped. The rest of a longer line is read and dropped,
// so that memory stays bounded however long a line (a stream without
// newlines would otherwise be held until memory ran out).
#define LINE_KEPT 8192  // 2 * PATH_MAX, in the message below

// Reads one line into l->buf (NUL-terminated, its newline kept): its
// length, -1 at the end of input (or when it cannot be read), -2 when
// memory ran out. A line longer than LINE_KEPT is flagged in l->bad.
static ssize_t read_line(FILE *in, PathLine *l) {
    if (!l->buf && !(l->buf = malloc(LINE_KEPT + 1))) return -2;
    size_t n = 0, seen = 0;
    int c;
    while ((c = getc_unlocked(in)) != EOF) {
        if (n < LINE_KEPT) l->buf[n++] = (char)c;
        seen++;
        if (c == '\n') break;
    }
    l->buf[n] = '\0';
    if (!seen) return -1;
    l->bad = seen - (c == '\n') > LINE_KEPT ? "longer than any path (over 8192 bytes)" : NULL;
    return (ssize_t)n;
}

// Reads the next non-blank line into l: 1, or 0 at the end of input, -1
// when the input cannot be read (said). A NUL byte cannot be part of a
// path, and the C string would end there and name another file (or none:
// a blank line, skipped, would shift every later pair), so such a line is
// flagged, to be answered 'error' as a pair's; so is a line too long to
// be a path.
static int next_path(FILE *in, PathLine *l, long *lines) {
    ssize_t len;
    while ((len = read_line(in, l)) >= 0) {
        l->no = ++*lines;
        if (!l->bad && memchr(l->buf, '\0', (size_t)len))
            l->bad = "a NUL byte in a path (one path a line, as find -print writes them, not find "
                     "-print0)";
        l->path = trim(l->buf);
        if (*l->path || l->bad) return 1;
    }
    if (len == -1 && !ferror(in)) return 0;
    cli_error("standard input: %s", len == -2 ? "out of memory" : strerror(errno));
    return -1;
}

static void say_bad_line(const PathLine *l) {
    cli_error("standard input, line %ld: %s", l->no, l->bad);
}

void predict_print_score(FILE *f, float prob, const PredictOpts *o) {
    fprintf(f, "%.6f", prob);
    if (o->verdict) fprintf(f, " %s", prob >= o->threshold ? "SAME" : "DIFFERENT");
    fputc('\n', f);
}

int predict_lines(Model *m, const PredictOpts *o, FILE *in) {
    PathLine l1 = {0}, l2 = {0};
    long lines = 0;
    int failed = 0, got;
    while ((got = next_path(in, &l1, &lines)) > 0) {
        got = next_path(in, &l2, &lines);
        if (got <= 0) {
            if (got == 0 && l1.bad) say_bad_line(&l1);
            else if (got == 0) cli_error("%s: no second image path before the end of input", l1.path);
            failed = 1;
            break;
        }
        float prob;
        if (l1.bad || l2.bad) {
            say_bad_line(l1.bad ? &l1 : &l2);
            puts("error");
            failed = 1;
        } else if (predict_pair(m, l1.path, l2.path, &prob)) {
            puts("error");
            failed = 1;
            // Out of memory passes (the next pair may fit); after a device
            // fault nothing more can be computed.
            if (backend_recover(m->be)) break;
        } else {
            predict_print_score(stdout, prob, o);
        }
        // A result that cannot be written ends the run: the lines after it
        // would no longer match their pairs.
        if (cli_flush_stdout()) {
            failed = 1;
            break;
        }
    }
    if (got < 0) failed = 1;
    free(l1.buf);
    free(l2.buf);
    return failed ? EXIT_RUNTIME : EXIT_OK;
}

int cmd_predict(int argc, char **argv) {
    PredictOpts po;
    predict_opts_init(&po);
    int first = predict_parse(argc, argv, &po);
    const CommonOpts *o = &po.common;
    if (first == -2) {
        cli_help(usage);
        return EXIT_OK;
    }
    if (first < 0) return EXIT_USAGE;
    int operands = argc - first;
    if (operands != 0 && operands != 2) {
        cli_error("predict takes two image paths (or none, to read pairs from standard input); "
                  "got %d", operands);
        return EXIT_USAGE;
    }
    // Prompts only where a person reads them: with either side piped, the
    // line protocol keeps standard output to one line per pair.
    if (operands == 0 && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
        return cmd_interactive(&po);
    Backend *be;
    Model *m;
    char path[4096];
    int rc = cli_open_model(o, &be, &m, NULL, path, sizeof path);
    if (rc) return rc;
    if (operands == 2) {
        float prob;
        rc = predict_pair(m, argv[first], argv[first + 1], &prob) ? EXIT_RUNTIME : EXIT_OK;
        if (!rc) predict_print_score(stdout, prob, &po);
    } else {
        rc = predict_lines(m, &po, stdin);
    }
    model_free(m);
    backend_close(be);
    return rc;
}
