#include "imageformat.h"

#include <math.h>
#include <string.h>

// Fixed-width fields; callers check the bounds first.
static unsigned le16(const unsigned char *p) { return p[0] | (unsigned)p[1] << 8; }
static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static unsigned long le32(const unsigned char *p) {
    return p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}
static unsigned long be32(const unsigned char *p) {
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

// ---- PNG ------------------------------------------------------------------
// Signature (8), then chunks: length (4, big-endian), type (4), data, CRC
// (4). IHDR comes first: width and height at bytes 16 and 20.
static int png_size(const unsigned char *d, size_t len, long *w, long *h) {
    if (len < 24 || memcmp(d + 12, "IHDR", 4)) return -1;
    *w = (long)be32(d + 16);
    *h = (long)be32(d + 20);
    return 0;
}

// Complete once the walk passes the last IDAT chunk whole (the next
// chunk's header shows).
static int png_whole(const unsigned char *d, size_t len) {
    unsigned long long pos = 8;
    int seen_idat = 0;
    while (pos + 8 <= len) {
        int idat = !memcmp(d + pos + 4, "IDAT", 4);
        if (seen_idat && !idat) return 1;
        seen_idat |= idat;
        if (!memcmp(d + pos + 4, "IEND", 4)) return 1;
        pos += 12 + (unsigned long long)be32(d + pos);
        if (pos > len) return 0;
    }
    return 0;
}

// ---- JPEG -----------------------------------------------------------------
// SOI (FF D8), then marker segments (FF xx + 16-bit length), the frame
// header (SOFn) among them, then scans. Only the size is read here.

// Whether d starts a JPEG as Pillow tells one (FF D8 FF: the start-of-image
// marker and the next marker's first byte). libjpeg wants FF D8 at offset 0
// too, so a file with fill bytes before it is no JPEG to either.
static int jpeg_start(const unsigned char *d, size_t len) {
    return len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff;
}

// Offset of the frame header (start-of-frame marker), 0 if none before the
// first scan.
static size_t jpeg_sof(const unsigned char *d, size_t len) {
    size_t i = 2;
    while (i + 4 <= len && d[i] == 0xff) {
        unsigned m = d[i + 1];
        if (m == 0xff) {  // fill byte
            i++;
            continue;
        }
        // Start-of-frame markers: C0-CF except C4 (DHT), C8 (JPG), CC (DAC).
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) return i;
        if (m == 0xda) break;
        i += 2 + be16(d + i + 2);
    }
    return 0;
}

// The frame header's size, so the pixel limit holds before libjpeg runs.
static int jpeg_size(const unsigned char *d, size_t len, long *w, long *h) {
    size_t sof = jpeg_sof(d, len);
    // Frame header: FF Cx, length (2), precision (1), height (2), width (2).
    if (!sof || sof + 9 > len) return -1;
    *h = be16(d + sof + 5);
    *w = be16(d + sof + 7);
    return 0;
}

// ---- GIF ------------------------------------------------------------------
// Header (6), logical screen (7: width, height, flags...), optional global
// colour table, then blocks. stb allocates the whole logical screen.
static int gif_size(const unsigned char *d, size_t len, long *w, long *h) {
    if (len < 10) return -1;
    *w = le16(d + 6);
    *h = le16(d + 8);
    return 0;
}

// Skips data sub-blocks (length byte, bytes; a zero length ends them).
// Returns the position after the terminator, or 0 when the data stops first.
static size_t gif_skip_blocks(const unsigned char *d, size_t len, size_t pos) {
    while (pos < len) {
        size_t n = d[pos++];
        if (n == 0) return pos;
        pos += n;
    }
    return 0;
}

// The first image as the decoders see it: its rectangle on the logical
// screen, its colour table (the local one, else the global one; NULL when
// none) and its transparent index (-1: none).
typedef struct GifImage {
    long x, y, w, h;
    const unsigned char *table;
    int entries, transparent;
} GifImage;

