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
int cmd_rank(int argc, char **argv);
// The compare loop in a terminal (curses, or readline prompts with --plain).
int cmd_interactive(int argc, char **argv);

// train's options into c (defaults first; with --resume the checkpoint's
// settings, which the other options override). Returns 0 ok, 1 when
// --help was printed, -1 after printing a usage error.
int train_parse_args(int argc, char **argv, TrainConfig *c);

// Shared by predict and the interactive screens.
int predict_parse(int argc, char **argv, CommonOpts *o, int *plain);
int predict_pair(Model *m, const char *p1, const char *p2, float *prob);
int predict_lines(Model *m, FILE *in, FILE *out);

#endif
