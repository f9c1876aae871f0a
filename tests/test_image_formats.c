// Decoding of the unusual formats in tests/fixtures/formats/ (16-bit PNG,
// CMYK JPEG, animated GIF, palette with transparency, 1x1; where stb_image's
// pixels are corrected to Pillow's: a GIF's transparent pixels and the
// screen around its first image, top-down and 16-bit BMP, PGM/PPM whose
// largest sample value is not 255), each against the reference PNG
// tests/gen_format_images.py wrote with PIL beside it; and the variants
// refused, each with a message naming the file and the reason.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/image.h"
#include "check.h"

#define DIR "tests/fixtures/formats/"

typedef struct Case {
    const char *file, *ref;
    int tolerance;  // largest difference allowed per 8-bit sample
} Case;

static const Case CASES[] = {
    {"grey16_40x30.png", "grey16_40x30_ref.png", 0},
    {"rgb16_40x30.png", "rgb16_40x30_ref.png", 0},
    // libjpeg-turbo as Pillow uses it, and Pillow's CMYK arithmetic: exact.
    {"cmyk_48x40.jpg", "cmyk_48x40_ref.png", 0},
    {"anim_40x30.gif", "anim_40x30_ref.png", 0},
    {"palette_trns_40x30.png", "palette_trns_40x30_ref.png", 0},
    {"dot_1x1.png", "dot_1x1_ref.png", 0},
    {"gif_trns_40x30.gif", "gif_trns_40x30_ref.png", 0},
    {"gif_offset_40x30.gif", "gif_offset_40x30_ref.png", 0},
    {"bmp_topdown_40x30.bmp", "bmp_topdown_40x30_ref.png", 0},
    {"bmp_555_40x30.bmp", "bmp_555_40x30_ref.png", 0},
    {"bmp_565_40x30.bmp", "bmp_565_40x30_ref.png", 0},
    {"pgm_max15_40x30.pgm", "pgm_max15_40x30_ref.png", 0},
    {"ppm_max100_40x30.ppm", "ppm_max100_40x30_ref.png", 0},
};

// Refused: stb_image would decode them wrongly.
static void check_refused(void) {
    Image im;
    Err e = {{0}};
    const char *os2 = DIR "bmp_os2_palette_40x30.bmp";
    int rc = image_load(os2, &im, &e);
    CHECK(rc != 0 && strstr(e.msg, os2) && strstr(e.msg, "OS/2 1.x header"), "%s: %s", os2,
          rc ? e.msg : "decoded");
    if (!rc) image_free(&im);
    static const unsigned char zero_max[] = "P5\n2 1\n0\n\0\0";
    rc = image_decode(zero_max, sizeof zero_max - 1, "zero.pgm", &im, &e);
    CHECK(rc != 0 && strstr(e.msg, "zero.pgm") && strstr(e.msg, "largest sample value of 0"),
          "zero.pgm: %s", rc ? e.msg : "decoded");
    if (!rc) image_free(&im);
}

int main(void) {
    check_refused();
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        const Case *c = &CASES[i];
        Image a, r;
        Err e;
        char pa[256], pr[256];
        snprintf(pa, sizeof pa, DIR "%s", c->file);
        snprintf(pr, sizeof pr, DIR "%s", c->ref);
        int la = image_load(pa, &a, &e);
        CHECK(la == 0, "%s: %s", pa, e.msg);
        int lr = image_load(pr, &r, &e);
        CHECK(lr == 0, "%s: %s", pr, e.msg);
        if (la || lr) continue;
        CHECK(a.w == r.w && a.h == r.h, "%s: %dx%d, reference %dx%d", c->file, a.w, a.h, r.w, r.h);
        if (a.w == r.w && a.h == r.h) {
            int worst = 0;
            for (size_t k = 0; k < (size_t)a.w * a.h * 3; k++) {
                int d = abs(a.rgb[k] - r.rgb[k]);
                if (d > worst) worst = d;
            }
            CHECK(worst <= c->tolerance, "%s: differs from PIL by up to %d levels (allowed %d)",
                  c->file, worst, c->tolerance);
            printf("%-24s %dx%d max diff %d\n", c->file, a.w, a.h, worst);
        }
        image_free(&a);
        image_free(&r);
    }
    return check_summary("test_image_formats");
}
