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
// The compare loop in a terminal (curses, or readline prompts with --plain).
int cmd_interactive(int argc, char **argv);

// predict's options, shared with the interactive screens.
typedef struct PredictOpts {
    CommonOpts common;
    int plain;         // --plain: readline prompts instead of the curses screen
    int blocks;        // --blocks: half-block colour previews (UTF-8, 256 colours)
    double threshold;  // --threshold: scores from this one up mean "same" (0.5)
} PredictOpts;

void predict_opts_init(PredictOpts *o);
// Returns the index of the first operand, -1 after printing a usage error,
// -2 for --help.
int predict_parse(int argc, char **argv, PredictOpts *o);
int predict_pair(Model *m, const char *p1, const char *p2, float *prob);
int predict_lines(Model *m, FILE *in, FILE *out);

// `siamese train`'s options into c (defaults first); 0, or -1 after
// printing a usage error. Written with the train command (cmd_train.c).
int train_parse_args(int argc, char **argv, TrainConfig *c);

#endif
