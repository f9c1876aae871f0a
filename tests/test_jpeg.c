// JPEG decoding against Pillow: every case of tests/fixtures/jpeg/cases.txt
// (written by tests/gen_jpeg_fixtures.py with Pillow 13) must give the same
// verdict (decoded, or refused) and, when decoded, the same size and the
// same RGB bytes (FNV-1a 64; for the whole files also pixel by pixel
// against NAME_ref.png, so that a difference is shown, not only detected).
// Cases: grey, 4:2:0, 4:2:2, 4:4:4, progressive, restart markers, CMYK,
// YCCK, Adobe RGB, EXIF, extreme qualities, odd sizes, junk and corrupt
// data (warnings), a missing Huffman table (an error), files cut where
// Pillow's verdict changes (a missing end-of-image marker is whole), and a
// progressive file of DC coefficients alone (block smoothing: see KNOWN).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "../engine/image.h"
#include "check.h"

#define DIR "tests/fixtures/jpeg/"

// Where the libjpeg-turbo linked here may differ from Pillow's (3.2.0 in
// Pillow 13's wheel), and why: only the rows named may differ, until the
// version that fixed it. Every other case must be exact.
typedef struct KnownDifference {
    const char *file;
    long fixed_in;     // LIBJPEG_TURBO_VERSION_NUMBER of the fix
    int row0, row1;    // the rows that may differ, [row0, row1)
} KnownDifference;

static const KnownDifference KNOWN[] = {
    // Block smoothing (progressive files that leave AC coefficients out):
    // libjpeg-turbo 2.1 to 3.0.0 chose the wrong neighbouring block rows
    // for the second and second-to-last block rows of a vertically
    // subsampled component (its 5x5 window; commit 9b704f96, fixed in
    // 3.0.1). Here the chroma's second block row, luma rows 16 to 31.
    {"dc_only_61x47.jpg", 3000001, 16, 32},
};

static const KnownDifference *known_difference(const char *file) {
    for (size_t i = 0; i < sizeof KNOWN / sizeof *KNOWN; i++)
        if (!strcmp(KNOWN[i].file, file) && LIBJPEG_TURBO_VERSION_NUMBER < KNOWN[i].fixed_in)
            return &KNOWN[i];
    return NULL;
}

static uint64_t fnv64(const unsigned char *p, size_t n) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    return h;
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

