// chart: a line chart of a few series drawn in character cells (the loss
// and learning-rate curves of the training dashboard).
#ifndef SIAMESE_CHART_H
#define SIAMESE_CHART_H

#include <stdint.h>

#include "canvas.h"

typedef struct ChartSeries {
    const double *y;  // values at x = 1..n; non-finite values are left out
    int n;
    uint32_t mark;  // the point's character
    int fg;         // its colour (-1: default)
} ChartSeries;

// Plots the series in the h x w box at (y,x): the y range (of all series)
// labelled on the left, x running from 1 to n_x across the width. The
// points at x = highlight (1-based; 0 for none) are drawn in reverse video.
void chart_draw(Canvas *c, int y, int x, int h, int w, int n_x, const ChartSeries *s, int n_series,
                int highlight);

#endif
