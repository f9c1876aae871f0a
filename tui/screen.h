// screen: the loop that runs one full-window screen (the compare loop, the
// training dashboard) on top of term.c. A screen is a small vtable: it
// draws itself into a canvas and reacts to keys and to the passing of
// time, returning what has to happen next.
#ifndef SIAMESE_SCREEN_H
#define SIAMESE_SCREEN_H

#include "canvas.h"

enum {
    SCREEN_REDRAW = 1,   // the state changed: draw again
    SCREEN_REPAINT = 2,  // the terminal may be garbled: repaint every cell (Ctrl-L)
    SCREEN_QUIT = 4,     // leave the loop
    SCREEN_AGAIN = 8,    // draw, then call tick again without waiting for a key
                         // (work shown as under way: "comparing...")
};

typedef struct Screen {
    // Draws the whole screen; c is already sized to the window and cleared.
    void (*draw)(void *self, Canvas *c);
    // A byte typed (several per call when they arrive together, one call each).
    int (*key)(void *self, int ch);
    // Called about every 100 ms and after each batch of keys (but after the
    // next draw when the keys returned SCREEN_AGAIN); may be NULL.
    int (*tick)(void *self);
    // A stop signal arrived (SIGINT, SIGTERM, SIGHUP): the screen decides
    // how to wind down (and remembers the exit status it calls for).
    // NULL: screen_run returns the signal at once.
    int (*signal)(void *self, int sig);
} Screen;

// Runs s until it asks to quit; returns 0, or the signal that ended it
// when the screen has no signal handler.
int screen_run(const Screen *s, void *self);

#endif
