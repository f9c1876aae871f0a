// imageformat: what an image file is, told from its first bytes, and
// whether it holds its whole (first) image.
//
// stb_image decodes a truncated GIF, BMP, TGA, PGM or PPM without a word,
// padding the missing pixels with grey or black, where PIL refuses such a
// file as truncated (and stb's reasons for a short PNG are cryptic). These
// checks walk each format's structure (not the compressed data) to find
// where the first image must end, and check what stb_image 2.27 trusts
// unchecked. JPEG goes to libjpeg-turbo (jpeg.h), which needs neither.
#ifndef SIAMESE_IMAGEFORMAT_H
#define SIAMESE_IMAGEFORMAT_H

#include <stddef.h>

// Which library decodes a format.
typedef enum ImageDecoder {
    DECODER_NONE,     // recognised, named in the error, and refused
    DECODER_STB,      // stb_image
    DECODER_LIBJPEG,  // libjpeg-turbo, as Pillow uses it (jpeg.h)
} ImageDecoder;

typedef struct ImageFormat {
    const char *name;     // "PNG", "TIFF", ...
    ImageDecoder decoder;
    // Only for the formats read (NULL for the refused ones):
    // the pixel size the header declares (what the decoder will allocate),
    // read here so the limit holds before any decoder runs; -1 when the
    // header is too short to say.
    int (*size)(const unsigned char *d, size_t len, long *w, long *h);
    // Whether the data holds the whole first image, and sane where the
    // decoder trusts it blindly: an ImageCheck. NULL for JPEG, whose
    // decoder (libjpeg) finds truncation and corruption itself.
    int (*check)(const unsigned char *d, size_t len, const char **why);
    // Where stb_image 2.27's pixels differ from Pillow's convert('RGB'):
    // rewrites stb's RGBA pixels (w x h x 4, alpha then dropped) as Pillow
    // has them, from the file's own fields; NULL where they agree.
    void (*to_pillow)(const unsigned char *d, size_t len, unsigned char *rgba, int w, int h);
} ImageFormat;

typedef enum ImageCheck {
    IMAGEFORMAT_WHOLE,
    IMAGEFORMAT_TRUNCATED,
    IMAGEFORMAT_CORRUPT,      // *why says what
    IMAGEFORMAT_UNSUPPORTED,  // a variant the decoder gets wrong; *why names it
} ImageCheck;

// The formats read, for messages.
#define IMAGEFORMAT_READ "PNG, JPEG, BMP, GIF, TGA, PGM or PPM"
// The message for an image over the pixel limit (the file, width, height
// as longs, megapixels as a double, the limit in megapixels as a long).
#define IMAGEFORMAT_TOO_BIG_MSG \
    "%s: %ldx%ld pixels is %.1f megapixels, above the limit of %ld megapixels"
// The message for a truncated file (arguments: the file, the format's name).
#define IMAGEFORMAT_TRUNCATED_MSG \
    "%s: the %s file is truncated (its data stops before the end of the image)"

// The format whose signature d starts with, or TGA (which has none) when
// its header is consistent; NULL when d is none of these: not an image.
const ImageFormat *imageformat_sniff(const unsigned char *d, size_t len);

// Why d's first 18 bytes are not a TGA header PIL and stb_image both read
// (a phrase), or NULL when they are one.
const char *imageformat_tga_problem(const unsigned char *d, size_t len);

#endif
