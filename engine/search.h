// search: one query image's features against a gallery index, best first.
//
//   exact      the head on every entry, a block of entries at a time as one
//              batch (a (block,F) x (F,hidden) product): the scores rank
//              gives from the images themselves;
//   two-stage  (the default) the proxy's score (proxy.h) of every entry from
//              its 8-bit code, then the exact head on the shortlist of the
//              best ones. Its results carry exact scores; they are exact
//              ranking's whenever exact ranking's best entries are in the
//              shortlist.
// Memory: one block of entries and the n proxy scores (4 bytes each),
// whatever the index's size; the features stay in the file.
#ifndef SIAMESE_SEARCH_H
#define SIAMESE_SEARCH_H

#include "err.h"
#include "eval.h"
#include "gallery.h"
#include "model.h"

typedef struct SearchOpts {
    int exact;              // 1: the head on every entry
    long shortlist;         // two-stage: entries re-scored (<= 0: search_default_shortlist)
    long top;               // results wanted (<= 0: every readable entry, by the exact head)
    long skip;              // an entry left out (the query's own file), or -1
    int threads;            // proxy scoring threads (<= 0: all cores)
    EvalProgress progress;  // "entries scored"; may be NULL
    void *ctx;
} SearchOpts;

typedef struct SearchHit {
    long index;   // the entry
    float score;  // the head's probability
} SearchHit;

// The default shortlist for n entries: 1% of them, at least 256.
long search_default_shortlist(long n);

// query: its features (F). hits gets up to top results (every readable
// entry when top <= 0: room for g->n), best first, equal scores in entry
// order; *n_hits how many. Entries that did not decode never appear.
int search_gallery(Model *m, const Gallery *g, const float *query, const SearchOpts *o,
                   SearchHit *hits, long *n_hits, Err *e);

#endif