// Walks the blocks to the first image descriptor: 1 when its data
// sub-blocks all arrive (*g filled in), 0 when the data stops first, -1
// when something else comes first (a trailer or garbage: the decoder's to
// judge).
static int gif_first_image(const unsigned char *d, size_t len, GifImage *g) {
    if (len < 13) return 0;
    size_t pos = 13;
    g->table = NULL;
    g->entries = 0;
    g->transparent = -1;
    if (d[10] & 0x80) {  // global colour table
        g->table = d + pos;
        g->entries = 2 << (d[10] & 7);
        pos += (size_t)3 * g->entries;
    }
    while (pos < len) {
        unsigned char b = d[pos++];
        if (b == 0x21) {  // extension: label, then sub-blocks
            // A graphic control extension (label F9; 4 bytes: flags, delay,
            // index) names the transparent index when flag bit 0 is set.
            if (pos + 6 <= len && d[pos] == 0xf9 && d[pos + 1] == 4)
                g->transparent = d[pos + 2] & 1 ? d[pos + 5] : -1;
            if (!(pos = gif_skip_blocks(d, len, pos + 1))) return 0;
        } else if (b == 0x2c) {  // image: descriptor, local table, LZW size, data
            if (pos + 9 > len) return 0;
            g->x = le16(d + pos);
            g->y = le16(d + pos + 2);
            g->w = le16(d + pos + 4);
            g->h = le16(d + pos + 6);
            unsigned flags = d[pos + 8];
            pos += 9;
            if (flags & 0x80) {
                g->table = d + pos;
                g->entries = 2 << (flags & 7);
                pos += (size_t)3 * g->entries;
            }
            return gif_skip_blocks(d, len, pos + 1) != 0;
        } else {
            return -1;
        }
    }
    return 0;
}

static int gif_whole(const unsigned char *d, size_t len) {
    GifImage g;
    return gif_first_image(d, len, &g) != 0;
}

// Pillow starts frame 0 filled with its transparent index, else index 0,
// so the screen outside the first image and its transparent pixels show
// that entry's colour (the background colour is not used). stb_image 2.27
// leaves them black and transparent (outside: the background colour, its
// channels swapped, when its index is not 0).
static void gif_to_pillow(const unsigned char *d, size_t len, unsigned char *rgba, int w, int h) {
    GifImage g;
    if (gif_first_image(d, len, &g) != 1 || !g.table) return;
    const int fill = g.transparent >= 0 ? g.transparent : 0;
    unsigned char colour[3] = {0, 0, 0};  // an index past the table: Pillow's palette is 0 there
    if (fill < g.entries) memcpy(colour, g.table + 3 * fill, 3);
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            unsigned char *p = rgba + ((size_t)y * w + x) * 4;
            int inside = x >= g.x && x < g.x + g.w && y >= g.y && y < g.y + g.h;
            if (!inside || p[3] == 0) memcpy(p, colour, 3);
        }
}

// ---- BMP ------------------------------------------------------------------
typedef struct BmpHeader {
    unsigned long off, hsz;  // pixel data offset, info header size
    long w, h;               // h < 0: rows stored top-down
    unsigned bpp, comp;
    unsigned long mask[3];   // bit fields (compression 3 or 6): red, green, blue; else 0
} BmpHeader;

// Bit fields compression: masks say where each channel's bits are.
#define BMP_BITFIELDS(comp) ((comp) == 3 || (comp) == 6)

static int bmp_header(const unsigned char *d, size_t len, BmpHeader *b) {
    if (len < 26) return -1;
    b->off = le32(d + 10);
    b->hsz = le32(d + 14);
    b->comp = 0;
    memset(b->mask, 0, sizeof b->mask);
    if (b->hsz == 12) {  // OS/2 core header
        b->w = le16(d + 18);
        b->h = le16(d + 20);
        b->bpp = le16(d + 24);
        return 0;
    }
    if (len < 34) return -1;
    b->w = (int)le32(d + 18);
    b->h = (int)le32(d + 22);
    b->bpp = le16(d + 28);
    b->comp = (unsigned)le32(d + 30);
    // The masks follow the 40-byte header, or are its next fields.
    if (BMP_BITFIELDS(b->comp) && len >= 66)
        for (int c = 0; c < 3; c++) b->mask[c] = le32(d + 54 + 4 * c);
    return 0;
}

