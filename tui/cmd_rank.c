// siamese rank: the images under a folder, or in a gallery index (siamese
// index), most similar to a query image, best first (1:N search). A
// folder's features are computed once, in batches, and only the head runs
// per pair; an index holds them already (engine/search.h).
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/dataset.h"
#include "../engine/eval.h"
#include "../engine/image.h"
#include "../engine/search.h"
#include "../engine/text.h"
#include "cli.h"
#include "commands.h"
#include "progress.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s rank [options] QUERY DIR|INDEX\n"
            "Prints the images under DIR (searched recursively), or those of a gallery\n"
            "index written by '%s index', most similar to the image QUERY, best first:\n"
            "rank, similarity (0 to 1), path. The query's own file is left out.\n"
            "On an index, a cheap score of every entry picks a shortlist that the\n"
            "network's head then scores exactly (the results carry exact scores).\n\n"
            "  --top N          how many (default 10; 0: all, scored exactly)\n"
            "  --exact          an index: the head on every entry, no shortlist\n"
            "  --shortlist N    an index: entries the head re-scores (default 1%% of the\n"
            "                   entries, at least 256)\n" CLI_COMMON_HELP
            "  -h, --help       this text\n"
            "Exit status: 0 done, 1 the query, the index or every gallery image failed,\n"
            "2 usage error.\n",
            cli_prog, cli_prog);
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

// Whether path names the file st describes (under any name: a hard link,
// a folder reached through a bind mount).
static int same_file(const char *path, const struct stat *st) {
    struct stat s;
    return stat(path, &s) == 0 && s.st_dev == st->st_dev && s.st_ino == st->st_ino;
}

// Results asked of an index search beyond --top: room for other names of
// the query's file among them, which its real path cannot find in the
// index (they are left out as it is).
#define SAME_FILE_SPARE 4

// Takes the query's own file (the same file, under whatever name) out of
// the gallery's paths, saying so: it would be its own best match.
static void leave_out_query(const char *query, char **paths, int *n) {
    struct stat q;
    if (stat(query, &q) != 0) return;  // the embedding says what is wrong with it
    for (int i = 0; i < *n; i++) {
        if (!same_file(paths[i], &q)) continue;
        cli_error("the query is in the gallery (%s): left out of the ranking", paths[i]);
        free(paths[i]);
        memmove(paths + i, paths + i + 1, (*n - i - 1) * sizeof *paths);
        (*n)--;
        i--;
    }
}

// Says why an image of the gallery is left out. The batch that found it
// unreadable kept one reason for all, so the few files named are read
// again for theirs.
static void warn_unreadable(const char *path) {
    Image img;
    Err e;
    if (image_load(path, &img, &e) == 0) {
        image_free(&img);  // (changed since: readable now)
        snprintf(e.msg, sizeof e.msg, "%s: not a readable image", path);
    }
    cli_error("warning: %s; left out", e.msg);
}

