// commands: the program's subcommands, each `int cmd_x(argc, argv)`
// returning the exit status; argv[0] is the subcommand's name.
#ifndef SIAMESE_COMMANDS_H
#define SIAMESE_COMMANDS_H

#include <stdio.h>

#include "../engine/model.h"
#include "../engine/train.h"
#include "cli.h"

int cmd_predict(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_rank(int argc, char **argv);
int cmd_bench(int argc, char **argv);

// train's options into c (defaults first; with --resume the checkpoint's
// settings, which the other options override). Returns 0 ok (c then holds
// what train_config_free frees after the run), 1 when --help was printed,
// -1 after printing a usage error, -2 after printing why the --resume
// checkpoint cannot be read (a runtime failure).
int train_parse_args(int argc, char **argv, TrainConfig *c);

// predict's options, shared with the interactive screens.
typedef struct PredictOpts {
    CommonOpts common;
    int plain;         // --plain: readline prompts instead of the curses screen
    int blocks;        // --blocks: half-block colour previews (UTF-8, 256 colours)
    double threshold;  // --threshold: scores from this one up mean "same" (0.5)
    int verdict;       // --verdict: SAME / DIFFERENT after each score
} PredictOpts;

void predict_opts_init(PredictOpts *o);
// Returns the index of the first operand, -1 after printing a usage error,
// -2 for --help.
int predict_parse(int argc, char **argv, PredictOpts *o);
int predict_pair(Model *m, const char *p1, const char *p2, float *prob);
// A score as every mode prints it: six decimals, then with --verdict
// " SAME" or " DIFFERENT" at the threshold; then the newline.
void predict_print_score(FILE *f, float prob, const PredictOpts *o);
// The line protocol: pairs of paths from in, one line each on stdout.
int predict_lines(Model *m, const PredictOpts *o, FILE *in);
// The compare loop in a terminal (curses, or readline prompts with --plain),
// with predict's options as parsed; returns the exit status.
int cmd_interactive(const PredictOpts *o);

#endif