// A 16-bit BMP's layout as Pillow reads it: 5-6-5 only from its masks;
// 5-5-5 without masks (the default) or from its masks. 0: neither (Pillow
// refuses it).
static int bmp_green_bits(const BmpHeader *b) {
    if (!BMP_BITFIELDS(b->comp)) return 5;
    if (b->mask[0] == 0xf800 && b->mask[1] == 0x7e0 && b->mask[2] == 0x1f) return 6;
    if (b->mask[0] == 0x7c00 && b->mask[1] == 0x3e0 && b->mask[2] == 0x1f) return 5;
    return 0;
}

static int bmp_size(const unsigned char *d, size_t len, long *w, long *h) {
    BmpHeader b;
    if (bmp_header(d, len, &b)) return -1;
    *w = b.w < 0 ? -b.w : b.w;
    *h = b.h < 0 ? -b.h : b.h;
    return 0;
}

// stb_image 2.27 refuses RLE (compression 1, 2) but decodes any other
// unknown compression as raw pixels, zero-filling what the file lacks (a
// 54-byte file became 62000x506 pixels, found by fuzzing): only raw (0)
// and bit-field (3, 6) pixels are read.
static int bmp_check(const unsigned char *d, size_t len, const char **why) {
    BmpHeader b;
    if (bmp_header(d, len, &b)) return IMAGEFORMAT_TRUNCATED;
    if (b.comp != 0 && b.comp != 3 && b.comp != 6) {
        *why = b.comp == 1 || b.comp == 2 ? "run-length compression"
             : b.comp == 4 || b.comp == 5 ? "embedded JPEG or PNG data"
                                          : "an unknown compression type";
        return IMAGEFORMAT_UNSUPPORTED;
    }
    // stb_image 2.27 takes an OS/2 1.x header's colour table to hold 4
    // entries fewer than it does (it subtracts 24 bytes of header, not 12):
    // those colours would be black.
    if (b.hsz == 12 && b.bpp < 16) {
        *why = "an OS/2 1.x header (12 bytes) with a colour table";
        return IMAGEFORMAT_UNSUPPORTED;
    }
    if (b.bpp == 16 && !bmp_green_bits(&b)) {
        *why = "16-bit pixels whose bit fields are neither 5-5-5 nor 5-6-5";
        return IMAGEFORMAT_UNSUPPORTED;
    }
    // Odd headers are the decoder's to judge.
    if (b.w <= 0 || b.bpp == 0 || b.bpp > 32 || b.h == 0) return IMAGEFORMAT_WHOLE;
    unsigned long long h = b.h < 0 ? -b.h : b.h, row = ((unsigned long long)b.bpp * b.w + 7) / 8;
    unsigned long long stride = (row + 3) / 4 * 4, start = b.off > 14 + b.hsz ? b.off : 14 + b.hsz;
    // Rows are padded to 4 bytes; the last row's padding is not required.
    return len >= start + stride * (h - 1) + row ? IMAGEFORMAT_WHOLE : IMAGEFORMAT_TRUNCATED;
}

