// Decoding and preprocessing against Pillow (tests/gen_preprocess_ref.py):
// for every fixture image (PNG grey/grey+alpha/palette/RGBA, JPEG baseline,
// 4:2:0, 4:2:2, progressive, grey and CMYK, BMP, GIF, TGA, PGM, PPM; sizes
// from 1x1 to 320x240, odd and non-square),
//  1. our decoded RGB equals PIL's convert('RGB') exactly, JPEG included
//     (libjpeg-turbo set up as Pillow sets it up);
//  2. from PIL's pixels, our network input equals PIL's resize + crop (or
//     letterbox) exactly: at most 1e-6 per value, float32 division's
//     rounding;
//  3. from our own decoding, the same.
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/image.h"
#include "check.h"
#include "h5read.h"

#define REF "tests/fixtures/preprocess_ref.h5"
#define S 105

static int image_names(char names[][64], int max) {
    hid_t f = H5Fopen(REF, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "names", H5P_DEFAULT), t = H5Dget_type(d), sp = H5Dget_space(d);
    int n = (int)H5Sget_simple_extent_npoints(sp);
    size_t sz = H5Tget_size(t);
    char *buf = calloc(n, sz);
    H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    for (int i = 0; i < n && i < max; i++) snprintf(names[i], 64, "%.*s", (int)sz, buf + i * sz);
    free(buf);
    H5Sclose(sp), H5Tclose(t), H5Dclose(d), H5Fclose(f);
    return n < max ? n : max;
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char names[32][64];
    int n = image_names(names, 32);
    CHECK(n >= 10, "only %d fixture images", n);
    const Preprocess modes[2] = {{.letterbox = 0}, {.letterbox = 1}};
    const char *mode_names[2] = {"default", "letterbox"};
    float *ours = malloc(S * S * 3 * sizeof(float));
    for (int i = 0; i < n; i++) {
        char path[256], ds[128];
        check_snprintf(path, sizeof path, "tests/fixtures/images/%s", names[i]);
        Image mine, pil;
        Err e;
        CHECK(image_load(path, &mine, &e) == 0, "%s", e.msg);
        check_snprintf(ds, sizeof ds, "decoded/%s", names[i]);
        size_t np = 0;
        float *px = h5_floats(REF, ds, &np);
        CHECK(px && np == (size_t)mine.w * mine.h * 3, "%s: %zu decoded values for %dx%d", names[i],
              np, mine.w, mine.h);
        if (!px || np != (size_t)mine.w * mine.h * 3) continue;
        pil.w = mine.w, pil.h = mine.h;
        pil.rgb = malloc(np);
        int worst_px = 0;
        for (size_t k = 0; k < np; k++) {
            pil.rgb[k] = (unsigned char)px[k];
            int d = abs((int)pil.rgb[k] - mine.rgb[k]);
            if (d > worst_px) worst_px = d;
        }
        CHECK(worst_px == 0, "%s: decoded pixels differ from PIL's by up to %d levels", names[i],
              worst_px);
        for (int m = 0; m < 2; m++) {
            check_snprintf(ds, sizeof ds, "%s/%s", mode_names[m], names[i]);
            size_t nr;
            float *want = h5_floats(REF, ds, &nr);
            CHECK(want && nr == S * S * 3, "%s", ds);
            if (!want) continue;
            image_to_input(&pil, S, &modes[m], ours);
            double exact = check_max_abs_diff(ours, want, nr, NULL);
            CHECK(exact <= 1e-6, "%s from PIL's pixels: max diff %.3g (%.2f levels)", ds, exact,
                  exact * 255);
            image_to_input(&mine, S, &modes[m], ours);
            double full = check_max_abs_diff(ours, want, nr, NULL);
            CHECK(full <= 1e-6, "%s from our decoding: max diff %.3g (%.2f levels)", ds, full,
                  full * 255);
            printf("%-36s from PIL pixels %.2g, from ours %.2g (%.1f levels)\n", ds, exact, full,
                   full * 255);
            free(want);
        }
        free(px);
        image_free(&pil);
        image_free(&mine);
    }
    free(ours);
    return check_summary("preprocess");
}
