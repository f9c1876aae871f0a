// jpeg: JPEG decoding with libjpeg-turbo, set up as Pillow sets it up
// (src/libImaging/JpegDecode.c and JpegImagePlugin.py), so that the pixels
// are Pillow's Image.open(path).convert('RGB'):
//   - libjpeg's defaults, which Pillow keeps: the accurate integer IDCT
//     (JDCT_ISLOW), fancy (triangular) chroma upsampling, block smoothing
//     of progressive images; the colour space of the file as libjpeg
//     guesses it from its JFIF/Adobe markers (Pillow passes no override);
//   - 1 component: grey, replicated to RGB; 3: libjpeg's RGB; 4: libjpeg's
//     CMYK (YCCK files converted by libjpeg), inverted as Pillow assumes of
//     every 4-component JPEG ("CMYK;I", Adobe's convention), then Pillow's
//     CMYK-to-RGB arithmetic; other component counts are refused, as Pillow
//     refuses them;
//   - warnings (corrupt data libjpeg can go past) are ignored, as Pillow
//     ignores them; errors are errors;
//   - a file is truncated when libjpeg needs bytes past its end before the
//     last row is out, which is when Pillow says "image file is truncated"
//     (a file that lacks only its end-of-image marker is whole to both).
// EXIF orientation is not applied: Image.open does not apply it either.
#ifndef SIAMESE_JPEG_H
#define SIAMESE_JPEG_H

#include <stddef.h>

#include "err.h"

// Scans beyond this many are refused: a crafted progressive file of a few
// kilobytes can declare thousands of scans over a 50-megapixel frame
// (libjpeg-turbo's djpeg -maxscans guards the same way); real ones have
// about 10.
#define JPEG_MAX_SCANS 500

// Decodes data into malloc'ed 8-bit RGB, (h,w,3) row-major. Images over
// max_pixels are refused from the frame header, before the pixels are
// allocated. Errors name the file (name) and say what is wrong.
int jpeg_decode(const unsigned char *data, size_t len, const char *name, long max_pixels,
                unsigned char **rgb, int *w, int *h, Err *e);

#endif
