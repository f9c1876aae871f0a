// The compare loop without curses (--plain, or a terminal without curses):
// the experience of the Python predict.py with readline line editing.
// Its prompts and result lines are stable, for users' expect scripts:
//   Input image_1 filename:       (prompt)
//   Input image_2 filename:       (prompt)
//   Similarity: 0.973215          (result; with --verdict "... SAME" or "... DIFFERENT")
//   Image_1 Open Error! Try again! (reason)   (on a bad path, on stderr)
#include "plain.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/compare.h"
#include "args.h"
#include "cli.h"
#include "commands.h"
#include "history.h"

// Prompts until a readable image or end of input (returns -1).
static int ask_image(const char *prompt, const char *label, Image *img) {
    for (;;) {
        char *line = readline(prompt);
        if (!line) return -1;
        char *p = line;
        while (*p == ' ') p++;
        size_t n = strlen(p);
        while (n && p[n - 1] == ' ') p[--n] = '\0';
        if (!*p) {
            free(line);
            continue;
        }
        history_remember(p);
        Err e;
        char *path = args_path(p);
        int rc = path ? image_load(path, img, &e) : err_set(&e, "out of memory");
        free(path);
        free(line);
        if (rc == 0) return 0;
        fprintf(stderr, "%s Open Error! Try again! (%s)\n", label, e.msg);
    }
}

int plain_compare_loop(Model *m, const PredictOpts *o) {
    history_open();
    int rc = EXIT_OK;
    for (;;) {
        Image a, b;
        if (ask_image("Input image_1 filename:", "Image_1", &a)) break;
        if (ask_image("Input image_2 filename:", "Image_2", &b)) {
            image_free(&a);
            break;
        }
        float prob;
        Err e;
        if (compare_images(m, &a, &b, &prob, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            rc = EXIT_RUNTIME;
        } else {
            printf("Similarity: ");
            predict_print_score(stdout, prob, o);
            fflush(stdout);
        }
        image_free(&a);
        image_free(&b);
    }
    putchar('\n');
    history_save();
    return rc;
}
