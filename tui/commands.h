// commands: the program's subcommands, each `int cmd_x(argc, argv)`
// returning the exit status; argv[0] is the subcommand's name.
#ifndef SIAMESE_COMMANDS_H
#define SIAMESE_COMMANDS_H

#include <stdio.h>

#include "../engine/model.h"
#include "cli.h"

int cmd_predict(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_bench(int argc, char **argv);
// The compare loop in a terminal (curses, or readline prompts with --plain).
int cmd_interactive(int argc, char **argv);

// Shared by predict and the interactive screens.
int predict_parse(int argc, char **argv, CommonOpts *o, int *plain);
int predict_pair(Model *m, const char *p1, const char *p2, float *prob);
int predict_lines(Model *m, FILE *in, FILE *out);

#endif
