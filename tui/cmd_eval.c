// siamese eval: one-shot accuracy of a model. N-way K-shot episodes on an
// evaluation folder (within-alphabet on Omniglot) plus same/different
// verification, or the official runs format with --runs.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/eval.h"
#include "../engine/text.h"
#include "cli.h"
#include "commands.h"
#include "progress.h"
#include "shared_embedding.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s eval [options] DIR\n"
            "       %s eval [options] --runs DIR\n"
            "One-shot accuracy of the model.\n"
            "DIR: an evaluation folder in the Omniglot layout <alphabet>/<character>/<image>\n"
            "(trials within one alphabet, test and support drawings from different drawers)\n"
            "or <class>/<image>; a folder holding images_evaluation/ is accepted too.\n"
            "--runs DIR: the official runs format, DIR/runNN/training/classNN.png,\n"
            "DIR/runNN/test/itemNN.png and DIR/runNN/class_labels.txt.\n"
            "\n"
            "  --ways N         candidates a trial (default 20)\n"
            "  --shots N        support drawings a candidate (default 1)\n"
            "  --episodes N     trials (default 400)\n"
            "  --pairs N        verification: N same and N different pairs (default 1000, 0: skip)\n"
            "  --same-alphabet-negatives X  fraction of verification negatives from the same\n"
            "                   alphabet (default 0)\n"
            "  --seed N         seed of the trials and pairs (default 0)\n"
            "  --own-data       insist on the <class>/<image> layout\n"
            "  --runs DIR       evaluate the runs format instead\n" CLI_COMMON_HELP
            "  -h, --help       this text\n"
            "Exit status: 0 done, 1 runtime failure, 2 usage error.\n",
            cli_prog, cli_prog);
}

// An engine error, on a line of its own below any progress line.
static void engine_error(const EvalOpts *o, const Err *e) {
    progress_end(o->ctx);
    cli_error("%s", e->msg);
}

static void describe_model(const char *path, const Model *m) {
    char spec[96];
    model_spec_describe(&m->spec, spec, sizeof spec);
    printf("model %s: %s, %d px%s%s\n", path, spec, m->spec.input_size,
           m->spec.pre.invert ? ", inverted input" : "",
           m->spec.pre.letterbox ? ", letterboxed" : "");
}

static int eval_folder(Model *m, const char *dir, int own_data, const EpisodeConfig *ec,
                       int pairs, double same, const EvalOpts *o) {
    char root[4096], train[4096];
    struct stat st;
    snprintf(root, sizeof root, "%s/images_evaluation", dir);
    snprintf(train, sizeof train, "%s/images_background", dir);
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        // A training dataset's folder (train's --dataset) without the
        // evaluation images: read as it is, its images_background would be
        // one alphabet of the training classes (or a level too deep for
        // any layout).
        if (stat(train, &st) == 0 && S_ISDIR(st.st_mode)) {
            cli_error("%s holds images_background/ (training images) but no "
                      "images_evaluation/: give the folder of the images to evaluate (%s to "
                      "measure on the training images)",
                      dir, train);
            return EXIT_RUNTIME;
        }
        snprintf(root, sizeof root, "%s", dir);
    }
    Dataset ds;
    Err e;
    if (dataset_scan(&ds, root, own_data ? LAYOUT_CLASSES : LAYOUT_AUTO, DATASET_EVALUATION, 2,
                     o->threads, &e)) {
        engine_error(o, &e);
        return EXIT_RUNTIME;
    }
    printf("dataset %s: %s, %d %s, %d images\n", root, dataset_layout_name(ds.layout),
           ds.n_classes, ds.layout == LAYOUT_OMNIGLOT ? "characters" : "classes", ds.n_images);
    if (ds.notes[0]) printf("%s", ds.notes);
    fflush(stdout);
    int rc = EXIT_OK;
    Accuracy a;
    if (eval_episodes(m, &ds, ec, o, &a, &e)) {
        engine_error(o, &e);
        rc = EXIT_RUNTIME;
    } else {
        printf("%d-way %d-shot%s: accuracy %.2f%% (95%% CI %.2f%% to %.2f%%), %ld of %ld "
               "episodes%s",
               ec->ways, ec->shots, ds.layout == LAYOUT_OMNIGLOT ? " within-alphabet" : "",
               100 * a.acc, 100 * a.lo, 100 * a.hi, a.correct, a.trials, a.ties ? "" : "\n");
        if (a.ties) printf(", %ld lost to ties\n", a.ties);
        fflush(stdout);
    }
    Verification v;
    if (!rc && pairs > 0) {
        if (eval_verification(m, &ds, pairs, same, ec->seed, o, &v, &e)) {
            engine_error(o, &e);
            rc = EXIT_RUNTIME;
        } else {
            printf("verification (%d same and %d different pairs): accuracy at 0.5 %.2f%%, ROC "
                   "AUC %.4f\n",
                   pairs, pairs, 100 * v.acc, v.auc);
        }
    }
    dataset_free(&ds);
    return rc;
}