// Our pixels against Pillow's reference PNG: how many values differ, and by
// how much at most (outside a known difference's rows).
static void compare_ref(const char *file, const Image *im, const KnownDifference *known) {
    char ref[256];
    snprintf(ref, sizeof ref, DIR "%.*s_ref.png", (int)(strlen(file) - 4), file);
    Image r;
    Err e;
    if (image_load(ref, &r, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    long differ = 0, excused = 0;
    int worst = 0;
    if (r.w == im->w && r.h == im->h)
        for (size_t k = 0; k < (size_t)r.w * r.h * 3; k++) {
            int d = abs(r.rgb[k] - im->rgb[k]), y = (int)(k / ((size_t)r.w * 3));
            if (known && y >= known->row0 && y < known->row1) {
                excused += d != 0;
                continue;
            }
            differ += d != 0;
            if (d > worst) worst = d;
        }
    if (known)
        printf("%s: %ld values differ in rows %d to %d (libjpeg-turbo %ld.%ld.%ld here, fixed in "
               "%ld.%ld.%ld)\n", file, excused, known->row0, known->row1 - 1,
               (long)LIBJPEG_TURBO_VERSION_NUMBER / 1000000, (long)LIBJPEG_TURBO_VERSION_NUMBER / 1000 % 1000,
               (long)LIBJPEG_TURBO_VERSION_NUMBER % 1000, known->fixed_in / 1000000,
               known->fixed_in / 1000 % 1000, known->fixed_in % 1000);
    CHECK(r.w == im->w && r.h == im->h && differ == 0,
          "%s: %dx%d, Pillow %dx%d; %ld values differ from Pillow's, by up to %d", file, im->w,
          im->h, r.w, r.h, differ, worst);
    image_free(&r);
}

// A progressive file whose DC scan is repeated: decoded with up to
// JPEG_MAX_SCANS scans (a repeated scan is legal), refused beyond.
static void check_scan_limit(void) {
    size_t len;
    unsigned char *d = read_all(DIR "dc_only_61x47.jpg", &len);
    CHECK(d && len > 4, "cannot read dc_only_61x47.jpg");
    if (!d) return;
    size_t sos = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (d[i] == 0xff && d[i + 1] == 0xda) {
            sos = i;
            break;
        }
    const size_t scan = len - 2 - sos;  // SOS to EOI, EOI left out
    for (int scans = 500; scans <= 501; scans++) {
        size_t n = sos + scans * scan + 2;
        unsigned char *b = malloc(n);
        memcpy(b, d, sos);
        for (int k = 0; k < scans; k++) memcpy(b + sos + k * scan, d + sos, scan);
        b[n - 2] = 0xff, b[n - 1] = 0xd9;
        Image im;
        Err e = {{0}};
        int rc = image_decode(b, n, "scans.jpg", &im, &e);
        if (scans == 500) {
            CHECK(rc == 0 && im.w == 61, "500 scans: %s", e.msg);
            if (!rc) image_free(&im);
        } else {
            CHECK(rc != 0 && strstr(e.msg, "more than 500 scans"), "501 scans: %s",
                  rc ? e.msg : "decoded");
        }
        free(b);
    }
    free(d);
}

int main(void) {
    check_scan_limit();
    FILE *f = fopen(DIR "cases.txt", "r");
    CHECK(f != NULL, "cannot open " DIR "cases.txt");
    if (!f) return check_summary("test_jpeg");
    char line[512], file[256], verdict[16];
    int n = 0, decoded = 0, refused = 0;
    while (fgets(line, sizeof line, f)) {
        long cut;
        int w = 0, h = 0;
        unsigned long long want = 0;
        if (sscanf(line, "%255s %ld %15s %d %d %llx", file, &cut, verdict, &w, &h, &want) < 3)
            continue;
        char path[300];
        snprintf(path, sizeof path, DIR "%s", file);
        size_t len;
        unsigned char *data = read_all(path, &len);
        CHECK(data != NULL, "cannot read %s", path);
        if (!data) continue;
        if (cut > 0 && (size_t)cut < len) len = (size_t)cut;
        Image im;
        Err e = {{0}};
        int rc = image_decode(data, len, file, &im, &e);
        n++;
        if (!strcmp(verdict, "ok")) {
            CHECK(rc == 0, "%s cut at %ld: Pillow decodes it, we say: %s", file, cut, e.msg);
            if (rc == 0) {
                decoded++;
                uint64_t got = fnv64(im.rgb, (size_t)im.w * im.h * 3);
                const KnownDifference *known = known_difference(file);
                CHECK(im.w == w && im.h == h && (got == want || known),
                      "%s cut at %ld: %dx%d fnv %016llx, Pillow %dx%d fnv %016llx", file, cut, im.w,
                      im.h, (unsigned long long)got, w, h, want);
                if (cut == 0) compare_ref(file, &im, known);
                image_free(&im);
            }
        } else {
            refused++;
            CHECK(rc != 0, "%s cut at %ld: Pillow refuses it, we decode it", file, cut);
            if (rc) {
                // Truncation is named as such; other errors say libjpeg's reason.
                CHECK(strstr(e.msg, file) && (strstr(e.msg, "truncated") || strstr(e.msg, "libjpeg")),
                      "%s cut at %ld: message '%s'", file, cut, e.msg);
            } else {
                image_free(&im);
            }
        }
        free(data);
    }
    fclose(f);
    CHECK(n >= 60, "only %d cases", n);
    printf("%d cases: %d decoded as Pillow decodes them, %d refused as Pillow refuses them\n", n,
           decoded, refused);
    return check_summary("test_jpeg");
}
