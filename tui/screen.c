#include "screen.h"

#include <stdio.h>
#include <string.h>

#include "term.h"

#define TICK_MS 100

static void redraw(const Screen *s, void *self, Canvas *c) {
    int rows, cols;
    term_size(&rows, &cols);
    if ((rows != c->h || cols != c->w) && canvas_resize(c, cols, rows)) return;
    canvas_clear(c);
    s->draw(self, c);
    term_show(c);
}

int screen_run(const Screen *s, void *self) {
    Canvas c = {0};
    int flags = SCREEN_REDRAW, result = 0;
    while (!(flags & SCREEN_QUIT)) {
        if (flags & SCREEN_REPAINT) term_repaint();
        if (flags & (SCREEN_REDRAW | SCREEN_REPAINT)) redraw(s, self, &c);
        int wait = flags & SCREEN_AGAIN ? 0 : TICK_MS;
        flags = 0;
        int ch = term_getch(wait);
        // Keys that arrived together (an escape sequence, a paste) are
        // handled before the next draw.
        for (; ch >= 0; ch = term_getch(0)) flags |= s->key(self, ch);
        if (ch == TERM_RESIZE) flags |= SCREEN_REDRAW;
        if (ch == TERM_SIGNAL) {
            int sig = term_take_signal();
            if (!s->signal) {
                result = sig;
                break;
            }
            flags |= s->signal(self, sig);
        }
        // A screen that asked to be drawn before its next tick gets that.
        if (s->tick && !(flags & SCREEN_AGAIN)) flags |= s->tick(self);
    }
    canvas_free(&c);
    return result;
}

int screen_too_small(Canvas *c, int min_w, int min_h) {
    if (c->w >= min_w && c->h >= min_h) return 0;
    char msg[128];
    snprintf(msg, sizeof msg, "Window too small (%dx%d): need %dx%d", c->w, c->h, min_w, min_h);
    int y = c->h / 2, x = (c->w - (int)strlen(msg)) / 2;
    canvas_text(c, y, x < 0 ? 0 : x, -1, CA_BOLD, msg);
    return 1;
}
