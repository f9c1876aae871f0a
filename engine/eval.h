// eval: how well a model does what it is for.
//
//   episodes      N-way K-shot one-shot classification, within-alphabet as
//                 in Lake et al.: the N candidate characters of a trial come
//                 from one alphabet, and the test drawing and the support
//                 drawings from different drawers;
//   runs          the official Omniglot one-shot runs format:
//                 DIR/runNN/training/classNN.png (one drawing per candidate),
//                 DIR/runNN/test/itemNN.png and DIR/runNN/class_labels.txt
//                 ("runNN/test/itemXX.png runNN/training/classYY.png" per
//                 line, relative to DIR or to the run's folder);
//   verification  same/different pairs: accuracy at 0.5 and ROC AUC;
//   rank          a gallery's images by similarity to a query.
//
// The backbone is shared by both twins, so each image's features are
// computed once per evaluation (model_embed) and every pair only runs the
// small head (model_head). A trial whose best score is shared by several
// candidates counts as a miss: a collapsed model that outputs a constant
// scores 0, never 100%.
#ifndef SIAMESE_EVAL_H
#define SIAMESE_EVAL_H

#include <stdint.h>

#include <signal.h>

#include "dataset.h"
#include "dist.h"
#include "err.h"
#include "model.h"

// Progress of the long stages ("embedding", done, total), for the front.
typedef void (*EvalProgress)(const char *stage, long done, long total, void *ctx);

// Told of an image that does not decode: i, its number in the call's
// paths, and the message ("PATH: why"); one call at a time, from any of
// the decoding threads, in no particular order.
typedef void (*EvalFailed)(int i, const char *msg, void *ctx);

typedef struct EvalOpts {
    int threads;            // decoding threads (<= 0: all cores)
    int batch;              // images per model_embed call (<= 0: 64)
    EvalProgress progress;  // may be NULL
    void *ctx;
    EvalFailed failed;  // may be NULL
    void *failed_ctx;
    // When a call embeds part of a larger set: its first image is number
    // progress_base of progress_total (0, 0: the call is the whole set).
    long progress_base, progress_total;
    // The ranks of an MPI launcher that share the embedding of eval's trials
    // and index's files (eval_embed_shared); NULL: this process alone.
    Dist *dist;
} EvalOpts;

// Features of n image files, (n,F) into feats. An image that does not
// decode gets ok[i] = 0 (and zero features); the first failure's message
// goes to first_error (may be NULL) so the front can name it.
int eval_embed_files(Model *m, const char *const *paths, int n, const EvalOpts *o, float *feats,
                     unsigned char *ok, char *first_error, size_t first_error_len, Err *e);

// Why an image did not decode: "PATH: why".
typedef char EvalWhy[sizeof(((Err *)0)->msg)];

// A block of eval_embed_shared's files, on rank 0: files [first, first +
// count) of its paths, their features (count,F), ok flags, and for each
// that did not decode (ok[i] = 0) why[i]. Fails with e filled.
typedef int (*EvalTake)(long first, long count, const float *feats, const unsigned char *ok,
                        const EvalWhy *why, void *ctx, Err *e);

// Features of n image files embedded by the ranks of o->dist together, on
// rank 0 (one process: alone). Rank 0 calls it with the paths; the others
// serve it (eval_embed_serve). In blocks of o->batch (64) files a rank:
// rank 0 sends each block's paths, every rank embeds its dist_share of
// them on its own device, and rank 0 receives the block's features in
// order and gives them to take; o's progress on rank 0. An image's
// features do not depend on the rank or the batch that computed it (on
// the CPU, bit for bit). *stop (may be NULL): a rank's signal flag; a stop
// on any rank ends the call on every rank at the same block, failing with
// *stopped = that signal. A failure on any rank fails every rank's call
// (dist_agree's messages), and a failure of take the next block's.
int eval_embed_shared(Model *m, const char *const *paths, long n, const EvalOpts *o,
                      const volatile sig_atomic_t *stop, int *stopped, EvalTake take, void *ctx,
                      Err *e);
// The ranks but 0 of a command that shares its embedding: embeds their
// shares of rank 0's eval_embed_shared calls until its eval_embed_done.
// Fails when a call failed (e: this rank's own failure, or empty: rank 0
// reports), with *stopped set as there.
int eval_embed_serve(Model *m, const EvalOpts *o, const volatile sig_atomic_t *stop, int *stopped,
                     Err *e);
// Rank 0: no more shared embedding comes; the other ranks' eval_embed_serve
// returns. Once (later calls do nothing), and not after a failed exchange.
void eval_embed_done(const EvalOpts *o);

// The head on n pairs of feature rows: prob[i] = head(fa[i], fb[i]).
int eval_head(Model *m, const float *fa, const float *fb, long n, float *prob, Err *e);

typedef struct Accuracy {
    long trials, correct, ties;  // ties: trials lost to a shared best score
    double acc, lo, hi;          // fraction correct and its 95% Wilson interval
} Accuracy;

void eval_accuracy_finish(Accuracy *a);

typedef struct EpisodeConfig {
    int ways, shots, episodes;
    uint64_t seed;
} EpisodeConfig;

// Checks that ds can give such episodes (enough classes in one alphabet
// with enough images); the message says what is missing.
int eval_episodes_check(const Dataset *ds, const EpisodeConfig *ec, Err *e);
// The trials of an evaluation, drawn before any image is embedded: trial
// i's candidates are classes cls[i*ways ..], the true one at position
// truth[i]; its test image test[i], and candidate k's support images
// support[(i*ways + k)*shots ..]. Arrays are malloc'ed.
typedef struct EpisodePlan {
    int n, ways, shots;
    int *truth, *test, *cls, *support;
} EpisodePlan;

int eval_episodes_plan(const Dataset *ds, const EpisodeConfig *ec, EpisodePlan *plan, Err *e);
void eval_episodes_plan_free(EpisodePlan *plan);

int eval_episodes(Model *m, const Dataset *ds, const EpisodeConfig *ec, const EvalOpts *o,
                  Accuracy *res, Err *e);

typedef struct RunResult {
    char name[256];
    int items, wrong;
    double error;   // percent
} RunResult;

// Every run folder under dir (those with a class_labels.txt). runs is
// malloc'ed (n_runs entries); *mean_error in percent.
int eval_runs(Model *m, const char *dir, const EvalOpts *o, RunResult **runs, int *n_runs,
              double *mean_error, Err *e);

typedef struct Verification {
    long pairs;
    double acc;   // at threshold 0.5
    double auc;   // ROC area: P(score of a same pair > score of a different pair), ties 1/2
} Verification;

// n_samples samples of the pair sampler over all of ds (each a positive and
// a negative pair; same_group of the negatives from the same alphabet).
int eval_verification(Model *m, const Dataset *ds, int n_samples, double same_group,
                      uint64_t seed, const EvalOpts *o, Verification *res, Err *e);

// ROC AUC of scores with labels (1 positive, 0 negative); ties count 1/2.
double eval_roc_auc(const float *scores, const float *labels, long n);

// Scores of every gallery image against the query: scores[i], ok[i] = 0
// for an image that does not decode.
int eval_rank(Model *m, const char *query, const char *const *gallery, int n, const EvalOpts *o,
              float *scores, unsigned char *ok, Err *e);

#endif
