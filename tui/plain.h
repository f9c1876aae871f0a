#ifndef SIAMESE_PLAIN_H
#define SIAMESE_PLAIN_H

#include "../engine/model.h"

// Runs the readline compare loop until end of input; returns an exit status.
int plain_compare_loop(Model *m);

#endif
