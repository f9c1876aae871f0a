#include "chart.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LABEL_W 8  // "0.000123" or "1.2e-05"

static int col_of(int i, int n_x, int pw) {
    return n_x <= 1 ? 0 : (int)lround((double)i * (pw - 1) / (n_x - 1));
}

static int row_of(double v, double lo, double hi, int ph) {
    return (int)lround((hi - v) / (hi - lo) * (ph - 1));
}

void chart_draw(Canvas *c, int y, int x, int h, int w, int n_x, const ChartSeries *s, int n_series,
                int highlight) {
    const int ph = h - 1, pw = w - LABEL_W - 1, px = x + LABEL_W + 1;
    if (ph < 2 || pw < 2 || n_x < 1) return;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i])) {
                if (s[k].y[i] < lo) lo = s[k].y[i];
                if (s[k].y[i] > hi) hi = s[k].y[i];
            }
    if (lo > hi) return;  // nothing to plot yet
    // A flat or nearly flat series (an untrained model's loss stays at
    // ln 2 = 0.6931 for epochs) is centred in a band of at least a
    // thousandth of its value, so it reads as flat rather than as noise
    // blown up to the full height, and its labels differ.
    const double min_span = fmax(fabs(hi) * 1e-3, 1e-6);
    if (hi - lo < min_span) {
        const double mid = (hi + lo) / 2;
        lo = mid - min_span / 2;
        hi = mid + min_span / 2;
    }
    // y axis with the top, middle and bottom values, with as many digits as
    // it takes for the top and bottom labels to differ.
    for (int r = 0; r < ph; r++) canvas_put(c, y + r, px - 1, CH_VLINE, CA_DIM, -1, -1);
    int digits = 4;
    char top[32], bottom[32];
    for (;; digits++) {
        snprintf(top, sizeof top, "%.*g", digits, hi);
        snprintf(bottom, sizeof bottom, "%.*g", digits, lo);
        if (strcmp(top, bottom) || digits == LABEL_W - 2) break;
    }
    int label_rows[3] = {0, ph / 2, ph - 1};
    for (int i = 0; i < 3; i++) {
        if (i == 1 && ph < 5) continue;
        int r = label_rows[i];
        double v = hi - (hi - lo) * r / (ph - 1);
        char t[32];
        snprintf(t, sizeof t, "%*.*g", LABEL_W, fabs(v) < 1e-3 ? 2 : digits, v);
        canvas_text(c, y + r, x, LABEL_W, CA_DIM, t);
        canvas_put(c, y + r, px - 1, CH_TICK, CA_DIM, -1, -1);
    }
    // x axis labels: the first and last x.
    char t[32];
    canvas_text(c, y + ph, px, -1, CA_DIM, "1");
    snprintf(t, sizeof t, "%d", n_x);
    if (n_x > 1) canvas_text(c, y + ph, px + pw - (int)strlen(t), -1, CA_DIM, t);
    for (int k = 0; k < n_series; k++) {
        // Dots between consecutive points, linearly interpolated, so the
        // curve reads as a line when epochs are far apart.
        for (int i = 0; i + 1 < s[k].n; i++) {
            double a = s[k].y[i], b = s[k].y[i + 1];
            if (!isfinite(a) || !isfinite(b)) continue;
            int c0 = col_of(i, n_x, pw), c1 = col_of(i + 1, n_x, pw);
            for (int col = c0 + 1; col < c1; col++) {
                double v = a + (b - a) * (col - c0) / (c1 - c0);
                canvas_put(c, y + row_of(v, lo, hi, ph), px + col, CH_DOT, 0, s[k].fg, -1);
            }
        }
    }
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n && i < n_x; i++) {
            if (!isfinite(s[k].y[i])) continue;
            canvas_put(c, y + row_of(s[k].y[i], lo, hi, ph), px + col_of(i, n_x, pw), s[k].mark,
                       i + 1 == highlight ? CA_REVERSE | CA_BOLD : CA_BOLD, s[k].fg, -1);
        }
}
