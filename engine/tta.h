// tta: test-time augmentation. An image is seen as V = 1 + n versions: itself
// and n deterministic Koch-style warps (augment.c's Koch preset; warp k is
// drawn from a seed of its own, so it is the same transform for every image
// of a size, and a run repeats). The score of a pair is the mean of the
// head over all V x V pairings of the two images' versions: the head sees
// |f1 - f2|, so each pairing counts for both orders of the pair.
#ifndef SIAMESE_TTA_H
#define SIAMESE_TTA_H

#include "err.h"
#include "image.h"
#include "model.h"

#define TTA_MAX 16

// The network inputs of img's 1 + n versions, (1+n, size, size, 3): the
// image itself first. -1 when out of memory.
int tta_inputs(const Image *img, int n, int size, const Preprocess *pre, float *out);

// prob[i] = the mean over the V x V pairings of head(fa[i] version p,
// fb[i] version q); fa and fb are (n, V*F): each row the V versions'
// features. With V = 1, the head on the n pairs.
int tta_head(Model *m, const float *fa, const float *fb, long n, int versions, float *prob,
             Err *e);

#endif
