#include "loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// One image of a batch: decode, augment (training), preprocess into out (S,S,3).
static int load_one(const LoaderConfig *c, const char *path, Rng *r, uint8_t *out, Err *e) {
    Image img;
    if (image_load(path, &img, e)) return err_prefix(e, "a training image became unreadable");
    int rc = 0;
    if (c->aug) {
        // Bring the shorter side to S first, so the warp costs the same for
        // any photo size; the final preprocessing then only crops or pads.
        const int S = c->size, w = img.w, h = img.h;
        if ((w < h ? w : h) != S) {
            int nw = w < h ? S : (int)((double)S * w / h), nh = w < h ? (int)((double)S * h / w) : S;
            Image small;
            if (image_resize(&img, nw > 0 ? nw : 1, nh > 0 ? nh : 1, FILTER_BILINEAR, &small))
                rc = -1;
            image_free(&img);
            img = small;
        }
        double m[6];
        augment_draw(c->aug, r, img.w, img.h, m);
        Image warped;
        if (!rc && augment_warp(&img, m, &warped)) rc = -1;
        if (!rc) {
            image_free(&img);
            img = warped;
        }
    }
    if (!rc) rc = image_to_pixels(&img, c->size, &c->pre, out);
    image_free(&img);
    if (rc) return err_set(e, "out of memory preprocessing %s", path);
    return 0;
}

int loader_pairs(const LoaderConfig *c) { return c->part_pairs > 0 ? c->part_pairs : 2 * c->samples; }

