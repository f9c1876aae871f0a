#define NCURSES_WIDECHAR 1
#include "term.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <term.h>
#include <termios.h>
#include <unistd.h>

static SCREEN *screen;  // created once, kept for later term_start calls
static FILE *tty_out;   // curses' own duplicate of the terminal
static int tty_fd = -1;
static struct termios saved_tios;  // the terminal as we found it
static int have_saved_tios;
static volatile sig_atomic_t active;
static int utf8, colors;

static int capture_rd = -1, saved_out = -1, saved_err = -1;
static char captured[8192];
static size_t n_captured;

static Cell *shown;  // the frame last sent to the terminal
static int shown_rows, shown_cols;

static volatile sig_atomic_t pending_signal, pending_winch;

static const int STOP_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
static const int CRASH_SIGNALS[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define N_STOP (int)(sizeof STOP_SIGNALS / sizeof *STOP_SIGNALS)
#define N_CRASH (int)(sizeof CRASH_SIGNALS / sizeof *CRASH_SIGNALS)
static struct sigaction old_stop[N_STOP], old_crash[N_CRASH], old_winch;

int term_usable(char *why, size_t len) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(why, len, "standard input or output is not a terminal");
        return 0;
    }
    const char *t = getenv("TERM");
    if (!t || !*t || !strcmp(t, "dumb")) {
        snprintf(why, len, "TERM is %s", t && *t ? "'dumb'" : "not set");
        return 0;
    }
    if (term_active()) return 1;
    // Ask terminfo without starting curses: an unknown TERM or one without
    // cursor addressing can't draw the screens.
    // (setupterm replaces curses' current terminal: put it back after, as
    // a screen from an earlier term_start still uses it.)
    TERMINAL *old = cur_term;
    int err = 0;
    if (setupterm(NULL, STDOUT_FILENO, &err) != OK) {
        set_curterm(old);
        snprintf(why, len, "TERM '%s' is not in the terminfo database", t);
        return 0;
    }
    const char *cup = tigetstr("cup");
    int ok = cup && cup != (char *)-1;
    del_curterm(cur_term);
    set_curterm(old);
    if (!ok) snprintf(why, len, "terminal '%s' cannot move the cursor", t);
    return ok;
}

// Restores the terminal from a crash handler: no allocation, no stdio
// beyond what endwin needs.
static void term_emergency(void) {
    if (!active) return;
    active = 0;
    endwin();
    if (tty_out) fflush(tty_out);
    if (have_saved_tios) tcsetattr(tty_fd, TCSANOW, &saved_tios);
    if (saved_err >= 0) dup2(saved_err, STDERR_FILENO);
    if (saved_out >= 0) dup2(saved_out, STDOUT_FILENO);
}

static void on_stop_signal(int sig) { pending_signal = sig; }
static void on_winch(int sig) { pending_winch = 1; }

static void on_crash(int sig) {
    term_emergency();
    signal(sig, SIG_DFL);
    raise(sig);  // blocked until the handler returns, then the default action
}

static void install(int sig, void (*fn)(int), struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    // No SA_RESTART: a signal wakes the key wait at once.
    sigaction(sig, &sa, old);
}

static void handlers_install(void) {
    for (int i = 0; i < N_STOP; i++) install(STOP_SIGNALS[i], on_stop_signal, &old_stop[i]);
    for (int i = 0; i < N_CRASH; i++) install(CRASH_SIGNALS[i], on_crash, &old_crash[i]);
    install(SIGWINCH, on_winch, &old_winch);
}