// stb_image widens a 16-bit BMP's 5- and 6-bit samples by repeating their
// bits (v << 3 | v >> 2), Pillow's BGR;15 and BGR;16 unpackers as
// v * 255 / 31 (or / 63), truncated: stb's top bits give v back.
static void bmp_to_pillow(const unsigned char *d, size_t len, unsigned char *rgba, int w, int h) {
    BmpHeader b;
    if (bmp_header(d, len, &b) || b.bpp != 16) return;
    const int bits[3] = {5, bmp_green_bits(&b), 5};
    if (!bits[1]) return;
    for (size_t i = 0; i < (size_t)w * h * 4; i += 4)
        for (int c = 0; c < 3; c++) {
            unsigned v = rgba[i + c] >> (8 - bits[c]);
            rgba[i + c] = (unsigned char)(v * 255 / ((1u << bits[c]) - 1));
        }
}

// ---- TGA ----------------------------------------------------------------
// Header (18): ID length, colour-map type, image type, colour-map spec
// (first, length, entry bits), origin, width, height, bits per pixel,
// descriptor (bits 4-5: the pixel order). TGA has no signature: what makes
// a file one is a header whose every field holds a value both PIL and
// stb_image read the same way. Text, a weights file or random bytes fail
// at once (a text's second byte is never 0 or 1), so they are "not an
// image", never a TGA of absurd size.
const char *imageformat_tga_problem(const unsigned char *d, size_t len) {
    if (len < 18) return "shorter than 18 bytes";
    unsigned cmap = d[1], type = d[2], bpp = d[16];
    if (cmap > 1) return "colour-map type is neither 0 nor 1";
    if (!(type >= 1 && type <= 3) && !(type >= 9 && type <= 11))
        return "image type is not 1-3 or 9-11 (colour-mapped, true-colour, grey; raw or run-length)";
    int mapped = (type & 7) == 1, grey = (type & 7) == 3;
    if (mapped != (cmap == 1)) return "image type and colour-map type disagree";
    if (le16(d + 12) == 0 || le16(d + 14) == 0) return "width or height is 0";
    if (mapped ? bpp != 8 : grey ? bpp != 8 && bpp != 16 : bpp != 16 && bpp != 24 && bpp != 32)
        return "bits per pixel do not fit the image type";
    if (mapped) {
        unsigned first = le16(d + 3), n = le16(d + 5), bits = d[7];
        if (n == 0 || first + n > 256) return "colour map is empty or has over 256 entries";
        if (bits != 16 && bits != 24 && bits != 32) return "colour-map entries are not 16, 24 or 32 bits";
    }
    return NULL;
}

static int tga_size(const unsigned char *d, size_t len, long *w, long *h) {
    if (len < 18) return -1;
    *w = le16(d + 12);
    *h = le16(d + 14);
    return 0;
}

static int tga_whole(const unsigned char *d, size_t len) {
    if (len < 18) return 0;
    unsigned type = d[2], bpp = d[16];
    unsigned long long pos = 18 + d[0];  // header + image ID
    if (d[1]) pos += (unsigned long long)le16(d + 5) * ((d[7] + 7) / 8);  // colour map
    unsigned long long px = (unsigned long long)le16(d + 12) * le16(d + 14), pb = (bpp + 7) / 8;
    if (type >= 1 && type <= 3) return pos + px * pb <= len;
    // Run-length packets: a header byte (bit 7: a run of one value) and
    // 1 to 128 pixels.
    while (px > 0) {
        if (pos >= len) return 0;
        unsigned hb = d[pos++], n = (hb & 0x7f) + 1;
        pos += hb & 0x80 ? pb : n * pb;
        px = px > n ? px - n : 0;
    }
    return pos <= len;
}

// stb_image 2.27 ignores the right-to-left pixel order (descriptor bit 4),
// which PIL honours by mirroring: refused rather than decoded mirrored.
static int tga_check(const unsigned char *d, size_t len, const char **why) {
    if (len >= 18 && d[17] & 0x10) {
        *why = "right-to-left pixel order";
        return IMAGEFORMAT_UNSUPPORTED;
    }
    return tga_whole(d, len) ? IMAGEFORMAT_WHOLE : IMAGEFORMAT_TRUNCATED;
}

