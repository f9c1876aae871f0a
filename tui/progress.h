// progress: one line on standard error that follows a long command's work
// (rank, index, eval), rewritten in place:
//
//   siamese: 3200/13180 images embedded (41.2/s, 4m02s left)
//
// and left as a summary when a stage ends ("13180/13180 images embedded
// in 5m20s (41.2/s)"). Only when standard error is a terminal, so logs and
// pipes stay clean; SIAMESE_PROGRESS=1 shows it anyway (tests), =0 never.
#ifndef SIAMESE_PROGRESS_H
#define SIAMESE_PROGRESS_H

#include <stdio.h>

typedef struct Progress {
    FILE *out;  // stderr
    int on;
    double start, last;  // when the stage began, when the line was last drawn
    long last_done;
    char stage[64];
    int open;  // a line is showing without its newline
} Progress;

void progress_init(Progress *p);
// An EvalProgress callback (ctx is the Progress): `done` of `total` items
// of a stage named by what they are ("images embedded"). A new stage
// starts when the name changes or the count goes back.
void progress_update(const char *stage, long done, long total, void *ctx);
// The same at a given time in seconds (progress_update passes cli_now()).
void progress_at(Progress *p, const char *stage, long done, long total, double now);
// Ends a line left open (an error in the middle of a stage), so that a
// message that follows starts on its own line.
void progress_end(Progress *p);

#endif