int loader_build(const LoaderConfig *c, long epoch, long index, uint8_t *pixels, float *labels,
                 Err *e) {
    const int B = c->samples, P = 2 * B, first = c->part_pairs > 0 ? c->part_first : 0;
    const int n = loader_pairs(c);  // pairs [first, first + n) of the batch's P
    const size_t img_bytes = (size_t)c->size * c->size * 3;
    int *pick = malloc(sizeof(int) * 4 * B), *perm = malloc(sizeof(int) * P);
    if (!pick || !perm) {
        free(pick);
        free(perm);
        return err_set(e, "out of memory building a batch");
    }
    Rng r;
    rng_seed(&r, dataset_batch_seed(c->seed, c->stream, epoch, index));
    // Pair 2s is sample s's positive pair, 2s+1 its negative pair; then the
    // pairs are shuffled, as the original does, so labels do not alternate.
    for (int s = 0; s < B; s++) sampler_draw(c->sampler, &r, pick + 4 * s);
    for (int i = 0; i < P; i++) perm[i] = i;
    for (int i = P - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    // The pairs before this part draw their augmentations (one per image)
    // all the same, so that this part's images get their own numbers.
    for (int j = 0; j < first && c->aug; j++) {
        augment_skip(c->aug, &r);
        augment_skip(c->aug, &r);
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const int j = first + i;
        const int *q = pick + 2 * perm[j];  // the pair's two image indices
        labels[i] = perm[j] % 2 == 0 ? 1.0f : 0.0f;
        rc = load_one(c, c->ds->images[q[0]].path, &r, pixels + (size_t)i * img_bytes, e);
        if (!rc)
            rc = load_one(c, c->ds->images[q[1]].path, &r, pixels + (size_t)(n + i) * img_bytes, e);
    }
    free(pick);
    free(perm);
    return rc;
}

// ---- the worker pool -----------------------------------------------------------

typedef struct Slot {
    LoaderBatch b;
    long g;       // which batch it holds
    int ready;    // built (or failed: failed = 1)
    int failed;
    Err err;
} Slot;

struct Loader {
    LoaderConfig c;
    pthread_t *threads;
    int n_threads;
    Slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    long first, end, per_epoch;
    long claim;      // the next batch a worker may start
    long released;   // every batch below this has been consumed and its slot is free
    long next;       // the batch loader_next returns next
    int holding;     // the consumer holds batch next-1
    unsigned gen;    // bumped by loader_start: work of an older generation is dropped
    int busy;        // workers building
    int quit;
};

static void *worker(void *arg) {
    Loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->quit) {
        if (l->claim < l->end && l->claim < l->released + l->c.depth) {
            long g = l->claim++;
            unsigned gen = l->gen;
            Slot *s = &l->slots[g % l->c.depth];
            l->busy++;
            pthread_mutex_unlock(&l->mu);
            Err e;
            long epoch = g / l->per_epoch, index = g % l->per_epoch;
            int rc = loader_build(&l->c, epoch, index, s->b.pixels, s->b.labels, &e);
            pthread_mutex_lock(&l->mu);
            l->busy--;
            if (gen == l->gen) {
                s->g = g;
                s->b.epoch = epoch;
                s->b.index = index;
                s->failed = rc != 0;
                if (rc) s->err = e;
                s->ready = 1;
            }
            pthread_cond_broadcast(&l->done);
            continue;
        }
        pthread_cond_wait(&l->work, &l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

// The ring's memory: the backend's host memory, or plain memory.
static void *ring_alloc(Loader *l, size_t bytes) {
    Backend *be = l->c.be;
    return be ? be->ops->host_alloc(be, bytes) : malloc(bytes);
}
static void ring_free(Loader *l, void *p) {
    Backend *be = l->c.be;
    if (!p) return;
    if (be) be->ops->host_free(be, p);
    else free(p);
}

void loader_close(Loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_threads; i++) pthread_join(l->threads[i], NULL);
    for (int i = 0; l->slots && i < l->c.depth; i++) {
        ring_free(l, l->slots[i].b.pixels);
        ring_free(l, l->slots[i].b.labels);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->done);
    free(l->slots);
    free(l->threads);
    free(l);
}

int loader_open(Loader **out, const LoaderConfig *c, Err *e) {
    Loader *l = calloc(1, sizeof *l);
    if (!l) return err_set(e, "out of memory starting the loader");
    l->c = *c;
    if (l->c.depth < 2) l->c.depth = 2;
    if (l->c.workers < 1) l->c.workers = 1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->done, NULL);
    const int P = loader_pairs(c);
    const size_t img_bytes = (size_t)c->size * c->size * 3;
    l->slots = calloc(l->c.depth, sizeof *l->slots);
    l->threads = calloc(l->c.workers, sizeof *l->threads);
    int ok = l->slots && l->threads;
    for (int i = 0; ok && i < l->c.depth; i++) {
        l->slots[i].b.n_pairs = P;
        ok = (l->slots[i].b.pixels = ring_alloc(l, 2 * (size_t)P * img_bytes)) &&
             (l->slots[i].b.labels = ring_alloc(l, P * sizeof(float)));
    }
    l->per_epoch = 1;
    for (int i = 0; ok && i < l->c.workers; i++) {
        ok = pthread_create(&l->threads[i], NULL, worker, l) == 0;
        if (ok) l->n_threads++;
    }
    if (!ok) {
        loader_close(l);
        return err_set(e, "out of memory (or threads) starting %d loader workers", c->workers);
    }
    *out = l;
    return 0;
}

void loader_start(Loader *l, long first, long end, long per_epoch) {
    pthread_mutex_lock(&l->mu);
    l->gen++;
    // Slots may still be written by workers of the old generation.
    while (l->busy) pthread_cond_wait(&l->done, &l->mu);
    for (int i = 0; i < l->c.depth; i++) l->slots[i].ready = 0;
    l->first = l->claim = l->released = l->next = first;
    l->end = end;
    l->per_epoch = per_epoch > 0 ? per_epoch : 1;
    l->holding = 0;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
}

int loader_next(Loader *l, const LoaderBatch **b, Err *e) {
    pthread_mutex_lock(&l->mu);
    if (l->holding) {
        l->slots[(l->next - 1) % l->c.depth].ready = 0;
        l->released = l->next;
        l->holding = 0;
        pthread_cond_broadcast(&l->work);
    }
    if (l->next >= l->end) {
        pthread_mutex_unlock(&l->mu);
        return err_set(e, "internal error: the loader was asked for batch %ld of %ld", l->next,
                       l->end);
    }
    Slot *s = &l->slots[l->next % l->c.depth];
    while (!(s->ready && s->g == l->next)) pthread_cond_wait(&l->done, &l->mu);
    int rc = 0;
    if (s->failed) {
        *e = s->err;
        rc = -1;
    } else {
        *b = &s->b;
        l->next++;
        l->holding = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}