static int rank_folder(const CommonOpts *co, const char *query, const char *dir, long top) {
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
    int rc = cli_open_model(co, &be, &m, NULL, mpath, sizeof mpath);
    float *scores = malloc(n * sizeof *scores);
    unsigned char *ok = malloc(n);
    Ranked *order = malloc(n * sizeof *order);
    if (!rc && (!scores || !ok || !order)) {
        cli_error("out of memory for %d images", n);
        rc = EXIT_RUNTIME;
    }
    Progress pr;
    progress_init(&pr);
    EvalOpts o = {.threads = co->threads, .progress = progress_update, .ctx = &pr};
    if (!rc && eval_rank(m, query, (const char *const *)paths, n, &o, scores, ok, &e)) {
        progress_end(&pr);
        cli_error("%s", e.msg);
        rc = EXIT_RUNTIME;
    }
    if (!rc) {
        int k = 0, bad = 0;
        for (int i = 0; i < n; i++) {
            if (ok[i]) order[k++] = (Ranked){scores[i], i};
            else if (bad++ < 5) warn_unreadable(paths[i]);
        }
        if (bad > 5)
            cli_error("warning: %d more unreadable image%s left out", bad - 5,
                      bad == 6 ? "" : "s");
        qsort(order, k, sizeof *order, ranked_cmp);
        long shown = top > 0 && top < k ? top : k;
        // File names found on disk: escaped (a newline in one would make two lines).
        char name[3 * 4096];
        for (long i = 0; i < shown; i++)
            printf("%3ld  %.6f  %s\n", i + 1, order[i].score,
                   text_escape(paths[order[i].index], name, sizeof name));
        if (k == 0) {
            if (n == 1)
                cli_error("%s: its only image could not be read", dir);
            else
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


// The query's entry in the index, if its file is one (by its real path),
// saying so; -1 otherwise.
static long query_entry(const Gallery *g, const char *query, Err *e) {
    char real[PATH_MAX], path[PATH_MAX];
    long at = -1;
    if (!realpath(query, real)) return -1;  // the embedding says what is wrong with it
    if (gallery_find_path(g, real, &at, e)) return -2;
    if (at >= 0 && !gallery_entry_path(g, at, path, sizeof path, e))
        cli_error("the query is in the index (%s): left out of the ranking", path);
    return at;
}

static int rank_index(const CommonOpts *co, const char *query, const char *index,
                      const SearchOpts *so_in) {
    Gallery g;
    Err e;
    if (gallery_open(&g, index, &e)) {
        cli_error("%s", e.msg);
        return EXIT_RUNTIME;
    }
    Backend *be = NULL;
    Model *m = NULL;
    char mpath[4096];
    int rc = cli_open_model(co, &be, &m, NULL, mpath, sizeof mpath);
    SearchOpts so = *so_in;
    const long shown = so.top;
    if (so.top > 0) so.top += SAME_FILE_SPARE;
    const long room = so.top > 0 && so.top < g.n ? so.top : g.n;
    float *q = NULL;
    SearchHit *hits = NULL;
    long n_hits = 0;
    if (!rc && gallery_check_model(&g, m, mpath, &e)) rc = EXIT_RUNTIME;
    if (!rc && !g.arithmetic[0]) {
        char mine[64];
        gallery_arithmetic(be, mine, sizeof mine);
        cli_error("note: %s does not record the arithmetic of its features (an index written "
                  "before siamese recorded it): its scores are exact if it was computed in %s, "
                  "as this run computes; index again into a new file to record it",
                  index, mine);
    }
    if (!rc) {
        q = malloc(m->feat_dim * sizeof *q);
        hits = malloc(room * sizeof *hits);
        if (!q || !hits) {
            snprintf(e.msg, sizeof e.msg, "out of memory for %ld results", room);
            rc = EXIT_RUNTIME;
        }
    }
    unsigned char qok = 0;
    char first[1024];
    EvalOpts eo = {.threads = co->threads};
    if (!rc && eval_embed_files(m, &query, 1, &eo, q, &qok, first, sizeof first, &e))
        rc = EXIT_RUNTIME;
    if (!rc && !qok) {
        snprintf(e.msg, sizeof e.msg, "the query: %.1000s", first);
        rc = EXIT_RUNTIME;
    }
    if (!rc && (so.skip = query_entry(&g, query, &e)) == -2) rc = EXIT_RUNTIME;
    Progress pr;
    progress_init(&pr);
    so.progress = progress_update;
    so.ctx = &pr;
    if (!rc && search_gallery(m, &g, q, &so, hits, &n_hits, &e)) rc = EXIT_RUNTIME;
    progress_end(&pr);
    if (rc && m) cli_error("%s", e.msg);
    struct stat qst;
    const int query_known = stat(query, &qst) == 0;
    long printed = 0, stale = 0;
    char first_stale[PATH_MAX] = "";
    for (long i = 0; !rc && i < n_hits && (shown <= 0 || printed < shown); i++) {
        char path[PATH_MAX];
        int current = 1;
        if (gallery_entry_path(&g, hits[i].index, path, sizeof path, &e) ||
            gallery_entry_current(&g, hits[i].index, path, &current, &e)) {
            cli_error("%s", e.msg);
            rc = EXIT_RUNTIME;
        } else if (query_known && same_file(path, &qst)) {
            cli_error("the query is in the index (%s): left out of the ranking", path);
        } else {
            char name[3 * PATH_MAX];  // escaped, as rank_folder's
            printf("%3ld  %.6f  %s\n", ++printed, hits[i].score,
                   text_escape(path, name, sizeof name));
            if (!current && !stale++) snprintf(first_stale, sizeof first_stale, "%s", path);
        }
    }
    // The index is older than the files: its results are the images as
    // they were, and some may be gone.
    if (stale)
        cli_error("warning: %ld of these results changed or were removed since %s was indexed "
                  "(the first: %s); their scores are those of the files as they were: index "
                  "their folder again to update it",
                  stale, index, first_stale);
    if (!rc && n_hits == 0) {
        if (g.n == 1)
            cli_error("%s: its only entry could not be ranked (it did not decode)", index);
        else
            cli_error("%s: none of its %ld entries could be ranked (none decoded)", index, g.n);
        rc = EXIT_RUNTIME;
    }
    if (m) model_free(m);
    if (be) backend_close(be);
    gallery_close(&g);
    free(q);
    free(hits);
    return rc;
}

int cmd_rank(int argc, char **argv) {
    enum { O_EXACT = 256, O_SHORTLIST };
    static const struct option longs[] = {CLI_COMMON_LONGS,
                                          {"top", required_argument, 0, 'n'},
                                          {"exact", no_argument, 0, O_EXACT},
                                          {"shortlist", required_argument, 0, O_SHORTLIST},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    CommonOpts co;
    common_opts_init(&co);
    SearchOpts so = {.top = 10, .skip = -1};
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, longs, &co)) != -1) {
        switch (c) {
        case CLI_OPT_FAILED: return EXIT_USAGE;
        case 'n':
            if (cli_parse_int("--top", optarg, 0, 100000000, &so.top)) return EXIT_USAGE;
            break;
        case O_EXACT: so.exact = 1; break;
        case O_SHORTLIST:
            if (cli_parse_int("--shortlist", optarg, 1, 1000000000, &so.shortlist))
                return EXIT_USAGE;
            break;
        case 'h': cli_help(usage); return EXIT_OK;
        default: return cli_option_error(c, argv);
        }
    }
    if (argc - optind != 2) {
        cli_error("rank needs a query image and a folder or an index");
        return EXIT_USAGE;
    }
    // The head on every entry, or on a shortlist of N: one search or the
    // other, and ignoring either would hide what was asked.
    if (so.exact && so.shortlist) {
        cli_error("--exact and --shortlist exclude each other: --exact runs the head on every "
                  "entry, --shortlist N on N of them");
        return EXIT_USAGE;
    }
    so.threads = co.threads;
    const char *query = argv[optind], *gallery = argv[optind + 1];
    struct stat st;
    if (stat(gallery, &st) == 0 && !S_ISDIR(st.st_mode))
        return rank_index(&co, query, gallery, &so);
    // A folder's images are all scored exactly: the two stages' options
    // would do nothing there, and saying so beats ignoring them.
    if (so.exact || so.shortlist) {
        cli_error("%s applies to an index (written by '%s index'), and %s is a folder",
                  so.exact ? "--exact" : "--shortlist", cli_prog, gallery);
        return EXIT_USAGE;
    }
    return rank_folder(&co, query, gallery, so.top);
}
