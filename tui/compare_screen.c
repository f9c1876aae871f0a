#include "compare_screen.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/compare.h"
#include "../engine/weights.h"
#include "args.h"
#include "canvas.h"
#include "dashboard.h"
#include "history.h"
#include "lineedit.h"
#include "preview.h"
#include "screen.h"
#include "term.h"

// The prompts of the Python predict.py (a space added for the eye).
static const char *const PROMPTS[2] = {"Input image_1 filename: ", "Input image_2 filename: "};
static const char *const COMMAND_WORDS[] = {":model", ":train", ":eval", ":threshold",
                                            ":view",  ":help",  ":quit", NULL};
#define MIN_W 50
#define MIN_H 14
#define N_MSG 2    // message lines under the score
#define N_LOG 200  // messages kept (a command's long output shows in the panel)

static const char *const HELP[] = {
    "Type an image path at each prompt; the score appears once both images are read.",
    "",
    "Keys",
    "  Tab            complete a file name (twice: list the candidates)",
    "  Up / Down      previous / next line from the history (kept between runs)",
    "  Ctrl-R         search the history           Ctrl-A / Ctrl-E  start / end of line",
    "  Ctrl-W / Ctrl-U  delete a word / the line   Ctrl-L  redraw the screen",
    "  Ctrl-D         quit (on an empty line)      Ctrl-C  quit",
    "",
    "Commands",
    "  :model PATH          load other weights",
    "  :train OPTIONS       train with the dashboard ('siamese train --help' lists the options)",
    "  :eval OPTIONS        run 'siamese eval' (with this model unless --model is given)",
    "  :threshold X         scores from X up mean 'same'",
    "  :view ascii|blocks   previews as ASCII art or as coloured half blocks",
    "  :help                this text",
    "  :quit                leave (as Ctrl-D)",
};

typedef struct Message {
    char text[512];
    int error;
} Message;

typedef struct CompareUI {
    Backend *be;
    Model *m;
    char model_path[4096];
    int untrained;  // the stand-in `make` writes: say so, its scores mean nothing
    int letterbox;  // -1: as the weights file says
    double threshold;
    PreviewMode mode;
    int stage;  // 0: asking for image_1, 1: for image_2
    Image img[2];
    char path[2][4096];
    int comparing;  // both images read: the comparison runs after the next draw
    int have_score;
    float score;
    double ms;           // the last comparison's duration
    Message log[N_LOG];  // messages, oldest first
    int n_log;
    int burst;  // where the output of the line being handled starts in log
    int show_help, show_output;
    char *lines[16];  // finished lines, handled after readline returns
    int n_lines;
    int quit;
    int status;
} CompareUI;

