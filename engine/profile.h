// profile: where the time of a training step goes, operation by operation
// (`siamese bench --mode profile`).
//
// While a Profile is attached to a Backend (profile_start), every backend
// operation is timed from its start to its end by the backend's timer (a
// CUDA event on each side on a GPU, so the time is the device's; the clock
// on the CPU, whose operations run when called) and filed under the label
// the model last gave (backend_label: the layer, "input", "loss",
// "optimizer") and the operation's kind (forward, pool, copy, ...). An
// operation that does several things names each as it starts it
// (profile_piece: "dgrad", "wgrad", "bias grad", "convert"), so a
// convolution's backward pass shows its data and filter gradients apart.
#ifndef SIAMESE_PROFILE_H
#define SIAMESE_PROFILE_H

#include "backend.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

// One timed piece of work.
typedef struct ProfileEntry {
    const char *label;  // backend_label's at the time ("block1_conv1"), or "-"
    const char *piece;  // "forward", "dgrad", ... (see profile.c)
    int from, to;       // the backend's timer marks around it
    double ms;          // milliseconds from mark `from` to mark `to` (profile_stop)
} ProfileEntry;

typedef struct Profile {
    ProfileEntry *entries;
    int n, cap;
    int open;           // the entry being timed, -1: none
    int first, last;    // the first and last marks of the run
    double wall_ms;     // between them (profile_stop)
    int lost;           // entries without a mark (the timer failed or memory ran out)
} Profile;

// Attaches p (emptied) to b: the operations from now on are timed. b must
// have the timer operations (both backends do).
void profile_start(Backend *b, Profile *p);
// Waits for the work queued, resolves every entry's time and detaches the
// profile. -1 when the backend failed meanwhile (its message in e).
int profile_stop(Backend *b, Err *e);
void profile_free(Profile *p);

// For backends: the operation in progress now does `piece` (a string that
// lives for the process) until the next piece or its end. Nothing when no
// profile is attached.
void profile_piece(Backend *b, const char *piece);
// For backend_failure.c: an outermost operation named op ("cuda_zero")
// starts or ends.
void profile_op_begin(Backend *b, const char *op);
void profile_op_end(Backend *b);

#ifdef __cplusplus
}
#endif

#endif
