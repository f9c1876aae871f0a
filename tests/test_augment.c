// The augmentation's affine warp: the identity leaves pixels untouched, a
// flip mirrors exactly, draws are reproducible and stay within bounds.
#include <string.h>

#include "../engine/augment.h"
#include "check.h"

static Image pattern(int w, int h) {
    Image im = {w, h, malloc((size_t)w * h * 3)};
    for (int i = 0; i < w * h * 3; i++) im.rgb[i] = (unsigned char)(i * 37 % 251);
    return im;
}

int main(void) {
    Image src = pattern(23, 17), out;
    AugmentParams p;
    Rng r;
    double m[6];
    // "none" draws the identity whatever the generator gives.
    augment_preset(&p, AUGMENT_NONE);
    rng_seed(&r, 3);
    augment_draw(&p, &r, 23, 17, m);
    CHECK(m[0] == 1 && m[1] == 0 && m[3] == 0 && m[4] == 1 && fabs(m[2]) < 1e-12 &&
              fabs(m[5]) < 1e-12,
          "identity: %g %g %g %g %g %g", m[0], m[1], m[2], m[3], m[4], m[5]);
    CHECK(augment_warp(&src, m, &out) == 0 && !memcmp(out.rgb, src.rgb, 23 * 17 * 3),
          "identity warp keeps every pixel");
    image_free(&out);

    // A certain flip and nothing else mirrors exactly.
    p.flip = 1;
    augment_draw(&p, &r, 23, 17, m);
    CHECK(augment_warp(&src, m, &out) == 0, "flip warp");
    int mirrored = 1;
    for (int y = 0; y < 17; y++)
        for (int x = 0; x < 23; x++)
            mirrored &= !memcmp(out.rgb + (y * 23 + x) * 3, src.rgb + (y * 23 + 22 - x) * 3, 3);
    CHECK(mirrored, "flip mirrors");
    image_free(&out);

    // Koch's distortions: the same seed gives the same transform; a
    // constant image stays constant (edges are replicated, no black border).
    augment_preset(&p, AUGMENT_STANDARD);
    double m2[6];
    rng_seed(&r, 9);
    augment_draw(&p, &r, 105, 105, m);
    rng_seed(&r, 9);
    augment_draw(&p, &r, 105, 105, m2);
    CHECK(!memcmp(m, m2, sizeof m), "reproducible");
    Image flat = {105, 105, malloc(105 * 105 * 3)};
    memset(flat.rgb, 200, 105 * 105 * 3);
    int constant = 1, moved = 0;
    for (int k = 0; k < 50; k++) {
        augment_draw(&p, &r, 105, 105, m);
        moved += m[0] != 1 || m[2] != 0;
        augment_warp(&flat, m, &out);
        for (int i = 0; i < 105 * 105 * 3; i++) constant &= out.rgb[i] == 200;
        image_free(&out);
    }
    CHECK(constant, "a constant image stays constant");
    CHECK(moved > 40, "the standard preset distorts (%d of 50)", moved);
    CHECK(augment_kind_parse("koch") == AUGMENT_KOCH && augment_kind_parse("x") < 0, "names");
    image_free(&flat);
    image_free(&src);
    return check_summary("test_augment");
}
