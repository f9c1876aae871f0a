// term: the one place where the terminal is taken over and given back.
//
// term_start puts curses on the terminal and installs the signal handlers;
// term_stop (idempotent) restores everything and runs on every exit path:
// the screens' normal end, exit() (atexit), SIGINT/SIGTERM/SIGHUP (the
// handlers only set a flag that the screen loops turn into a clean stop),
// and crash signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), whose
// handler restores the terminal and re-raises the signal.
//
// While curses is on, file descriptors 1 and 2 point into a pipe, so a
// stray printf or library warning never scribbles over the screen: the
// screens show the captured lines (term_captured), and whatever is left is
// written to the real stderr by term_stop. Curses itself writes to its own
// duplicate of the terminal.
#ifndef SIAMESE_TERM_H
#define SIAMESE_TERM_H

#include <stddef.h>

#include "canvas.h"

// Whether curses can run here: stdin and stdout are terminals and TERM
// names a terminal with cursor addressing. why gets the reason when not.
int term_usable(char *why, size_t len);

// Takes over the terminal; -1 with the reason in why when it can't.
int term_start(char *why, size_t len);
void term_stop(void);
int term_active(void);

// Mouse clicks reported as escape sequences in the key input (xterm's
// "\e[<b;x;yM", or "\e[M" and three bytes), where terminfo knows how to
// ask for them; off again at term_stop (curses turns them off whenever it
// leaves the screen).
void term_mouse(int on);

// What the terminal can show.
int term_utf8(void);
int term_colors(void);  // 0 without colours, else 8, 16, 256...

// term_getch's results besides a byte 0..255.
enum { TERM_NONE = -1, TERM_RESIZE = -2, TERM_SIGNAL = -3 };
// A byte typed, or TERM_NONE after timeout_ms (0: don't wait), or
// TERM_RESIZE after the window changed size (curses already knows the new
// size), or TERM_SIGNAL while a stop signal is pending (term_take_signal).
int term_getch(int timeout_ms);

// The pending stop signal (SIGINT, SIGTERM, SIGHUP), cleared, or 0; and the
// exit status a signal calls for (130, 143, 129).
int term_take_signal(void);
int term_signal_status(int sig);

// The terminal's size in cells.
void term_size(int *rows, int *cols);
// Copies the canvas to the screen (sized as term_size says) and places the
// cursor. Changed rows are rewritten whole, so scripts reading the output
// see complete lines.
void term_show(const Canvas *c);
// The next term_show repaints every cell (Ctrl-L, after a resize).
void term_repaint(void);

// Next complete line written to stdout/stderr while curses was on, without
// its newline; 0 when there is none.
int term_captured(char *line, size_t len);

#endif
