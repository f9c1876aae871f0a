#include "eval.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "rng.h"

// ---- features, once per image ------------------------------------------------------

int eval_embed_files(Model *m, const char *const *paths, int n, const EvalOpts *o, float *feats,
                     unsigned char *ok, char *first_error, size_t first_error_len, Err *e) {
    const int S = m->spec.input_size, F = m->feat_dim;
    const int batch = o && o->batch > 0 ? o->batch : 64;
    int threads = o && o->threads > 0 ? o->threads : omp_get_num_procs();
    const size_t per = (size_t)S * S * 3;
    // Page-locked on a GPU: the batch crosses without a staging copy.
    Backend *be = m->be;
    float *x = be->ops->host_alloc(be, (size_t)batch * per * sizeof(float));
    if (!x)  // (NULL from a backend that failed before: its failure is the message)
        return backend_check(be, e) ? -1 : err_set(e, "out of memory for a batch of %d images", batch);
    if (first_error && first_error_len) first_error[0] = '\0';
    int failed = 0;
    for (int b0 = 0; b0 < n; b0 += batch) {
        const int nb = n - b0 < batch ? n - b0 : batch;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int i = 0; i < nb; i++) {
            Image img;
            Err ie;
            float *xi = x + (size_t)i * per;
            int good = image_load(paths[b0 + i], &img, &ie) == 0;
            if (good) {
                good = image_to_input(&img, S, &m->spec.pre, xi) == 0;
                if (!good) snprintf(ie.msg, sizeof ie.msg, "%s: out of memory", paths[b0 + i]);
                image_free(&img);
            }
            ok[b0 + i] = (unsigned char)good;
            if (!good) {
                memset(xi, 0, per * sizeof(float));
#pragma omp critical
                {
                    if (!failed++ && first_error)
                        snprintf(first_error, first_error_len, "%s", ie.msg);
                    if (o && o->failed) o->failed(b0 + i, ie.msg, o->failed_ctx);
                }
            }
        }
        if (model_embed(m, x, nb, feats + (size_t)b0 * F, e)) {
            be->ops->host_free(be, x);
            return -1;
        }
        for (int i = 0; i < nb; i++)
            if (!ok[b0 + i]) memset(feats + (size_t)(b0 + i) * F, 0, F * sizeof(float));
        if (o && o->progress)
            o->progress("images embedded", o->progress_base + b0 + nb,
                        o->progress_total ? o->progress_total : n, o->ctx);
    }
    be->ops->host_free(be, x);
    return 0;
}

// ---- features shared between the ranks ----------------------------------------------

// Files a block holds at most: rank 0 keeps one block's features and
// messages (4096 of VGG16's rows are 80 MB).
#define SHARE_BLOCK_MAX 4096

// A shared embedding's buffers on one rank.
typedef struct Share {
    Model *m;
    Dist *d, solo;
    EvalOpts own;       // this rank's embedding: its threads and batch, no progress
    long block;         // files a block
    long own_max;       // the most files of a block one rank embeds
    size_t row_bytes;   // a file's features and flag as sent
    unsigned char *out; // what this rank sends: features (c,F), flags (c), messages
    EvalWhy *why;       // this rank's messages, by file (own_max)
    double *votes;      // (size, 2): every rank's stop signal and undecodable files
    // rank 0: the block received, then its features (block,F), flags, messages
    unsigned char *in;
    size_t *bytes;
    float *feats;
    unsigned char *ok;
    EvalWhy *all_why;
    // the block's paths as rank 0 sends them (NUL-separated), and the
    // pointers into them of the ranks that receive them
    char *names;
    size_t names_cap;
    const char **paths;
} Share;

static void note_share_why(int i, const char *msg, void *ctx) {
    snprintf(((EvalWhy *)ctx)[i], sizeof(EvalWhy), "%s", msg);
}

static void share_free(Share *s) {
    free(s->out);
    free(s->why);
    free(s->votes);
    free(s->in);
    free(s->bytes);
    free(s->feats);
    free(s->ok);
    free(s->all_why);
    free(s->names);
    free(s->paths);
}

