// siamese: image similarity with a Siamese VGG16 network.
// The front: picks the subcommand and hands over its arguments.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../engine/dist.h"
#include "cli.h"
#include "commands.h"

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    int shares;  // shares its work between the processes of an MPI launcher
} Command;

static const Command COMMANDS[] = {
    {"predict", cmd_predict, "similarity of two images, or of pairs read from stdin", 0},
    {"init", cmd_init, "write a model with random (untrained) weights", 0},
    {"train", cmd_train, "train the network on Omniglot or your own classes", 1},
    {"eval", cmd_eval, "one-shot accuracy (N-way K-shot, or the official runs format)", 1},
    {"index", cmd_index, "compute a folder's features once, into a gallery index for rank", 1},
    {"rank", cmd_rank, "the images of a folder or an index most similar to a query image", 0},
    {"bench", cmd_bench, "time the engine (one configuration; see bench/run.sh)", 0},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s [COMMAND] [options]\n"
            "Without a command: the compare loop (in a terminal), or the line protocol of\n"
            "'predict' when standard input is not a terminal. '%s IMAGE1 IMAGE2' is short\n"
            "for '%s predict IMAGE1 IMAGE2'.\n\nCommands:\n",
            cli_prog, cli_prog, cli_prog);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\n'%s COMMAND --help' describes a command's options.\n", cli_prog);
}

// Results that never reached standard output (a full disk, a closed
// descriptor) make the run a failure rather than a success with lines
// missing.
static int check_stdout(int rc) {
    return cli_flush_stdout() && rc == EXIT_OK ? EXIT_RUNTIME : rc;
}

// argv[0] becomes the command's name, as each command expects.
// train, eval and index share their work between the processes of an MPI
// launcher; any other command refuses to run as one of several (each
// would do all of it).
static int run_command(const Command *cmd, int argc, char **argv) {
    int exact;
    const int ranks = cmd->shares ? 1 : dist_launched_size(&exact);
    if (ranks > 1) {
        char why[512];
        snprintf(why, sizeof why,
                 "'%s' runs in one process, but an MPI launcher started %s%d: only 'train', "
                 "'eval' and 'index' share their work between processes; run '%s %s' without "
                 "mpirun",
                 cmd->name, exact ? "" : "at least ", ranks, cli_prog, cmd->name);
        // Where the launcher says how many it started, every rank refuses
        // alike (the command line and that count decide), and rank 0 says
        // so; a PMIx launcher tells rank 0 nothing, which then runs the
        // command, and the others refuse on their own.
        if (exact) cli_usage_error("%s", why);
        else cli_error("%s", why);
        return EXIT_USAGE;
    }
    argv[0] = (char *)cmd->name;
    int rc = cmd->run(argc, argv);
    // A usage error was said in one line; where to read more follows, from
    // the process that said it (of several ranks that all refused, rank 0).
    if (rc == EXIT_USAGE && cli_errors_said()) cli_usage_hint(cmd->name);
    return check_stdout(rc);
}

static int run(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
                      !strcmp(argv[1], "help"))) {
        cli_help(usage);
        return check_stdout(EXIT_OK);
    }
    const Command *cmd = NULL;
    if (argc >= 2 && argv[1][0] != '-') {
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[1], COMMANDS[i].name)) cmd = &COMMANDS[i];
        // `siamese A.png B.png`: an image where a command was expected is
        // predict's operand; so is a name that looks like a path (no
        // command has a '.' or a '/'), so that a mistyped one is told it
        // is missing rather than that it is not a command.
        if (!cmd && (access(argv[1], F_OK) == 0 || strpbrk(argv[1], "./")))
            return run_command(&COMMANDS[0], argc, argv);
        if (!cmd) {
            cli_usage_error("unknown command '%s'", argv[1]);
            if (cli_errors_said()) fprintf(stderr, "'%s --help' lists the commands.\n", cli_prog);
            return EXIT_USAGE;
        }
        return run_command(cmd, argc - 1, argv + 1);
    }
    // Plain `siamese [options]`: predict's options; it picks the mode.
    return run_command(&COMMANDS[0], argc, argv);
}

int main(int argc, char **argv) {
    return cli_wait_for_speaker(run(argc, argv));
}
