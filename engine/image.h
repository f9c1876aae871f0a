// image: decoding (libjpeg-turbo for JPEG, as Pillow; stb_image for the
// rest) and the Python original's preprocessing, reproduced to PIL's
// arithmetic so the network sees the same numbers.
#ifndef SIAMESE_IMAGE_H
#define SIAMESE_IMAGE_H

#include "err.h"
#include "model.h"

// Refuse images above this many pixels before allocating them.
#define IMAGE_MAX_PIXELS (50L * 1000 * 1000)

// 8-bit RGB pixels, (h,w,3) row-major.
typedef struct Image {
    int w, h;
    unsigned char *rgb;
} Image;

typedef enum ImageFilter { FILTER_BILINEAR, FILTER_BICUBIC } ImageFilter;

// Decodes PNG, JPEG, BMP, GIF (first frame), TGA, PGM and PPM into RGB as
// PIL's Image.open(path).convert('RGB') does: grey replicated, alpha
// dropped, palettes expanded, CMYK converted (JPEG: Pillow's pixels
// exactly, see jpeg.h). Files are recognised by content, not by extension. Errors name
// the file and say what is wrong (other formats are named and refused).
int image_load(const char *path, Image *img, Err *e);
// The same on a file already in memory; name is used in the messages.
int image_decode(const unsigned char *data, size_t len, const char *name, Image *img, Err *e);
void image_free(Image *img);

// PIL's Image.resize(..., BILINEAR or BICUBIC) for 8-bit RGB: separable,
// horizontal pass first, filter support widened when shrinking
// (antialiasing), fixed-point coefficients and 8-bit rounding between passes.
int image_resize(const Image *src, int w, int h, ImageFilter f, Image *dst);

// The network input of one image, (size,size,3) floats in [0,1]:
//   letterbox off: shorter side to size (bilinear), centre crop (as the
//                  original's torchvision-style resize + center_crop);
//   letterbox on:  fit inside size x size (bicubic), pad with grey 128;
// then /255 and, with pre->invert, 1 - x.
int image_to_input(const Image *img, int size, const Preprocess *pre, float *out);
// The same before the /255 and the invert: (size,size,3) bytes, which the
// backend's upload_u8 turns into exactly image_to_input's floats on the
// device (the trainer's batches cross as bytes).
int image_to_pixels(const Image *img, int size, const Preprocess *pre, uint8_t *out);

#endif