static int share_init(Share *s, Model *m, const EvalOpts *o, Err *e) {
    memset(s, 0, sizeof *s);
    s->m = m;
    s->d = o && o->dist ? o->dist : NULL;
    if (!s->d) dist_solo(s->d = &s->solo);
    const int size = s->d->size, F = m->feat_dim;
    const long batch = o && o->batch > 0 ? o->batch : 64;
    s->block = batch * size;
    if (s->block > SHARE_BLOCK_MAX) s->block = SHARE_BLOCK_MAX > size ? SHARE_BLOCK_MAX : size;
    s->own_max = s->block / size + 1;
    s->own = (EvalOpts){.threads = o ? o->threads : 0, .batch = (int)batch,
                        .failed = note_share_why};
    s->row_bytes = (size_t)F * sizeof(float) + 1;
    s->out = malloc(s->own_max * (s->row_bytes + sizeof(EvalWhy)));
    s->why = malloc(s->own_max * sizeof(EvalWhy));
    s->votes = malloc(size * 2 * sizeof(double));
    s->paths = malloc(s->block * sizeof *s->paths);
    int rc = s->out && s->why && s->votes && s->paths ? 0 : -1;
    if (!rc && s->d->rank == 0) {
        s->in = malloc(s->block * (s->row_bytes + sizeof(EvalWhy)));
        s->bytes = malloc(size * sizeof *s->bytes);
        s->feats = malloc(s->block * F * sizeof(float));
        s->ok = malloc(s->block);
        s->all_why = malloc(s->block * sizeof(EvalWhy));
        rc = s->in && s->bytes && s->feats && s->ok && s->all_why ? 0 : -1;
    }
    s->own.failed_ctx = s->why;
    if (rc) {
        share_free(s);
        return err_set(e, "out of memory for a block of %ld images' features", s->block);
    }
    return 0;
}

// The names buffer holding bytes.
static int names_room(Share *s, size_t bytes, Err *e) {
    if (bytes <= s->names_cap) return 0;
    char *n = realloc(s->names, bytes);
    if (!n) return err_set(e, "out of memory for a block's paths");
    s->names = n;
    s->names_cap = bytes;
    return 0;
}

// The block of k files starting at paths[0] (rank 0), or as rank 0 sends
// them (the others: into s->paths).
static int share_paths(Share *s, const char *const *paths, long k, Err *e) {
    if (s->d->size == 1) return 0;
    uint64_t bytes = 0;
    for (long i = 0; s->d->rank == 0 && i < k; i++) bytes += strlen(paths[i]) + 1;
    if (dist_broadcast(s->d, &bytes, sizeof bytes, e) || names_room(s, bytes, e)) return -1;
    char *p = s->names;
    for (long i = 0; s->d->rank == 0 && i < k; i++) p = stpcpy(p, paths[i]) + 1;
    if (dist_broadcast(s->d, s->names, bytes, e)) return -1;
    p = s->names;
    for (long i = 0; s->d->rank > 0 && i < k; i++, p += strlen(p) + 1) s->paths[i] = p;
    return 0;
}

// One block of k files (mine: this rank's share of their paths): every
// rank embeds its share, they agree that all went well and none was
// asked to stop, and rank 0 receives the block into s->feats, s->ok and
// s->all_why. failed: this rank failed before (its message in e).
static int share_block(Share *s, const char *const *mine, long k, const volatile sig_atomic_t *stop,
                       int *stopped, int failed, Err *e) {
    Dist *d = s->d;
    const int F = s->m->feat_dim;
    long first, c;
    dist_part(k, d->rank, d->size, &first, &c);
    const int sig = stop ? *stop : 0;
    unsigned char *ok = s->out + c * F * sizeof(float);
    int rc = failed ? -1 : 0, bad = 0;
    if (!rc && !sig && c > 0)
        rc = eval_embed_files(s->m, mine, (int)c, &s->own, (float *)s->out, ok, NULL, 0, e);
    if ((rc = dist_agree(d, rc, e))) return -1;
    // The messages of the files that did not decode, after the flags.
    for (long i = 0; !sig && i < c; i++)
        if (!ok[i]) memcpy(ok + c + bad++ * sizeof(EvalWhy), s->why[i], sizeof(EvalWhy));
    double mine_votes[2] = {sig, bad};
    if (dist_gather(d, mine_votes, 2, s->votes, e)) return -1;
    for (int r = 0; r < d->size; r++)
        if (s->votes[2 * r] > *stopped) *stopped = (int)s->votes[2 * r];
    if (*stopped) {
        if (d->rank > 0) e->msg[0] = '\0';
        return d->rank > 0 ? -1 : err_set(e, "interrupted");
    }
    for (int r = 0; d->rank == 0 && r < d->size; r++) {
        long rf, rc_;
        dist_part(k, r, d->size, &rf, &rc_);
        s->bytes[r] = rc_ * s->row_bytes + (size_t)s->votes[2 * r + 1] * sizeof(EvalWhy);
    }
    if (dist_gather_bytes(d, s->out, c * s->row_bytes + bad * sizeof(EvalWhy), s->in, s->bytes, e))
        return -1;
    // Rank 0: each rank's features, flags and messages into the block's.
    const unsigned char *p = s->in;
    for (int r = 0; d->rank == 0 && r < d->size; r++) {
        long rf, rn;
        dist_part(k, r, d->size, &rf, &rn);
        memcpy(s->feats + rf * F, p, rn * F * sizeof(float));
        p += rn * F * sizeof(float);
        memcpy(s->ok + rf, p, rn);
        p += rn;
        for (long i = rf; i < rf + rn; i++)
            if (!s->ok[i]) {
                memcpy(s->all_why[i], p, sizeof(EvalWhy));
                p += sizeof(EvalWhy);
            }
    }
    return 0;
}

