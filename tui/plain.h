#ifndef SIAMESE_PLAIN_H
#define SIAMESE_PLAIN_H

#include "commands.h"

// Runs the readline compare loop until end of input; returns an exit status.
int plain_compare_loop(Model *m, const PredictOpts *o);

#endif