// ---- PGM / PPM ------------------------------------------------------------
// "P5" or "P6", then width, height and the largest sample value as decimal
// text between blanks and # comments, then one blank, then the samples.
// stb_image 2.27 parses those numbers into an int without an overflow
// check (undefined behaviour, found by fuzzing): more than 8 digits are
// refused here, as are 16-bit samples (see pnm_check).
#define PNM_MAX_DIGITS 8

// Reads one header number; returns its digit count (0: none), *pos moves
// past it.
static int pnm_field(const unsigned char *d, size_t len, size_t *pos, unsigned long *v) {
    size_t i = *pos;
    for (;;) {
        while (i < len && (d[i] == ' ' || (d[i] >= '\t' && d[i] <= '\r'))) i++;
        if (i < len && d[i] == '#') {
            while (i < len && d[i] != '\n' && d[i] != '\r') i++;
            continue;
        }
        break;
    }
    int digits = 0;
    for (*v = 0; i < len && d[i] >= '0' && d[i] <= '9'; i++, digits++)
        if (digits < PNM_MAX_DIGITS) *v = *v * 10 + (d[i] - '0');
    *pos = i;
    return digits;
}

// Parses the header up to the blank before the samples: an ImageCheck
// (*pos: where the samples start).
static int pnm_header(const unsigned char *d, size_t len, size_t *pos, unsigned long v[3],
                      const char **why) {
    *pos = 2;
    for (int k = 0; k < 3; k++) {
        int digits = pnm_field(d, len, pos, &v[k]);
        if (*pos >= len) return IMAGEFORMAT_TRUNCATED;
        if (digits == 0 || digits > PNM_MAX_DIGITS) {
            *why = digits ? "a header number has more than 8 digits" : "a header field is not a number";
            return IMAGEFORMAT_CORRUPT;
        }
    }
    (*pos)++;  // the single blank before the samples
    return IMAGEFORMAT_WHOLE;
}

static int pnm_size(const unsigned char *d, size_t len, long *w, long *h) {
    size_t pos;
    unsigned long v[3];
    const char *why;
    if (pnm_header(d, len, &pos, v, &why) != IMAGEFORMAT_WHOLE) return -1;
    *w = (long)v[0];
    *h = (long)v[1];
    return 0;
}

static int pnm_check(const unsigned char *d, size_t len, const char **why) {
    size_t pos;
    unsigned long v[3];
    int c = pnm_header(d, len, &pos, v, why);
    if (c != IMAGEFORMAT_WHOLE) return c;
    // stb_image 2.27 converts 16-bit PNM samples to RGB with its 8-bit
    // routine and reads past its buffer (found by fuzzing).
    if (v[2] > 255) {
        *why = "16-bit samples (largest value above 255)";
        return IMAGEFORMAT_UNSUPPORTED;
    }
    if (v[2] == 0) {  // Pillow's error too
        *why = "a largest sample value of 0";
        return IMAGEFORMAT_CORRUPT;
    }
    unsigned long long need = (unsigned long long)v[0] * v[1] * (d[1] == '6' ? 3 : 1);
    return pos + need <= len ? IMAGEFORMAT_WHOLE : IMAGEFORMAT_TRUNCATED;
}

// stb_image keeps the samples as stored; Pillow scales them to 0-255 when
// the largest value is not 255: round(v / largest * 255) (half to even, as
// Python's round), clipped at 255.
static void pnm_to_pillow(const unsigned char *d, size_t len, unsigned char *rgba, int w, int h) {
    size_t pos;
    unsigned long v[3];
    const char *why;
    if (pnm_header(d, len, &pos, v, &why) != IMAGEFORMAT_WHOLE || v[2] == 255 || v[2] == 0) return;
    unsigned char scaled[256];
    for (int i = 0; i < 256; i++) {
        double s = rint((double)i / v[2] * 255);
        scaled[i] = s > 255 ? 255 : (unsigned char)s;
    }
    for (size_t i = 0; i < (size_t)w * h * 4; i += 4)
        for (int c = 0; c < 3; c++) rgba[i + c] = scaled[rgba[i + c]];
}

