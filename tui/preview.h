// preview: an image drawn in character cells, for the compare screen.
//
// Character cells are about twice as tall as wide, so a cell stands for a
// 1x2 patch of the image (aspect correction). ASCII mode maps each cell's
// ink to a density ramp; block mode draws the upper half block with the
// top pixel as foreground and the bottom one as background, in the
// terminal's 256-colour palette (its grey ramp for grey images).
#ifndef SIAMESE_PREVIEW_H
#define SIAMESE_PREVIEW_H

#include "../engine/image.h"
#include "canvas.h"

typedef enum PreviewMode { PREVIEW_ASCII, PREVIEW_BLOCKS } PreviewMode;

// The cells (cols x rows) an img_w x img_h image takes when fitted into
// box_w x box_h cells, keeping its aspect ratio; at least 1x1.
void preview_fit(int img_w, int img_h, int box_w, int box_h, int *cols, int *rows);

// Draws img fitted and centred in the box at (y,x). Returns -1 when out of
// memory (nothing drawn).
int preview_draw(Canvas *c, int y, int x, int box_w, int box_h, const Image *img, PreviewMode mode);

// The xterm 256-colour palette entry nearest to an RGB colour: the 24-step
// grey ramp for greys, else the 6x6x6 cube.
int preview_xterm_color(int r, int g, int b);

#endif
