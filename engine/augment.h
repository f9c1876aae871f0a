// augment: random geometric distortions of training images.
//
// Every distortion is an affine map, so they compose into one 2x3 matrix
// and the image is resampled once (bilinear, on the 8-bit pixels, edges
// replicated: Omniglot's white background stays white):
//   random resized crop   a window of area fraction [crop_min, 1] and aspect
//                         ratio [1/crop_ratio, crop_ratio] stretched to the frame;
//   horizontal flip       with probability flip;
//   Koch et al. (2015)    rotation in [-rotate, rotate] degrees, shear in
//                         [-shear, shear], scale in [scale_min, scale_max] per
//                         axis, translation in [-translate, translate] pixels
//                         (at 105 px, proportionally otherwise), each applied
//                         with probability p_each.
#ifndef SIAMESE_AUGMENT_H
#define SIAMESE_AUGMENT_H

#include "image.h"
#include "rng.h"

typedef struct AugmentParams {
    double crop_min, crop_ratio;
    double flip;
    double rotate, shear, scale_min, scale_max, translate;
    double p_each;
} AugmentParams;

typedef enum AugmentKind {
    AUGMENT_NONE,
    AUGMENT_STANDARD,  // crop + flip + Koch's affine: for photos and the original's defaults
    AUGMENT_KOCH,      // Koch's affine alone: for handwriting, where mirror images differ
} AugmentKind;

// "none", "standard", "koch"; -1 if unknown.
int augment_kind_parse(const char *name);
const char *augment_kind_name(AugmentKind k);
void augment_preset(AugmentParams *p, AugmentKind k);

// Draws one transform for a w x h image: m maps output pixel centres to
// source coordinates, src = (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]).
// Always consumes the same count of random numbers.
void augment_draw(const AugmentParams *p, Rng *r, int w, int h, double m[6]);
// Advances r past one augment_draw, without an image: what a process does
// for an image of the batch that another process builds (data-parallel
// training), so that its own images get the numbers one process would draw.
void augment_skip(const AugmentParams *p, Rng *r);

// dst (same size as src, allocated here) = src resampled through m.
int augment_warp(const Image *src, const double m[6], Image *dst);

#endif
