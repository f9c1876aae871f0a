// siamese index: the features of every image under a folder, computed once
// and kept in a gallery index (engine/gallery.h) that `rank` searches
// without decoding the images again. Run again, it updates the index.
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "../engine/gallery.h"
#include "cli.h"
#include "commands.h"
#include "shared_embedding.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s index [options] DIR --out FILE\n"
            "Computes the features of every image under DIR (searched recursively) and\n"
            "writes them, with the files' paths, sizes and times, the model's identity and\n"
            "the arithmetic (device kind and --precision) they were computed in, to FILE,\n"
            "a gallery index: '%s rank QUERY FILE' then ranks its images without decoding\n"
            "them. When FILE is an index made with the same model and arithmetic it is\n"
            "updated: new and changed files under DIR are embedded, removed ones dropped,\n"
            "and the entries of other folders kept. FILE is replaced atomically.\n\n"
            "  --out FILE       the index to write or update (required)\n"
            "  --synthetic N    (benchmarks) instead of DIR, a new index of N made-up entries\n"
            "                   with the model's identity, features drawn in clusters\n"
            "  --seed N         --synthetic's seed (default 1)\n" CLI_COMMON_HELP
            "  -h, --help       this text\n"
            "Exit status: 0 done, 1 runtime failure (the previous FILE is unchanged),\n"
            "2 usage error, 130/143 interrupted (the previous FILE is unchanged).\n",
            cli_prog, cli_prog);
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

int cmd_index(int argc, char **argv) {
    enum { O_OUT = 256, O_SYNTHETIC, O_SEED };
    static const struct option longs[] = {CLI_COMMON_LONGS,
                                          {"out", required_argument, 0, O_OUT},
                                          {"synthetic", required_argument, 0, O_SYNTHETIC},
                                          {"seed", required_argument, 0, O_SEED},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    CommonOpts co;
    common_opts_init(&co);
    const char *out = NULL;
    long synthetic = 0, seed = 1;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, longs, &co)) != -1) {
        switch (c) {
        case CLI_OPT_FAILED: return EXIT_USAGE;
        case O_OUT: out = optarg; break;
        case O_SYNTHETIC:
            if (cli_parse_int("--synthetic", optarg, 1, 100000000, &synthetic)) return EXIT_USAGE;
            break;
        case O_SEED:
            if (cli_parse_int("--seed", optarg, 0, 0x7fffffffffffffffL, &seed)) return EXIT_USAGE;
            break;
        case 'h': cli_help(usage); return EXIT_OK;
        default: return cli_option_error(c, argv);
        }
    }
    if (out && !*out) out = NULL;  // (--out "" names no file)
    if (argc - optind != !synthetic || !out) {
        cli_usage_error(!out        ? "index needs --out FILE"
                  : synthetic ? "--synthetic N takes no folder"
                              : "index needs one folder (DIR)");
        return EXIT_USAGE;
    }
    const char *dir = synthetic ? NULL : argv[optind];
    // Under an MPI launcher rank 0 does what one process does, the other
    // ranks embed their shares of its files.
    SharedEmbedding s;
    int rc = shared_embedding_open(&co, &s);
    if (rc) return rc;
    // The first signal stops the update between two batches (the previous
    // index stays), on every rank; a second one ends the program at once.
    cli_catch_stop_signals(on_signal);
    GalleryUpdate st = {0};
    Err e;
    if (s.dist->rank > 0) {
        rc = shared_embedding_serve(&s, &got_signal);
    } else if (synthetic ? gallery_index_synthetic(s.m, s.model_path, synthetic, (uint64_t)seed,
                                                   out, &s.o, &st, &e)
                         : gallery_index(s.m, s.model_path, dir, out, &s.o, &got_signal, &st,
                                         &e)) {
        progress_end(&s.progress);
        cli_error("%s", e.msg);
        rc = cli_failure_status(got_signal ? got_signal : st.stopped);
    } else {
        char retried[64] = "";
        if (st.retried) snprintf(retried, sizeof retried, ", %ld undecodable tried again", st.retried);
        printf("%s: %ld entr%s: %ld embedded (%ld new, %ld changed%s), %ld kept, %ld removed\n",
               out, st.entries, st.entries == 1 ? "y" : "ies", st.added + st.changed + st.retried,
               st.added, st.changed, retried, st.kept, st.removed);
        if (st.unrecorded) {
            char mine[64];
            gallery_arithmetic(s.be, mine, sizeof mine);
            cli_error("note: %s recorded no arithmetic for its features (an index written before "
                      "siamese recorded it), and its %ld kept entries may not be %s as the new "
                      "ones are, so it records none still; index into a new file to record it",
                      out, st.kept, mine);
        }
        for (long i = 0; i < st.unreadable && i < GALLERY_NAMED; i++)
            cli_error("warning: %s", st.unreadable_msg[i]);
        if (st.unreadable > GALLERY_NAMED)
            cli_error("warning: and %ld more", st.unreadable - GALLERY_NAMED);
        if (st.unreadable)
            cli_error("warning: %ld file%s did not decode and will not be ranked; the next "
                      "update tries %s again",
                      st.unreadable, st.unreadable == 1 ? "" : "s",
                      st.unreadable == 1 ? "it" : "them");
    }
    shared_embedding_close(&s);
    return rc;
}
