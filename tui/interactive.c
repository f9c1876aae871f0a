// The compare loop in a terminal: the curses screen, or the readline
// prompts of the Python predict.py with --plain (or where curses can't run).
#include <locale.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "compare_screen.h"
#include "plain.h"
#include "term.h"

int cmd_interactive(const PredictOpts *o) {
    setlocale(LC_CTYPE, "");  // readline and curses edit and show UTF-8 names
    Backend *be;
    Model *m;
    char path[4096], why[256] = "";
    // The screen first: what opening the model says (-v's device, the
    // untrained model's warning) then shows in it, rather than on the
    // terminal behind it, where it would reappear after quitting. (An error
    // is written out when the screen stops.)
    int screen = !o->plain && term_start(why, sizeof why) == 0;
    int rc = cli_open_model(&o->common, &be, &m, NULL, path, sizeof path);
    if (rc) {
        term_stop();
        return rc;
    }
    rc = -1;
    if (screen) rc = compare_screen_run(be, &m, path, o, why, sizeof why);
    if (rc < 0) {
        term_stop();  // a screen started above that could not run (out of memory) goes first
        if (!o->plain)
            fprintf(stderr, "%s: no full-screen interface (%s): plain prompts\n", cli_prog, why);
        rc = plain_compare_loop(m, o);
    }
    model_free(m);
    backend_close(be);
    return rc;
}
