#include "compare_screen.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/compare.h"
#include "../engine/text.h"
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
static const char *const COMMAND_WORDS[] = {":model", ":train", ":eval", ":threshold", ":view",
                                            ":log",   ":help",  ":quit", NULL};
// Below this size the screen drops the keys line and the second header
// row, and gives the score and the prompt their rows before anything else
// (see layout()).
#define FULL_W 50
#define FULL_H 14
#define N_MSG 2    // message rows under the score
#define N_LOG 200  // messages kept (the log panel shows them)
#define ESC 27

// Each line fits a standard 80x24 terminal: 76 columns inside the panel's
// box (tests/sh/screens.sh).
static const char *const HELP[] = {
    "Type an image path at each prompt; the score shows once both are read.",
    "Paths are read as a shell reads them: ~ is your home folder, and quotes",
    "and \\ escapes are taken off.",
    "",
    "Keys",
    "  Tab            complete a file name (twice: list the candidates)",
    "  Up / Down      previous / next line from the history (kept between runs)",
    "  Ctrl-R         search the history    Ctrl-A / Ctrl-E  start / end of line",
    "  Ctrl-W / Ctrl-U  delete a word / the line   Ctrl-L  redraw the screen",
    "  PgUp / F2      the messages; PgUp / PgDn scroll them (and this text)",
    "  Esc, q, Enter  close this panel or the messages",
    "                 (q and Enter on an empty line)",
    "  mouse          click an image to change it, the score to see the messages",
    "  Ctrl-D         quit (on an empty line)      Ctrl-C  quit",
    "",
    "Commands",
    "  :model PATH          load other weights",
    "  :train OPTIONS       train with the dashboard ('siamese train --help')",
    "  :eval OPTIONS        run 'siamese eval' (with this model unless --model)",
    "  :threshold X         scores from X up mean 'same'",
    "  :view ascii|blocks   previews as ASCII art or as coloured half blocks",
    "  :log                 the messages",
    "  :help                this text (F1)",
    "  :quit                leave (as Ctrl-D)",
};

typedef struct Message {
    char text[1200];
    int error;
} Message;

// What the area above the score shows.
typedef enum Panel { PANEL_IMAGES, PANEL_HELP, PANEL_LOG } Panel;

// Where things are on a canvas of a given size; -1: not shown.
typedef struct Layout {
    int w, h;
    int full;              // the roomy layout (header 2 rows, keys line)
    int panel_y, panel_h;  // the images, help or messages (boxes need 3 rows)
    int score_y, msg_y, msg_rows, prompt_y, keys_y;
} Layout;

