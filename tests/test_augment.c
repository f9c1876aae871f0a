// The augmentation's affine warp: the identity leaves pixels untouched, a
// flip mirrors exactly, draws are reproducible and stay within bounds; the
// presets are Koch et al.'s (and the README's) numbers; each distortion
// alone is the map it says, over its whole range; Koch's four come with
// probability 0.5 each; a crop window stays inside the image.
#include <string.h>

#include "../engine/augment.h"
#include "check.h"

static Image pattern(int w, int h) {
    Image im = {w, h, malloc((size_t)w * h * 3)};
    for (int i = 0; i < w * h * 3; i++) im.rgb[i] = (unsigned char)(i * 37 % 251);
    return im;
}

enum { DRAWS = 4000, SIDE = 210 };  // SIDE: twice Koch's 105 px, translations double

// One draw at SIDE x SIDE, as the forward map of centred coordinates:
// a (2x2, the inverse of m's linear part: output = a * source) and t, where
// the image centre goes (the translation, in pixels).
typedef struct Drawn {
    double a[4], t[2], m[6];
} Drawn;

static Drawn draw(const AugmentParams *p, Rng *r) {
    Drawn d;
    augment_draw(p, r, SIDE, SIDE, d.m);
    const double *m = d.m, det = m[0] * m[4] - m[1] * m[3];
    d.a[0] = m[4] / det, d.a[1] = -m[1] / det, d.a[2] = -m[3] / det, d.a[3] = m[0] / det;
    // The source of the output's centre c is c - a^-1 t.
    const double c = SIDE / 2.0 - 0.5, sx = m[0] * c + m[1] * c + m[2] - c,
                 sy = m[3] * c + m[4] * c + m[5] - c;
    d.t[0] = -(d.a[0] * sx + d.a[1] * sy), d.t[1] = -(d.a[2] * sx + d.a[3] * sy);
    return d;
}

static int near(double x, double y) { return fabs(x - y) < 1e-9; }
static int is_identity(const double a[4]) {
    return near(a[0], 1) && near(a[1], 0) && near(a[2], 0) && near(a[3], 1);
}
static int no_shift(const Drawn *d) { return near(d->t[0], 0) && near(d->t[1], 0); }

// Each of Koch's distortions alone (probability 1, the others off): the map
// it names, within its range and reaching its ends, its two axes drawn apart.
static void test_each_distortion(void) {
    AugmentParams koch, p;
    augment_preset(&koch, AUGMENT_KOCH);
    Rng r;
    rng_seed(&r, 11);
    double max_angle = 0, max_shear = 0, lo_scale = 9, hi_scale = 0, max_shift = 0;
    int bad_rot = 0, bad_shear = 0, bad_scale = 0, bad_shift = 0, axes_apart = 0;
    for (int k = 0; k < DRAWS; k++) {
        augment_preset(&p, AUGMENT_NONE);
        p.p_each = 1;
        p.rotate = koch.rotate;
        Drawn d = draw(&p, &r);
        const double *a = d.a;
        // A rotation: orthonormal, determinant 1, about the centre.
        bad_rot += !near(a[0], a[3]) || !near(a[1], -a[2]) || !near(a[0] * a[3] - a[1] * a[2], 1) ||
                   !no_shift(&d);
        max_angle = fmax(max_angle, fabs(atan2(a[2], a[0]) * 180 / M_PI));

        augment_preset(&p, AUGMENT_NONE);
        p.p_each = 1;
        p.shear = koch.shear;
        d = draw(&p, &r);
        bad_shear += !near(a[0], 1) || !near(a[3], 1) || !no_shift(&d);
        max_shear = fmax(max_shear, fmax(fabs(a[1]), fabs(a[2])));
        axes_apart += !near(a[1], a[2]);

        augment_preset(&p, AUGMENT_NONE);
        p.p_each = 1;
        p.scale_min = koch.scale_min, p.scale_max = koch.scale_max;
        d = draw(&p, &r);
        bad_scale += !near(a[1], 0) || !near(a[2], 0) || !no_shift(&d);
        lo_scale = fmin(lo_scale, fmin(a[0], a[3]));
        hi_scale = fmax(hi_scale, fmax(a[0], a[3]));
        axes_apart += !near(a[0], a[3]);

        augment_preset(&p, AUGMENT_NONE);
        p.p_each = 1;
        p.translate = koch.translate;
        d = draw(&p, &r);
        bad_shift += !is_identity(a);
        max_shift = fmax(max_shift, fmax(fabs(d.t[0]), fabs(d.t[1])));
        axes_apart += !near(d.t[0], d.t[1]);
    }
    CHECK(!bad_rot && max_angle <= 10 + 1e-9 && max_angle > 9.9,
          "rotation alone: %d draws not a rotation about the centre, largest angle %.3f (10)",
          bad_rot, max_angle);
    CHECK(!bad_shear && max_shear <= 0.3 + 1e-9 && max_shear > 0.297,
          "shear alone: %d draws not a shear, largest %.4f (0.3)", bad_shear, max_shear);
    CHECK(!bad_scale && lo_scale >= 0.8 - 1e-9 && lo_scale < 0.805 && hi_scale <= 1.2 + 1e-9 &&
              hi_scale > 1.195,
          "scale alone: %d draws not a scaling, range %.4f..%.4f (0.8..1.2)", bad_scale, lo_scale,
          hi_scale);
    // Koch's 2 px at 105 px are 4 px at 210.
    CHECK(!bad_shift && max_shift <= 4 + 1e-9 && max_shift > 3.98,
          "translation alone: %d draws not a translation, largest %.4f px (4 at %d px)", bad_shift,
          max_shift, SIDE);
    CHECK(axes_apart > 3 * DRAWS - 10, "the axes are drawn apart in only %d of %d draws",
          axes_apart, 3 * DRAWS);
}

