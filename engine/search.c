#include "search.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

// Entries a block: the head's batch (a (4096,F) x (F,hidden) product
// keeps both cores' GEMM at full rate), and the proxy's unit of work.
#define HEAD_BLOCK 4096
#define PROXY_BLOCK 4096

long search_default_shortlist(long n) {
    long k = n / 100;
    return k < 256 ? 256 : k;
}

// ---- the best k of a stream of scores: a heap whose root is the worst kept ----

typedef struct Best {
    SearchHit *h;
    long n, cap;
} Best;

// Ranks below: a lower score, or the same score and a later entry.
static int worse(const SearchHit *a, const SearchHit *b) {
    return a->score < b->score || (a->score == b->score && a->index > b->index);
}

static void sift_down(Best *b, long i) {
    for (;;) {
        long l = 2 * i + 1, r = l + 1, w = i;
        if (l < b->n && worse(&b->h[l], &b->h[w])) w = l;
        if (r < b->n && worse(&b->h[r], &b->h[w])) w = r;
        if (w == i) return;
        SearchHit t = b->h[i];
        b->h[i] = b->h[w];
        b->h[w] = t;
        i = w;
    }
}

static void best_offer(Best *b, long index, float score) {
    SearchHit x = {index, score};
    if (b->n < b->cap) {
        long i = b->n++;
        while (i > 0 && worse(&x, &b->h[(i - 1) / 2])) {
            b->h[i] = b->h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        b->h[i] = x;
    } else if (b->cap > 0 && worse(&b->h[0], &x)) {
        b->h[0] = x;
        sift_down(b, 0);
    }
}

static int best_first(const void *a, const void *b) {
    return worse(a, b) ? 1 : worse(b, a) ? -1 : 0;
}

static int by_index(const void *a, const void *b) {
    long x = ((const SearchHit *)a)->index, y = ((const SearchHit *)b)->index;
    return x < y ? -1 : x > y;
}

// ---- the exact head -------------------------------------------------------------------

// The features of rows[0..k) (ascending) into feats (k,F), a run of
// consecutive rows at a time.
static int read_rows(const Gallery *g, const long *rows, long k, float *feats, Err *e) {
    for (long i = 0; i < k;) {
        long run = 1;
        while (i + run < k && rows[i + run] == rows[i] + run) run++;
        if (gallery_read_features(g, rows[i], run, feats + i * g->feat_dim, e)) return -1;
        i += run;
    }
    return 0;
}

// The head on the entries rows[0..n_rows) (ascending, readable ones only:
// the proxy's shortlist; NULL: every entry), offering the score of each
// readable one but o->skip to best.
static int head_rows(Model *m, const Gallery *g, const float *query, const long *rows, long n_rows,
                     const SearchOpts *o, Best *best, Err *e) {
    const int F = g->feat_dim;
    // (A shortlist smaller than a block takes buffers of its size.)
    const long block = n_rows < 1 ? 1 : n_rows < HEAD_BLOCK ? n_rows : HEAD_BLOCK;
    float *rep = malloc((size_t)block * F * sizeof(float));
    float *feats = malloc((size_t)block * F * sizeof(float));
    float *prob = malloc(block * sizeof(float));
    long *at = malloc(block * sizeof *at);
    uint8_t *readable = malloc(block);
    int rc = rep && feats && prob && at && readable ? 0 : err_set(e, "out of memory");
    // The query against a block of entries: model_head takes pairs.
    for (long i = 0; !rc && i < block; i++)
        memcpy(rep + (size_t)i * F, query, F * sizeof(float));
    for (long b0 = 0; !rc && b0 < n_rows; b0 += block) {
        const long k = n_rows - b0 < block ? n_rows - b0 : block;
        for (long i = 0; i < k; i++) at[i] = rows ? rows[b0 + i] : b0 + i;
        if (rows) {
            rc = read_rows(g, at, k, feats, e);
            memset(readable, 1, k);  // the proxy stage read the flags already
        } else {
            rc = gallery_read_features(g, b0, k, feats, e);
            if (!rc) rc = gallery_read_readable(g, b0, k, readable, e);
        }
        if (!rc) rc = model_head(m, rep, feats, (int)k, prob, e);
        for (long i = 0; !rc && i < k; i++) {
            if (!readable[i] || at[i] == o->skip) continue;
            if (isnan(prob[i]))
                rc = err_set(e, "%s: the score of entry %ld is not a number (the model's weights?)",
                             g->path, at[i]);
            else
                best_offer(best, at[i], prob[i]);
        }
        if (!rc && o->progress) o->progress("entries scored", b0 + k, n_rows, o->ctx);
    }
    free(rep);
    free(feats);
    free(prob);
    free(at);
    free(readable);
    return rc;
}

// ---- the proxy ---------------------------------------------------------------------

// Every entry's proxy score into score (n); entries that did not decode
// and o->skip get INT32_MIN, below any real score.
static int proxy_scores(const Gallery *g, const Proxy *p, const uint8_t *qcode, const SearchOpts *o,
                        int32_t *score, Err *e) {
    const int threads = o->threads > 0 ? o->threads : omp_get_num_procs();
    const long blocks = (g->n + PROXY_BLOCK - 1) / PROXY_BLOCK;
    long done = 0;
    int failed = 0;
    // Each thread reads its blocks into its own buffer: the copies out of
    // the page cache then run on every core, as the scoring does.
#pragma omp parallel num_threads(threads)
    {
        uint8_t *codes = malloc((size_t)PROXY_BLOCK * g->code_dim), *readable = malloc(PROXY_BLOCK);
        Err mine;
        int bad = !codes || !readable;
        if (bad) snprintf(mine.msg, sizeof mine.msg, "out of memory");
#pragma omp for schedule(dynamic, 1)
        for (long b = 0; b < blocks; b++) {
            if (bad) continue;
            const long i0 = b * PROXY_BLOCK, k = g->n - i0 < PROXY_BLOCK ? g->n - i0 : PROXY_BLOCK;
            if (gallery_read_codes(g, i0, k, codes, &mine) ||
                gallery_read_readable(g, i0, k, readable, &mine)) {
                bad = 1;
                continue;
            }
            proxy_score(p, qcode, codes, k, score + i0);
            for (long i = 0; i < k; i++)
                if (!readable[i] || i0 + i == o->skip) score[i0 + i] = INT32_MIN;
            long now;
#pragma omp atomic capture
            now = done += k;
            if (o->progress && omp_get_thread_num() == 0)
                o->progress("entries scored", now, g->n, o->ctx);
        }
#pragma omp critical
        if (bad && !failed++) *e = mine;
        free(codes);
        free(readable);
    }
    if (failed) return -1;
    // The last block may have been another thread's: the count completes here.
    if (o->progress) o->progress("entries scored", g->n, g->n, o->ctx);
    return 0;
}

// The shortlist: the k entries of highest proxy score, in entry order
// (entries scored INT32_MIN, unreadable or skipped, never).
static int shortlist_of(const int32_t *score, long n, long k, long *rows, long *n_rows, Err *e) {
    Best b = {malloc(k * sizeof *b.h), 0, k};
    if (!b.h) return err_set(e, "out of memory for a shortlist of %ld", k);
    for (long i = 0; i < n; i++)
        if (score[i] != INT32_MIN) best_offer(&b, i, (float)score[i]);  // exact: |score| < 2^24
    qsort(b.h, b.n, sizeof *b.h, by_index);
    for (long i = 0; i < b.n; i++) rows[i] = b.h[i].index;
    *n_rows = b.n;
    free(b.h);
    return 0;
}

static int two_stage(Model *m, const Gallery *g, const float *query, const SearchOpts *o,
                     Best *best, Err *e) {
    Proxy p;
    if (proxy_init(&p, m, e)) return -1;
    if (p.code_dim != g->code_dim || p.feat_dim != g->feat_dim) {
        proxy_free(&p);
        return err_set(e, "%s: codes of %d bytes, the model's proxy makes %d (damaged?)", g->path,
                       g->code_dim, p.code_dim);
    }
    long k = o->shortlist > 0 ? o->shortlist : search_default_shortlist(g->n);
    if (k < best->cap) k = best->cap;
    if (k > g->n) k = g->n;
    uint8_t *qcode = malloc(p.code_dim);
    int32_t *score = malloc(g->n * sizeof *score);
    long *rows = malloc(k * sizeof *rows), n_rows = 0;
    int rc = qcode && score && rows ? 0 : err_set(e, "out of memory for %ld scores", g->n);
    if (!rc) {
        proxy_encode(&p, g->code_step, query, 1, qcode);
        rc = proxy_scores(g, &p, qcode, o, score, e);
    }
    if (!rc) rc = shortlist_of(score, g->n, k, rows, &n_rows, e);
    SearchOpts quiet = *o;
    quiet.progress = NULL;  // a short stage after the long one
    if (!rc) rc = head_rows(m, g, query, rows, n_rows, &quiet, best, e);
    free(qcode);
    free(score);
    free(rows);
    proxy_free(&p);
    return rc;
}

int search_gallery(Model *m, const Gallery *g, const float *query, const SearchOpts *o,
                   SearchHit *hits, long *n_hits, Err *e) {
    Best best = {hits, 0, o->top > 0 && o->top < g->n ? o->top : g->n};
    int rc = o->exact || o->top <= 0 ? head_rows(m, g, query, NULL, g->n, o, &best, e)
                                     : two_stage(m, g, query, o, &best, e);
    qsort(best.h, best.n, sizeof *best.h, best_first);
    *n_hits = rc ? 0 : best.n;
    return rc;
}
