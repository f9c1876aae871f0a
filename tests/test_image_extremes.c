// The image path at its edges: the centre-crop resize computed only over the
// crop window (equal to the full resize then cropped), images of extreme
// aspect ratio (whose full resize would be gigabytes), the pixel limit
// checked on the header, and refused formats named.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/image.h"
#include "check.h"

static unsigned lcg = 12345;
static unsigned char rnd8(void) {
    lcg = lcg * 1103515245u + 12345u;
    return (unsigned char)(lcg >> 16);
}

static Image random_image(int w, int h) {
    Image im = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) im.rgb[i] = rnd8();
    return im;
}

// The plain definition: resize the shorter side to size, then crop the
// centre (as the original's torchvision-style resize + center_crop).
static void reference_crop(const Image *im, int size, float *out) {
    long ow = size, oh = size;
    if (im->w < im->h) oh = (long)((double)size * im->h / im->w);
    else ow = (long)((double)size * im->w / im->h);
    Image r;
    if (image_resize(im, (int)ow, (int)oh, FILTER_BILINEAR, &r)) {
        fprintf(stderr, "resize failed\n");
        exit(1);
    }
    long top = (long)rint((oh - size) / 2.0), left = (long)rint((ow - size) / 2.0);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size * 3; x++)
            out[(size_t)y * size * 3 + x] = r.rgb[((y + top) * ow + left) * 3 + x] / 255.0f;
    image_free(&r);
}

static void check_window(void) {
    static const int shapes[][2] = {{1, 1},   {2, 2},    {1, 400}, {400, 1}, {31, 97}, {97, 31},
                                    {105, 300}, {300, 105}, {106, 105}, {640, 480}, {3, 977}};
    static const int sizes[] = {32, 105, 37};
    Preprocess pre = {0, 0};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            int S = sizes[z];
            Image im = random_image(shapes[s][0], shapes[s][1]);
            float *got = malloc(sizeof(float) * S * S * 3), *want = malloc(sizeof(float) * S * S * 3);
            CHECK(image_to_input(&im, S, &pre, got) == 0, "%dx%d to %d failed", im.w, im.h, S);
            reference_crop(&im, S, want);
            size_t where;
            double d = check_max_abs_diff(got, want, (size_t)S * S * 3, &where);
            CHECK(d == 0, "%dx%d to %d: the window differs from resize+crop by %g at %zu", im.w,
                  im.h, S, d, where);
            free(got);
            free(want);
            image_free(&im);
        }
}

// A flat image of extreme aspect ratio: its centre-crop "resize" would be
// 105 x 315 million pixels; only the window is computed, and a flat image
// must stay flat. Letterboxed, it becomes one row (or column) in grey.
static void check_extreme_aspect(void) {
    const int S = 105, N = 3000000;
    const unsigned char colour[3] = {200, 40, 90};
    for (int tall = 0; tall < 2; tall++) {
        Image im = {tall ? 1 : N, tall ? N : 1, malloc((size_t)N * 3)};
        for (int i = 0; i < N; i++) memcpy(im.rgb + 3 * i, colour, 3);
        float *x = malloc(sizeof(float) * S * S * 3);
        for (int lb = 0; lb < 2; lb++) {
            Preprocess pre = {lb, 0};
            int rc = image_to_input(&im, S, &pre, x);
            CHECK(rc == 0, "%dx%d letterbox=%d failed", im.w, im.h, lb);
            if (rc) continue;
            // Letterboxed, the image is one row (or column) of
            // int(N * S / N) pixels, as Python computes it: 104, not 105.
            int n = (int)(N * fmin((double)S / N, (double)S / 1)), off = (S - n) / 2;
            int bad = 0;
            for (int y = 0; y < S; y++)
                for (int xx = 0; xx < S; xx++) {
                    int along = tall ? y : xx, across = tall ? xx : y;
                    int inside = !lb || (across == S / 2 && along >= off && along < off + n);
                    for (int c = 0; c < 3; c++)
                        bad += x[((size_t)y * S + xx) * 3 + c] != (inside ? colour[c] : 128) / 255.0f;
                }
            CHECK(bad == 0, "%dx%d letterbox=%d: %d values wrong", im.w, im.h, lb, bad);
        }
        free(x);
        image_free(&im);
    }
}

