// siamese init: a model with Keras's random initialisation, written in the
// Keras layout. Its scores mean nothing until it is trained.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../engine/weights.h"
#include "cli.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s init [options] --out PATH\n"
            "Writes a Siamese model with random (untrained) weights.\n\n"
            "  --backbone vgg16|compact   channel widths (default compact)\n"
            "  --input-shape N            input side in pixels, 32 to 1024 (default 105)\n"
            "  --seed N                   random seed (default 0)\n"
            "  --out PATH                 the weights file to write\n",
            cli_prog);
}

int cmd_init(int argc, char **argv) {
    static const struct option longs[] = {{"backbone", required_argument, 0, 'b'},
                                          {"input-shape", required_argument, 0, 's'},
                                          {"seed", required_argument, 0, 'r'},
                                          {"out", required_argument, 0, 'o'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *backbone = "compact", *out = NULL;
    long size = 105, seed = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'b': backbone = optarg; break;
        case 's':
            if (cli_parse_int("--input-shape", optarg, MODEL_MIN_INPUT, MODEL_MAX_INPUT, &size))
                return EXIT_USAGE;
            break;
        case 'r':
            if (cli_parse_int("--seed", optarg, 0, 0x7fffffffL, &seed)) return EXIT_USAGE;
            break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return EXIT_OK;
        case ':': cli_error("option %s needs a value", argv[optind - 1]); return EXIT_USAGE;
        default:
            cli_error("unknown option '%s'", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    ModelSpec spec;
    if (!strcmp(backbone, "vgg16")) model_spec_vgg16(&spec, (int)size);
    else if (!strcmp(backbone, "compact")) model_spec_compact(&spec, (int)size);
    else {
        cli_error("--backbone: '%s' is not vgg16 or compact", backbone);
        return EXIT_USAGE;
    }
    if (optind != argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!out) {
        cli_error("--out PATH is required");
        usage(stderr);
        return EXIT_USAGE;
    }
    Backend *be;
    Model *m;
    Err e;
    if (backend_cpu_open(&be, 1, &e) || model_create(&m, &spec, be, &e)) {
        cli_error("%s", e.msg);
        return EXIT_RUNTIME;
    }
    model_init_random(m, (uint64_t)seed);
    int rc = weights_save(m, out, NULL, &e);
    if (rc) cli_error("%s", e.msg);
    model_free(m);
    backend_close(be);
    return rc ? EXIT_RUNTIME : EXIT_OK;
}