int eval_embed_shared(Model *m, const char *const *paths, long n, const EvalOpts *o,
                      const volatile sig_atomic_t *stop, int *stopped, EvalTake take, void *ctx,
                      Err *e) {
    *stopped = 0;
    Share s;
    if (share_init(&s, m, o, e)) return -1;
    // The call's size, then its blocks.
    int64_t count = n;
    int rc = s.d->size > 1 ? dist_broadcast(s.d, &count, sizeof count, e) : 0, failed = 0;
    for (long b0 = 0; !rc && b0 < n; b0 += s.block) {
        const long k = n - b0 < s.block ? n - b0 : s.block;
        // (Rank 0's share is the block's first files.)
        rc = share_paths(&s, paths + b0, k, e);
        if (!rc) rc = share_block(&s, paths + b0, k, stop, stopped, failed, e);
        // (A failure of take fails the next block on every rank, or the call.)
        if (!rc && !failed) failed = take(b0, k, s.feats, s.ok, s.all_why, ctx, e) != 0;
        if (!rc && !failed && o && o->progress)
            o->progress("images embedded", o->progress_base + b0 + k,
                        o->progress_total ? o->progress_total : n, o->ctx);
    }
    share_free(&s);
    return rc || failed ? -1 : 0;
}

int eval_embed_serve(Model *m, const EvalOpts *o, const volatile sig_atomic_t *stop, int *stopped,
                     Err *e) {
    *stopped = 0;
    e->msg[0] = '\0';
    Share s;
    if (share_init(&s, m, o, e)) return -1;
    int failed = 0;
    Err ce;
    for (;;) {
        int64_t n;
        if (dist_broadcast(s.d, &n, sizeof n, &ce)) {
            *e = ce;
            failed = 1;
            break;
        }
        if (n < 0) break;  // eval_embed_done
        // (A call that failed here keeps its message: it failed every rank's.)
        for (long b0 = 0; b0 < n; b0 += s.block) {
            const long k = n - b0 < s.block ? n - b0 : s.block;
            long first, c;
            dist_part(k, s.d->rank, s.d->size, &first, &c);
            int rc = share_paths(&s, NULL, k, &ce);
            if (!rc) rc = share_block(&s, s.paths + first, k, stop, stopped, 0, &ce);
            if (rc) {
                if (!failed) *e = ce;
                failed = 1;
                break;
            }
        }
        if (s.d->broken) break;
    }
    share_free(&s);
    return failed ? -1 : 0;
}

void eval_embed_done(const EvalOpts *o) {
    Dist *d = o ? o->dist : NULL;
    if (!d || d->size == 1 || d->rank > 0 || d->embed_done || d->broken) return;
    d->embed_done = 1;
    int64_t done = -1;
    Err ignored;  // (a failure ends the job at dist_close)
    dist_broadcast(d, &done, sizeof done, &ignored);
}

int eval_head(Model *m, const float *fa, const float *fb, long n, float *prob, Err *e) {
    const long chunk = 1024;
    const size_t F = m->feat_dim;
    for (long i = 0; i < n; i += chunk) {
        int k = (int)(n - i < chunk ? n - i : chunk);
        if (model_head(m, fa + i * F, fb + i * F, k, prob + i, e)) return -1;
    }
    return 0;
}

void eval_accuracy_finish(Accuracy *a) {
    const double n = (double)a->trials, z = 1.96;
    if (n <= 0) {
        a->acc = a->lo = a->hi = 0;
        return;
    }
    const double p = a->correct / n, d = 1 + z * z / n;
    const double centre = (p + z * z / (2 * n)) / d;
    const double half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d;
    a->acc = p;
    a->lo = fmax(0, centre - half);
    a->hi = fmin(1, centre + half);
}

// Rows of the features of eval_embed_shared, into feats (n,F); fails on the
// first file that does not decode.
typedef struct Rows {
    float *feats;
    int F;
} Rows;

static int take_rows(long first, long count, const float *feats, const unsigned char *ok,
                     const EvalWhy *why, void *ctx, Err *e) {
    Rows *r = ctx;
    for (long i = 0; i < count; i++)
        if (!ok[i]) return err_set(e, "%s", why[i]);
    memcpy(r->feats + first * r->F, feats, count * r->F * sizeof(float));
    return 0;
}