static int eval_runs_dir(Model *m, const char *dir, const EvalOpts *o) {
    RunResult *runs;
    int n;
    double mean;
    Err e;
    if (eval_runs(m, dir, o, &runs, &n, &mean, &e)) {
        engine_error(o, &e);
        return EXIT_RUNTIME;
    }
    char name[sizeof runs->name * 4];
    for (int i = 0; i < n; i++)  // folder names, escaped as every string from a file
        printf("%-12s error %6.2f%%  (%d of %d wrong)\n",
               text_escape(runs[i].name, name, sizeof name), runs[i].error, runs[i].wrong,
               runs[i].items);
    printf("mean error %.2f%% over %d run%s (accuracy %.2f%%)\n", mean, n, n == 1 ? "" : "s",
           100 - mean);
    free(runs);
    return EXIT_OK;
}

int cmd_eval(int argc, char **argv) {
    enum { O_WAYS = 256, O_SHOTS, O_EPISODES, O_PAIRS, O_SAME, O_SEED, O_OWN, O_RUNS };
    static const struct option longs[] = {CLI_COMMON_LONGS,
                                          {"ways", required_argument, 0, O_WAYS},
                                          {"shots", required_argument, 0, O_SHOTS},
                                          {"episodes", required_argument, 0, O_EPISODES},
                                          {"pairs", required_argument, 0, O_PAIRS},
                                          {"same-alphabet-negatives", required_argument, 0, O_SAME},
                                          {"seed", required_argument, 0, O_SEED},
                                          {"own-data", no_argument, 0, O_OWN},
                                          {"runs", required_argument, 0, O_RUNS},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    CommonOpts co;
    common_opts_init(&co);
    EpisodeConfig ec = {.ways = 20, .shots = 1, .episodes = 400};
    long v, pairs = 1000;
    double same = 0;
    int own = 0, c;
    const char *runs = NULL;
    optind = 1;
    while ((c = cli_getopt(argc, argv, longs, &co)) != -1) {
        switch (c) {
        case CLI_OPT_FAILED: return EXIT_USAGE;
        case O_WAYS:
            if (cli_parse_int("--ways", optarg, 2, 1000, &v)) return EXIT_USAGE;
            ec.ways = (int)v;
            break;
        case O_SHOTS:
            if (cli_parse_int("--shots", optarg, 1, 100, &v)) return EXIT_USAGE;
            ec.shots = (int)v;
            break;
        case O_EPISODES:
            if (cli_parse_int("--episodes", optarg, 1, 10000000, &v)) return EXIT_USAGE;
            ec.episodes = (int)v;
            break;
        case O_PAIRS:
            if (cli_parse_int("--pairs", optarg, 0, 10000000, &pairs)) return EXIT_USAGE;
            break;
        case O_SAME:
            if (cli_parse_float("--same-alphabet-negatives", optarg, 0, 1, &same))
                return EXIT_USAGE;
            break;
        case O_SEED:
            if (cli_parse_int("--seed", optarg, 0, 0x7fffffffffffffffL, &v)) return EXIT_USAGE;
            ec.seed = (uint64_t)v;
            break;
        case O_OWN: own = 1; break;
        case O_RUNS: runs = optarg; break;
        case 'h': cli_help(usage); return EXIT_OK;
        default: return cli_option_error(c, argv);
        }
    }
    int operands = argc - optind;
    if (runs ? operands != 0 : operands != 1) {
        cli_usage_error(runs ? "--runs DIR takes no other folder" : "eval needs one folder (DIR)");
        return EXIT_USAGE;
    }
    // Under an MPI launcher rank 0 evaluates as one process does, the
    // other ranks embed their shares of the images it needs.
    SharedEmbedding s;
    int rc = shared_embedding_open(&co, &s);
    if (rc) return rc;
    if (s.dist->rank > 0) {
        rc = shared_embedding_serve(&s, NULL);
    } else {
        describe_model(s.model_path, s.m);
        rc = runs ? eval_runs_dir(s.m, runs, &s.o)
                  : eval_folder(s.m, argv[optind], own, &ec, (int)pairs, same, &s.o);
    }
    shared_embedding_close(&s);
    return rc;
}
