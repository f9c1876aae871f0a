#include "canvas.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int canvas_resize(Canvas *c, int w, int h) {
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    size_t n = (size_t)w * (size_t)h;
    Cell *cells = realloc(c->cells, (n ? n : 1) * sizeof *cells);
    if (!cells) return -1;
    c->cells = cells;
    c->w = w;
    c->h = h;
    canvas_clear(c);
    return 0;
}

void canvas_free(Canvas *c) {
    free(c->cells);
    memset(c, 0, sizeof *c);
}

void canvas_clear(Canvas *c) {
    for (int i = 0; i < c->w * c->h; i++) c->cells[i] = (Cell){' ', 0, -1, -1};
    c->cursor_y = -1;
    c->cursor_x = 0;
}

void canvas_put(Canvas *c, int y, int x, uint32_t ch, uint8_t attr, int fg, int bg) {
    if (y < 0 || x < 0 || y >= c->h || x >= c->w) return;
    c->cells[y * c->w + x] = (Cell){ch, attr, (int16_t)fg, (int16_t)bg};
}

int utf8_decode(const char *s, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (!u[0]) return 0;
    int n = u[0] < 0x80         ? 1
            : (u[0] >> 5) == 6  ? 2
            : (u[0] >> 4) == 14 ? 3
            : (u[0] >> 3) == 30 ? 4
                                : 0;
    uint32_t v = n == 1 ? u[0] : n == 2 ? u[0] & 0x1F : n == 3 ? u[0] & 0x0F : u[0] & 0x07;
    for (int i = 1; i < n; i++) {
        if ((u[i] >> 6) != 2) {  // truncated sequence: take the lead byte alone
            n = 0;
            break;
        }
        v = v << 6 | (u[i] & 0x3F);
    }
    if (n == 0) {
        // Not UTF-8 (e.g. a Latin-1 file name): show the byte as its code
        // point rather than dropping it.
        *cp = u[0];
        return 1;
    }
    *cp = v;
    return n;
}

int utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_columns(const char *s) {
    int n = 0, k;
    uint32_t cp;
    while ((k = utf8_decode(s, &cp)) > 0) {
        s += k;
        n++;
    }
    return n;
}

int canvas_textc(Canvas *c, int y, int x, int maxw, uint8_t attr, int fg, const char *s) {
    if (maxw < 0 || x + maxw > c->w) maxw = c->w - x;
    if (maxw <= 0 || y < 0 || y >= c->h) return 0;
    int total = utf8_columns(s), col = 0, k;
    uint32_t cp;
    while (col < maxw && (k = utf8_decode(s, &cp)) > 0) {
        s += k;
        // Control characters would move the terminal's cursor: show them as '?'.
        if (cp < 0x20 || cp == 0x7F) cp = '?';
        if (total > maxw && col == maxw - 1) cp = '~';
        canvas_put(c, y, x + col, cp, attr, fg, -1);
        col++;
    }
    return col;
}

void utf8_tail(const char *s, int cols, char *buf, size_t len) {
    int total = utf8_columns(s), k;
    uint32_t cp;
    if (total > cols && cols > 3) {
        // Skip the columns that do not fit, and three more for the dots.
        for (int skip = total - (cols - 3); skip > 0 && (k = utf8_decode(s, &cp)) > 0; skip--)
            s += k;
        snprintf(buf, len, "...%s", s);
    } else {
        snprintf(buf, len, "%s", s);
    }
}

int canvas_wrap(Canvas *c, int y, int x, int w, int skip, int max_rows, uint8_t attr, int fg,
                const char *s) {
    if (w < 1) return 0;
    int rows = 0;
    while (*s || rows == 0) {
        // This row: up to w code points, back to the last blank when the
        // text goes on and a blank is in the row.
        const char *p = s, *cut = NULL;
        int col = 0, k;
        uint32_t cp;
        while (col < w && (k = utf8_decode(p, &cp)) > 0) {
            p += k;
            col++;
            if (cp == ' ' && *p) cut = p;
        }
        const char *end = *p && cut ? cut : p;
        if (c && rows >= skip && rows - skip < max_rows) {
            char row[1024];
            size_t n = (size_t)(end - s) < sizeof row - 1 ? (size_t)(end - s) : sizeof row - 1;
            memcpy(row, s, n);
            row[n] = '\0';
            canvas_textc(c, y + rows - skip, x, w, attr, fg, row);
        }
        rows++;
        s = end;
        while (*s == ' ') s++;  // a break's blanks do not start the next row
    }
    return rows;
}

int canvas_text(Canvas *c, int y, int x, int maxw, uint8_t attr, const char *s) {
    return canvas_textc(c, y, x, maxw, attr, -1, s);
}

int canvas_printf(Canvas *c, int y, int x, int maxw, uint8_t attr, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return canvas_text(c, y, x, maxw, attr, buf);
}

void canvas_fill(Canvas *c, int y, int x, int h, int w, uint32_t ch, uint8_t attr) {
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) canvas_put(c, y + i, x + j, ch, attr, -1, -1);
}

void canvas_box(Canvas *c, int y, int x, int h, int w, const char *title) {
    if (h < 2 || w < 2) return;
    for (int j = 1; j < w - 1; j++) {
        canvas_put(c, y, x + j, CH_HLINE, CA_DIM, -1, -1);
        canvas_put(c, y + h - 1, x + j, CH_HLINE, CA_DIM, -1, -1);
    }
    for (int i = 1; i < h - 1; i++) {
        canvas_put(c, y + i, x, CH_VLINE, CA_DIM, -1, -1);
        canvas_put(c, y + i, x + w - 1, CH_VLINE, CA_DIM, -1, -1);
    }
    canvas_put(c, y, x, CH_TL, CA_DIM, -1, -1);
    canvas_put(c, y, x + w - 1, CH_TR, CA_DIM, -1, -1);
    canvas_put(c, y + h - 1, x, CH_BL, CA_DIM, -1, -1);
    canvas_put(c, y + h - 1, x + w - 1, CH_BR, CA_DIM, -1, -1);
    if (title && *title && w > 6) {
        char t[256];
        snprintf(t, sizeof t, " %s ", title);
        canvas_text(c, y, x + 2, w - 4, CA_BOLD, t);
    }
}

void canvas_bar(Canvas *c, int y, int x, int w, double frac, int fg) {
    if (!(frac >= 0)) frac = 0;  // also NaN
    if (frac > 1) frac = 1;
    int full = (int)(frac * w + 0.5);
    for (int j = 0; j < w; j++)
        canvas_put(c, y, x + j, j < full ? CH_FULL : CH_LIGHT, j < full ? 0 : CA_DIM,
                   j < full ? fg : -1, -1);
}

void canvas_row(const Canvas *c, int y, char *buf, size_t len) {
    size_t n = 0, keep = 0;
    if (len == 0) return;
    for (int x = 0; y >= 0 && y < c->h && x < c->w; x++) {
        char u[4];
        int k = utf8_encode(c->cells[y * c->w + x].ch, u);
        if (n + (size_t)k >= len) break;
        memcpy(buf + n, u, (size_t)k);
        n += (size_t)k;
        if (c->cells[y * c->w + x].ch != ' ') keep = n;
    }
    buf[keep] = '\0';
}

int canvas_contains(const Canvas *c, const char *s) {
    char row[4096];
    for (int y = 0; y < c->h; y++) {
        canvas_row(c, y, row, sizeof row);
        if (strstr(row, s)) return 1;
    }
    return 0;
}