// The koch preset: each distortion with probability 0.5, on its own; never
// a flip or a crop.
static void test_koch_probabilities(void) {
    AugmentParams p;
    augment_preset(&p, AUGMENT_KOCH);
    Rng r;
    rng_seed(&r, 12);
    int identity = 0, shifted = 0, half_shift = 0, flipped = 0;
    for (int k = 0; k < DRAWS; k++) {
        Drawn d = draw(&p, &r);
        identity += is_identity(d.a);
        shifted += !no_shift(&d);
        half_shift += near(d.t[0], 0) != near(d.t[1], 0);
        flipped += d.a[0] * d.a[3] - d.a[1] * d.a[2] <= 0;
    }
    // Rotation, shear and scale all off: 1/8 (sd 0.005); a shift: 1/2 (sd 0.008).
    CHECK(fabs(identity / (double)DRAWS - 0.125) < 0.03, "no linear distortion in %.3f of draws (1/8)",
          identity / (double)DRAWS);
    CHECK(fabs(shifted / (double)DRAWS - 0.5) < 0.04, "a translation in %.3f of draws (1/2)",
          shifted / (double)DRAWS);
    CHECK(!half_shift && !flipped, "%d draws shift along one axis only, %d flip", half_shift,
          flipped);
}

// The standard preset's crop and flip (Koch's distortions off): the window
// lies inside the image, its area fraction is in [0.64, 1] and its aspect
// ratio in [3/4, 4/3], ends reached; half the draws mirror.
static void test_crop_and_flip(void) {
    AugmentParams p;
    augment_preset(&p, AUGMENT_STANDARD);
    p.p_each = 0;
    Rng r;
    rng_seed(&r, 13);
    const double edge = SIDE - 0.5;  // pixel centres 0..SIDE-1, edges -0.5..SIDE-0.5
    int outside = 0, flipped = 0;
    double lo_area = 9, lo_aspect = 9, hi_aspect = 0, lo_x = SIDE, hi_x = -SIDE;
    for (int k = 0; k < DRAWS; k++) {
        double m[6];
        augment_draw(&p, &r, SIDE, SIDE, m);
        // The output's edges map to the window's.
        for (int cy = 0; cy < 2; cy++)
            for (int cx = 0; cx < 2; cx++) {
                const double x = cx ? edge : -0.5, y = cy ? edge : -0.5;
                const double sx = m[0] * x + m[1] * y + m[2], sy = m[3] * x + m[4] * y + m[5];
                outside += sx < -0.5 - 1e-9 || sx > edge + 1e-9 || sy < -0.5 - 1e-9 ||
                           sy > edge + 1e-9;
                lo_x = fmin(lo_x, sx), hi_x = fmax(hi_x, sx);
            }
        flipped += m[0] < 0;
        lo_area = fmin(lo_area, fabs(m[0] * m[4]));
        lo_aspect = fmin(lo_aspect, fabs(m[0] / m[4]));
        hi_aspect = fmax(hi_aspect, fabs(m[0] / m[4]));
        outside += fabs(m[0] * m[4]) > 1 + 1e-9;
    }
    CHECK(!outside, "%d crop windows reach outside the image", outside);
    CHECK(lo_area >= 0.64 - 1e-9 && lo_area < 0.65, "smallest window area %.4f (0.64)", lo_area);
    CHECK(lo_aspect >= 0.75 - 1e-9 && lo_aspect < 0.77 && hi_aspect <= 4 / 3.0 + 1e-9 &&
              hi_aspect > 1.3,
          "window aspect ratios %.4f..%.4f (3/4..4/3)", lo_aspect, hi_aspect);
    CHECK(lo_x < 0 && hi_x > SIDE - 1.5, "windows reach %.2f..%.2f, not the image's edges", lo_x,
          hi_x);
    CHECK(fabs(flipped / (double)DRAWS - 0.5) < 0.04, "a flip in %.3f of draws (1/2)",
          flipped / (double)DRAWS);
}

// The presets are Koch et al. (2015), section 4 (and the README's table):
// rotation 10 degrees, shear 0.3, scale 0.8..1.2, translation 2 px, each
// with probability 0.5; koch adds no crop and no flip (handwriting's
// mirror images are other characters), standard the original's.
static void test_presets(void) {
    AugmentParams k, s;
    augment_preset(&k, AUGMENT_KOCH);
    augment_preset(&s, AUGMENT_STANDARD);
    CHECK(k.rotate == 10 && k.shear == 0.3 && k.scale_min == 0.8 && k.scale_max == 1.2 &&
              k.translate == 2 && k.p_each == 0.5,
          "koch: rotate %g shear %g scale %g..%g translate %g p %g", k.rotate, k.shear,
          k.scale_min, k.scale_max, k.translate, k.p_each);
    CHECK(k.crop_min == 1 && k.crop_ratio == 1 && k.flip == 0, "koch crops (%g, %g) or flips (%g)",
          k.crop_min, k.crop_ratio, k.flip);
    CHECK(s.rotate == k.rotate && s.shear == k.shear && s.scale_min == k.scale_min &&
              s.scale_max == k.scale_max && s.translate == k.translate && s.p_each == k.p_each,
          "standard's affine part is koch's");
    CHECK(s.crop_min == 0.64 && s.crop_ratio == 4.0 / 3.0 && s.flip == 0.5,
          "standard: crop %g ratio %g flip %g", s.crop_min, s.crop_ratio, s.flip);
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
    test_presets();
    test_each_distortion();
    test_koch_probabilities();
    test_crop_and_flip();
    return check_summary("test_augment");
}
