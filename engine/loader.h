// loader: worker threads that turn the pair sampler's draws into ready
// batches (decode, augment, preprocess) ahead of the training step, into a
// bounded ring, so the engine does not wait for the disk or the decoder.
// A batch is 8-bit pixels (image_to_pixels), a quarter of the bytes of the
// network's floats, which the backend's upload_u8 turns into exactly those
// floats; the ring's memory comes from the backend (page-locked on a GPU,
// so a batch crosses without a staging copy).
//
// Batches are numbered; batch g of a run stands for (epoch g / per_epoch,
// batch g % per_epoch) and all its randomness (which pairs, their order,
// every augmentation) comes from a generator seeded by (seed, stream,
// epoch, batch). So the batches are the same whichever thread builds them
// and in whatever order they finish, and a resumed run rebuilds exactly
// the batches an uninterrupted one would have had.
#ifndef SIAMESE_LOADER_H
#define SIAMESE_LOADER_H

#include <stdint.h>

#include "augment.h"
#include "dataset.h"
#include "err.h"
#include "model.h"

typedef struct LoaderConfig {
    const Dataset *ds;
    const PairSampler *sampler;
    int samples;               // samples per batch; a batch holds 2*samples pairs
    int size;                  // the network's input side S
    Preprocess pre;
    const AugmentParams *aug;  // NULL: no augmentation (validation)
    uint64_t seed;
    int stream;                // distinguishes the training and validation numbers
    int workers;               // threads, >= 1
    int depth;                 // slots of the ring, >= 2 (LOADER_DEPTH(workers) keeps all busy)
    Backend *be;               // whose host_alloc memory the ring is (NULL: plain memory)
    // Data-parallel training (dist.h): this process builds pairs
    // [part_first, part_first + part_pairs) of each batch's 2*samples, the
    // same pixels one process would put there. part_pairs 0: all of them.
    int part_first, part_pairs;
} LoaderConfig;

// Every worker has a slot to build into while the consumer holds one batch
// and two more wait ready.
#define LOADER_DEPTH(workers) ((workers) + 3)

typedef struct LoaderBatch {
    uint8_t *pixels; // (2P,S,S,3): the P first images, then the P second images, as bytes
    float *labels;   // (P): 1 same class, 0 different
    int n_pairs;     // P: 2*samples, or part_pairs
    long epoch, index;
} LoaderBatch;

typedef struct Loader Loader;

int loader_open(Loader **out, const LoaderConfig *c, Err *e);
// The pairs of a batch that c builds: part_pairs, or all 2*samples.
int loader_pairs(const LoaderConfig *c);
// Drops whatever is queued and starts producing batches first .. end-1.
void loader_start(Loader *l, long first, long end, long per_epoch);
// The next batch in order, waiting for it if needed; valid until the next
// call. Fails (a file became unreadable mid-run) with the file named.
int loader_next(Loader *l, const LoaderBatch **b, Err *e);
void loader_close(Loader *l);

// Builds one batch (its part, with part_pairs) in the calling thread (the
// loader's worker body). pixels and labels must hold that many pairs.
int loader_build(const LoaderConfig *c, long epoch, long index, uint8_t *pixels, float *labels,
                 Err *e);

#endif
