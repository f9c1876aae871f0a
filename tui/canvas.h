// canvas: a grid of character cells that the screens draw into.
//
// Drawing is a pure function from a screen's state to a Canvas, so layouts
// are testable without a terminal (tests read rows back as text); term.c
// copies the finished canvas to curses in one pass. Cells hold Unicode code
// points; term.c replaces the few non-ASCII ones we use (box lines, blocks)
// with ASCII when the terminal is not UTF-8.
#ifndef SIAMESE_CANVAS_H
#define SIAMESE_CANVAS_H

#include <stddef.h>
#include <stdint.h>

enum {
    CA_BOLD = 1,
    CA_REVERSE = 2,
    CA_DIM = 4,
    CA_UNDERLINE = 8,
};

// Colours are xterm palette indices 0..255; -1 is the terminal's default.
enum {
    COL_DEFAULT = -1,
    COL_RED = 1,
    COL_GREEN = 2,
    COL_YELLOW = 3,
    COL_BLUE = 4,
    COL_MAGENTA = 5,
    COL_CYAN = 6
};

// Code points the screens use.
#define CH_HLINE 0x2500u   // ─
#define CH_VLINE 0x2502u   // │
#define CH_TL 0x250Cu      // ┌
#define CH_TR 0x2510u      // ┐
#define CH_BL 0x2514u      // └
#define CH_BR 0x2518u      // ┘
#define CH_FULL 0x2588u    // █  (bars)
#define CH_LIGHT 0x2591u   // ░  (bar background)
#define CH_UPPER 0x2580u   // ▀  (half-block previews: fg = top pixel, bg = bottom)
#define CH_DOT 0x00B7u     // ·
#define CH_BULLET 0x25CFu  // ●
#define CH_TICK 0x2524u    // ┤

typedef struct Cell {
    uint32_t ch;     // code point; ' ' when empty
    uint8_t attr;    // CA_* bits
    int16_t fg, bg;  // palette index or -1
} Cell;

typedef struct Canvas {
    int w, h;
    Cell *cells;             // h rows of w cells
    int cursor_y, cursor_x;  // where the terminal cursor goes; y < 0 hides it
} Canvas;

// (Re)allocates to w x h cells and clears; returns -1 when out of memory.
int canvas_resize(Canvas *c, int w, int h);
void canvas_free(Canvas *c);
void canvas_clear(Canvas *c);

// One cell; ignored outside the canvas.
void canvas_put(Canvas *c, int y, int x, uint32_t ch, uint8_t attr, int fg, int bg);
// UTF-8 text from (y,x), at most maxw columns (maxw < 0: to the right
// edge), cut with '~' when it does not fit. Returns the columns written.
int canvas_text(Canvas *c, int y, int x, int maxw, uint8_t attr, const char *utf8);
int canvas_textc(Canvas *c, int y, int x, int maxw, uint8_t attr, int fg, const char *utf8);
int canvas_printf(Canvas *c, int y, int x, int maxw, uint8_t attr, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
// Text wrapped into rows of at most w columns, broken at blanks where a
// row has one (else at the width). Rows from `skip` on are drawn from row y,
// at most max_rows of them; c == NULL only counts. Returns the text's rows.
int canvas_wrap(Canvas *c, int y, int x, int w, int skip, int max_rows, uint8_t attr, int fg,
                const char *utf8);
// Fills a rectangle with ch.
void canvas_fill(Canvas *c, int y, int x, int h, int w, uint32_t ch, uint8_t attr);
// A frame with an optional title on its top edge.
void canvas_box(Canvas *c, int y, int x, int h, int w, const char *title);
// A horizontal bar w cells wide, filled to frac (0..1) in colour fg.
void canvas_bar(Canvas *c, int y, int x, int w, double frac, int fg);
// Row y as UTF-8 text (trailing blanks dropped), for tests and plain dumps.
void canvas_row(const Canvas *c, int y, char *buf, size_t len);
// 1 when some row of the canvas contains the text.
int canvas_contains(const Canvas *c, const char *utf8);

// Decodes one UTF-8 sequence from s (invalid bytes decode as themselves);
// returns the bytes used (0 at the end of the string).
int utf8_decode(const char *s, uint32_t *cp);
// Encodes cp into out (4 bytes at most); returns the byte count.
int utf8_encode(uint32_t cp, char *out);
// Columns of a UTF-8 string (one per code point).
int utf8_columns(const char *s);
// The end of s that fits in cols columns: s itself, or "..." and the last
// cols - 3 columns (a path keeps its file name). Written to buf.
void utf8_tail(const char *s, int cols, char *buf, size_t len);

#endif