typedef struct CompareUI {
    Backend *be;
    Model *m;
    char model_path[4096];
    int untrained;  // the stand-in `make` writes: say so, its scores mean nothing
    int letterbox;  // -1: as the weights file says
    double threshold;
    PreviewMode mode;
    int stage;       // the image the prompt asks for: 0 image_1, 1 image_2
    int keep_other;  // a click asked to change one image: the other stays
    Image img[2];
    char path[2][4096];
    int comparing;  // both images read: the comparison runs after the next draw
    int have_score;
    float score;
    double ms;           // the last comparison's duration
    Message log[N_LOG];  // messages, oldest first
    int n_log;
    int burst;  // where the messages of the line last entered start in log
    Panel panel;
    int log_scroll;  // log rows hidden below the panel (PgUp scrolls back)
    int help_top;    // help rows scrolled off the top
    unsigned char esc[32];  // an escape sequence being read (a key, a click)
    int n_esc;
    Layout lay;       // of the last drawing, for mouse clicks
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

static Layout layout(int w, int h) {
    Layout l = {.w = w, .h = h, .full = w >= FULL_W && h >= FULL_H};
    // From the bottom: the keys, the prompt, the messages, the score; the
    // header on top; the panel between. A small window keeps the prompt,
    // then the score, then a message row, rather than hiding what it asks.
    l.keys_y = l.full ? h - 1 : -1;
    l.prompt_y = l.full ? h - 2 : h - 1;
    l.msg_rows = l.full ? N_MSG : h >= 3 ? 1 : 0;
    l.msg_y = l.prompt_y - l.msg_rows;
    l.score_y = l.msg_y - 1;
    int header = l.full ? 2 : l.score_y >= 2 ? 1 : 0;
    l.panel_y = header;
    l.panel_h = l.score_y - header;
    return l;
}

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

static void draw_header(const CompareUI *u, Canvas *c, const Layout *l) {
    char arch[96], params[32], t[1024], name[1024];
    model_spec_describe(&u->m->spec, arch, sizeof arch);
    canvas_fill(c, 0, 0, 1, c->w, ' ', CA_REVERSE);
    const char *slash = strrchr(u->model_path, '/');
    if (!l->full) {
        // One row: the model's file name and architecture.
        text_fit(t, sizeof t, " siamese  %s  %s%s", slash ? slash + 1 : u->model_path, arch,
                 u->untrained ? "  UNTRAINED" : "");
        canvas_text(c, 0, 0, c->w, CA_REVERSE | CA_BOLD, t);
        return;
    }
    const char *warn = u->untrained ? "   UNTRAINED (random weights: scores mean nothing)" : "";
    if (u->have_score) {
        snprintf(t, sizeof t, "compared in %.0f ms ", u->ms);
        canvas_text(c, 0, c->w - (int)strlen(t), -1, CA_REVERSE, t);
    }
    // The path cut on the left when long: its file name is what names it.
    utf8_tail(u->model_path, c->w - 40 - utf8_columns(warn), name, sizeof name);
    text_fit(t, sizeof t, " siamese   model %s", name);
    int x = canvas_text(c, 0, 0, c->w, CA_REVERSE | CA_BOLD, t);
    canvas_text(c, 0, x, c->w - x, CA_REVERSE, warn);
    fmt_thousands(model_param_count(u->m), params, sizeof params);
    // How the model wants its input: a model trained with --invert sees
    // 1 - x (dark strokes on white become 1), and predict does the same.
    const Preprocess *pre = &u->m->spec.pre;
    snprintf(t, sizeof t, " %s, input %d%s, %s, %s parameters   device %s", arch,
             u->m->spec.input_size, pre->letterbox ? " letterboxed" : "",
             pre->invert ? "inverted (1 - x)" : "not inverted", params, u->be->desc);
    if (utf8_columns(t) > c->w)  // the parameter count gives way first
        snprintf(t, sizeof t, " %s, input %d%s, %s   device %s", arch, u->m->spec.input_size,
                 pre->letterbox ? " letterboxed" : "", pre->invert ? "inverted (1 - x)" : "not inverted",
                 u->be->desc);
    canvas_text(c, 1, 0, c->w, 0, t);
}

static void draw_image_panel(const CompareUI *u, Canvas *c, int k, int y, int x, int h, int w) {
    char title[4200], tail[4200];
    if (u->img[k].rgb) {
        // "image_1: ...character01/0683_01.png": cut on the left, so the
        // file name stays (the box keeps 2 columns a side, the title 2
        // blanks); in a narrow box the file name alone.
        const int room = w - 6, prefix = 9;
        const char *slash = strrchr(u->path[k], '/');
        if (room - prefix >= 16 || !slash) {
            utf8_tail(u->path[k], room - prefix, tail, sizeof tail);
            text_fit(title, sizeof title, "image_%d: %s", k + 1, tail);
        } else {
            utf8_tail(slash + 1, room, title, sizeof title);
        }
    } else {
        snprintf(title, sizeof title, "image_%d", k + 1);
    }
    canvas_box(c, y, x, h, w, title);
    if (u->img[k].rgb) {
        if (preview_draw(c, y + 1, x + 1, w - 2, h - 2, &u->img[k], u->mode))
            canvas_text(c, y + 1, x + 2, w - 4, CA_DIM, "(no memory for the preview)");
    } else {
        canvas_text(c, y + h / 2, x + 2, w - 4, CA_DIM,
                    u->stage == k ? "waiting for a path below" : "");
    }
}

// Rows of messages from..n_log-1 wrapped to w columns.
static int log_rows(const CompareUI *u, int from, int w) {
    int rows = 0;
    for (int i = from; i < u->n_log; i++)
        rows += canvas_wrap(NULL, 0, 0, w, 0, 0, 0, -1, u->log[i].text);
    return rows;
}

// Messages from..n_log-1 wrapped into the rows y..y+h-1, the last row at
// the bottom, `scroll` rows hidden below; errors in red.
static void draw_messages(const CompareUI *u, Canvas *c, int from, int y, int x, int h, int w,
                          int scroll) {
    int skip = log_rows(u, from, w) - h - scroll, row = 0;  // rows above the view
    for (int i = from; i < u->n_log && row - skip < h; i++) {
        const Message *m = &u->log[i];
        int n = canvas_wrap(NULL, 0, 0, w, 0, 0, 0, -1, m->text);
        if (row + n > skip) {
            int first = skip > row ? skip - row : 0;
            canvas_wrap(c, y + row + first - skip, x, w, first, h - (row + first - skip),
                        m->error ? CA_BOLD : 0, m->error ? COL_RED : -1, m->text);
        }
        row += n;
    }
}

// Every message, scrollable: what the rows under the score had no room for.
static void draw_log(CompareUI *u, Canvas *c, int y, int h) {
    int inner = h - 2, w = c->w - 4, total = log_rows(u, 0, w);
    int max_scroll = total > inner ? total - inner : 0;
    if (u->log_scroll > max_scroll) u->log_scroll = max_scroll;
    canvas_box(c, y, 0, h, c->w,
               max_scroll ? "Messages  (PgUp/PgDn scroll, Esc closes)" : "Messages  (Esc closes)");
    if (!u->n_log) canvas_text(c, y + 1, 2, w, CA_DIM, "(no messages yet)");
    draw_messages(u, c, 0, y + 1, 2, inner, w, u->log_scroll);
}

static void draw_help(CompareUI *u, Canvas *c, int y, int h) {
    const int n = (int)(sizeof HELP / sizeof *HELP), max_top = n > h - 2 ? n - (h - 2) : 0;
    if (u->help_top > max_top) u->help_top = max_top;
    canvas_box(c, y, 0, h, c->w,
               max_top ? "Help  (PgUp/PgDn scroll; Esc, q or Enter closes)"
                       : "Help  (Esc, q or Enter closes)");
    for (int i = u->help_top; i < n && i - u->help_top < h - 2; i++)
        canvas_text(c, y + 1 + i - u->help_top, 2, c->w - 4,
                    HELP[i][0] && HELP[i][0] != ' ' ? CA_BOLD : 0, HELP[i]);
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
    // Two decimals, or as many as the threshold has: 0.9999 shown as 1.00
    // would contradict a DIFFERENT beside a score of 0.998.
    char th[32];
    snprintf(th, sizeof th, "%.2f", u->threshold);
    if (strtod(th, NULL) != u->threshold) snprintf(th, sizeof th, "%g", u->threshold);
    snprintf(t, sizeof t, " %s (threshold %s)", same ? "SAME" : "DIFFERENT", th);
    if (x + (int)strlen(t) + 1 > c->w) t[strcspn(t, "(") - 1] = '\0';  // the verdict alone
    int bar = c->w - x - (int)strlen(t) - 2;
    if (bar > 40) bar = 40;
    if (bar >= 5) {
        canvas_bar(c, y, x, bar, u->score, same ? COL_GREEN : COL_RED);
        // The threshold's place on the bar, so the score reads against it.
        int mark = (int)(u->threshold * bar + 0.5);
        canvas_put(c, y, x + (mark < bar ? mark : bar - 1), CH_VLINE, CA_BOLD, -1, -1);
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
    // run of characters, which scripts driving the screen can match. In a
    // narrow window it gives way to the text.
    int x = canvas_text(c, y, 0, c->w - 8 > pw ? pw : c->w - 8, 0, prompt);
    int room = c->w - x - 1, skip = cursor >= room ? cursor - room + 1 : 0;
    for (const char *p = text; (k = utf8_decode(p, &cp)) > 0; p += k, col++)
        if (col >= skip) canvas_put(c, y, x + col - skip, cp < 0x20 ? '?' : cp, 0, -1, -1);
    c->cursor_y = y;
    c->cursor_x = x + cursor - skip;
}

static void cmp_draw(void *self, Canvas *c) {
    CompareUI *u = self;
    const Layout l = layout(c->w, c->h);
    u->lay = l;
    if (l.panel_y > 0) draw_header(u, c, &l);
    if (l.panel_h >= 3) {
        if (u->panel == PANEL_HELP) {
            draw_help(u, c, l.panel_y, l.panel_h);
        } else if (u->panel == PANEL_LOG) {
            draw_log(u, c, l.panel_y, l.panel_h);
        } else {
            int half = c->w / 2;
            draw_image_panel(u, c, 0, l.panel_y, 0, l.panel_h, half);
            draw_image_panel(u, c, 1, l.panel_y, half, l.panel_h, c->w - half);
        }
        draw_matches(c, l.score_y, l.panel_h);
    } else if (l.panel_h > 0) {
        // No room for boxes: the two file names on a row.
        char t[512], a[256], b[256];
        utf8_tail(u->img[0].rgb ? u->path[0] : "-", c->w / 2 - 4, a, sizeof a);
        utf8_tail(u->img[1].rgb ? u->path[1] : "-", c->w - c->w / 2 - 4, b, sizeof b);
        text_fit(t, sizeof t, "1: %-*s 2: %s", c->w / 2 - 4, a, b);
        canvas_text(c, l.panel_y, 0, c->w, 0, t);
    }
    if (l.score_y >= 0) draw_score(u, c, l.score_y);
    // The messages of the line last entered (older ones are in the log), from
    // their start; when the log panel is open it shows them.
    if (l.msg_rows > 0 && !(u->panel == PANEL_LOG && l.panel_h >= 3)) {
        int rows = log_rows(u, u->burst, c->w - 2), shown = rows > l.msg_rows ? l.msg_rows - 1 : rows;
        draw_messages(u, c, u->burst, l.msg_y, 1, shown, c->w - 2, rows - shown);
        if (shown < rows) canvas_text(c, l.msg_y + shown, 1, c->w - 2, CA_DIM, "... (PgUp shows the rest)");
    }
    if (l.keys_y >= 0)
        canvas_text(c, l.keys_y, 0, c->w, CA_DIM,
                    u->panel != PANEL_IMAGES
                        ? " Esc close  PgUp/PgDn scroll  Tab complete  Up/Down history  Ctrl-D quit"
                        : " Tab complete  Up/Down history  Ctrl-R search  PgUp messages  :help  "
                          "Ctrl-D quit");
    draw_prompt(c, l.prompt_y);
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
    if (k == 0 && !u->keep_other) {
        image_free(&u->img[1]);  // a new pair
        u->stage = 1;
    } else {
        u->comparing = 1;  // cmp_tick runs it once the screen says so
        u->stage = 0;
        u->keep_other = 0;
    }
    lineedit_set_prompt(PROMPTS[u->stage]);
}

// A click on an image's panel: the prompt asks for that image again, with
// its path to edit, and the other image stays.
static void change_image(CompareUI *u, int k) {
    if (!u->img[1 - k].rgb && k == 1) return;  // image_2 is asked for next anyway
    u->stage = k;
    u->keep_other = u->img[1 - k].rgb != NULL;
    lineedit_set_prompt(PROMPTS[k]);
    lineedit_set_line(u->img[k].rgb ? u->path[k] : "");
}

// Lines written to stdout/stderr while the screen is up become messages.
static int drain_captured(CompareUI *u) {
    char line[sizeof u->log[0].text];
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
    // Usage errors, an unreadable --resume file and --help print; the
    // capture shows them as messages,
    // taken now so that the pointer to the help follows the error.
    int parsed = train_parse_args(argc, argv, &cfg);
    drain_captured(u);
    if (parsed == -1) say(u, 0, "':train --help' lists the options.");
    if (parsed) return;
    term_mouse(0);  // the dashboard reads plain keys
    int rc = dashboard_run(&cfg);
    train_config_free(&cfg);
    term_mouse(1);
    // The dashboard's summary (the epochs, the checkpoint, why it stopped
    // and how to continue) arrives through the capture and shows in the
    // messages.
    drain_captured(u);
    if (rc == EXIT_OK || rc == EXIT_SIGINT) {
        // Ctrl-C stopped the training as q does, and only the training: a
        // second one here leaves, as it always does in this screen.
        say(u, 0, "training %s; ':model PATH' loads a checkpoint",
            rc == EXIT_OK ? "closed" : "stopped by Ctrl-C");
    } else if (rc != EXIT_RUNTIME) {  // SIGTERM, SIGHUP: the program is asked to end
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
    term_mouse(1);
    if (pid < 0)
        say(u, 1, "could not start siamese eval");
    else if (WIFEXITED(status))
        say(u, WEXITSTATUS(status) != 0, "eval exited with status %d", WEXITSTATUS(status));
    else
        say(u, 1, "eval ended by signal %d", WTERMSIG(status));
}

// Whether a command that takes no arguments was given none, saying so
// otherwise: ":quit now" is a mistake to point out, not a quit.
static int no_arguments(CompareUI *u, int argc, char **argv) {
    if (argc == 1) return 1;
    say(u, 1, ":%s takes no arguments", argv[0]);
    return 0;
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
        if (no_arguments(u, argc, argv)) {
            u->panel = PANEL_HELP;
            u->help_top = 0;
        }
    } else if (!strcmp(name, "log") || !strcmp(name, "messages")) {
        if (no_arguments(u, argc, argv)) {
            u->panel = PANEL_LOG;
            u->log_scroll = 0;
        }
    } else if (!strcmp(name, "quit") || !strcmp(name, "q") || !strcmp(name, "exit")) {
        if (no_arguments(u, argc, argv)) u->quit = 1;
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

// When the messages of the line just handled need more rows than there are
// under the score (a command's long output, a long error), the log panel
// shows them whole.
static void show_overflow(CompareUI *u) {
    int rows, cols;
    term_size(&rows, &cols);
    Layout l = layout(cols, rows);
    if (u->panel == PANEL_IMAGES && log_rows(u, u->burst, cols - 2) > l.msg_rows) {
        u->panel = PANEL_LOG;
        u->log_scroll = 0;
    }
}

static void handle_line(CompareUI *u, char *line) {
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) p[--n] = '\0';
    if (!*p) {
        u->panel = PANEL_IMAGES;  // an empty Enter closes the help or the log
    } else {
        if (u->comparing) compare_now(u);  // typed ahead: finish the pair on screen first
        history_remember(p);
        history_save();  // at once: a crash or a kill keeps it too
        u->panel = PANEL_IMAGES;
        u->burst = u->n_log;  // the rows under the score start afresh
        if (*p == ':')
            run_command(u, p);
        else
            take_path(u, p);
        drain_captured(u);
        show_overflow(u);
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

// PgUp (rows > 0) and PgDn: the help when it is open, else the log (which
// opens at its end).
static void scroll_panel(CompareUI *u, int rows) {
    if (u->panel == PANEL_HELP) {
        u->help_top -= rows;  // drawing clamps it to the text's length
        if (u->help_top < 0) u->help_top = 0;
        return;
    }
    if (u->panel != PANEL_LOG) {
        u->panel = PANEL_LOG;
        u->log_scroll = 0;
    }
    u->log_scroll += rows;  // drawing clamps it to the log's length
    if (u->log_scroll < 0) u->log_scroll = 0;
}

// A mouse button at cell (y, x), 0-based: button 0 the left one, 64 and 65
// the wheel.
static void click(CompareUI *u, int button, int y, int x) {
    const Layout *l = &u->lay;
    if (button == 64 || button == 65) {
        scroll_panel(u, button == 64 ? 3 : -3);
        return;
    }
    if (button != 0) return;
    if (u->panel != PANEL_IMAGES && y >= l->panel_y && y < l->panel_y + l->panel_h) {
        u->panel = PANEL_IMAGES;  // a click on the help or the log closes it
    } else if (y >= l->panel_y && y < l->panel_y + l->panel_h && l->panel_h >= 3) {
        change_image(u, x >= l->w / 2);
    } else if (y == l->score_y || (y >= l->msg_y && y < l->msg_y + l->msg_rows)) {
        scroll_panel(u, 0);
    } else if (y == l->keys_y) {
        u->panel = u->panel == PANEL_HELP ? PANEL_IMAGES : PANEL_HELP;
        u->help_top = 0;
    }
}

// Whether the escape sequence read so far is whole: ESC [ ... final byte,
// ESC O x, ESC x (Alt-x), and the mouse's ESC [ M b x y.
static int sequence_complete(const unsigned char *s, int n) {
    if (n < 2) return 0;
    if (s[1] == 'O') return n >= 3;
    if (s[1] != '[') return 1;
    if (n >= 3 && s[2] == 'M') return n >= 6;
    return n >= 3 && s[n - 1] >= 0x40 && s[n - 1] <= 0x7E;
}

// A whole escape sequence: the screen's own keys and mouse reports, or
// else readline's (arrows, Alt-keys...).
static int escape_sequence(CompareUI *u) {
    const char *s = (const char *)u->esc;
    int n = u->n_esc, button, x, y, page = u->lay.panel_h > 4 ? u->lay.panel_h - 3 : 1;
    char final;
    u->n_esc = 0;
    if (n == 6 && s[2] == 'M') {  // X10 mouse: button, column, row, each + 32
        if (((unsigned char)s[3] & 3) != 3)  // not a release
            click(u, ((unsigned char)s[3] - 32) & ~28, (unsigned char)s[5] - 33,
                  (unsigned char)s[4] - 33);
    } else if (sscanf(s, "\x1b[<%d;%d;%d%c", &button, &x, &y, &final) == 4) {  // SGR mouse
        if (final == 'M') click(u, button & ~28, y - 1, x - 1);  // a press (not a release)
    } else if (n == 4 && !memcmp(s, "\x1b[5~", 4)) {
        scroll_panel(u, page);
    } else if (n == 4 && !memcmp(s, "\x1b[6~", 4)) {
        scroll_panel(u, -page);
    } else if ((n == 3 && !memcmp(s, "\x1bOP", 3)) || (n == 5 && !memcmp(s, "\x1b[11~", 5))) {
        u->panel = u->panel == PANEL_HELP ? PANEL_IMAGES : PANEL_HELP;  // F1
        u->help_top = 0;
    } else if ((n == 3 && !memcmp(s, "\x1bOQ", 3)) || (n == 5 && !memcmp(s, "\x1b[12~", 5))) {
        if (u->panel == PANEL_LOG) u->panel = PANEL_IMAGES;  // F2
        else scroll_panel(u, 0);
    } else {
        for (int i = 0; i < n; i++) lineedit_feed((unsigned char)s[i]);
    }
    return SCREEN_REDRAW;
}

// The escape sequence left unfinished when the input ran out, or when
// another Esc came: an Esc alone was the Esc key, which closes the panel
// or the candidate list (and never reaches readline, where it would turn
// the next key into an Alt-key); a sequence cut short goes to readline.
static int escape_pending(CompareUI *u) {
    if (!u->n_esc) return 0;
    if (u->n_esc == 1) {
        u->panel = PANEL_IMAGES;
        lineedit_clear_matches();
    } else {
        for (int i = 0; i < u->n_esc; i++) lineedit_feed(u->esc[i]);
    }
    u->n_esc = 0;
    return SCREEN_REDRAW;
}

static int cmp_key(void *self, int ch) {
    CompareUI *u = self;
    int flags = SCREEN_REDRAW;
    if (ch == ESC) {
        flags |= escape_pending(u);
        u->esc[u->n_esc++] = ESC;  // the rest of the burst, or cmp_tick, decides
    } else if (u->n_esc) {
        u->esc[u->n_esc++] = (unsigned char)ch;
        if (sequence_complete(u->esc, u->n_esc))
            flags |= escape_sequence(u);
        else if (u->n_esc == (int)sizeof u->esc)
            flags |= escape_pending(u);
    } else if (ch == 12) {
        // Ctrl-L: readline would clear a screen it doesn't own.
        u->panel = PANEL_IMAGES;
        return SCREEN_REPAINT;
    } else if (u->panel != PANEL_IMAGES && ch == 'q' && !lineedit_text()[0]) {
        u->panel = PANEL_IMAGES;
    } else {
        lineedit_feed(ch);
    }
    // Lines after a quit are dropped.
    for (int i = 0; i < u->n_lines; i++) {
        if (u->quit)
            free(u->lines[i]);
        else
            handle_line(u, u->lines[i]);
    }
    u->n_lines = 0;
    return u->quit ? SCREEN_QUIT : u->comparing ? flags | SCREEN_AGAIN : flags;
}

static int cmp_tick(void *self) {
    CompareUI *u = self;
    // The burst of input is read: what an Esc began is decided now.
    int flags = escape_pending(u);
    // A comparison asked for by a key runs here, after the screen showed
    // "comparing..." (cmp_key returned SCREEN_AGAIN, so the draw came first).
    if (u->comparing && !u->quit) {
        compare_now(u);
        flags |= SCREEN_REDRAW;
    }
    if (drain_captured(u)) {
        show_overflow(u);
        flags |= SCREEN_REDRAW;
    }
    return flags;
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
    term_mouse(1);
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