// Features of n files (n,F) into feats, embedded by the ranks of o->dist
// together; fails on a file that does not decode.
static int embed_decodable(Model *m, const char *const *paths, int n, const EvalOpts *o,
                           float *feats, Err *e) {
    Rows r = {feats, m->feat_dim};
    int stopped;
    return eval_embed_shared(m, paths, n, o, NULL, &stopped, take_rows, &r, e);
}

// Features of a set of dataset images given by index; row r of *feats
// belongs to image idx[r]. Fails on an image that does not decode.
static int embed_images(Model *m, const Dataset *ds, const int *idx, int n, const EvalOpts *o,
                        float **feats, Err *e) {
    const char **paths = malloc((n ? n : 1) * sizeof *paths);
    *feats = malloc(((size_t)n * m->feat_dim + 1) * sizeof(float));
    if (!paths || !*feats) {
        free(paths);
        free(*feats);
        *feats = NULL;
        return err_set(e, "out of memory for the features of %d images", n);
    }
    for (int i = 0; i < n; i++) paths[i] = ds->images[idx[i]].path;
    int rc = embed_decodable(m, paths, n, o, *feats, e);
    free(paths);
    if (rc) {
        free(*feats);
        *feats = NULL;  // the callers free it on every path
    }
    return rc;
}

// Maps image indices to rows of a compact list of the images actually
// needed: row[img] (-1 when unused), and that list.
typedef struct Needed {
    int *row;
    int *list;
    int n;
} Needed;

static int needed_init(Needed *nd, int n_images, Err *e) {
    nd->row = malloc((n_images ? n_images : 1) * sizeof *nd->row);
    nd->list = malloc((n_images ? n_images : 1) * sizeof *nd->list);
    nd->n = 0;
    if (!nd->row || !nd->list) {
        free(nd->row);
        free(nd->list);
        return err_set(e, "out of memory");
    }
    for (int i = 0; i < n_images; i++) nd->row[i] = -1;
    return 0;
}

static void needed_add(Needed *nd, int img) {
    if (nd->row[img] < 0) {
        nd->row[img] = nd->n;
        nd->list[nd->n++] = img;
    }
}

static void needed_free(Needed *nd) {
    free(nd->row);
    free(nd->list);
}

// Index of the strictly best score, or -1 when several share the best
// (*top gets the best score).
static int strict_argmax(const double *s, int n, double *top) {
    int best = 0, count = 1;
    for (int i = 1; i < n; i++) {
        if (s[i] > s[best]) {
            best = i;
            count = 1;
        } else if (s[i] == s[best]) {
            count++;
        }
    }
    *top = s[best];
    return count > 1 ? -1 : best;
}

// ---- N-way K-shot episodes -----------------------------------------------------------

// Classes of group g with at least need images, into out; returns the count.
static int group_classes(const Dataset *ds, int g, int need, int *out) {
    int n = 0;
    for (int c = 0; c < ds->n_classes; c++)
        if (ds->classes[c].group == g && ds->classes[c].count >= need) out[n++] = c;
    return n;
}

int eval_episodes_check(const Dataset *ds, const EpisodeConfig *ec, Err *e) {
    if (ec->ways < 2 || ec->shots < 1 || ec->episodes < 1)
        return err_set(e, "episodes need --ways >= 2, --shots >= 1 and --episodes >= 1");
    int *tmp = malloc((ds->n_classes + 1) * sizeof *tmp), best = 0, best_g = 0, groups = 0;
    if (!tmp) return err_set(e, "out of memory");
    for (int g = 0; g < ds->n_groups; g++) {
        int n = group_classes(ds, g, ec->shots + 1, tmp);
        groups += n >= ec->ways;
        if (n > best) best = n, best_g = g;
    }
    free(tmp);
    if (groups) return 0;
    if (ds->layout == LAYOUT_OMNIGLOT)
        return err_set(e,
                       "%s: no alphabet has %d characters with %d images or more (the most: %s "
                       "with %d); lower --ways or --shots",
                       ds->root, ec->ways, ec->shots + 1, ds->groups[best_g], best);
    return err_set(e, "%s: %d class%s %d images or more, %d-way trials need %d; lower --ways "
                      "or --shots",
                   ds->root, best, best == 1 ? " has" : "es have", ec->shots + 1, ec->ways,
                   ec->ways);
}

void eval_episodes_plan_free(EpisodePlan *p) {
    free(p->truth);
    free(p->test);
    free(p->cls);
    free(p->support);
    memset(p, 0, sizeof *p);
}

