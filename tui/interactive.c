// The compare loop in a terminal.
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "plain.h"

int cmd_interactive(int argc, char **argv) {
    CommonOpts o;
    common_opts_init(&o);
    int plain = 0;
    if (predict_parse(argc, argv, &o, &plain) < 0) return EXIT_USAGE;
    Backend *be;
    Model *m;
    char path[4096];
    int rc = cli_open_model(&o, &be, &m, NULL, path, sizeof path);
    if (rc) return rc;
    rc = plain_compare_loop(m);
    model_free(m);
    backend_close(be);
    return rc;
}
