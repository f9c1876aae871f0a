#include "screen.h"

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
