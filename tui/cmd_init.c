// siamese init: a model with Keras's random initialisation, written in the
// Keras layout. Its scores mean nothing until it is trained.
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/weights.h"
#include "cli.h"
#include "commands.h"

// "A,B,C,D,E" into widths; prints the error and returns -1 when malformed.
static int parse_widths(const char *s, int widths[MODEL_BLOCKS]) {
    char buf[128], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (n == MODEL_BLOCKS) break;
        if (cli_parse_int("--widths", tok, 1, 4096, &v)) return -1;
        widths[n++] = (int)v;
    }
    if (n != MODEL_BLOCKS || tok) {
        cli_error("--widths: '%s' is not %d comma-separated channel counts", s, MODEL_BLOCKS);
        return -1;
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s init [options] --out PATH\n"
            "Writes a Siamese model with random (untrained) weights.\n\n"
            "  --backbone vgg16|compact   channel widths (default compact)\n"
            "  --widths A,B,C,D,E         custom channel widths of the five blocks, 1 to 4096\n"
            "                             (tiny models for tests: 4,4,8,8,8)\n"
            "  --hidden N                 units of the hidden Dense layer, 1 to 65536 (default 512)\n"
            "  --input-shape N            input side in pixels, 32 to 1024 (default 105)\n"
            "  --seed N                   random seed (default 0)\n"
            "  --out PATH                 the weights file to write\n"
            "  -h, --help                 this text\n"
            "Exit status: 0 written, 1 runtime failure (a previous PATH is unchanged),\n"
            "2 usage error.\n",
            cli_prog);
}

int cmd_init(int argc, char **argv) {
    static const struct option longs[] = {{"backbone", required_argument, 0, 'b'},
                                          {"widths", required_argument, 0, 'w'},
                                          {"hidden", required_argument, 0, 'H'},
                                          {"input-shape", required_argument, 0, 's'},
                                          {"seed", required_argument, 0, 'r'},
                                          {"out", required_argument, 0, 'o'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *backbone = "compact", *out = NULL;
    long size = 105, seed = 0, hidden = 0;
    int widths[MODEL_BLOCKS], custom_widths = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'b': backbone = optarg; break;
        case 'w':
            if (parse_widths(optarg, widths)) return EXIT_USAGE;
            custom_widths = 1;
            break;
        case 'H':
            if (cli_parse_int("--hidden", optarg, 1, 65536, &hidden)) return EXIT_USAGE;
            break;
        case 's':
            if (cli_parse_int("--input-shape", optarg, MODEL_MIN_INPUT, MODEL_MAX_INPUT, &size))
                return EXIT_USAGE;
            break;
        case 'r':
            if (cli_parse_int("--seed", optarg, 0, 0x7fffffffL, &seed)) return EXIT_USAGE;
            break;
        case 'o': out = optarg; break;
        case 'h': cli_help(usage); return EXIT_OK;
        default: return cli_option_error(c, argv);
        }
    }
    ModelSpec spec;
    if (!strcmp(backbone, "vgg16")) model_spec_vgg16(&spec, (int)size);
    else if (!strcmp(backbone, "compact")) model_spec_compact(&spec, (int)size);
    else {
        cli_error("--backbone: '%s' is not vgg16 or compact", backbone);
        return EXIT_USAGE;
    }
    if (custom_widths) memcpy(spec.widths, widths, sizeof spec.widths);
    if (hidden) spec.hidden = (int)hidden;
    if (optind != argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (out && !*out) out = NULL;  // (--out "" names no file)
    if (!out) {
        cli_error("--out PATH is required");
        return EXIT_USAGE;
    }
    Backend *be;
    Model *m;
    Err e;
    // An existing file is replaced only when it holds weights: a gallery
    // index or an image named by mistake stays (index refuses likewise).
    struct stat st;
    WeightsInfo info;
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        weights_inspect(out, &info, &e)) {
        cli_error("%s; not replaced (init writes over weights files only)", e.msg);
        return EXIT_RUNTIME;
    }
    if (backend_cpu_open(&be, 1, &e)) {
        cli_error("%s", e.msg);
        return EXIT_RUNTIME;
    }
    if (model_create(&m, &spec, be, &e)) {
        cli_error("%s", e.msg);
        backend_close(be);
        return EXIT_RUNTIME;
    }
    int rc = model_init_random(m, (uint64_t)seed, &e) || weights_save(m, out, NULL, &e);
    if (rc) cli_error("%s", e.msg);
    model_free(m);
    backend_close(be);
    return rc ? EXIT_RUNTIME : EXIT_OK;
}
