// compare_screen: the compare loop in curses, the default screen of
// `siamese` in a terminal. It asks, as the Python predict.py does,
//   Input image_1 filename:
//   Input image_2 filename:
// then shows both images side by side and their similarity, and asks
// again. Lines starting with ':' are commands (:help lists them).
#ifndef SIAMESE_COMPARE_SCREEN_H
#define SIAMESE_COMPARE_SCREEN_H

#include "../engine/backend.h"
#include "../engine/model.h"
#include "commands.h"

// Runs the screen on model *m (which :model may replace; *m is the model
// in use when it returns) loaded from model_path on be. Returns the exit
// status, or -1 when curses could not start (the reason in why; the
// terminal is untouched).
int compare_screen_run(Backend *be, Model **m, const char *model_path, const PredictOpts *o,
                       char *why, size_t why_len);

#endif
