// siamese rank: the images under a folder most similar to a query image,
// best first (1:N search). The gallery's features are computed once, in
// batches; only the head runs per pair.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/dataset.h"
#include "../engine/eval.h"
#include "../engine/text.h"
#include "cli.h"
#include "commands.h"
#include "progress.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s rank [options] QUERY DIR\n"
            "Prints the images under DIR (searched recursively) most similar to the image\n"
            "QUERY, best first: rank, similarity (0 to 1), path. The query's own file\n"
            "is left out when it is in DIR.\n\n"
            "  --top N          how many (default 10; 0: all)\n" CLI_COMMON_HELP
            "  -h, --help       this text\n"
            "Exit status: 0 done, 1 the query or every gallery image failed, 2 usage error.\n",
            cli_prog);
}

typedef struct Ranked {
    float score;
    int index;
} Ranked;

// Best first; equal scores in path order, so the output is stable.
static int ranked_cmp(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index - y->index;
}

// Takes the query's own file (the same file, under whatever name) out of
// the gallery's paths, saying so: it would be its own best match.
static void leave_out_query(const char *query, char **paths, int *n) {
    struct stat q, g;
    if (stat(query, &q) != 0) return;  // the embedding says what is wrong with it
    for (int i = 0; i < *n; i++) {
        if (stat(paths[i], &g) != 0 || g.st_dev != q.st_dev || g.st_ino != q.st_ino) continue;
        cli_error("the query is in the gallery (%s): left out of the ranking", paths[i]);
        free(paths[i]);
        memmove(paths + i, paths + i + 1, (*n - i - 1) * sizeof *paths);
        (*n)--;
        i--;
    }
}

int cmd_rank(int argc, char **argv) {
    static const struct option longs[] = {CLI_COMMON_LONGS,
                                          {"top", required_argument, 0, 'n'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    CommonOpts co;
    common_opts_init(&co);
    long top = 10;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h" CLI_COMMON_SHORT, longs, NULL)) != -1) {
        int common = cli_common_opt(c, optarg, &co);
        if (common < 0) return EXIT_USAGE;
        if (common) continue;
        switch (c) {
        case 'n':
            if (cli_parse_int("--top", optarg, 0, 100000000, &top)) return EXIT_USAGE;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_option_error(c, argv);
        }
    }
    if (argc - optind != 2) {
        cli_error("rank needs a query image and a folder");
        return EXIT_USAGE;
    }
    const char *query = argv[optind], *dir = argv[optind + 1];
    Err e;
    char **paths;
    int n, n_other;
    if (dataset_list_images(dir, &paths, &n, &n_other, &e)) {
        cli_error("%s", e.msg);
        return EXIT_RUNTIME;
    }
    const int listed = n;
    leave_out_query(query, paths, &n);
    if (n == 0) {
        cli_error("%s: no image files found%s", dir, listed ? " but the query" : "");
        free(paths);
        return EXIT_RUNTIME;
    }
    Backend *be = NULL;
    Model *m = NULL;
    char mpath[4096];
    int rc = cli_open_model(&co, &be, &m, NULL, mpath, sizeof mpath);
    float *scores = malloc(n * sizeof *scores);
    unsigned char *ok = malloc(n);
    Ranked *order = malloc(n * sizeof *order);
    if (!rc && (!scores || !ok || !order)) {
        cli_error("out of memory for %d images", n);
        rc = EXIT_RUNTIME;
    }
    Progress pr;
    progress_init(&pr);
    EvalOpts o = {.threads = co.threads, .progress = progress_update, .ctx = &pr};
    if (!rc && eval_rank(m, query, (const char *const *)paths, n, &o, scores, ok, &e)) {
        progress_end(&pr);
        cli_error("%s", e.msg);
        rc = EXIT_RUNTIME;
    }
    if (!rc) {
        int k = 0, bad = 0;
        for (int i = 0; i < n; i++) {
            if (ok[i]) order[k++] = (Ranked){scores[i], i};
            else if (bad++ < 5) cli_error("warning: %s: not a readable image; left out", paths[i]);
        }
        if (bad > 5) cli_error("warning: %d more unreadable images left out", bad - 5);
        qsort(order, k, sizeof *order, ranked_cmp);
        long shown = top > 0 && top < k ? top : k;
        // File names found on disk: escaped (a newline in one would make two lines).
        char name[3 * 4096];
        for (long i = 0; i < shown; i++)
            printf("%3ld  %.6f  %s\n", i + 1, order[i].score,
                   text_escape(paths[order[i].index], name, sizeof name));
        if (k == 0) {
            cli_error("%s: none of the %d images could be read", dir, n);
            rc = EXIT_RUNTIME;
        }
    }
    if (m) model_free(m);
    if (be) backend_close(be);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(scores);
    free(ok);
    free(order);
    return rc;
}