// The formats whose only defect found here is truncation.
#define TRUNCATION_CHECK(kind)                                                    \
    static int kind##_check(const unsigned char *d, size_t len, const char **why) { \
        return kind##_whole(d, len) ? IMAGEFORMAT_WHOLE : IMAGEFORMAT_TRUNCATED;  \
    }
TRUNCATION_CHECK(png)
TRUNCATION_CHECK(gif)

// ---- the table ------------------------------------------------------------
typedef struct Signature {
    const char *bytes;
    size_t len, off;
    ImageFormat fmt;
} Signature;

#define READ(name, kind) {name, DECODER_STB, kind##_size, kind##_check, NULL}
// Read, and stb_image's pixels corrected to Pillow's (kind##_to_pillow).
#define READ_CORRECTED(name, kind) {name, DECODER_STB, kind##_size, kind##_check, kind##_to_pillow}
#define REFUSED(name) {name, DECODER_NONE, NULL, NULL, NULL}

static const Signature SIGNATURES[] = {
    {"\x89PNG\r\n\x1a\n", 8, 0, READ("PNG", png)},
    {"GIF87a", 6, 0, READ_CORRECTED("GIF", gif)},
    {"GIF89a", 6, 0, READ_CORRECTED("GIF", gif)},
    {"BM", 2, 0, READ_CORRECTED("BMP", bmp)},
    {"P5", 2, 0, READ_CORRECTED("PGM", pnm)},
    {"P6", 2, 0, READ_CORRECTED("PPM", pnm)},
    // Recognised, to be named in the error. stb_image could decode PSD,
    // HDR and PIC, but the program has no use for them, and refusing them
    // here keeps that code unreachable from user input.
    {"P1", 2, 0, REFUSED("ASCII PBM")},
    {"P2", 2, 0, REFUSED("ASCII PGM")},
    {"P3", 2, 0, REFUSED("ASCII PPM")},
    {"P4", 2, 0, REFUSED("1-bit PBM")},
    {"8BPS", 4, 0, REFUSED("Photoshop (PSD)")},
    {"#?RADIANCE", 10, 0, REFUSED("Radiance HDR")},
    {"#?RGBE", 6, 0, REFUSED("Radiance HDR")},
    {"\x53\x80\xf6\x34", 4, 0, REFUSED("Softimage PIC")},
    {"II*\0", 4, 0, REFUSED("TIFF")},
    {"MM\0*", 4, 0, REFUSED("TIFF")},
    {"WEBP", 4, 8, REFUSED("WebP")},
    {"ftyp", 4, 4, REFUSED("HEIF/AVIF/MP4")},
    {"\0\0\0\x0cjP  ", 8, 0, REFUSED("JPEG 2000")},
    {"\xff\x0a", 2, 0, REFUSED("JPEG XL")},
    {"%PDF", 4, 0, REFUSED("PDF")},
    {"<?xml", 5, 0, REFUSED("XML or SVG")},
    {"<svg", 4, 0, REFUSED("SVG")},
    {"\x89HDF\r\n\x1a\n", 8, 0, REFUSED("HDF5 (a weights file?)")},
};

static const ImageFormat TGA = READ("TGA", tga);
static const ImageFormat JPEG = {"JPEG", DECODER_LIBJPEG, jpeg_size, NULL, NULL};

const ImageFormat *imageformat_sniff(const unsigned char *d, size_t len) {
    if (jpeg_start(d, len)) return &JPEG;
    for (size_t i = 0; i < sizeof SIGNATURES / sizeof *SIGNATURES; i++) {
        const Signature *s = &SIGNATURES[i];
        if (len >= s->off + s->len && !memcmp(d + s->off, s->bytes, s->len)) return &s->fmt;
    }
    return imageformat_tga_problem(d, len) ? NULL : &TGA;
}