// Draws trial i of the plan. pool is scratch of n_classes ints, scratch of
// the largest class's size.
static void draw_episode(const Dataset *ds, const int *groups, int n_groups, Rng *r, int *pool,
                         int *scratch, EpisodePlan *p, int i) {
    const int W = p->ways, K = p->shots;
    int g = groups[rng_below(r, n_groups)];
    int n = group_classes(ds, g, K + 1, pool);
    // The first W of a partial shuffle are the candidates, in random order.
    for (int k = 0; k < W; k++) {
        int j = k + (int)rng_below(r, n - k), t = pool[k];
        pool[k] = pool[j];
        pool[j] = t;
        p->cls[i * W + k] = pool[k];
    }
    const int truth = p->truth[i] = (int)rng_below(r, W);
    const DatasetClass *tc = &ds->classes[pool[truth]];
    const int test = p->test[i] = tc->first + (int)rng_below(r, tc->count);
    const int test_drawer = ds->images[test].drawer;
    for (int k = 0; k < W; k++) {
        const DatasetClass *c = &ds->classes[pool[k]];
        // The drawings of other drawers than the test's (other images when
        // drawers are unknown); all but the test image if too few.
        int m = 0;
        for (int j = c->first; j < c->first + c->count; j++)
            if (j != test && (test_drawer < 0 || ds->images[j].drawer != test_drawer))
                scratch[m++] = j;
        if (m < K) {
            m = 0;
            for (int j = c->first; j < c->first + c->count; j++)
                if (j != test) scratch[m++] = j;
        }
        for (int s = 0; s < K; s++) {
            int j = s + (int)rng_below(r, m - s), t = scratch[s];
            scratch[s] = scratch[j];
            scratch[j] = t;
            p->support[(i * W + k) * K + s] = scratch[s];
        }
    }
}

int eval_episodes_plan(const Dataset *ds, const EpisodeConfig *ec, EpisodePlan *p, Err *e) {
    memset(p, 0, sizeof *p);
    if (eval_episodes_check(ds, ec, e)) return -1;
    const int W = ec->ways, K = ec->shots, E = ec->episodes;
    int max_class = 0, n_groups = 0;
    for (int c = 0; c < ds->n_classes; c++)
        if (ds->classes[c].count > max_class) max_class = ds->classes[c].count;
    int *groups = malloc((ds->n_groups + 1) * sizeof *groups);
    int *pool = malloc((ds->n_classes + 1) * sizeof *pool);
    int *scratch = malloc((max_class + 1) * sizeof *scratch);
    *p = (EpisodePlan){.n = E, .ways = W, .shots = K};
    p->truth = malloc(E * sizeof *p->truth);
    p->test = malloc(E * sizeof *p->test);
    p->cls = malloc((size_t)E * W * sizeof *p->cls);
    p->support = malloc((size_t)E * W * K * sizeof *p->support);
    int rc = 0;
    if (!groups || !pool || !scratch || !p->truth || !p->test || !p->cls || !p->support) {
        eval_episodes_plan_free(p);
        rc = err_set(e, "out of memory for %d episodes", E);
    }
    for (int g = 0; !rc && g < ds->n_groups; g++)
        if (group_classes(ds, g, K + 1, pool) >= W) groups[n_groups++] = g;
    Rng r;
    rng_seed(&r, ec->seed);
    for (int i = 0; !rc && i < E; i++) draw_episode(ds, groups, n_groups, &r, pool, scratch, p, i);
    free(groups);
    free(pool);
    free(scratch);
    return rc;
}

int eval_episodes(Model *m, const Dataset *ds, const EpisodeConfig *ec, const EvalOpts *o,
                  Accuracy *res, Err *e) {
    memset(res, 0, sizeof *res);
    EpisodePlan plan;
    if (eval_episodes_plan(ds, ec, &plan, e)) return -1;
    const int W = ec->ways, K = ec->shots, E = ec->episodes, F = m->feat_dim;
    float *fa = malloc((size_t)W * K * F * sizeof(float)), *fb = malloc((size_t)W * K * F * sizeof(float));
    float *prob = malloc((size_t)W * K * sizeof(float));
    double *score = malloc(W * sizeof *score);
    float *feats = NULL;
    Needed nd = {0};
    int rc = fa && fb && prob && score ? needed_init(&nd, ds->n_images, e)
                                       : err_set(e, "out of memory for %d episodes", E);
    // Every image of every trial, embedded once.
    for (int i = 0; !rc && i < E; i++) {
        needed_add(&nd, plan.test[i]);
        for (int j = 0; j < W * K; j++) needed_add(&nd, plan.support[(size_t)i * W * K + j]);
    }
    if (!rc) rc = embed_images(m, ds, nd.list, nd.n, o, &feats, e);
    for (int i = 0; !rc && i < E; i++) {
        const int *sup = plan.support + (size_t)i * W * K;
        for (int j = 0; j < W * K; j++) {
            memcpy(fa + (size_t)j * F, feats + (size_t)nd.row[plan.test[i]] * F, F * sizeof(float));
            memcpy(fb + (size_t)j * F, feats + (size_t)nd.row[sup[j]] * F, F * sizeof(float));
        }
        if ((rc = eval_head(m, fa, fb, (long)W * K, prob, e))) break;
        // A candidate's score: the mean similarity to its K drawings.
        for (int k = 0; k < W; k++) {
            double s = 0;
            for (int j = 0; j < K; j++) s += prob[k * K + j];
            score[k] = s / K;
        }
        double top;
        int best = strict_argmax(score, W, &top);
        res->trials++;
        res->correct += best == plan.truth[i];
        res->ties += best < 0 && score[plan.truth[i]] == top;
        if (o && o->progress && ((i + 1) % 50 == 0 || i + 1 == E))
            o->progress("episodes scored", i + 1, E, o->ctx);
    }
    eval_accuracy_finish(res);
    eval_episodes_plan_free(&plan);
    needed_free(&nd);
    free(feats);
    free(fa);
    free(fb);
    free(prob);
    free(score);
    return rc;
}