static void say(CompareUI *u, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(CompareUI *u, int error, const char *fmt, ...) {
    if (u->n_log == N_LOG) {
        memmove(&u->log[0], &u->log[1], sizeof u->log[0] * (N_LOG - 1));
        u->n_log--;
        if (u->burst > 0) u->burst--;
    }
    Message *m = &u->log[u->n_log++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof m->text, fmt, ap);
    va_end(ap);
    m->error = error;
}

// ---- drawing ----------------------------------------------------------------

// 1511633 -> "1,511,633"
static void fmt_thousands(size_t n, char *buf, size_t len) {
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%zu", n), k = 0;
    for (int i = 0; i < nd && k + 2 < (int)len; i++) {
        if (i && (nd - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
}

static void draw_header(const CompareUI *u, Canvas *c) {
    char arch[96], params[32], t[1024];
    model_spec_describe(&u->m->spec, arch, sizeof arch);
    canvas_fill(c, 0, 0, 1, c->w, ' ', CA_REVERSE);
    snprintf(t, sizeof t, " siamese   model %s", u->model_path);
    int x = canvas_text(c, 0, 0, c->w, CA_REVERSE | CA_BOLD, t);
    if (u->untrained)
        canvas_text(c, 0, x, c->w - x, CA_REVERSE,
                    "   UNTRAINED (random weights: scores mean nothing)");
    fmt_thousands(model_param_count(u->m), params, sizeof params);
    snprintf(t, sizeof t, " %s, input %d, %s parameters   device %s", arch, u->m->spec.input_size,
             params, u->be->desc);
    x = canvas_text(c, 1, 0, c->w, 0, t);
    if (u->have_score) {
        snprintf(t, sizeof t, "   compared in %.0f ms", u->ms);
        canvas_text(c, 1, x, c->w - x, CA_DIM, t);
    }
}

static void draw_image_panel(const CompareUI *u, Canvas *c, int k, int y, int x, int h, int w) {
    char title[4200];
    snprintf(title, sizeof title, "image_%d%s%s", k + 1, u->img[k].rgb ? ": " : "",
             u->img[k].rgb ? u->path[k] : "");
    canvas_box(c, y, x, h, w, title);
    if (u->img[k].rgb) {
        if (preview_draw(c, y + 1, x + 1, w - 2, h - 2, &u->img[k], u->mode))
            canvas_text(c, y + 1, x + 2, w - 4, CA_DIM, "(no memory for the preview)");
    } else {
        canvas_text(c, y + h / 2, x + 2, w - 4, CA_DIM,
                    u->stage == k ? "waiting for a path below" : "");
    }
}

// A command's output longer than the message lines (':train --help', the
// training summary), in place of the previews until the next line.
static void draw_output(const CompareUI *u, Canvas *c, int y, int h) {
    canvas_box(c, y, 0, h, c->w, "Output");
    int first = u->n_log - (h - 2) > u->burst ? u->n_log - (h - 2) : u->burst;
    for (int i = first; i < u->n_log; i++)
        canvas_textc(c, y + 1 + i - first, 2, c->w - 4, 0, u->log[i].error ? COL_RED : -1,
                     u->log[i].text);
}

static void draw_help(Canvas *c, int y, int h) {
    canvas_box(c, y, 0, h, c->w, "Help");
    for (int i = 0; i < (int)(sizeof HELP / sizeof *HELP) && i < h - 2; i++)
        canvas_text(c, y + 1 + i, 2, c->w - 4, HELP[i][0] != ' ' ? CA_BOLD : 0, HELP[i]);
}

// The Tab candidates in columns, in a box that rises from just above the
// messages over the previews.
static void draw_matches(Canvas *c, int bottom, int max_h) {
    const char *const *list;
    int n = lineedit_matches(&list);
    if (!n) return;
    int wmax = 1;
    for (int i = 0; i < n; i++)
        if ((int)strlen(list[i]) > wmax) wmax = (int)strlen(list[i]);
    int colw = wmax + 2 < c->w - 4 ? wmax + 2 : c->w - 4;
    int ncols = (c->w - 4) / colw, rows = (n + ncols - 1) / ncols;
    if (rows > max_h - 2) rows = max_h - 2;
    if (rows < 1) return;
    int shown = rows * ncols < n ? rows * ncols - 1 : n, y = bottom - rows - 2;
    char title[64];
    snprintf(title, sizeof title, "%d candidates", n);
    canvas_fill(c, y, 0, rows + 2, c->w, ' ', 0);
    canvas_box(c, y, 0, rows + 2, c->w, title);
    for (int i = 0; i < shown; i++)  // column-major, as readline lists them
        canvas_text(c, y + 1 + i % rows, 2 + i / rows * colw, colw - 1,
                    list[i][strlen(list[i]) - 1] == '/' ? CA_BOLD : 0, list[i]);
    if (shown < n) {
        char more[32];
        snprintf(more, sizeof more, "+%d more", n - shown);
        canvas_text(c, y + rows, 2 + (ncols - 1) * colw, colw - 1, CA_DIM, more);
    }
}

static void draw_score(const CompareUI *u, Canvas *c, int y) {
    if (!u->have_score) {
        canvas_text(c, y, 1, c->w - 2, CA_DIM,
                    u->comparing    ? "Similarity: comparing..."
                    : u->stage == 1 ? "Similarity: waiting for image_2"
                                    : "Similarity: -");
        return;
    }
    char t[64];
    int same = u->score >= u->threshold;
    snprintf(t, sizeof t, "Similarity: %.6f ", u->score);
    int x = 1 + canvas_text(c, y, 1, -1, CA_BOLD, t);
    snprintf(t, sizeof t, " %s (threshold %.2f)", same ? "SAME" : "DIFFERENT", u->threshold);
    int bar = c->w - x - (int)strlen(t) - 2;
    if (bar > 40) bar = 40;
    if (bar >= 5) {
        canvas_bar(c, y, x, bar, u->score, same ? COL_GREEN : COL_RED);
        x += bar;
    }
    canvas_textc(c, y, x, c->w - x - 1, CA_BOLD, same ? COL_GREEN : COL_RED, t);
}

// The prompt and the line being edited, scrolled sideways so the cursor
// stays in view; places the terminal cursor.
static void draw_prompt(Canvas *c, int y) {
    const char *prompt = lineedit_prompt(), *text = lineedit_text();
    int point = lineedit_point(), col = 0, cursor = 0, k;
    uint32_t cp;
    // Columns of the prompt and of the text before the cursor.
    int pw = 0;
    for (const char *p = prompt; (k = utf8_decode(p, &cp)) > 0; p += k) pw++;
    for (const char *p = text; (k = utf8_decode(p, &cp)) > 0 && p - text < point; p += k) cursor++;
    // The prompt in the text's own attributes: the line goes out as one
    // run of characters, which scripts driving the screen can match.
    int x = canvas_text(c, y, 0, c->w - 8 > pw ? pw : c->w - 8, 0, prompt);
    int room = c->w - x - 1, skip = cursor >= room ? cursor - room + 1 : 0;
    for (const char *p = text; (k = utf8_decode(p, &cp)) > 0; p += k, col++)
        if (col >= skip) canvas_put(c, y, x + col - skip, cp < 0x20 ? '?' : cp, 0, -1, -1);
    c->cursor_y = y;
    c->cursor_x = x + cursor - skip;
}

static void cmp_draw(void *self, Canvas *c) {
    CompareUI *u = self;
    if (screen_too_small(c, MIN_W, MIN_H)) {
        draw_prompt(c, c->h - 1);
        return;
    }
    // Rows: header (2), the two image panels, the score, messages, prompt, keys.
    const int score_y = c->h - 3 - N_MSG, panel_y = 2, panel_h = score_y - panel_y;
    draw_header(u, c);
    if (u->show_help) {
        draw_help(c, panel_y, panel_h);
    } else if (u->show_output) {
        draw_output(u, c, panel_y, panel_h);
    } else {
        int half = c->w / 2;
        draw_image_panel(u, c, 0, panel_y, 0, panel_h, half);
        draw_image_panel(u, c, 1, panel_y, half, panel_h, c->w - half);
    }
    draw_matches(c, score_y, panel_h);
    draw_score(u, c, score_y);
    for (int i = u->n_log > N_MSG ? u->n_log - N_MSG : 0, y = score_y + 1; i < u->n_log; i++, y++)
        canvas_textc(c, y, 1, c->w - 2, u->log[i].error ? CA_BOLD : 0,
                     u->log[i].error ? COL_RED : -1, u->log[i].text);
    canvas_text(c, c->h - 1, 0, c->w, CA_DIM,
                " Tab complete  Up/Down history  Ctrl-R search  :help  Ctrl-D quit");
    draw_prompt(c, c->h - 2);
}

// ---- what the lines do -------------------------------------------------------

static void compare_now(CompareUI *u) {
    Err e;
    u->comparing = 0;
    double t0 = cli_now();
    if (compare_images(u->m, &u->img[0], &u->img[1], &u->score, &e)) {
        say(u, 1, "%s", e.msg);
        u->have_score = 0;
        return;
    }
    u->ms = (cli_now() - t0) * 1e3;
    u->have_score = 1;
}

static void take_path(CompareUI *u, const char *line) {
    Image img;
    Err e;
    int k = u->stage;
    char *path = args_path(line);
    if (!path) {
        say(u, 1, "out of memory");
        return;
    }
    if (image_load(path, &img, &e)) {
        // The Python original's words, then why.
        say(u, 1, "Image_%d Open Error! Try again! (%s)", k + 1, e.msg);
        free(path);
        return;
    }
    image_free(&u->img[k]);
    u->img[k] = img;
    snprintf(u->path[k], sizeof u->path[k], "%s", path);
    free(path);
    u->have_score = 0;
    if (k == 0) {
        image_free(&u->img[1]);
        u->stage = 1;
    } else {
        u->comparing = 1;  // cmp_tick runs it once the screen says so
        u->stage = 0;
    }
    lineedit_set_prompt(PROMPTS[u->stage]);
}

// Lines written to stdout/stderr while the screen is up become messages.
static int drain_captured(CompareUI *u) {
    char line[512];
    int n = 0;
    for (; term_captured(line, sizeof line); n++) say(u, 0, "%s", line);
    return n;
}

static void colon_model(CompareUI *u, int argc, char **argv) {
    if (argc != 2) {
        say(u, 1, ":model takes one path (the weights file)");
        return;
    }
    Model *m;
    Err e;
    if (weights_open_model(&m, argv[1], u->be, NULL, &e)) {
        say(u, 1, "%s", e.msg);
        return;
    }
    if (u->letterbox >= 0) m->spec.pre.letterbox = u->letterbox;
    model_free(u->m);
    u->m = m;
    u->untrained = 0;
    snprintf(u->model_path, sizeof u->model_path, "%s", argv[1]);
    say(u, 0, "loaded %s", argv[1]);
    if (u->img[0].rgb && u->img[1].rgb) compare_now(u);  // the pair on screen, rescored
}

static void colon_train(CompareUI *u, int argc, char **argv) {
    TrainConfig cfg;
    // Usage errors and --help print; the capture shows them as messages.
    int parsed = train_parse_args(argc, argv, &cfg);
    if (parsed < 0) say(u, 0, "':train --help' lists the options.");
    if (parsed) return;
    int rc = dashboard_run(&cfg);
    // The dashboard's summary (the epochs, the checkpoint, why it stopped)
    // arrives through the capture and shows in the output panel.
    drain_captured(u);
    if (rc == EXIT_OK) {
        say(u, 0, "training closed; ':model PATH' loads a checkpoint");
    } else if (rc != EXIT_RUNTIME) {  // stopped by a signal: leave too
        u->quit = 1;
        u->status = rc;
    }
}

// Runs `siamese eval ...` (this program) on the plain terminal and comes
// back when it ends and the user pressed Enter.
static void colon_eval(CompareUI *u, int argc, char **argv) {
    int has_model = 0;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--model", 7)) has_model = 1;
    char **child = calloc((size_t)argc + 4, sizeof *child);
    if (!child) return;
    child[0] = "siamese";
    child[1] = "eval";
    int n = 2;
    for (int i = 1; i < argc; i++) child[n++] = argv[i];
    if (!has_model) {
        child[n++] = "--model";
        child[n++] = u->model_path;
    }
    term_stop();
    // As system(): the child owns Ctrl-C while it runs.
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    int status = -1;
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        execv("/proc/self/exe", child);
        perror("siamese eval");
        _exit(127);
    }
    if (pid > 0) waitpid(pid, &status, 0);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    free(child);
    printf("\n[eval ended; press Enter to return to the compare screen]");
    fflush(stdout);
    // Byte by byte: stdio would keep keys typed ahead from curses.
    char ch;
    while (read(STDIN_FILENO, &ch, 1) == 1 && ch != '\n') {}
    char why[256];
    if (term_start(why, sizeof why)) {
        // The terminal went away meanwhile: nothing to go back to.
        fprintf(stderr, "%s: %s\n", cli_prog, why);
        u->quit = 1;
        u->status = EXIT_RUNTIME;
        return;
    }
    if (pid < 0)
        say(u, 1, "could not start siamese eval");
    else if (WIFEXITED(status))
        say(u, WEXITSTATUS(status) != 0, "eval exited with status %d", WEXITSTATUS(status));
    else
        say(u, 1, "eval ended by signal %d", WTERMSIG(status));
}

static void run_command(CompareUI *u, const char *line) {
    int argc;
    char **argv;
    if (args_split(line + 1, &argc, &argv)) {
        say(u, 1, "unclosed quote in '%s'", line);
        return;
    }
    const char *name = argc ? argv[0] : "";
    if (!strcmp(name, "help") || !strcmp(name, "h") || !strcmp(name, "?")) {
        u->show_help = 1;
    } else if (!strcmp(name, "quit") || !strcmp(name, "q") || !strcmp(name, "exit")) {
        u->quit = 1;
    } else if (!strcmp(name, "model")) {
        colon_model(u, argc, argv);
    } else if (!strcmp(name, "train")) {
        colon_train(u, argc, argv);
    } else if (!strcmp(name, "eval")) {
        colon_eval(u, argc, argv);
    } else if (!strcmp(name, "threshold")) {
        char *end;
        double t = argc == 2 ? strtod(argv[1], &end) : -1;
        if (argc != 2 || *end || !(t >= 0 && t <= 1))
            say(u, 1, ":threshold takes a number from 0 to 1");
        else
            u->threshold = t;
    } else if (!strcmp(name, "view")) {
        if (argc == 2 && !strcmp(argv[1], "ascii"))
            u->mode = PREVIEW_ASCII;
        else if (argc == 2 && !strcmp(argv[1], "blocks")) {
            if (term_utf8() && term_colors() >= 256)
                u->mode = PREVIEW_BLOCKS;
            else
                say(u, 1, "half blocks need a UTF-8 terminal with 256 colours");
        } else
            say(u, 1, ":view takes ascii or blocks");
    } else {
        say(u, 1, "unknown command ':%s' (:help lists the commands)", name);
    }
    args_free(argc, argv);
}

static void handle_line(CompareUI *u, char *line) {
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) p[--n] = '\0';
    if (*p) {
        if (u->comparing) compare_now(u);  // typed ahead: finish the pair on screen first
        history_remember(p);
        history_save();  // at once: a crash or a kill keeps it too
        u->show_help = u->show_output = 0;
        u->burst = u->n_log;
        if (*p == ':')
            run_command(u, p);
        else
            take_path(u, p);
        drain_captured(u);
        u->show_output = u->n_log - u->burst > N_MSG;
    }
    free(line);
}

// readline's handler: only queue the line, so the work (a comparison, a
// whole training run) happens outside readline's callback.
static void on_line(char *line, void *ctx) {
    CompareUI *u = ctx;
    if (!line)
        u->quit = 1;  // Ctrl-D on an empty line
    else if (u->n_lines < (int)(sizeof u->lines / sizeof *u->lines))
        u->lines[u->n_lines++] = line;
    else
        free(line);
}

static int cmp_key(void *self, int ch) {
    CompareUI *u = self;
    if (ch == 12) return SCREEN_REPAINT;  // Ctrl-L: readline would clear a screen it doesn't own
    lineedit_feed(ch);
    // Lines after a quit are dropped.
    for (int i = 0; i < u->n_lines; i++) {
        if (u->quit)
            free(u->lines[i]);
        else
            handle_line(u, u->lines[i]);
    }
    u->n_lines = 0;
    return u->quit ? SCREEN_QUIT : u->comparing ? SCREEN_REDRAW | SCREEN_AGAIN : SCREEN_REDRAW;
}

static int cmp_tick(void *self) {
    CompareUI *u = self;
    int flags = 0;
    // A comparison asked for by a key runs here, after the screen showed
    // "comparing..." (cmp_key returned SCREEN_AGAIN, so the draw came first).
    if (u->comparing && !u->quit) {
        compare_now(u);
        flags = SCREEN_REDRAW;
    }
    return drain_captured(u) ? SCREEN_REDRAW : flags;
}

int compare_screen_run(Backend *be, Model **m, const char *model_path, const PredictOpts *o,
                       char *why, size_t why_len) {
    static const Screen screen = {cmp_draw, cmp_key, cmp_tick, NULL};
    CompareUI *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    if (term_start(why, why_len)) {
        free(u);
        return -1;
    }
    u->be = be;
    u->m = *m;
    snprintf(u->model_path, sizeof u->model_path, "%s", model_path);
    char found[4096];
    int untrained;
    cli_model_path(&o->common, found, sizeof found, &untrained);
    u->untrained = untrained && !strcmp(found, model_path);
    u->letterbox = o->common.letterbox;
    u->threshold = o->threshold;
    u->mode = PREVIEW_ASCII;
    if (o->blocks) {
        if (term_utf8() && term_colors() >= 256)
            u->mode = PREVIEW_BLOCKS;
        else
            say(u, 1, "--blocks needs a UTF-8 terminal with 256 colours: showing ASCII");
    }
    history_open();
    lineedit_setup(COMMAND_WORDS);
    lineedit_begin(PROMPTS[0], on_line, u);
    int sig = screen_run(&screen, u);
    lineedit_end();
    history_save();
    term_stop();
    int status = sig ? term_signal_status(sig) : u->status;
    *m = u->m;
    image_free(&u->img[0]);
    image_free(&u->img[1]);
    free(u);
    return status;
}
