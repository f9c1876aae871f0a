// plot: a small line-chart rasteriser that writes PNG files (the loss
// curve of a training run), with axes, ticks, a legend and text drawn with
// stb_easy_font. No plotting library needed.
#ifndef SIAMESE_PLOT_H
#define SIAMESE_PLOT_H

#include "err.h"

typedef struct PlotSeries {
    const double *y;   // y[i] at x = x0 + i
    int n;
    const char *label;
    unsigned char rgb[3];
} PlotSeries;

// Writes a w x h PNG chart of the series atomically (temporary file, rename).
int plot_write_png(const char *path, int w, int h, const char *title, const char *xlabel,
                   const char *ylabel, double x0, const PlotSeries *series, int n_series, Err *e);

#endif