// ---- the official runs format --------------------------------------------------------

typedef struct PathList {
    char **p;
    int n, cap;
} PathList;

static int paths_add(PathList *l, const char *s) {
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        char **np = realloc(l->p, nc * sizeof *np);
        if (!np) return -1;
        l->p = np;
        l->cap = nc;
    }
    if (!(l->p[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static void paths_free(PathList *l) {
    for (int i = 0; i < l->n; i++) free(l->p[i]);
    free(l->p);
    memset(l, 0, sizeof *l);
}

// The canonical path of a file named in class_labels.txt: relative to the
// runs folder first (the format's convention), else to the run's folder.
static int resolve(const char *dir, const char *run_dir, const char *name, char *out) {
    char p[PATH_MAX + 512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (realpath(p, out)) return 0;
    snprintf(p, sizeof p, "%s/%s", run_dir, name);
    return realpath(p, out) ? 0 : -1;
}

typedef struct Run1 {
    int cand0, n_cand;        // candidates: rows [cand0, cand0+n_cand) of all
    int item0, n_items;       // test items: rows [item0, item0+n_items)
    int *truth;               // per item: candidate position
} Run1;

static int load_run(const char *dir, const char *name, PathList *all, Run1 *run, Err *e) {
    char run_dir[PATH_MAX], labels[PATH_MAX + 32], train_dir[PATH_MAX + 32];
    snprintf(run_dir, sizeof run_dir, "%s/%s", dir, name);
    snprintf(labels, sizeof labels, "%s/class_labels.txt", run_dir);
    snprintf(train_dir, sizeof train_dir, "%s/training", run_dir);
    char **cands;
    int n_cands, n_other;
    if (dataset_list_images(train_dir, &cands, &n_cands, &n_other, e))
        return err_prefix(e, "run %s: its candidates (training/)", name);
    int rc = 0;
    char **canon = calloc(n_cands ? n_cands : 1, sizeof *canon);
    run->cand0 = all->n;
    run->n_cand = n_cands;
    if (!canon) rc = err_set(e, "out of memory");
    for (int i = 0; !rc && i < n_cands; i++) {
        char buf[PATH_MAX];
        if (!realpath(cands[i], buf) || !(canon[i] = strdup(buf)) || paths_add(all, cands[i]))
            rc = err_set(e, "%s: %s", cands[i], strerror(errno));
    }
    if (!rc && n_cands < 2)
        rc = err_set(e, "run %s: %s holds %d candidate images, 2 or more needed", name, train_dir,
                     n_cands);
    FILE *f = rc ? NULL : fopen(labels, "r");
    if (!rc && !f) rc = err_set(e, "%s: %s", labels, strerror(errno));
    run->item0 = all->n;
    run->n_items = 0;
    run->truth = NULL;
    char line[2 * PATH_MAX];
    int lineno = 0, cap = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char a[PATH_MAX], b[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX];
        if (sscanf(line, "%4095s %4095s", a, b) != 2) {
            const char *p = line;
            while (isspace((unsigned char)*p)) p++;
            if (!*p) continue;  // blank line
            rc = err_set(e, "%s:%d: expected 'test-image training-image', found '%.80s'", labels,
                         lineno, line);
            break;
        }
        if (resolve(dir, run_dir, a, ra) || resolve(dir, run_dir, b, rb)) {
            rc = err_set(e, "%s:%d: '%s' or '%s' is not a file (relative to %s or %s)", labels,
                         lineno, a, b, dir, run_dir);
            break;
        }
        int t = -1;
        for (int i = 0; i < n_cands; i++)
            if (!strcmp(canon[i], rb)) t = i;
        if (t < 0) {
            rc = err_set(e, "%s:%d: %s is not one of the run's candidates in %s", labels, lineno, b,
                         train_dir);
            break;
        }
        if (run->n_items == cap) {
            cap = cap ? 2 * cap : 32;
            int *nt = realloc(run->truth, cap * sizeof *nt);
            if (!nt) {
                rc = err_set(e, "out of memory");
                break;
            }
            run->truth = nt;
        }
        run->truth[run->n_items++] = t;
        if (paths_add(all, ra)) rc = err_set(e, "out of memory");
    }
    if (f) fclose(f);
    if (!rc && run->n_items == 0) rc = err_set(e, "%s: no test items listed", labels);
    for (int i = 0; i < n_cands; i++) {
        free(cands[i]);
        if (canon) free(canon[i]);
    }
    free(cands);
    free(canon);
    return rc;
}

int eval_runs(Model *m, const char *dir, const EvalOpts *o, RunResult **runs, int *n_runs,
              double *mean_error, Err *e) {
    *runs = NULL;
    *n_runs = 0;
    // The run folders: sorted subfolders holding a class_labels.txt.
    PathList names = {0}, all = {0};
    {
        struct dirent **ents;
        int n = scandir(dir, &ents, NULL, alphasort);
        if (n < 0) return err_set(e, "%s: %s", dir, strerror(errno));
        for (int i = 0; i < n; i++) {
            char p[PATH_MAX + 300];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s/class_labels.txt", dir, ents[i]->d_name);
            if (ents[i]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
                paths_add(&names, ents[i]->d_name);
            free(ents[i]);
        }
        free(ents);
    }
    if (names.n == 0)
        return err_set(e,
                       "%s holds no runs: expected DIR/runNN/class_labels.txt with "
                       "DIR/runNN/training/classNN.png and DIR/runNN/test/itemNN.png",
                       dir);
    Run1 *rs = calloc(names.n, sizeof *rs);
    RunResult *out = calloc(names.n, sizeof *out);
    int rc = rs && out ? 0 : err_set(e, "out of memory");
    for (int i = 0; !rc && i < names.n; i++) rc = load_run(dir, names.p[i], &all, &rs[i], e);
    const int F = m->feat_dim;
    float *feats = NULL, *fa = NULL, *prob = NULL;
    double *score = NULL;
    int max_cand = 0;
    for (int i = 0; !rc && i < names.n; i++)
        if (rs[i].n_cand > max_cand) max_cand = rs[i].n_cand;
    if (!rc) {
        feats = malloc(((size_t)all.n * F + 1) * sizeof(float));
        fa = malloc(((size_t)max_cand * F + 1) * sizeof(float));
        prob = malloc((max_cand + 1) * sizeof(float));
        score = malloc((max_cand + 1) * sizeof(double));
        if (!feats || !fa || !prob || !score) rc = err_set(e, "out of memory");
    }
    if (!rc) rc = embed_decodable(m, (const char *const *)all.p, all.n, o, feats, e);
    double sum = 0;
    for (int i = 0; !rc && i < names.n; i++) {
        const Run1 *r = &rs[i];
        RunResult *res = &out[i];
        snprintf(res->name, sizeof res->name, "%s", names.p[i]);
        res->items = r->n_items;
        for (int t = 0; !rc && t < r->n_items; t++) {
            const float *ft = feats + (size_t)(r->item0 + t) * F;
            for (int c = 0; c < r->n_cand; c++) memcpy(fa + (size_t)c * F, ft, F * sizeof(float));
            rc = eval_head(m, fa, feats + (size_t)r->cand0 * F, r->n_cand, prob, e);
            for (int c = 0; c < r->n_cand; c++) score[c] = prob[c];
            double top;
            res->wrong += strict_argmax(score, r->n_cand, &top) != r->truth[t];
        }
        res->error = 100.0 * res->wrong / res->items;
        sum += res->error;
    }
    for (int i = 0; rs && i < names.n; i++) free(rs[i].truth);
    free(rs);
    free(feats);
    free(fa);
    free(prob);
    free(score);
    if (!rc) {
        *runs = out;
        *n_runs = names.n;
        *mean_error = sum / names.n;
    } else {
        free(out);
    }
    paths_free(&names);
    paths_free(&all);
    return rc;
}

// ---- verification -------------------------------------------------------------------

typedef struct Scored {
    float s, y;
} Scored;

static int scored_cmp(const void *a, const void *b) {
    float x = ((const Scored *)a)->s, y = ((const Scored *)b)->s;
    return x < y ? -1 : x > y;
}

double eval_roc_auc(const float *scores, const float *labels, long n) {
    Scored *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return NAN;
    long n_pos = 0;
    for (long i = 0; i < n; i++) {
        v[i] = (Scored){scores[i], labels[i]};
        n_pos += labels[i] > 0.5f;
    }
    qsort(v, n, sizeof *v, scored_cmp);
    // Mann-Whitney: the positives' rank sum, tied scores sharing their mean rank.
    double rank_sum = 0;
    for (long i = 0; i < n;) {
        long j = i;
        while (j < n && v[j].s == v[i].s) j++;
        double mean_rank = (i + 1 + j) / 2.0;  // ranks i+1 .. j
        for (long k = i; k < j; k++)
            if (v[k].y > 0.5f) rank_sum += mean_rank;
        i = j;
    }
    free(v);
    long n_neg = n - n_pos;
    if (!n_pos || !n_neg) return NAN;
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / ((double)n_pos * n_neg);
}

int eval_verification(Model *m, const Dataset *ds, int n_samples, double same_group,
                      uint64_t seed, const EvalOpts *o, Verification *res, Err *e) {
    memset(res, 0, sizeof *res);
    int *all = malloc((ds->n_images ? ds->n_images : 1) * sizeof *all);
    if (!all) return err_set(e, "out of memory");
    for (int i = 0; i < ds->n_images; i++) all[i] = i;
    PairSampler s;
    int rc = sampler_init(&s, ds, all, ds->n_images, same_group, e);
    free(all);
    if (rc) return -1;
    const long P = 2L * n_samples;
    const int F = m->feat_dim;
    int *pick = malloc(4 * (size_t)n_samples * sizeof *pick);
    float *fa = malloc(((size_t)P * F + 1) * sizeof(float)), *fb = malloc(((size_t)P * F + 1) * sizeof(float));
    float *prob = malloc((P + 1) * sizeof(float)), *y = malloc((P + 1) * sizeof(float));
    float *feats = NULL;
    Needed nd = {0};
    rc = pick && fa && fb && prob && y ? needed_init(&nd, ds->n_images, e)
                                       : err_set(e, "out of memory for %ld pairs", P);
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; !rc && i < n_samples; i++) {
        sampler_draw(&s, &r, pick + 4 * i);
        for (int k = 0; k < 4; k++) needed_add(&nd, pick[4 * i + k]);
    }
    if (!rc) rc = embed_images(m, ds, nd.list, nd.n, o, &feats, e);
    for (long p = 0; !rc && p < P; p++) {
        const int *q = pick + 2 * p;  // pair p: images q[0], q[1]; even pairs positive
        memcpy(fa + p * F, feats + (size_t)nd.row[q[0]] * F, F * sizeof(float));
        memcpy(fb + p * F, feats + (size_t)nd.row[q[1]] * F, F * sizeof(float));
        y[p] = p % 2 == 0 ? 1.0f : 0.0f;
    }
    if (!rc) rc = eval_head(m, fa, fb, P, prob, e);
    if (!rc) {
        long right = 0;
        for (long p = 0; p < P; p++) right += (prob[p] > 0.5f) == (y[p] > 0.5f);
        res->pairs = P;
        res->acc = (double)right / P;
        res->auc = eval_roc_auc(prob, y, P);
    }
    sampler_free(&s);
    needed_free(&nd);
    free(feats);
    free(pick);
    free(fa);
    free(fb);
    free(prob);
    free(y);
    return rc;
}

// ---- rank ---------------------------------------------------------------------------

int eval_rank(Model *m, const char *query, const char *const *gallery, int n, const EvalOpts *o,
              float *scores, unsigned char *ok, Err *e) {
    // The gallery goes by chunks, so memory stays bounded for any size.
    const int F = m->feat_dim, chunk = 1024;
    float *q = malloc(F * sizeof(float)), *feats = malloc((size_t)chunk * F * sizeof(float));
    float *rep = malloc((size_t)chunk * F * sizeof(float));
    unsigned char qok;
    char first[1024];
    EvalOpts quiet = o ? *o : (EvalOpts){0}, part = quiet;
    quiet.progress = NULL;
    part.progress_total = n;
    int rc = q && feats && rep ? 0 : err_set(e, "out of memory for the gallery's features");
    if (!rc) rc = eval_embed_files(m, &query, 1, &quiet, q, &qok, first, sizeof first, e);
    if (!rc && !qok) rc = err_set(e, "the query: %s", first);
    for (int i = 0; !rc && i < chunk; i++) memcpy(rep + (size_t)i * F, q, F * sizeof(float));
    for (int c0 = 0; !rc && c0 < n; c0 += chunk) {
        int k = n - c0 < chunk ? n - c0 : chunk;
        part.progress_base = c0;
        rc = eval_embed_files(m, gallery + c0, k, &part, feats, ok + c0, first, sizeof first, e);
        if (!rc) rc = eval_head(m, rep, feats, k, scores + c0, e);
    }
    free(q);
    free(feats);
    free(rep);
    return rc;
}
