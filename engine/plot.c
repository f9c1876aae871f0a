#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// stb_easy_font is all static functions, some unused here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop
#include <stb_image_write.h>

#include "atomicfile.h"

typedef struct Canvas {
    unsigned char *px;  // (h,w,3)
    int w, h;
} Canvas;

// Blends colour c into pixel (x,y) with coverage a in [0,1].
static void blend(Canvas *cv, int x, int y, const unsigned char c[3], double a) {
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h || a <= 0) return;
    if (a > 1) a = 1;
    unsigned char *p = cv->px + ((size_t)y * cv->w + x) * 3;
    for (int k = 0; k < 3; k++) p[k] = (unsigned char)(p[k] + a * (c[k] - p[k]) + 0.5);
}

static void fill_rect(Canvas *cv, int x0, int y0, int x1, int y1, const unsigned char c[3]) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) blend(cv, x, y, c, 1.0);
}

// An antialiased line of the given width: every pixel near the segment gets
// coverage from its distance to it.
static void line(Canvas *cv, double x0, double y0, double x1, double y1, double width,
                 const unsigned char c[3]) {
    const double r = width / 2;
    int bx0 = (int)floor(fmin(x0, x1) - r - 1), bx1 = (int)ceil(fmax(x0, x1) + r + 1);
    int by0 = (int)floor(fmin(y0, y1) - r - 1), by1 = (int)ceil(fmax(y0, y1) + r + 1);
    const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int y = by0; y <= by1; y++)
        for (int x = bx0; x <= bx1; x++) {
            double px = x + 0.5, py = y + 0.5;
            double t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
            t = fmin(fmax(t, 0), 1);
            double ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
            double d = sqrt(ex * ex + ey * ey);
            blend(cv, x, y, c, r + 0.5 - d);
        }
}

// Text with its top-left corner at (x,y), scaled by an integer factor.
static void text(Canvas *cv, int x, int y, const char *s, int scale, const unsigned char c[3]) {
    static char vbuf[64 * 1024];
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int quads = stb_easy_font_print(0, 0, buf, NULL, vbuf, sizeof vbuf);
    for (int q = 0; q < quads; q++) {
        // 4 vertices of 16 bytes (x, y, z floats, colour); quads are axis-aligned.
        const float *v0 = (const float *)(vbuf + q * 64), *v2 = (const float *)(vbuf + q * 64 + 32);
        fill_rect(cv, x + (int)(v0[0] * scale), y + (int)(v0[1] * scale), x + (int)(v2[0] * scale),
                  y + (int)(v2[1] * scale), c);
    }
}

static int text_width(const char *s, int scale) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    return stb_easy_font_width(buf) * scale;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks.
static double nice_step(double range, int n) {
    double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void format_tick(char *buf, size_t len, double v, double step) {
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, len, "%.*f", decimals, fabs(v) < step * 1e-6 ? 0.0 : v);
}

// A growing byte buffer for stb_image_write's callback.
typedef struct Bytes {
    unsigned char *data;
    size_t n, cap;
    int failed;
} Bytes;

static void bytes_append(void *ctx, void *data, int size) {
    Bytes *b = ctx;
    if (b->failed || size <= 0) return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 65536) + (size_t)size;
        unsigned char *nd = realloc(b->data, cap);
        if (!nd) {
            b->failed = 1;
            return;
        }
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

int plot_write_png(const char *path, int w, int h, const char *title, const char *xlabel,
                   const char *ylabel, double x0, const PlotSeries *series, int n_series, Err *e) {
    static const unsigned char black[3] = {0, 0, 0}, grid[3] = {225, 225, 225},
                               grey[3] = {90, 90, 90};
    Canvas cv = {malloc((size_t)w * h * 3), w, h};
    if (!cv.px) return err_set(e, "out of memory drawing %s", path);
    memset(cv.px, 255, (size_t)w * h * 3);
    // Data range.
    double xmin = x0, xmax = x0 + 1, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double y = series[s].y[i];
            if (!isfinite(y)) continue;
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
            xmax = fmax(xmax, x0 + i);
        }
    if (!isfinite(ymin)) ymin = 0, ymax = 1;
    if (ymax - ymin < 1e-9) ymin -= 0.5, ymax += 0.5;
    double ystep = nice_step(ymax - ymin, 6);
    ymin = floor(ymin / ystep) * ystep;
    ymax = ceil(ymax / ystep) * ystep;
    double xstep = fmax(1, nice_step(xmax - xmin, 8));
    // Plot area.
    const int L = 70, R = 20, T = 40, B = 50;
    const double pw = w - L - R, ph = h - T - B;
#define X(v) (L + ((v) - xmin) / (xmax - xmin) * pw)
#define Y(v) (T + (1 - ((v) - ymin) / (ymax - ymin)) * ph)
    char buf[64];
    for (double v = ymin; v <= ymax + ystep * 1e-6; v += ystep) {
        line(&cv, L, Y(v), L + pw, Y(v), 1, grid);
        format_tick(buf, sizeof buf, v, ystep);
        text(&cv, L - 8 - text_width(buf, 1), (int)Y(v) - 4, buf, 1, grey);
    }
    for (double v = ceil(xmin / xstep) * xstep; v <= xmax + 1e-9; v += xstep) {
        line(&cv, X(v), T, X(v), T + ph, 1, grid);
        format_tick(buf, sizeof buf, v, xstep);
        text(&cv, (int)X(v) - text_width(buf, 1) / 2, T + (int)ph + 8, buf, 1, grey);
    }
    line(&cv, L, T, L, T + ph, 1, black);
    line(&cv, L, T + ph, L + pw, T + ph, 1, black);
    for (int s = 0; s < n_series; s++) {
        const PlotSeries *sr = &series[s];
        for (int i = 1; i < sr->n; i++)
            if (isfinite(sr->y[i - 1]) && isfinite(sr->y[i]))
                line(&cv, X(x0 + i - 1), Y(sr->y[i - 1]), X(x0 + i), Y(sr->y[i]), 2, sr->rgb);
        if (sr->n == 1 && isfinite(sr->y[0]))
            line(&cv, X(x0), Y(sr->y[0]), X(x0), Y(sr->y[0]), 5, sr->rgb);
        // Legend, top right.
        int lx = L + (int)pw - 150, ly = T + 12 + 18 * s;
        line(&cv, lx, ly + 4, lx + 24, ly + 4, 2, sr->rgb);
        text(&cv, lx + 32, ly - 2, sr->label, 1, black);
    }
#undef X
#undef Y
    text(&cv, (w - text_width(title, 2)) / 2, 10, title, 2, black);
    text(&cv, L + ((int)pw - text_width(xlabel, 1)) / 2, h - 22, xlabel, 1, black);
    text(&cv, 8, T - 16, ylabel, 1, black);
    // Encoded in memory, then replaced atomically (atomicfile.h).
    Bytes png = {0};
    int ok = stbi_write_png_to_func(bytes_append, &png, w, h, 3, cv.px, w * 3);
    free(cv.px);
    int rc = ok && png.data && !png.failed ? atomicfile_write(path, png.data, png.n, e)
                                           : err_set(e, "%s: encoding the PNG failed (out of memory)", path);
    free(png.data);
    return rc;
}
