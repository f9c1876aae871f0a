// bench_profile: `siamese bench --mode profile`: where a training step's
// time goes, operation by operation and layer by layer (engine/profile.h).
#ifndef SIAMESE_BENCH_PROFILE_H
#define SIAMESE_BENCH_PROFILE_H

#include "../engine/model.h"

// Times `repeat` training steps of N pairs on m's backend after one
// untimed step, as the trainer runs them (the batch as bytes from the
// backend's host memory, the forward pass queued with its loss read back,
// the backward pass, an SGD step), and prints the median of each (layer,
// piece) cell as a table, then one `PROFILE ...` line per cell for scripts.
// -1 with e filled when the backend fails.
int bench_profile(Model *m, int N, int repeat, Err *e);

// The median of v[0..n) (sorts v): what every mode of bench reports.
double bench_median(double *v, int n);

#endif