static void handlers_restore(void) {
    for (int i = 0; i < N_STOP; i++) sigaction(STOP_SIGNALS[i], &old_stop[i], NULL);
    for (int i = 0; i < N_CRASH; i++) sigaction(CRASH_SIGNALS[i], &old_crash[i], NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
}

// Points fds 1 and 2 into a pipe that the screens read (see term.h).
static void capture_start(void) {
    int p[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(p)) return;  // without a pipe, output stays where it was
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fcntl(p[1], F_SETFL, O_NONBLOCK);  // a full pipe drops text rather than blocking a writer
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    fcntl(saved_out, F_SETFD, FD_CLOEXEC);
    fcntl(saved_err, F_SETFD, FD_CLOEXEC);
    dup2(p[1], STDOUT_FILENO);
    dup2(p[1], STDERR_FILENO);
    close(p[1]);
    capture_rd = p[0];
    n_captured = 0;
}

static void capture_pull(void) {
    if (capture_rd < 0) return;
    ssize_t n;
    while (n_captured < sizeof captured &&
           (n = read(capture_rd, captured + n_captured, sizeof captured - n_captured)) > 0)
        n_captured += (size_t)n;
}

static void capture_stop(void) {
    if (capture_rd < 0) return;
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    saved_out = saved_err = -1;
    // What the screens did not show yet goes to the real stderr.
    for (;;) {
        capture_pull();
        if (!n_captured) break;
        if (write(STDERR_FILENO, captured, n_captured) < 0) break;
        n_captured = 0;
    }
    close(capture_rd);
    capture_rd = -1;
}

int term_captured(char *line, size_t len) {
    capture_pull();
    char *nl = memchr(captured, '\n', n_captured);
    size_t take = nl ? (size_t)(nl - captured) : n_captured == sizeof captured ? n_captured : 0;
    if (!nl && !take) return 0;
    size_t copy = take < len - 1 ? take : len - 1;
    memcpy(line, captured, copy);
    line[copy] = '\0';
    size_t used = take + (nl ? 1 : 0);
    memmove(captured, captured + used, n_captured - used);
    n_captured -= used;
    return 1;
}

// Asks the kernel for the window's size and tells curses.
static void apply_size(void) {
    struct winsize ws;
    if (ioctl(tty_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    term_repaint();
}

int term_start(char *why, size_t len) {
    if (active) return 0;
    if (!term_usable(why, len)) return -1;
    setlocale(LC_CTYPE, "");
    utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
    // Our handlers go in first: curses then leaves SIGINT, SIGTERM and
    // SIGWINCH to us instead of installing its own.
    handlers_install();
    if (!screen) {
        tty_fd = dup(STDOUT_FILENO);
        if (tty_fd >= 0) fcntl(tty_fd, F_SETFD, FD_CLOEXEC);
        tty_out = tty_fd >= 0 ? fdopen(tty_fd, "w") : NULL;
        have_saved_tios = tty_fd >= 0 && tcgetattr(tty_fd, &saved_tios) == 0;
        screen = tty_out ? newterm(NULL, tty_out, stdin) : NULL;
        if (!screen) {
            snprintf(why, len, "curses could not start on terminal '%s'", getenv("TERM"));
            handlers_restore();
            return -1;
        }
        static int registered;
        if (!registered && atexit(term_stop) == 0) registered = 1;
    }
    set_term(screen);
    cbreak();  // keys at once; Ctrl-C still raises SIGINT
    noecho();
    nonl();
    keypad(stdscr, FALSE);  // raw bytes: readline decodes the escape sequences itself
    intrflush(stdscr, FALSE);
    colors = 0;
    if (has_colors() && start_color() == OK) {
        use_default_colors();
        colors = COLORS;
    }
    capture_start();
    active = 1;
    pending_winch = 0;
    apply_size();
    return 0;
}

void term_stop(void) {
    if (!active) return;
    active = 0;
    // Leave the screen clean behind the alternate screen's exit.
    curs_set(1);
    endwin();
    fflush(tty_out);
    capture_stop();
    handlers_restore();
    free(shown);
    shown = NULL;
    shown_rows = shown_cols = 0;
}

void term_mouse(int on) {
    if (!active) return;
    // Presses and the wheel; with keypad off curses passes the reports
    // through as bytes (lineedit's readline must not see them: the screens
    // take them apart).
    mousemask(on ? BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED : 0, NULL);
}

int term_active(void) { return active; }
int term_utf8(void) { return utf8; }
int term_colors(void) { return colors; }

int term_take_signal(void) {
    int sig = pending_signal;
    pending_signal = 0;
    return sig;
}

int term_signal_status(int sig) { return sig == SIGINT ? 130 : sig == SIGTERM ? 143 : 128 + sig; }

void term_size(int *rows, int *cols) {
    *rows = LINES;
    *cols = COLS;
}

int term_getch(int timeout_ms) {
    if (pending_signal) return TERM_SIGNAL;
    if (pending_winch) {
        pending_winch = 0;
        apply_size();
        return TERM_RESIZE;
    }
    wtimeout(stdscr, timeout_ms);
    int ch = wgetch(stdscr);
    if (ch == ERR || ch == KEY_RESIZE)
        return pending_winch || pending_signal ? term_getch(0) : TERM_NONE;
    return ch & 0xFF;
}

void term_repaint(void) {
    if (curscr) clearok(curscr, TRUE);
}

// ASCII stand-ins for the code points the screens use, on terminals that
// are not UTF-8.
static uint32_t ascii_fallback(uint32_t ch) {
    switch (ch) {
    case CH_HLINE: return '-';
    case CH_VLINE: return '|';
    case CH_TL:
    case CH_TR:
    case CH_BL:
    case CH_BR:
    case CH_TICK: return '+';
    case CH_FULL: return '#';
    case CH_LIGHT:
    case CH_DOT: return '.';
    case CH_BULLET: return 'o';
    default: return ch < 0x80 ? ch : '?';
    }
}

static attr_t curses_attr(uint8_t a) {
    return (a & CA_BOLD ? A_BOLD : 0) | (a & CA_REVERSE ? A_REVERSE : 0) |
           (a & CA_DIM ? A_DIM : 0) | (a & CA_UNDERLINE ? A_UNDERLINE : 0);
}

static int cell_pair(const Cell *c) {
    if (!colors || (c->fg < 0 && c->bg < 0)) return 0;
    int fg = c->fg < colors ? c->fg : -1, bg = c->bg < colors ? c->bg : -1;
    int p = alloc_pair(fg, bg);  // ncurses keeps a cache and recycles old pairs
    return p < 0 ? 0 : p;
}

static int cell_same(const Cell *a, const Cell *b) {
    return a->ch == b->ch && a->attr == b->attr && a->fg == b->fg && a->bg == b->bg;
}

void term_show(const Canvas *c) {
    int rows = LINES, cols = COLS;
    if (rows != shown_rows || cols != shown_cols) {
        free(shown);
        shown = calloc((size_t)rows * cols, sizeof *shown);  // all-zero: every row differs
        shown_rows = shown ? rows : 0;
        shown_cols = shown ? cols : 0;
    }
    const Cell blank = {' ', 0, -1, -1};
    for (int y = 0; y < rows; y++) {
        int changed = 0;
        for (int x = 0; x < cols; x++) {
            const Cell *cell = y < c->h && x < c->w ? &c->cells[y * c->w + x] : &blank;
            if (shown && cell_same(cell, &shown[y * cols + x])) continue;
            changed = 1;
            if (shown) shown[y * cols + x] = *cell;
        }
        if (!changed) continue;
        for (int x = 0; x < cols; x++) {
            const Cell *cell = y < c->h && x < c->w ? &c->cells[y * c->w + x] : &blank;
            wchar_t wc[2] = {(wchar_t)(utf8 ? cell->ch : ascii_fallback(cell->ch)), 0};
            int pair = cell_pair(cell);
            cchar_t cc;
            setcchar(&cc, wc, curses_attr(cell->attr), 0, &pair);
            mvwadd_wch(stdscr, y, x, &cc);
        }
        // Throw away what curses believes is on this row, so the row goes
        // out whole rather than as scattered changed cells.
        wredrawln(stdscr, y, 1);
    }
    if (c->cursor_y >= 0 && c->cursor_y < rows && c->cursor_x < cols) {
        curs_set(1);
        wmove(stdscr, c->cursor_y, c->cursor_x);
    } else {
        curs_set(0);
    }
    wnoutrefresh(stdscr);
    doupdate();
}
