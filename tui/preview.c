#include "preview.h"

#include <stdlib.h>

// Ink density from none to full; 10 steps are as many as the eye tells
// apart in a terminal.
static const char RAMP[] = " .:-=+*#%@";
#define RAMP_STEPS ((int)sizeof RAMP - 1)

void preview_fit(int img_w, int img_h, int box_w, int box_h, int *cols, int *rows) {
    // A cell is 1 pixel wide and 2 tall in image proportions.
    int c = box_w, r = (int)((double)box_w * img_h / img_w / 2 + 0.5);
    if (r > box_h) {
        r = box_h;
        c = (int)((double)box_h * 2 * img_w / img_h + 0.5);
    }
    *cols = c < 1 ? 1 : c > box_w ? box_w : c;
    *rows = r < 1 ? 1 : r > box_h ? box_h : r;
}

// ITU-R 601 luma, as PIL's convert('L').
static int luma(const unsigned char *p) {
    return (p[0] * 299 + p[1] * 587 + p[2] * 114 + 500) / 1000;
}

static int grey_level(int v) {
    // The grey ramp 232..255 runs from 8 to 238 in steps of 10; black and
    // white are cube corners 16 and 231.
    if (v < 4) return 16;
    if (v > 246) return 231;
    int i = (v - 3) / 10;
    return 232 + (i > 23 ? 23 : i);
}

int preview_xterm_color(int r, int g, int b) {
    int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    if (mx - mn < 12) return grey_level((r + g + b) / 3);
    // Cube levels 0, 95, 135, 175, 215, 255.
    int q[3], v[3] = {r, g, b};
    for (int i = 0; i < 3; i++) q[i] = v[i] < 48 ? 0 : v[i] < 115 ? 1 : (v[i] - 35) / 40;
    return 16 + 36 * q[0] + 6 * q[1] + q[2];
}

int preview_draw(Canvas *c, int y, int x, int box_w, int box_h, const Image *img,
                 PreviewMode mode) {
    if (box_w < 1 || box_h < 1 || img->w < 1 || img->h < 1) return 0;
    int cols, rows;
    preview_fit(img->w, img->h, box_w, box_h, &cols, &rows);
    const int sub = mode == PREVIEW_BLOCKS ? 2 : 1;  // pixels per cell, vertically
    Image small;
    // PIL's antialiased shrink averages each cell's patch, so thin strokes
    // stay visible instead of falling between sample points.
    if (image_resize(img, cols, rows * sub, FILTER_BILINEAR, &small)) return -1;
    y += (box_h - rows) / 2;
    x += (box_w - cols) / 2;
    if (mode == PREVIEW_BLOCKS) {
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) {
                const unsigned char *top = small.rgb + ((size_t)(2 * r) * cols + k) * 3;
                const unsigned char *bot = small.rgb + ((size_t)(2 * r + 1) * cols + k) * 3;
                canvas_put(c, y + r, x + k, CH_UPPER, 0,
                           preview_xterm_color(top[0], top[1], top[2]),
                           preview_xterm_color(bot[0], bot[1], bot[2]));
            }
    } else {
        // Ink is darkness on a light image (Omniglot's black strokes on
        // white) and brightness on a dark one, so the background stays blank.
        long sum = 0;
        for (int i = 0; i < cols * rows; i++) sum += luma(small.rgb + (size_t)i * 3);
        int light = sum >= 128L * cols * rows;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) {
                int l = luma(small.rgb + ((size_t)r * cols + k) * 3);
                int ink = light ? 255 - l : l;
                int step = (ink * (RAMP_STEPS - 1) + 127) / 255;  // rounded
                canvas_put(c, y + r, x + k, (uint32_t)RAMP[step], 0, -1, -1);
            }
    }
    image_free(&small);
    return 0;
}
