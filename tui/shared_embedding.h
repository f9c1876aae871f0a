// shared_embedding: what the commands whose ranks share their embedding
// under an MPI launcher (eval, index) do around their own work: the model
// opened on every rank, rank 0's progress line, the other ranks serving
// rank 0's embedding, and the closing in the order the ranks need. One
// process, started without a launcher, is rank 0 of 1.
#ifndef SIAMESE_SHARED_EMBEDDING_H
#define SIAMESE_SHARED_EMBEDDING_H

#include <signal.h>

#include "../engine/eval.h"
#include "cli.h"
#include "progress.h"

typedef struct SharedEmbedding {
    Dist *dist;
    Backend *be;
    Model *m;
    char model_path[4096];  // the weights file the model came from
    Progress progress;      // drawn on rank 0 alone
    // For the engine's calls: the threads, rank 0's progress, the ranks.
    // (It points into this struct, which stays where it is until closed.)
    EvalOpts o;
} SharedEmbedding;

// Opens the ranks, this rank's device and the model (cli_open_model_ranks,
// which settles co->threads) and readies the rest. The exit status; on a
// failure all is closed already.
int shared_embedding_open(CommonOpts *co, SharedEmbedding *s);
// On a rank above 0, the whole command: embeds this rank's shares of rank
// 0's work until rank 0 is done (eval_embed_serve). stop (may be NULL):
// this rank's signal flag. The exit status: 0, or that of a failure (130
// or 143 when a signal stopped the work on any rank), said here when it
// is this rank's own, else by rank 0.
int shared_embedding_serve(SharedEmbedding *s, const volatile sig_atomic_t *stop);
// Tells the other ranks that rank 0 is done, ends a progress line left
// open, and closes the model, the backend and the ranks (after a failed
// exchange between ranks this ends the whole job).
void shared_embedding_close(SharedEmbedding *s);

#endif
