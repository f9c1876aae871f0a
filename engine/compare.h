// compare: the similarity of two images, the predict path shared by the
// command line, the line protocol and the curses screen.
#ifndef SIAMESE_COMPARE_H
#define SIAMESE_COMPARE_H

#include "err.h"
#include "image.h"
#include "model.h"

// Preprocesses both images as the model's spec says and runs one pair.
int compare_images(Model *m, const Image *a, const Image *b, float *prob, Err *e);

#endif
