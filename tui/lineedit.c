#include "lineedit.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "term.h"

static const char *const *command_words;

// The completion word: the whole line for a path (file names may contain
// spaces), the last blank-separated word after a ':' command.
static char *word_breaks(void) {
    static char none[] = "", blanks[] = " \t";
    return rl_line_buffer[0] == ':' ? blanks : none;
}

static char *command_generator(const char *text, int state) {
    static int i;
    static size_t len;
    if (!state) {
        i = 0;
        len = strlen(text);
    }
    while (command_words && command_words[i]) {
        const char *w = command_words[i++];
        if (!strncmp(w, text, len)) return strdup(w);
    }
    return NULL;
}

static char **complete(const char *text, int start, int end) {
    int command = rl_line_buffer[0] == ':';
    // A completed path is a whole answer: no space after it.
    rl_completion_append_character = command ? ' ' : '\0';
    if (command && start == 0) {
        rl_attempted_completion_over = 1;  // no file names for the command word
        return rl_completion_matches(text, command_generator);
    }
    return NULL;  // readline's file name completion
}

// A file name typed with backslash escapes ("with\ space"), as readline
// hands it to the file name completion: without them. (Inside single
// quotes a backslash is itself.)
static char *dequote(char *text, int quote_char) {
    char *out = malloc(strlen(text) + 1), *o = out;
    if (!out) return NULL;
    for (const char *t = text; *t; t++) {
        if (*t == '\\' && quote_char != '\'' && t[1]) t++;
        *o++ = *t;
    }
    *o = '\0';
    return out;
}

void lineedit_setup(const char *const *commands) {
    command_words = commands;
    rl_readline_name = "siamese";  // "$if siamese" in ~/.inputrc
    rl_attempted_completion_function = complete;
    rl_completion_word_break_hook = word_breaks;
    // A path typed in quotes or with escapes completes too (the line is
    // read as a shell word: see args.h), and a quoted one gets its
    // closing quote.
    rl_completer_quote_characters = "'\"";
    rl_filename_dequoting_function = dequote;
    // One Tab lists the candidates when there are several (the user's
    // ~/.inputrc, read later, can turn it off).
    rl_variable_bind("show-all-if-ambiguous", "on");
}

// ---- readline inside curses --------------------------------------------

static unsigned char queue[64];
static int q_head, q_len;
static LineHandler line_handler;
static void *line_ctx;
static FILE *devnull;
static char **matches;
static int n_matches;

static void matches_clear(void) {
    for (int i = 0; i < n_matches; i++) free(matches[i]);
    free(matches);
    matches = NULL;
    n_matches = 0;
}

static void queue_push(int ch) {
    if (q_len == (int)sizeof queue) return;  // a flood of input: drop, as a full tty buffer would
    queue[(q_head + q_len) % (int)sizeof queue] = (unsigned char)ch;
    q_len++;
}

static int queue_getc(FILE *unused) {
    // readline takes one byte per rl_callback_read_char; should it want
    // more (rare), wait for the terminal.
    while (!q_len) {
        int ch = term_getch(100);
        if (ch == TERM_SIGNAL) return EOF;
        if (ch >= 0) queue_push(ch);
    }
    int ch = queue[q_head];
    q_head = (q_head + 1) % (int)sizeof queue;
    q_len--;
    return ch;
}

static int queue_ready(void) { return q_len > 0; }

// readline asks for a redisplay after every edit; the screen redraws from
// the line buffer after each batch of keys anyway.
static void no_redisplay(void) {}

static void show_matches(char **list, int n, int max_length) {
    matches_clear();
    matches = calloc((size_t)n, sizeof *matches);
    if (!matches) return;
    // list[0] is the common prefix, list[1..n] the candidates.
    for (int i = 0; i < n; i++) {
        const char *full = list[i + 1], *slash = strrchr(full, '/');
        const char *name = slash && slash[1] ? slash + 1 : full;
        struct stat st;
        char *expanded = tilde_expand(full);
        int dir = expanded && stat(expanded, &st) == 0 && S_ISDIR(st.st_mode) &&
                  full[strlen(full) - 1] != '/';
        free(expanded);
        size_t len = strlen(name) + 2;
        if ((matches[i] = malloc(len))) {
            snprintf(matches[i], len, "%s%s", name,
                     dir && rl_filename_completion_desired ? "/" : "");
            n_matches = i + 1;
        }
    }
}

static void on_line(char *line) {
    if (line_handler)
        line_handler(line, line_ctx);
    else
        free(line);
}

void lineedit_begin(const char *prompt, LineHandler handler, void *ctx) {
    line_handler = handler;
    line_ctx = ctx;
    q_head = q_len = 0;
    // Readline must not touch the terminal: no terminal modes, no signal
    // handlers, no environment, and its stray output (the bell, newlines)
    // goes nowhere.
    if (!devnull) devnull = fopen("/dev/null", "w");
    rl_outstream = devnull;
    rl_prep_term_function = NULL;
    rl_deprep_term_function = NULL;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_getc_function = queue_getc;
    rl_input_available_hook = queue_ready;
    rl_redisplay_function = no_redisplay;
    rl_completion_display_matches_hook = show_matches;
    rl_callback_handler_install(prompt, on_line);
}

void lineedit_end(void) {
    rl_callback_handler_remove();
    matches_clear();
    line_handler = NULL;
    rl_outstream = stdout;
    rl_getc_function = rl_getc;
    rl_input_available_hook = NULL;
    rl_redisplay_function = rl_redisplay;
    rl_completion_display_matches_hook = NULL;
    rl_prep_term_function = rl_prep_terminal;
    rl_deprep_term_function = rl_deprep_terminal;
    rl_catch_signals = 1;
    rl_catch_sigwinch = 1;
}

void lineedit_feed(int byte) {
    if (byte != '\t') matches_clear();
    queue_push(byte);
    while (q_len) rl_callback_read_char();
}

void lineedit_set_prompt(const char *prompt) { rl_set_prompt(prompt); }
void lineedit_clear_matches(void) { matches_clear(); }

void lineedit_set_line(const char *text) {
    rl_replace_line(text, 0);
    rl_point = rl_end;
}
const char *lineedit_prompt(void) { return rl_display_prompt ? rl_display_prompt : ""; }
const char *lineedit_text(void) { return rl_line_buffer ? rl_line_buffer : ""; }
int lineedit_point(void) { return rl_point; }

int lineedit_matches(const char *const **list) {
    *list = (const char *const *)matches;
    return n_matches;
}