// A PNG that is only a signature and a header chunk (the decoder does not
// check CRCs): enough for the size check, which must come first.
static size_t png_header(unsigned char *b, unsigned w, unsigned h) {
    static const unsigned char head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                         0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    memcpy(b, head, sizeof head);
    unsigned char *p = b + sizeof head;
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(w >> (24 - 8 * i));
        p[4 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    p[8] = 8;  // bit depth
    p[9] = 2;  // RGB
    p[10] = p[11] = p[12] = 0;
    memset(p + 13, 0, 4);  // CRC
    return sizeof head + 17;
}

static void expect_error(const unsigned char *d, size_t n, const char *name, const char *words) {
    Image im;
    Err e = {{0}};
    int rc = image_decode(d, n, name, &im, &e);
    CHECK(rc == -1, "%s: decoded, expected an error", name);
    CHECK(strstr(e.msg, name) && strstr(e.msg, words), "%s: message '%s' lacks '%s'", name, e.msg,
          words);
    if (!rc) image_free(&im);
}

static void check_decode_errors(void) {
    unsigned char b[64];
    expect_error(b, png_header(b, 20000, 20000), "huge.png", "above the limit of 50 megapixels");
    expect_error(b, png_header(b, 7072, 7071), "just_over.png", "megapixels");
    // Just under the limit it gets past the size check and fails on the
    // missing data instead.
    expect_error(b, png_header(b, 7071, 7071), "just_under.png", "truncated");
    expect_error(b, 0, "empty.png", "empty");
    expect_error((const unsigned char *)"II*\0\x08\0\0\0", 8, "scan.tif", "TIFF");
    expect_error((const unsigned char *)"RIFF\x10\0\0\0WEBPVP8 ", 16, "photo.webp", "WebP");
    expect_error((const unsigned char *)"hello, world\n", 13, "notes.png", "not an image");
    // Every format recognised to be refused is named (else it would be
    // "not an image", or a TGA header's nonsense): its signature and, where
    // the format has one, what follows it.
    static const struct {
        const char *bytes;
        size_t n;
        const char *name;
    } refused[] = {
        {"MM\0*\0\0\0\x08", 8, "TIFF"},
        {"\0\0\0\x18" "ftypheic\0\0\0\0", 16, "HEIF/AVIF/MP4"},
        {"\0\0\0\x0cjP  \r\n\x87\n", 12, "JPEG 2000"},
        {"\xff\x0a\xfa\x7f", 4, "JPEG XL"},
        {"%PDF-1.7\n", 9, "PDF"},
        {"<?xml version=\"1.0\"?>", 21, "XML or SVG"},
        {"<svg xmlns=", 11, "SVG"},
        {"\x89HDF\r\n\x1a\n\0\0\0\0", 12, "HDF5 (a weights file?)"},
        {"8BPS\0\x01", 6, "Photoshop (PSD)"},
        {"#?RADIANCE\n", 11, "Radiance HDR"},
        {"#?RGBE\n", 7, "Radiance HDR"},
        {"\x53\x80\xf6\x34\0\0", 6, "Softimage PIC"},
        {"P1\n2 2\n0 1 1 0\n", 16, "ASCII PBM"},
        {"P2\n2 2\n255\n", 11, "ASCII PGM"},
        {"P3\n2 2\n255\n", 11, "ASCII PPM"},
        {"P4\n2 2\n\x40\x80", 10, "1-bit PBM"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        expect_error((const unsigned char *)refused[i].bytes, refused[i].n, "file.png",
                     refused[i].name);
}

// TGA has no signature: only a header both PIL and stb_image read the same
// way makes a file one. Text and random bytes are "not an image" (they
// were taken for TGA headers of hundreds of megapixels).
static void check_not_images(void) {
    // An 18-byte header of a true-colour 2x2 image, 24 bits, top-down; its
    // 12 bytes of pixels follow.
    unsigned char tga[18 + 12] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0x20};
    for (int i = 18; i < 30; i++) tga[i] = (unsigned char)(i * 7);
    Image im;
    Err e;
    CHECK(image_decode(tga, sizeof tga, "ok.tga", &im, &e) == 0 && im.w == 2 && im.h == 2 &&
              im.rgb[0] == tga[20] && im.rgb[2] == tga[18],  // BGR in the file
          "a consistent TGA: %s", e.msg);
    image_free(&im);
    unsigned char bad[sizeof tga];
    memcpy(bad, tga, sizeof tga);
    bad[1] = 2;  // no such colour-map type
    expect_error(bad, sizeof bad, "odd.bin", "not an image");
    expect_error(bad, sizeof bad, "odd.TGA", "not a TGA image (its header: colour-map type");
    memcpy(bad, tga, sizeof tga);
    bad[16] = 7;
    expect_error(bad, sizeof bad, "odd.tga", "bits per pixel");
    bad[16] = 24, bad[2] = 1;
    expect_error(bad, sizeof bad, "odd.tga", "image type and colour-map type disagree");
    // A consistent header of a huge image: the pixel limit, from the header.
    memcpy(bad, tga, sizeof tga);
    bad[12] = bad[13] = bad[14] = bad[15] = 0xff;
    expect_error(bad, sizeof bad, "huge.tga", "65535x65535 pixels");
    // Right-to-left pixel order: stb would not mirror it as PIL does.
    memcpy(bad, tga, sizeof tga);
    bad[17] = 0x30;
    expect_error(bad, sizeof bad, "mirror.tga", "right-to-left");

    expect_error((const unsigned char *)"# siamese\n\nImage similarity", 29, "README.md", "not an image");
    expect_error((const unsigned char *)"root:x:0:0:root:/root:/bin/bash\n", 32, "passwd", "not an image");
    // Random bytes, many draws (xorshift, fixed seed): never an image, never
    // a size complaint.
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    unsigned char r[100];
    int images = 0;
    for (int n = 0; n < 5000; n++) {
        for (int i = 0; i < 100; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            r[i] = (unsigned char)(x >> 32);
        }
        e.msg[0] = '\0';
        if (image_decode(r, sizeof r, "random.bin", &im, &e) == 0) {
            images++;
            image_free(&im);
        } else {
            CHECK(strstr(e.msg, "not an image"), "random bytes (draw %d): %s", n, e.msg);
        }
    }
    CHECK(images == 0, "%d of 5000 draws of random bytes decoded as images", images);
}

int main(void) {
    check_window();
    check_extreme_aspect();
    check_decode_errors();
    check_not_images();
    return check_summary("test_image_extremes");
}
